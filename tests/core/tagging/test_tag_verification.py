"""Tagging with geometric verification: uncertain photos are verified beside the CNN and the verified
answer is what the library stores; the setting turns it off; the model card says when it is missing."""

from __future__ import annotations

import pytest
import torch

from core.library import AlbumRef, Library
from core.recognition.bundle import save_bundle
from core.recognition.features_file import VerificationFeatures, features_path_for, save_features
from core.recognition.local_features import extract_local_features
from core.recognition.verification import VerificationGallery, VerificationParams
from tests.helpers import copy_photos, landmark_photos, make_tiny_bundle, warp_view

pytestmark = pytest.mark.shared
torch.set_num_threads(1)

KEYS = ("Colosseum", "Petra", "Taj_Mahal")


@pytest.fixture()
def verified_model(tmp_path, shared_data):
    """A tiny random bundle (every answer uncertain) with a features file of 2 photos per landmark."""
    bundle = make_tiny_bundle(KEYS)
    path = save_bundle(bundle, tmp_path / "model" / "tiny.safetensors")
    feats, labels = [], []
    for i, k in enumerate(KEYS):
        for p in landmark_photos(shared_data, k)[:2]:
            feats.append(extract_local_features(p).top(256))
            labels.append(i)
    gallery = VerificationGallery.pack(KEYS, labels, feats)
    save_features(
        VerificationFeatures(bundle.model_version, gallery, params=VerificationParams(shortlist=2)),
        features_path_for(path),
    )
    return path


def _tag(tmp_path, model, folder, verify: bool, name: str):
    lib = Library.open(tmp_path / f"{name}.db", model, threads=1, verify=verify)
    try:
        lib.add_folder(folder)
        lib.tag()
        rows = {r.path.name: lib.photo(r.id) for r in lib.photos(album=AlbumRef("all"))}
        return rows, lib.model_card()
    finally:
        lib.close()


def test_tagging_stores_the_verified_answer(tmp_path, shared_data, verified_model):
    folder = tmp_path / "photos"
    copy_photos(landmark_photos(shared_data, "Petra")[5:9], folder)
    warp_view(landmark_photos(shared_data, "Taj_Mahal")[1], folder / "taj-new-view.jpg")
    on, card_on = _tag(tmp_path, verified_model, folder, True, "on")
    off, card_off = _tag(tmp_path, verified_model, folder, False, "off")
    assert card_on["verification"].startswith("on (6 gallery photos")
    assert card_off["verification"] == "off (turned off in the settings)"
    assert len(on) == len(off) == 5
    taj = on["taj-new-view.jpg"]
    assert taj.label == "Taj_Mahal" and taj.top_k[0][0] == "Taj_Mahal" and taj.confidence > 0.9
    assert off["taj-new-view.jpg"].confidence < 0.6  # the random model alone is unsure
    for name, row in on.items():  # the others found no match: the CNN's answer stands
        if name != "taj-new-view.jpg":
            assert [k for k, _, _ in row.top_k] == [k for k, _, _ in off[name].top_k]


def test_model_card_says_when_there_are_no_verification_features(tmp_path, tiny_bundle_path):
    lib = Library.open(tmp_path / "lib.db", tiny_bundle_path, threads=1)
    try:
        card = lib.model_card()
        assert card["verification"] == "unavailable: no verification features"
        assert card["verification_features"] is None
        assert lib.recognizer().verification_status == "unavailable: no verification features"
    finally:
        lib.close()


def test_library_refuses_a_tampered_features_file(tmp_path, verified_model):
    from core.domain import ModelError

    f = features_path_for(verified_model)
    raw = bytearray(f.read_bytes())
    raw[len(raw) // 2] ^= 0x10
    f.write_bytes(bytes(raw))
    with pytest.raises(ModelError, match="integrity check"):
        Library.open(tmp_path / "lib.db", verified_model)
