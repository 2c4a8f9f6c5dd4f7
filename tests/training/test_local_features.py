"""Building verification features: gallery selection, ``build_gallery``, ``verify_photo`` and
``landmark-train features``."""

from __future__ import annotations

import numpy as np
import pytest

from core.recognition.bundle import save_bundle
from core.recognition.features_file import features_path_for, load_features
from core.recognition.recognizer import Recognizer
from tests.helpers import copy_photos, landmark_photos, make_tiny_bundle, warp_view
from training.cli import main as train_main
from training.local_features import build_gallery, select_gallery, verify_photo


def test_select_gallery_keeps_per_class_medoids_deterministically():
    rng = np.random.default_rng(0)
    # class 0: two tight clusters of 10; class 1: 2 photos (no more than per_class: all kept)
    a = rng.normal(size=(1, 16)) + 0.05 * rng.normal(size=(10, 16))
    b = rng.normal(size=(1, 16)) + 0.05 * rng.normal(size=(10, 16))
    emb = np.concatenate([a, b, rng.normal(size=(2, 16))]).astype(np.float32)
    labels = [0] * 20 + [1] * 2
    chosen = select_gallery(emb, labels, per_class=2, seed=1)
    assert chosen == select_gallery(emb, labels, per_class=2, seed=1)
    assert chosen[-2:] == [20, 21] and len(chosen) == 4
    first = [i for i in chosen if i < 20]
    assert len(first) == 2 and {i // 10 for i in first} == {0, 1}  # one medoid per cluster
    assert select_gallery(None, labels, per_class=2) == [0, 1, 20, 21]  # without embeddings: the first ones


@pytest.mark.shared
def test_build_gallery_and_verify_photo(tmp_path, shared_data):
    keys = ["Colosseum", "Petra"]
    paths = landmark_photos(shared_data, "Colosseum")[:3] + landmark_photos(shared_data, "Petra")[:3]
    labels = [0, 0, 0, 1, 1, 1]
    g = build_gallery(paths, labels, keys, per_class=2, gallery_keypoints=100)
    assert len(g) == 4 and sorted(g.labels.tolist()) == [0, 0, 1, 1]
    assert all(len(g.photo(i)) <= 100 for i in range(4)) and g.embeddings is None
    query = tmp_path / "q.jpg"
    warp_view(paths[4], query)  # Petra's second photo, in the gallery (first 2 per class without embeddings)
    v = verify_photo(query, (("Colosseum", 0.6), ("Petra", 0.4)), None, g)
    assert v.accepted == "Petra" and v.top_k[0][0] == "Petra"


@pytest.mark.shared
def test_features_sub_command_writes_a_file_the_recognizer_loads(tmp_path, shared_data, capsys):
    keys = ("Colosseum", "Petra")
    bundle = make_tiny_bundle(keys)
    bundle_path = save_bundle(bundle, tmp_path / "m.safetensors")
    for k in keys:
        copy_photos(landmark_photos(shared_data, k)[:4], tmp_path / "data" / k)
    copy_photos(landmark_photos(shared_data, "Eiffel_Tower")[:2], tmp_path / "data" / "Eiffel_Tower")  # unknown
    assert (
        train_main(["features", str(bundle_path), str(tmp_path / "data"), "--per-class", "3", "--device", "cpu"]) == 0
    )
    assert "6 gallery photos of 2 landmarks" in capsys.readouterr().out
    f = load_features(features_path_for(bundle_path), model_version=bundle.model_version, class_keys=list(keys))
    assert f.gallery.embeddings is not None and f.gallery.embeddings.shape == (6, bundle.embedding_dim)
    assert f.source["per_class"] == 3
    assert Recognizer(bundle_path, device="cpu").verify
    assert train_main(["features", str(bundle_path), str(tmp_path / "nothing")]) == 2
    assert "error" in capsys.readouterr().err
