"""The Library facade with the shipped default model: real accuracy, estimated locations, model card."""

from __future__ import annotations

import pytest
import torch

from core.library import AlbumKind, AlbumRef, Library
from core.paths import default_model_path
from core.recognition.catalog import load_catalog
from tests.helpers import copy_photos, landmark_photos

torch.set_num_threads(1)

CLASSES = ("Colosseum", "Taj_Mahal", "Petra", "Hagia_Sophia", "Palais_des_Papes_Avignon")


def test_default_model_tags_a_real_folder(tmp_path, shared_data):
    assert default_model_path().is_file(), "the shipped model bundle is part of the checkout"
    truth = {}
    for c in CLASSES:
        for p in copy_photos(landmark_photos(shared_data, c, "test")[:4], tmp_path / "p" / c):
            truth[p] = c
    non = copy_photos(sorted((shared_data / "non_landmark").glob("*.jpg"))[:8], tmp_path / "p" / "misc")
    lib = Library.open(tmp_path / "lib.db", threads=1)  # default model
    try:
        card = lib.model_card()
        assert card["model_version"] == lib.model_version and len(card["classes"]) >= len(CLASSES)
        lib.add_folder(tmp_path / "p")
        final = lib.tag()
        assert final.counts["failed"] == 0 and final.counts["pending"] == 0
        by_path = {s.path: s for s in lib.photos()}
        correct = sum(by_path[p].label == c for p, c in truth.items())
        assert correct >= 0.8 * len(truth), f"{correct}/{len(truth)} correct"
        assert sum(by_path[p].status == "no_landmark" for p in non) >= 6
        catalog = load_catalog()
        for p, c in truth.items():
            s = by_path[p]
            if s.label == c:
                assert s.location_source == "landmark"
                assert (s.latitude, s.longitude) == pytest.approx((catalog[c].latitude, catalog[c].longitude))
        albums = {a.ref: a for a in lib.albums()}
        colosseum = albums[AlbumRef(AlbumKind.LANDMARK, "Colosseum")]
        assert colosseum.count >= 3 and colosseum.country == catalog["Colosseum"].country
        assert albums[AlbumRef(AlbumKind.UNRECOGNIZED)].count >= 6
    finally:
        lib.close()
