"""core/recognition/catalog.py and resources/landmarks.json."""

from __future__ import annotations

import json

import pytest

from core.recognition.catalog import CatalogError, classes_for_keys, display_name_from_key, load_catalog


def test_shipped_catalog_covers_56_landmarks_with_valid_coordinates():
    cat = load_catalog()
    assert len(cat) == 56
    for key, c in cat.items():
        assert c.key == key and c.name.strip()
        if c.latitude is not None:
            assert -90 <= c.latitude <= 90 and -180 <= c.longitude <= 180
    # spot checks against well-known positions (decimal degrees)
    assert cat["Colosseum"].latitude == pytest.approx(41.890, abs=0.01)
    assert cat["Colosseum"].longitude == pytest.approx(12.492, abs=0.01)
    assert cat["Christ_the_Redeemer"].latitude < 0 and cat["Christ_the_Redeemer"].longitude < 0  # S, W
    assert cat["Machu_Picchu"].country == "Peru"
    assert sum(c.latitude is not None for c in cat.values()) >= 53
    # the third-pass classes (Paris, India)
    assert cat["Eiffel_Tower"].latitude == pytest.approx(48.858, abs=0.01)
    assert cat["Eiffel_Tower"].longitude == pytest.approx(2.294, abs=0.01)
    assert cat["Gateway_of_India"].country == "India" and cat["Gateway_of_India"].longitude == pytest.approx(
        72.83, abs=0.01
    )
    assert cat["Humayuns_Tomb"].name == "Humayun's Tomb, Delhi"


def test_catalog_keys_match_the_training_classes(shared_data):
    folders = {p.name for p in (shared_data / "landmarks" / "train").iterdir() if p.is_dir()}
    assert set(load_catalog()) == folders


def test_classes_for_keys_keeps_order_and_falls_back_for_unknown_keys():
    cat = load_catalog()
    classes = classes_for_keys(["Petra", "Sydney_Opera_House", "Colosseum"], cat)
    assert [c.key for c in classes] == ["Petra", "Sydney_Opera_House", "Colosseum"]
    assert classes[0] == cat["Petra"]
    assert classes[1].name == "Sydney Opera House"
    assert classes[1].latitude is None and classes[1].longitude is None and classes[1].country is None
    with pytest.raises(ValueError, match="duplicate"):
        classes_for_keys(["Petra", "Petra"], cat)
    assert display_name_from_key("Chateau_d_If__Marseille") == "Chateau d If Marseille"


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"name": "X", "latitude": 91.0, "longitude": 0.0}, "latitude"),
        ({"name": "X", "latitude": 10.0, "longitude": -181.0}, "longitude"),
        ({"name": "X", "latitude": 10.0, "longitude": None}, "only one"),
        ({"name": ""}, "name"),
        ({"name": "X", "latitude": "north", "longitude": 1.0}, "latitude"),
    ],
)
def test_invalid_entries_are_rejected(tmp_path, entry, message):
    p = tmp_path / "cat.json"
    p.write_text(json.dumps({"format": "landmark-tagger-catalog", "format_version": 1, "landmarks": {"K": entry}}))
    with pytest.raises(CatalogError, match=message):
        load_catalog(p)


def test_unreadable_or_foreign_files(tmp_path):
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(CatalogError, match="not valid JSON"):
        load_catalog(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"landmarks": {}}))
    with pytest.raises(CatalogError, match="not a landmark catalog"):
        load_catalog(tmp_path / "other.json")
    (tmp_path / "newer.json").write_text(
        json.dumps({"format": "landmark-tagger-catalog", "format_version": 9, "landmarks": {}})
    )
    with pytest.raises(CatalogError, match="format 9"):
        load_catalog(tmp_path / "newer.json")
