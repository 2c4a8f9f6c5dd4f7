"""``finetune-cached`` mode: lower-block activation cache, the trainable top, and a run end to end on 64 px photos."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from core.recognition.bundle import load_bundle
from core.recognition.recognizer import Recognizer
from training.activations import ActivationCache, UpperNet, split_point
from training.cli import main
from training.weights import build_model

CLASSES = ("colosseum", "pantheon", "rialto_bridge")


@pytest.fixture(scope="module")
def tiny_tree(shared_data, tmp_path_factory) -> Path:
    """ImageFolder train/ (10 per class) + val/ (4 per class) from the 64 px set, and 8 non-landmark photos."""
    src = shared_data / "landmarks-eecs445-64px"
    root = tmp_path_factory.mktemp("tiny-cached")
    for split, n in (("train", 10), ("val", 4)):
        for c in CLASSES:
            (root / split / c).mkdir(parents=True)
            for f in sorted((src / split / c).glob("*.jpg"))[:n]:
                shutil.copy(f, root / split / c / f.name)
    (root / "nl").mkdir()
    for f in sorted((shared_data / "non_landmark").glob("*.jpg"))[:8]:
        shutil.copy(f, root / "nl" / f.name)
    return root


@pytest.mark.shared
def test_upper_net_on_cached_activations_equals_the_full_network(tiny_tree, mobilenet_v2_weights, tmp_path):
    model = build_model("mobilenet_v2", 3, "imagenet", mobilenet_v2_weights).eval()
    cut = split_point(model, 5)
    assert cut == 14  # MobileNetV2 has 19 feature blocks
    cache = ActivationCache(model, cut, 64, 72, tmp_path / "cache", workers=0)
    paths = sorted((tiny_tree / "train" / "colosseum").glob("*.jpg"))[:4]
    acts, ok = cache.view(paths, 0)
    assert acts.dtype == torch.float16 and ok.all() and acts.shape[:2] == (4, 96)
    from training.transforms import eval_loader

    x = torch.stack([eval_loader(64, 72)(p) for p in paths])
    with torch.no_grad():
        full = model.embed(x)
    upper = UpperNet(model, cut).eval()
    with torch.no_grad():
        top = upper.embed(acts)
    assert torch.allclose(top, full, atol=2e-2)  # float16 activations
    assert (top * full).sum(1).min() > 0.999
    # a second cache object reads the file instead of computing; other photo lists share it
    again = ActivationCache(model, cut, 64, 72, tmp_path / "cache", workers=0)
    again._compute = None  # type: ignore[assignment] # would fail if called
    acts2, _ = again.view(paths[2:], 0)
    assert torch.equal(acts2, acts[2:])
    # augmented views are the same whatever list a photo comes in
    v1a, _ = cache.view(paths[:2], 1)
    fresh = ActivationCache(model, cut, 64, 72, None, workers=0)
    v1b, _ = fresh.view(paths[1:3], 1)
    assert torch.equal(v1a[1], v1b[0])
    assert not torch.equal(v1a[0], acts[0])  # an augmented view differs from the clean one


@pytest.mark.slow
@pytest.mark.shared
def test_finetune_cached_writes_a_bundle_the_app_scores_like_training(tiny_tree, mobilenet_v2_weights, tmp_path):
    out = tmp_path / "m.safetensors"
    base = build_model("mobilenet_v2", 3, "imagenet", mobilenet_v2_weights)
    rc = main(
        [
            "train",
            str(tiny_tree),
            "--output",
            str(out),
            "--mode",
            "finetune-cached",
            "--backbone-weights",
            str(mobilenet_v2_weights),
            "--non-landmark",
            str(tiny_tree / "nl"),
            "--outlier-exposure",
            str(tiny_tree / "nl"),
            "--input-size",
            "64",
            "--resize-size",
            "72",
            "--views",
            "2",
            "--epochs",
            "3",
            "--batch-size",
            "16",
            "--threads",
            "1",
            "--workers",
            "0",
        ]
    )
    assert rc == 0
    b = load_bundle(out)
    assert b.class_keys == list(CLASSES) and b.training["mode"] == "finetune-cached"
    assert b.training["trained_blocks"] == 5 and b.training["first_trained_block"] == 14
    sd, ref = b.state_dict, base.state_dict()
    # the lower blocks keep their ImageNet weights, the upper ones were trained
    assert torch.equal(sd["backbone.features.13.conv.0.0.weight"], ref["backbone.features.13.conv.0.0.weight"])
    assert not torch.equal(sd["backbone.features.17.conv.0.0.weight"], ref["backbone.features.17.conv.0.0.weight"])
    # BatchNorm statistics never moved (eval-mode BatchNorm while training)
    assert torch.equal(
        sd["backbone.features.17.conv.0.1.running_mean"], ref["backbone.features.17.conv.0.1.running_mean"]
    )
    assert b.gallery_embeddings.shape == (30, 1280)
    # the gallery is what the app computes for the training photos (view 0 through the tuned network)
    rec = Recognizer(b, device="cpu")
    train_paths = sorted((tiny_tree / "train" / "colosseum").glob("*.jpg"))[:3]
    emb = torch.stack([torch.from_numpy(p.embedding) for p in rec.predict_paths(train_paths)])
    gal = b.gallery_embeddings.float()
    assert (emb @ gal.T).max(1).values.min() > 0.995
