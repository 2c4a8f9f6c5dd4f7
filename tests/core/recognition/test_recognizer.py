"""``core.recognition.recognizer`` plumbing on the tiny random bundle, and ``core.recognition.device``.

The tiny bundle's predictions are meaningless but deterministic, so these tests check shapes, order,
consistency between the entry points, the user gallery's effect and the error paths. Whether the
recognizer *recognises* is tested on real photos in ``test_teaching.py``.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import threading
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

import core.recognition.device as device_mod
from core.domain import NO_LANDMARK
from core.photos.image_io import ImageDecodeError
from core.recognition.bundle import BundleError
from core.recognition.device import resolve_device
from core.recognition.recognizer import NO_LANDMARK_NAME, Prediction, Recognizer
from tests.helpers import REPO_ROOT as REPO
from tests.helpers import make_tiny_bundle

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def bundle():
    return make_tiny_bundle(("alpha", "beta", "gamma", "delta"))


@pytest.fixture()
def rec(bundle):
    return Recognizer(bundle, device="cpu", top_k=3)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Eight small, different photos (JPEG and PNG) and two bad files, in a temp folder."""
    d = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(1)
    paths = []
    for i in range(8):
        small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize((160 + 10 * i, 120), Image.Resampling.BICUBIC)
        p = d / (f"p{i}.jpg" if i % 2 else f"p{i}.png")
        img.save(p)
        paths.append(p)
    (d / "empty.jpg").write_bytes(b"")
    (d / "text.jpg").write_text("hello")
    return paths, [d / "empty.jpg", d / "text.jpg"]


def _batch(rec, paths):
    return torch.stack([rec.load_image(p) for p in paths])


def _same(a: Prediction, b: Prediction, atol=1e-5):
    assert [k for k, _ in a.top_k] == [k for k, _ in b.top_k]
    assert np.allclose([c for _, c in a.top_k], [c for _, c in b.top_k], atol=atol)
    assert (a.label, a.is_landmark) == (b.label, b.is_landmark)
    assert np.allclose(a.embedding, b.embedding, atol=atol)


# ----------------------------------------------------------------------------- construction


def test_attributes(rec, bundle):
    assert rec.model_version == "tiny-0" and rec.bundle is bundle
    assert rec.device == torch.device("cpu")
    assert rec.embedding_dim == 256
    assert rec.label_keys == ("alpha", "beta", "gamma", "delta")


def test_loads_from_a_path(tiny_bundle_path):
    rec = Recognizer(tiny_bundle_path, device="cpu")
    assert rec.model_version == "tiny-0" and rec.label_keys == ("alpha", "beta", "gamma")
    assert rec.label_name("beta") == "Beta"


def test_damaged_bundle_path_raises_bundle_error(tiny_bundle_path):
    tiny_bundle_path.write_bytes(tiny_bundle_path.read_bytes()[:-100])
    with pytest.raises(BundleError):
        Recognizer(tiny_bundle_path, device="cpu")


def test_weights_that_do_not_fit_the_backbone_raise_bundle_error(bundle):
    sd = dict(bundle.state_dict)
    del sd["backbone.features.0.weight"]
    with pytest.raises(BundleError, match="do not fit backbone 'simple_cnn'.*features.0.weight"):
        Recognizer(replace(bundle, state_dict=sd), device="cpu")
    sd = dict(bundle.state_dict)
    sd["backbone.features.0.weight"] = torch.zeros(32, 3, 5, 5)
    with pytest.raises(BundleError, match="size mismatch"):
        Recognizer(replace(bundle, state_dict=sd), device="cpu")
    sd = dict(bundle.state_dict)
    sd["backbone.extra.weight"] = torch.zeros(1)
    with pytest.raises(BundleError, match="Unexpected key"):
        Recognizer(replace(bundle, state_dict=sd), device="cpu")


def test_unavailable_device_is_a_value_error(bundle):
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="not available"):
            Recognizer(bundle, device="cuda")
    with pytest.raises(ValueError, match="unknown device"):
        Recognizer(bundle, device="tpu")
    with pytest.raises(ValueError):
        Recognizer(bundle, device="cpu", top_k=0)


# ----------------------------------------------------------------------------- predictions


def test_predict_tensors_shapes_and_order(rec, photos):
    preds = rec.predict_tensors(_batch(rec, photos[0][:5]))
    assert len(preds) == 5
    for p in preds:
        assert isinstance(p, Prediction)
        assert len(p.top_k) == 3
        confs = [c for _, c in p.top_k]
        assert confs == sorted(confs, reverse=True)
        assert all(0.0 <= c <= 1.0 for c in confs) and sum(confs) <= 1.0 + 1e-6
        assert len({k for k, _ in p.top_k}) == 3 and all(k in rec.label_keys for k, _ in p.top_k)
        assert p.confidence == p.top_k[0][1]
        assert p.is_landmark == (p.confidence >= rec.bundle.no_landmark_threshold)
        assert p.label == (p.top_k[0][0] if p.is_landmark else None)
        assert p.embedding.shape == (256,) and p.embedding.dtype == np.float32
        assert abs(float(np.linalg.norm(p.embedding)) - 1.0) < 1e-5
    # different photos give different embeddings
    assert not np.allclose(preds[0].embedding, preds[1].embedding)


def test_all_classes_sum_to_one(bundle, photos):
    rec = Recognizer(bundle, device="cpu", top_k=10)  # more than the 4 classes
    for p in rec.predict_tensors(_batch(rec, photos[0][:3])):
        assert len(p.top_k) == 4
        assert sum(c for _, c in p.top_k) == pytest.approx(1.0, abs=1e-5)


def test_a_prediction_does_not_depend_on_the_batch(rec, photos):
    paths = photos[0][:6]
    together = rec.predict_tensors(_batch(rec, paths))
    for p, path in zip(together, paths):
        _same(p, rec.predict_tensors(_batch(rec, [path]))[0], atol=1e-4)


def test_bad_batch_shape_is_a_value_error(rec):
    with pytest.raises(ValueError, match=r"\(B, 3, 64, 64\)"):
        rec.predict_tensors(torch.zeros(2, 3, 32, 32))
    with pytest.raises(ValueError):
        rec.predict_tensors(torch.zeros(3, 64, 64))
    assert rec.predict_tensors(torch.zeros(0, 3, 64, 64)) == []


def test_predict_paths_matches_predict_tensors_and_reports_bad_files(rec, photos):
    good, bad = photos
    paths = [good[0], bad[0], good[1], good[2], bad[1], good[3], good[4], "/no/such/photo.jpg", good[5]]
    want = {p: r for p, r in zip(good, rec.predict_tensors(_batch(rec, good)))}
    for batch_size, workers in [(16, None), (1, 0), (3, 2), (4, 1)]:
        got = rec.predict_paths(paths, batch_size=batch_size, workers=workers)
        assert len(got) == len(paths)
        for path, r in zip(paths, got):
            if path in want:
                _same(r, want[path], atol=1e-4)
            else:
                assert isinstance(r, ImageDecodeError) and r.path == str(path)
        assert got[1].kind == "empty" and got[4].kind == "not_image" and got[7].kind == "missing"
    assert rec.predict_paths([]) == []
    with pytest.raises(ValueError):
        rec.predict_paths(good, batch_size=0)


def test_score_embeddings_equals_predict_tensors(rec, photos):
    preds = rec.predict_tensors(_batch(rec, photos[0]))
    emb = np.stack([p.embedding for p in preds])
    for again in (rec.score_embeddings(emb), rec.score_embeddings(torch.from_numpy(emb))):
        for a, b in zip(preds, again):
            _same(a, b)
    # float16 storage: same labels, confidences within float16 rounding
    for a, b in zip(preds, rec.score_embeddings(emb.astype(np.float16))):
        assert [k for k, _ in a.top_k] == [k for k, _ in b.top_k]
        assert abs(a.confidence - b.confidence) < 2e-2
    assert rec.score_embeddings(np.zeros((0, 256), np.float32)) == []
    with pytest.raises(ValueError):
        rec.score_embeddings(np.zeros((2, 10), np.float32))


def test_no_landmark_threshold_gates_the_label(bundle, photos):
    batch = None
    for threshold, expect in [(1.0, False), (0.0, True)]:
        rec = Recognizer(replace(bundle, no_landmark_threshold=threshold), device="cpu")
        batch = _batch(rec, photos[0][:4]) if batch is None else batch
        for p in rec.predict_tensors(batch):
            assert p.is_landmark is expect
            assert p.label == (p.top_k[0][0] if expect else None)
            assert 0.0 < p.confidence < 1.0


# ----------------------------------------------------------------------------- user gallery


def _basis(i, d=256):
    e = np.zeros(d, np.float32)
    e[i] = 1.0
    return e


def test_teaching_a_new_landmark_flips_exactly_the_matching_photos(rec):
    emb = np.stack([_basis(0), _basis(1), _basis(2)])  # three mutually orthogonal "photos"
    before = rec.score_embeddings(emb)
    rec.set_user_gallery(emb[:1], ["my_garden_gate"], names={"my_garden_gate": "Our garden gate"})
    assert rec.label_keys == ("alpha", "beta", "gamma", "delta", "my_garden_gate", NO_LANDMARK)
    after = rec.score_embeddings(emb)
    assert after[0].label == "my_garden_gate" and after[0].is_landmark and after[0].confidence > 0.9
    for b, a in zip(before[1:], after[1:]):  # orthogonal photos (cosine 0) are unaffected
        assert [k for k, _ in a.top_k] == [k for k, _ in b.top_k]
        assert a.confidence == pytest.approx(b.confidence, abs=1e-6)
    assert rec.label_name("my_garden_gate") == "Our garden gate"
    # clearing restores the model's answers
    rec.set_user_gallery(np.zeros((0, 256), np.float32), [])
    assert rec.label_keys == ("alpha", "beta", "gamma", "delta")
    for b, a in zip(before, rec.score_embeddings(emb)):
        _same(a, b)


def test_teaching_through_real_photos(rec, photos):
    paths = photos[0][:3]
    preds = rec.predict_paths(paths)
    taught = [k for k in ("alpha", "beta", "gamma", "delta") if k != preds[0].top_k[0][0]][0]
    rec.set_user_gallery(np.stack([preds[0].embedding]), [taught])  # a correction to another class
    again = rec.predict_paths(paths)
    assert again[0].label == taught and again[0].confidence > 0.9
    # the stored-embedding path agrees with the CNN path under the user gallery
    for a, b in zip(again, rec.score_embeddings(np.stack([p.embedding for p in preds]))):
        _same(a, b)


def test_marking_no_landmark(rec):
    emb = np.stack([_basis(3), _basis(4)])
    rec.set_user_gallery(emb[:1], [NO_LANDMARK])
    a, b = rec.score_embeddings(emb)
    assert a.top_k[0][0] == NO_LANDMARK and a.is_landmark is False and a.label is None
    assert b.top_k[0][0] != NO_LANDMARK
    assert rec.label_name(NO_LANDMARK) == NO_LANDMARK_NAME


def test_extended_label_space_order(rec):
    labels = ["x_new", "alpha", NO_LANDMARK, "y_new", "x_new"]
    rec.set_user_gallery(np.stack([_basis(i) for i in range(5)]), labels)
    assert rec.label_keys == ("alpha", "beta", "gamma", "delta", "x_new", "y_new", NO_LANDMARK)
    got = rec.score_embeddings(np.stack([_basis(i) for i in range(5)]))
    assert [p.top_k[0][0] for p in got] == labels
    assert rec.label_name("y_new") == "y_new" and rec.label_name("alpha") == "Alpha"
    assert rec.label_name("from_an_older_model") == "from_an_older_model"


def test_user_gallery_accepts_float16_tensors_and_unnormalised_rows(rec):
    emb = torch.stack([torch.from_numpy(_basis(7) * 3.0)]).half()
    rec.set_user_gallery(emb, ["z"])
    assert rec.score_embeddings(np.stack([_basis(7)]))[0].label == "z"


@pytest.mark.parametrize(
    "emb,labels,match",
    [
        (np.zeros((2, 256), np.float32) + 0.1, ["a"], "2 embeddings but 1 labels"),
        (np.zeros((1, 10), np.float32) + 0.1, ["a"], r"\(M, 256\)"),
        (np.zeros((1, 256), np.float32), ["a"], "non-zero"),
        (np.full((1, 256), np.nan, np.float32), ["a"], "finite"),
        (np.zeros((1, 256), np.float32) + 0.1, [""], "non-empty"),
    ],
)
def test_bad_user_gallery_is_refused_and_keeps_the_old_one(rec, emb, labels, match):
    rec.set_user_gallery(np.stack([_basis(0)]), ["kept"])
    with pytest.raises(ValueError, match=match):
        rec.set_user_gallery(emb, labels)
    assert "kept" in rec.label_keys


# ----------------------------------------------------------------------------- threads


def test_load_image_from_worker_threads_while_predicting(rec, photos):
    good = photos[0]
    reference = [rec.load_image(p) for p in good]
    expected = rec.predict_tensors(torch.stack(reference))
    errors: list[BaseException] = []
    loaded: dict[int, torch.Tensor] = {}

    def worker(k):
        try:
            for _ in range(3):
                for i, p in enumerate(good):
                    t = rec.load_image(p)
                    if (k, i) not in loaded:
                        loaded[(k, i)] = t
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for _ in range(3):
        for a, b in zip(rec.predict_tensors(torch.stack(reference)), expected):
            _same(a, b)
    for t in threads:
        t.join()
    assert not errors
    for (_, i), t in loaded.items():
        assert torch.equal(t, reference[i])


# ----------------------------------------------------------------------------- device


def test_resolve_device_on_this_machine():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    auto = resolve_device("auto")
    if torch.cuda.is_available():
        assert auto.type == "cuda"
    elif torch.backends.mps.is_available():
        assert auto.type == "mps"
    else:
        assert auto == torch.device("cpu")
        with pytest.raises(ValueError, match="not available.*available: cpu"):
            resolve_device("cuda")
        with pytest.raises(ValueError, match="no GPU"):
            resolve_device("gpu")
    assert resolve_device(None) == auto
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        resolve_device("tpu")


def _fake(monkeypatch, cuda: int, mps: bool):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: cuda)
    monkeypatch.setattr(device_mod, "_mps_available", lambda: mps)


def test_resolve_device_preference_order(monkeypatch):
    _fake(monkeypatch, cuda=2, mps=True)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("gpu") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device("mps") == torch.device("mps")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="CUDA device 5 does not exist"):
        resolve_device("cuda:5")
    with pytest.raises(ValueError, match="cuda:N"):
        resolve_device("cuda:x")

    _fake(monkeypatch, cuda=0, mps=True)
    assert resolve_device("auto") == torch.device("mps")
    assert resolve_device("gpu") == torch.device("mps")
    with pytest.raises(ValueError, match="'cuda'.*not available.*mps, cpu"):
        resolve_device("cuda")

    _fake(monkeypatch, cuda=0, mps=False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match="'mps'.*not available"):
        resolve_device("mps")


# ----------------------------------------------------------------------------- malloc tuning


def test_malloc_tuning_applies_once_on_glibc_and_can_be_disabled():
    code = (
        "import core.recognition.malloc_tuning as m; a = m.tune_malloc_for_inference(); "
        "b = m.tune_malloc_for_inference(); print(a, b)"
    )

    def run(**env):
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
            env={**os.environ, **env},
        )
        return out.stdout.split()

    assert run(LANDMARK_TAGGER_MALLOC_TUNING="0") == ["False", "False"]
    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert run() == (["True", "True"] if glibc else ["False", "False"])


# ----------------------------------------------------------------------------- landmark gate


def test_landmark_gate_answers_no_landmark_far_from_the_gallery(bundle):
    from core.recognition.bundle import ScoringParams

    gated = replace(
        bundle, scoring=ScoringParams(landmark_gate_cosine=0.5, landmark_gate_width=0.05), no_landmark_threshold=0.3
    )
    rec = Recognizer(gated, device="cpu", top_k=5)
    assert rec.label_keys[-1] == NO_LANDMARK
    near = bundle.gallery_embeddings[:1].numpy()  # a gallery photo itself: cosine 1
    far = np.asarray(-bundle.gallery_embeddings.mean(0, keepdim=True).numpy())  # away from all of them
    far /= np.linalg.norm(far)
    p_near, p_far = rec.score_embeddings(np.concatenate([near, far]))
    assert p_near.top_k[0][0] != NO_LANDMARK
    assert dict(p_near.top_k).get(NO_LANDMARK, 0.0) < 1e-3  # sigmoid((1 - 0.5)/0.05) ≈ 1
    assert p_far.top_k[0][0] == NO_LANDMARK and not p_far.is_landmark and p_far.label is None
    for p in (p_near, p_far):
        assert sum(c for _, c in p.top_k) == pytest.approx(1.0, abs=1e-5)  # 4 classes + NO_LANDMARK
    # a user-taught landmark near the far photo lifts its gate too
    rec.set_user_gallery(far, ["our_chapel"])
    taught = rec.score_embeddings(far)[0]
    assert taught.label == "our_chapel" and taught.is_landmark
