"""Geometric verification: local features, matching, the features file, the Recognizer hook."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.domain import NO_LANDMARK
from core.recognition.bundle import BundleError, save_bundle
from core.recognition.features_file import (
    FeaturesError,
    VerificationFeatures,
    features_path_for,
    load_features,
    read_features_info,
    save_features,
)
from core.recognition.local_features import ExtractionParams, LocalFeatures, extract_local_features, rootsift
from core.recognition.recognizer import Prediction, Recognizer
from core.recognition.verification import (
    VerificationGallery,
    VerificationParams,
    count_inliers,
    needs_verification,
    rerank,
    verify_top_k,
)
from tests.helpers import landmark_photos, make_tiny_bundle, warp_view

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def photos(shared_data):
    return {
        "eiffel": landmark_photos(shared_data, "Eiffel_Tower"),
        "colosseum": landmark_photos(shared_data, "Colosseum"),
        "taj": landmark_photos(shared_data, "Taj_Mahal"),
    }


def test_rootsift_features_of_a_real_photo(photos):
    f = extract_local_features(photos["eiffel"][0])
    assert 50 <= len(f) <= ExtractionParams().max_keypoints
    assert f.descriptors.dtype == np.uint8 and f.descriptors.shape == (len(f), 128)
    assert f.keypoints.dtype == np.float32 and f.keypoints.shape == (len(f), 2)
    w, h = f.size
    assert max(w, h) <= 512
    assert (f.keypoints >= 0).all() and (f.keypoints[:, 0] < w).all() and (f.keypoints[:, 1] < h).all()
    rs = f.rootsift()
    np.testing.assert_allclose(np.linalg.norm(rs, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(rs, np.sqrt(f.descriptors / f.descriptors.sum(1, keepdims=True)), atol=1e-6)
    assert len(f.top(10)) == 10


def test_large_photos_are_shrunk_to_max_side(tmp_path, photos):
    big = tmp_path / "big.jpg"
    Image.open(photos["taj"][0]).convert("RGB").resize((1600, 1200)).save(big)
    f = extract_local_features(big, ExtractionParams(max_side=400, max_keypoints=100))
    assert max(f.size) <= 400 and len(f) <= 100


def test_rootsift_of_zero_rows_stays_zero():
    assert not rootsift(np.zeros((2, 128), np.uint8)).any()


def test_same_scene_has_many_more_inliers_than_different_landmarks(tmp_path, photos):
    params = VerificationParams()
    warped = tmp_path / "warped.jpg"
    warp_view(photos["eiffel"][3], warped)
    a = extract_local_features(photos["eiffel"][3])
    same = count_inliers(extract_local_features(warped), a, params)
    different = [
        count_inliers(extract_local_features(p), extract_local_features(q), params)
        for p, q in zip(photos["colosseum"][:3], photos["taj"][:3])
    ] + [count_inliers(extract_local_features(p), a, params) for p in photos["colosseum"][:3]]
    assert same >= 60, same
    assert max(different) < params.min_inliers, different
    assert same > 4 * max(max(different), 1)


def test_needs_verification_and_rerank_rule():
    p = VerificationParams(verify_below=0.9, skip_no_landmark_above=0.9, min_inliers=15, min_margin=5)
    assert needs_verification((("a", 0.6), ("b", 0.3)), p)
    assert not needs_verification((("a", 0.95), ("b", 0.03)), p)
    assert not needs_verification(((NO_LANDMARK, 0.93), ("b", 0.03)), p)
    top = (("a", 0.5), ("b", 0.3), ("c", 0.1))
    new, acc = rerank(top, {"a": 3, "b": 40, "c": 0}, p)
    assert acc == "b" and new[0][0] == "b" and new[0][1] == pytest.approx(max(0.3, p.confidence(40)))
    q = new[0][1]  # the others scale by (1 - q) / (1 - 0.3): the full distribution still sums to 1
    assert dict(new)["a"] == pytest.approx(0.5 * (1 - q) / 0.7) and sum(c for _, c in new) <= 1.0
    assert [k for k, _ in new] == ["b", "a", "c"]
    assert rerank(top, {"a": 3, "b": 12}, p) == (top, None)  # below min_inliers
    assert rerank(top, {"a": 30, "b": 33}, p) == (top, None)  # no clear winner
    same, acc = rerank(top, {"a": 60, "b": 0}, p)  # confirms the top-1: confidence only goes up
    assert acc == "a" and same[0] == ("a", pytest.approx(p.confidence(60))) and same[0][1] > 0.5


def _gallery_features(photos, keys):
    """Gallery of two photos per key (the class's first two training photos)."""
    feats, labels = [], []
    for i, k in enumerate(keys):
        for p in photos[k][:2]:
            feats.append(extract_local_features(p).top(256))
            labels.append(i)
    return VerificationGallery.pack(keys, labels, feats, np.random.default_rng(0).normal(size=(len(feats), 8)))


def test_verify_top_k_moves_the_matching_landmark_to_top_1(tmp_path, photos):
    keys = ("eiffel", "colosseum", "taj")
    gallery = _gallery_features(photos, keys)
    warped = tmp_path / "q.jpg"
    warp_view(photos["taj"][1], warped)  # a new view of a gallery photo of "taj"
    query = extract_local_features(warped)
    top = (("eiffel", 0.45), ("taj", 0.35), ("colosseum", 0.1), (NO_LANDMARK, 0.1))
    v = verify_top_k(top, None, query, gallery, VerificationParams(shortlist=2))
    assert v.accepted == "taj" and v.top_k[0][0] == "taj"
    assert v.inliers["taj"] > 50 and v.inliers["eiffel"] < 15
    assert v.pairs == 6
    assert set(v.top_k) != set(top) and {k for k, _ in v.top_k} == {k for k, _ in top}


def test_features_file_round_trip_tamper_and_model_checks(tmp_path, photos):
    keys = ("eiffel", "colosseum", "taj")
    gallery = _gallery_features(photos, keys)
    feats = VerificationFeatures("m1", gallery, ExtractionParams(), VerificationParams(min_inliers=20), {"why": "test"})
    path = save_features(feats, tmp_path / "m.features.safetensors")
    back = load_features(path, model_version="m1", class_keys=list(keys))
    assert back.params.min_inliers == 20 and back.source == {"why": "test"}
    np.testing.assert_array_equal(back.gallery.descriptors, gallery.descriptors)
    np.testing.assert_array_equal(back.gallery.labels, gallery.labels)
    np.testing.assert_allclose(back.gallery.keypoints, gallery.keypoints, atol=0.26)  # float16 below 512 px
    assert read_features_info(path)["model_version"] == "m1"

    with pytest.raises(FeaturesError, match="built for model m1, not for this bundle's model m2"):
        load_features(path, model_version="m2")
    with pytest.raises(FeaturesError, match="other landmarks"):
        load_features(path, model_version="m1", class_keys=["eiffel", "taj", "colosseum"])

    raw = bytearray(path.read_bytes())
    raw[-100] ^= 0x01  # one bit of descriptor data
    bad = tmp_path / "bad.features.safetensors"
    bad.write_bytes(bytes(raw))
    with pytest.raises(FeaturesError, match="failed its integrity check") as err:
        load_features(bad)
    assert "\n" not in str(err.value) and isinstance(err.value, BundleError)
    with pytest.raises(FeaturesError, match="not found"):
        load_features(tmp_path / "missing.features.safetensors")
    assert features_path_for(tmp_path / "x.safetensors").name == "x.features.safetensors"


def _bundle_with_features(tmp_path, photos, model_version=None):
    keys = ("eiffel", "colosseum", "taj")
    bundle = make_tiny_bundle(keys)
    bundle_path = save_bundle(bundle, tmp_path / "tiny.safetensors")
    gallery = _gallery_features(photos, keys)
    gallery = VerificationGallery.pack(
        keys, gallery.labels.tolist(), [gallery.photo(i) for i in range(len(gallery))], None
    )
    feats = VerificationFeatures(model_version or bundle.model_version, gallery, params=VerificationParams(shortlist=2))
    save_features(feats, features_path_for(bundle_path))
    return bundle_path


def test_recognizer_without_features_runs_without_verification(tiny_bundle_path, photos):
    rec = Recognizer(tiny_bundle_path, device="cpu")
    assert rec.verification_features is None and not rec.verify
    assert rec.verification_status == "unavailable: no verification features"
    pred = rec.predict_paths([photos["eiffel"][0]], workers=0)[0]
    assert isinstance(pred, Prediction) and pred.verification is None
    assert rec.verify_prediction(pred, photos["eiffel"][0]) is pred


def test_recognizer_refuses_tampered_or_foreign_features(tmp_path, photos):
    path = _bundle_with_features(tmp_path, photos)
    fpath = features_path_for(path)
    raw = bytearray(fpath.read_bytes())
    raw[-10] ^= 0xFF
    fpath.write_bytes(bytes(raw))
    with pytest.raises(BundleError, match="integrity check"):
        Recognizer(path, device="cpu")
    Recognizer(path, device="cpu", verify=False)  # not read when verification is off
    other = tmp_path / "other"
    other.mkdir()
    path2 = _bundle_with_features(other, photos, model_version="another-model")
    with pytest.raises(BundleError, match="built for model another-model"):
        Recognizer(path2, device="cpu")


def test_recognizer_verification_reranks_an_uncertain_prediction(tmp_path, photos):
    path = _bundle_with_features(tmp_path, photos)
    rec = Recognizer(path, device="cpu")
    assert rec.verify and rec.verification_status.startswith("on (6 gallery photos of 3 landmarks")
    off = Recognizer(path, device="cpu", verify=False)
    assert off.verification_status == "off (turned off in the settings)"
    query = tmp_path / "query.jpg"
    warp_view(photos["colosseum"][0], query)
    pred = Prediction(
        top_k=(("taj", 0.5), ("colosseum", 0.3), ("eiffel", 0.2)),
        label="taj",
        confidence=0.5,
        is_landmark=True,
        embedding=np.zeros(rec.embedding_dim, np.float32),
    )
    assert rec.needs_verification(pred)
    new = rec.verify_prediction(pred, query)
    assert new.verification is not None and new.verification.accepted == "colosseum"
    assert new.label == "colosseum" and new.top_k[0][0] == "colosseum" and new.confidence > 0.5
    assert not rec.needs_verification(new)  # verified once
    assert off.verify_prediction(pred, query) is pred
    sure = Prediction((("taj", 0.97), ("colosseum", 0.02)), "taj", 0.97, True, pred.embedding)
    assert rec.verify_prediction(sure, query) is sure  # certain enough: not verified
    # an unreadable photo keeps the CNN's answer
    assert rec.verify_prediction(pred, tmp_path / "missing.jpg") is pred


def test_gallery_pack_checks_shapes():
    f = LocalFeatures(np.zeros((3, 2), np.float32), np.zeros((3, 128), np.uint8), (10, 10))
    g = VerificationGallery.pack(("a", "b"), [0, 1], [f, f.top(2)])
    assert len(g) == 2 and list(g.offsets) == [0, 3, 5] and len(g.photo(1)) == 2
    assert list(g.photos_of(1)) == [1] and len(g.photos_of(5)) == 0
    with pytest.raises(ValueError, match="outside the class list"):
        VerificationGallery.pack(("a",), [0, 1], [f, f])
    with pytest.raises(ValueError):
        VerificationGallery.pack(("a",), [0], [f, f])


def test_collapsing_or_flipping_maps_score_zero(shared_data):
    from core.recognition.verification import _distinct, _plausible

    assert _plausible(np.eye(3), "homography") and _plausible(np.eye(3)[:2] * 2.0, "affine")
    assert not _plausible(np.diag([1.0, -1.0, 1.0]), "homography")  # a mirror image
    # the homography MAGSAC fitted between two unrelated photos before the checks (107 "inliers"):
    collapse = np.array([[-2.622, 3.977, 204.6], [-1.414, 2.162, 107.4], [-0.012, 0.019, 1.0]])
    assert not _plausible(collapse, "homography")
    assert _distinct(np.array([[1.0, 1.0], [1.2, 0.9], [5.0, 5.0]])) == 2
    # those two photos: a railing by the sea (Nice) and a pink villa (Porto)
    train = shared_data / "landmarks" / "train"
    a = extract_local_features(train / "Promenade_des_Anglais_Nice" / "00000036.jpg")
    b = extract_local_features(train / "Casa_de_Serralves_Porto" / "serralves-0052.jpg")
    assert count_inliers(a, b, VerificationParams()) < VerificationParams().min_inliers
