"""End-to-end training runs on a few 64 px classes of ../shared/data/landmarks-eecs445-64px.

* frozen mode with the ImageNet MobileNetV2 from ../shared/torch-home → a loadable, calibrated bundle
  whose validation metrics (computed by training) agree with ``landmark-train evaluate`` (computed by
  the app's ``Recognizer``) on the same photos: the training-time scoring is the app's scoring;
* the fine-tune mode keeps frozen blocks' BatchNorm statistics fixed; checkpoints and ``--resume``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from core.recognition.bundle import load_bundle
from training.cli import main

CLASSES = ("colosseum", "pantheon", "rialto_bridge")


@pytest.fixture(scope="module")
def tiny_tree(shared_data, tmp_path_factory) -> Path:
    """ImageFolder with train/ (12 per class) and val/ (5 per class) copied from the 64 px set, plus 8 non-landmark photos."""
    src = shared_data / "landmarks-eecs445-64px"
    root = tmp_path_factory.mktemp("tiny")
    for split, n in (("train", 12), ("val", 5)):
        for c in CLASSES:
            (root / split / c).mkdir(parents=True)
            for f in sorted((src / split / c).glob("*.jpg"))[:n]:
                shutil.copy(f, root / split / c / f.name)
    (root / "nl").mkdir()
    for f in sorted((shared_data / "non_landmark").glob("*.jpg"))[:8]:
        shutil.copy(f, root / "nl" / f.name)
    return root


@pytest.mark.slow
@pytest.mark.shared
def test_frozen_training_writes_a_bundle_that_scores_like_the_app(tiny_tree, mobilenet_v2_weights, tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    rc = main(
        [
            "train",
            str(tiny_tree),
            "--output",
            str(out),
            "--mode",
            "frozen",
            "--backbone-weights",
            str(mobilenet_v2_weights),
            "--non-landmark",
            str(tiny_tree / "nl"),
            "--outlier-exposure",
            str(tiny_tree / "nl"),  # same folder → split into two halves of 4
            "--input-size",
            "64",
            "--resize-size",
            "72",
            "--views",
            "1",
            "--epochs",
            "30",
            "--threads",
            "1",
            "--workers",
            "0",
        ]
    )
    assert rc == 0
    b = load_bundle(out)
    assert b.class_keys == list(CLASSES)
    assert b.backbone == "mobilenet_v2" and b.input_size == 64 and b.resize_size == 72
    assert b.gallery_embeddings.shape == (36, 1280)  # the 36 clean training views
    assert torch.allclose(b.gallery_embeddings.norm(dim=1), torch.ones(36), atol=2e-3)
    assert b.model_version.startswith("mobilenet_v2-")
    assert 0.05 <= b.temperature <= 20 and 0.0 <= b.no_landmark_threshold <= 1.0
    t = b.training
    assert t["mode"] == "frozen" and t["train_images"] == 36 and t["val_images"] == 15
    assert t["non_landmark_images"] == 4 and t["outlier_exposure"]["photos"] == 4
    assert t["calibration"]["threshold_non_landmark_rate"] <= 0.05 + 1e-9
    val = t["validation_metrics"]
    assert val["top1"] >= 0.6  # 3 classes: chance is 0.33; pretrained features do far better
    work = tmp_path / "m-run"
    for name in ("metrics.json", "curves.png", "confusion.png"):
        assert (work / name).stat().st_size > 0, name
    assert json.loads((work / "metrics.json").read_text())["model_version"] == b.model_version

    # the app's Recognizer on the same validation photos (and the threshold half of the non-landmark
    # photos) gives the same numbers
    from training.data_setup import list_images, split_half

    thr_dir = tmp_path / "nl_threshold_half"
    thr_dir.mkdir()
    for f in split_half(list_images(tiny_tree / "nl"))[1]:
        shutil.copy(f, thr_dir / f.name)
    capsys.readouterr()
    assert (
        main(
            ["evaluate", str(out), str(tiny_tree / "val"), "--non-landmark", str(thr_dir), "--json", "--device", "cpu"]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 15 and report["n_non_landmark"] == 4
    assert report["top1"] == pytest.approx(val["top1"], abs=1e-9)
    assert report["top5"] == pytest.approx(val["top5"], abs=1e-9)
    assert report["gap"] == pytest.approx(val["gap"], abs=1e-3)
    assert report["ece"] == pytest.approx(val["ece"], abs=1e-3)
    assert report["non_landmark_labelled_rate"] == pytest.approx(val["non_landmark_labelled_rate"], abs=1e-9)
    # the table form names every metric
    main(["evaluate", str(out), str(tiny_tree / "val"), "--device", "cpu"])
    table = capsys.readouterr().out
    for label in ("top-1 accuracy", "top-5 accuracy", "GAP", "ECE", "per-class"):
        assert label in table


def test_bad_input_gives_a_clear_error(tmp_path, capsys):
    assert main(["train", str(tmp_path / "nothing"), "--output", str(tmp_path / "x.safetensors")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "w.pth").write_bytes(b"not a checkpoint")
    (tmp_path / "d" / "a").mkdir(parents=True)
    from PIL import Image

    for i in range(6):
        Image.new("RGB", (16, 16), (i * 40, 0, 0)).save(tmp_path / "d" / "a" / f"{i}.jpg")
        Image.new("RGB", (16, 16), (0, i * 40, 0)).save(tmp_path / "d" / f"b{i}.jpg")
    (tmp_path / "d" / "b").mkdir()
    for i in range(6):
        (tmp_path / "d" / f"b{i}.jpg").rename(tmp_path / "d" / "b" / f"{i}.jpg")
    assert (
        main(
            [
                "train",
                str(tmp_path / "d"),
                "--output",
                str(tmp_path / "x.safetensors"),
                "--backbone-weights",
                str(tmp_path / "w.pth"),
            ]
        )
        == 2
    )
    assert "cannot read backbone weights" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "w.pth"), str(tmp_path / "d")]) == 2
    assert capsys.readouterr().err.strip()


@pytest.mark.slow
@pytest.mark.shared
def test_finetune_keeps_frozen_batchnorm_fixed_and_resumes(tiny_tree, mobilenet_v2_weights, tmp_path):
    from training.engine import set_train_mode
    from training.finetune import freeze_for_finetune
    from training.weights import build_model

    # unit check: after a train-mode forward, frozen blocks' BN statistics are unchanged, the last block's moved
    m = build_model("mobilenet_v2", 3, weights_file=mobilenet_v2_weights)
    frozen = freeze_for_finetune(m, "mobilenet_v2", 2)
    first_bn = m.backbone.features[1].conv[0][1]
    last_bn = m.backbone.features[18][1]
    before_first, before_last = first_bn.running_mean.clone(), last_bn.running_mean.clone()
    set_train_mode(m, frozen)
    m(torch.randn(4, 3, 64, 64))
    assert torch.equal(first_bn.running_mean, before_first)
    assert not torch.equal(last_bn.running_mean, before_last)
    assert not any(p.requires_grad for p in m.backbone.features[0].parameters())
    assert all(p.requires_grad for p in m.backbone.features[18].parameters())

    out = tmp_path / "ft.safetensors"
    common = [
        "train",
        str(tiny_tree),
        "--output",
        str(out),
        "--mode",
        "finetune",
        "--backbone-weights",
        str(mobilenet_v2_weights),
        "--unfreeze-blocks",
        "1",
        "--input-size",
        "64",
        "--resize-size",
        "72",
        "--batch-size",
        "12",
        "--threads",
        "1",
        "--workers",
        "0",
    ]
    assert main(common + ["--epochs", "1"]) == 0
    ck = torch.load(tmp_path / "ft-run" / "checkpoint.pt", weights_only=True)
    assert ck["epoch"] == 1
    assert main(common + ["--epochs", "2", "--resume"]) == 0
    b = load_bundle(out)
    assert [h["epoch"] for h in b.training["history"]] == [1, 2]
    assert b.training["mode"] == "finetune" and b.training["unfreeze_blocks"] == 1
    # frozen layers in the bundle are exactly the pretrained ones
    src = torch.load(mobilenet_v2_weights, weights_only=True)
    assert torch.equal(b.state_dict["backbone.features.0.0.weight"], src["features.0.0.weight"])
    assert torch.equal(b.state_dict["backbone.features.5.conv.1.1.running_var"], src["features.5.conv.1.1.running_var"])


def test_training_from_the_apps_corrections_csv(tiny_tree, tmp_path):
    """The app exports user corrections as ``path,label``; such a CSV trains a bundle (scratch, 1 epoch)."""
    rows = ["path,label"]
    for c in CLASSES:
        for f in sorted((tiny_tree / "train" / c).glob("*.jpg")):
            rows.append(f"{f},{c.title()}")
    csv_path = tmp_path / "corrections.csv"
    csv_path.write_text("\n".join(rows) + "\n")
    out = tmp_path / "csv.safetensors"
    assert (
        main(
            [
                "train",
                str(csv_path),
                "--output",
                str(out),
                "--mode",
                "scratch",
                "--input-size",
                "32",
                "--resize-size",
                "36",
                "--epochs",
                "1",
                "--batch-size",
                "8",
                "--threads",
                "1",
                "--workers",
                "0",
                "--val-fraction",
                "0.25",
            ]
        )
        == 0
    )
    b = load_bundle(out)
    assert b.class_keys == sorted(c.title() for c in CLASSES)
    assert b.training["train_images"] + b.training["val_images"] == 36
    assert b.training["val_images"] == 9  # round(0.25 · 12) per class
    by_key = {c.key: c for c in b.classes}
    assert by_key["Colosseum"].latitude == pytest.approx(41.89, abs=0.01)  # a catalog key: its coordinates
    assert by_key["Rialto_Bridge"].name == "Rialto Bridge" and by_key["Rialto_Bridge"].latitude is None  # unknown key
