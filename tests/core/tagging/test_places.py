"""Photos with EXIF GPS are placed without the model (issue 13, item 1): a catalog landmark when the position lies
within its ``coordinate_uncertainty_m``, else city and country from offline reverse geocoding; search by place;
corrections of GPS labels; existing libraries migrate; the GPS path never imports torch.

The photos are copies of a real camera JPEG (exif-samples ``DSCN0010.jpg``) whose EXIF GPS is rewritten with
exiv2 (``tests.helpers.copy_with_gps``), and the real exif-samples files with their own GPS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from sqlalchemy import text

from core.library import AlbumKind, AlbumRef, Library, LibraryError, SearchQuery
from core.recognition.bundle import save_bundle
from core.store.migrate import alembic_config
from core.tagging.places import MAX_PLACING_RADIUS_M, nearest_landmark, place_position
from tests.helpers import REPO_ROOT, copy_with_gps, exif_gps_samples, make_tiny_bundle

EIFFEL = (48.8584, 2.2945)  # catalog point; uncertainty 150 m
M_PER_DEG_LAT = 111_195.0

#: name → (latitude, longitude) of the test photos
POSITIONS = {
    "eiffel_50m.jpg": (EIFFEL[0] + 50 / M_PER_DEG_LAT, EIFFEL[1]),  # inside the 150 m circle
    "eiffel_400m.jpg": (EIFFEL[0] + 400 / M_PER_DEG_LAT, EIFFEL[1]),  # outside: Paris, no landmark
    "negresco.jpg": (43.6946, 7.2580),  # Hôtel Negresco (100 m) inside the Promenade des Anglais (3 km)
    "promenade.jpg": (43.6935, 7.2560),  # 200 m from the Negresco's point: only the Promenade holds it
    "beijing_north.jpg": (40.40, 116.50),  # within the Great Wall's 1 000 km "circle": not placed there
    "zero.jpg": (0.0, 0.0),  # written without a fix: no GPS
    "out_of_range.jpg": (95.0, 2.0),  # latitude out of range: no GPS
}


@pytest.fixture()
def places_env(tmp_path, shared_data):
    camera = shared_data / "exif-samples" / "jpg" / "gps" / "DSCN0010.jpg"
    before = (camera.stat().st_mtime_ns, camera.read_bytes())
    root = tmp_path / "photos"
    for name, (lat, lon) in POSITIONS.items():
        copy_with_gps(camera, root / name, lat, lon)
    arezzo = root / "arezzo.jpg"
    arezzo.write_bytes(camera.read_bytes())  # its own GPS: Arezzo, Italy
    assert (camera.stat().st_mtime_ns, camera.read_bytes()) == before  # the shared file is never written
    bundle = save_bundle(
        make_tiny_bundle(("Eiffel_Tower", "Colosseum", "Hotel_Negresco_Nice")), tmp_path / "tiny.safetensors"
    )
    lib = Library.open(tmp_path / "lib.db", bundle)
    lib.add_folder(root)
    yield lib, root
    lib.close()


def _by_name(lib):
    return {p.path.name: p for p in lib.photos()}


def test_gps_photos_are_placed_without_the_model(places_env):
    lib, root = places_env
    lib.tag()
    p = _by_name(lib)
    near = p["eiffel_50m.jpg"]
    assert (near.status, near.label, near.label_source, near.confidence) == ("gps", "Eiffel_Tower", "gps", 1.0)
    assert near.label_name == "Eiffel Tower, Paris" and (near.city, near.country) == ("Paris", "France")
    assert near.location_source == "gps" and near.latitude == pytest.approx(POSITIONS["eiffel_50m.jpg"][0])
    far = p["eiffel_400m.jpg"]
    assert (far.status, far.label, far.label_source) == ("gps", None, None)
    assert far.place == "Paris, France"
    # overlapping circles: the nearest landmark wins; a catalog landmark the model does not know is placed too
    assert p["negresco.jpg"].label == "Hotel_Negresco_Nice"
    assert p["promenade.jpg"].label == "Promenade_des_Anglais_Nice" and p["promenade.jpg"].label_source == "gps"
    assert p["promenade.jpg"].city == "Nice"
    # the Great Wall's 1 000 km uncertainty is too wide to place photos by
    assert p["beijing_north.jpg"].label is None and p["beijing_north.jpg"].country == "China"
    assert (p["arezzo.jpg"].city, p["arezzo.jpg"].country, p["arezzo.jpg"].label) == ("Arezzo", "Italy", None)
    # (0, 0) and out-of-range positions are no GPS: those photos went to the model
    for name in ("zero.jpg", "out_of_range.jpg"):
        assert p[name].status in ("tagged", "no_landmark") and p[name].location_source != "gps", name
        assert p[name].city is None and lib.photo(p[name].id).model_version is not None
    # GPS photos never reached the model
    for name in ("eiffel_50m.jpg", "eiffel_400m.jpg", "negresco.jpg", "arezzo.jpg"):
        d = lib.photo(p[name].id)
        assert d.model_version is None and d.top_k == () and not d.has_embedding


def test_gps_labels_fill_landmark_albums(places_env):
    lib, _ = places_env
    lib.tag()
    p = _by_name(lib)
    albums = {a.ref: a for a in lib.albums()}
    eiffel = albums[AlbumRef(AlbumKind.LANDMARK, "Eiffel_Tower")]
    assert eiffel.count == 1 and eiffel.unsure == 0 and eiffel.cover_photo_id == p["eiffel_50m.jpg"].id
    assert [s.id for s in lib.photos(AlbumRef(AlbumKind.LANDMARK, "Eiffel_Tower"))] == [p["eiffel_50m.jpg"].id]
    # still in "Has GPS" (every photo with EXIF GPS), never in "Needs review"
    assert albums[AlbumRef(AlbumKind.HAS_GPS)].count == 6
    review = {s.id for s in lib.photos(AlbumRef(AlbumKind.NEEDS_REVIEW))}
    assert not review & {p[n].id for n in ("eiffel_50m.jpg", "negresco.jpg", "promenade.jpg")}


def test_search_finds_photos_by_city_and_country(places_env):
    lib, _ = places_env
    lib.tag()
    p = _by_name(lib)
    # the two photos the (random) model labelled: no landmark, so that only places decide below
    lib.relabel([p["zero.jpg"].id, p["out_of_range.jpg"].id], not_landmark=True)

    def names(**q):
        return sorted(s.path.name for s in lib.photos(query=SearchQuery(**q)))

    assert names(text="paris") == ["eiffel_400m.jpg", "eiffel_50m.jpg"]
    assert names(text="Pari") == ["eiffel_400m.jpg", "eiffel_50m.jpg"]  # prefix
    assert names(text="Parris") == ["eiffel_400m.jpg", "eiffel_50m.jpg"]  # one typo
    assert names(text="italy") == ["arezzo.jpg"]
    assert names(text="france") == ["eiffel_400m.jpg", "eiffel_50m.jpg", "negresco.jpg", "promenade.jpg"]
    assert names(text="nice") == ["negresco.jpg", "promenade.jpg"]
    assert names(text="eiffel") == ["eiffel_50m.jpg"]  # landmark names as before
    assert names(city="PARIS") == ["eiffel_400m.jpg", "eiffel_50m.jpg"]
    assert names(country="italy", city="arezzo") == ["arezzo.jpg"]
    assert names(country="Atlantis") == []
    assert names(label_source="gps") == ["eiffel_50m.jpg", "negresco.jpg", "promenade.jpg"]
    assert lib.count(query=SearchQuery(text="paris")) == 2
    # a photo the model labelled with a French landmark is found by its landmark's country
    zero = p["zero.jpg"]
    lib.relabel([zero.id], landmark="Eiffel_Tower")
    assert "zero.jpg" in names(country="France") and "zero.jpg" in names(text="france")
    with pytest.raises(LibraryError, match="label source"):
        lib.photos(query=SearchQuery(label_source="satellite"))
    places = lib.places()
    assert ("France", "Paris", 2) in places and ("Italy", "Arezzo", 1) in places


def test_corrections_of_gps_labels(places_env, tmp_path):
    lib, _ = places_env
    lib.tag()
    pid = _by_name(lib)["eiffel_50m.jpg"].id
    # a GPS label is not the person's: not exported for training, not taught from
    assert lib.export_corrections(tmp_path / "c.csv") == 0
    lib.reject([pid])  # "this is not the Eiffel Tower": the GPS label goes
    assert (lib.photo(pid).label, lib.photo(pid).label_source) == (None, None)
    lib.undo()
    assert (lib.photo(pid).label, lib.photo(pid).label_source) == ("Eiffel_Tower", "gps")
    lib.relabel([pid], landmark="Colosseum")
    assert (lib.photo(pid).label, lib.photo(pid).label_source) == ("Colosseum", "manual")
    lib.undo()
    assert (lib.photo(pid).label, lib.photo(pid).label_source) == ("Eiffel_Tower", "gps")
    lib.relabel([pid], not_landmark=True)
    assert (lib.photo(pid).label, lib.photo(pid).label_source, lib.photo(pid).status) == (None, "manual", "gps")
    lib.undo()
    lib.confirm([pid])  # now it is the person's
    assert (lib.photo(pid).label, lib.photo(pid).label_source) == ("Eiffel_Tower", "manual")
    assert lib.export_corrections(tmp_path / "c2.csv", force=True) == 1
    # a rescan keeps all this
    lib.tag()
    assert (lib.photo(pid).label, lib.photo(pid).label_source) == ("Eiffel_Tower", "manual")


def test_rejected_gps_landmark_is_not_given_back_by_a_rescan(places_env):
    lib, root = places_env
    lib.tag()
    pid = _by_name(lib)["eiffel_50m.jpg"].id
    lib.reject([pid])
    # corrections belong to the photo: a rescan, even one that reads and places it again because another app
    # changed its bytes, does not give the rejected landmark back
    lib.tag()
    with open(root / "eiffel_50m.jpg", "ab") as fh:
        fh.write(b"\0")
    lib.tag()
    d = lib.photo(pid)
    assert (d.status, d.label, d.city) == ("gps", None, "Paris") and "Eiffel_Tower" in d.rejected
    # a byte-identical copy is another photo: placed, with the landmark the person rejected for the original
    (root / "copy").mkdir()
    (root / "copy" / "again.jpg").write_bytes((root / "eiffel_50m.jpg").read_bytes())
    lib.tag()
    again = _by_name(lib)["again.jpg"]
    assert again.id != pid and again.status == "gps" and again.city == "Paris"
    assert (again.label, again.label_source) == ("Eiffel_Tower", "gps")
    assert lib.photo(pid).label is None


def test_unit_rule_nearest_landmark_and_bad_positions():
    spots = [
        ("A", 10.0, 10.0, 500.0),
        ("B", 10.0 + 300 / M_PER_DEG_LAT, 10.0, 1000.0),
        ("Wall", 10.0, 10.0, MAX_PLACING_RADIUS_M * 10),
        ("Zero", 10.0, 10.0, 0.0),
    ]
    assert nearest_landmark(10.0, 10.0, spots)[0] == "A"
    assert nearest_landmark(10.0 + 290 / M_PER_DEG_LAT, 10.0, spots)[0] == "B"  # both hold it: B is nearer
    assert nearest_landmark(10.0 + 900 / M_PER_DEG_LAT, 10.0, spots)[0] == "B"
    assert nearest_landmark(10.0 + 1400 / M_PER_DEG_LAT, 10.0, spots) is None  # only the too-wide "Wall"
    for lat, lon in [(0.0, 0.0), (91.0, 10.0), (10.0, 181.0), (float("nan"), 10.0), (None, 10.0)]:
        assert nearest_landmark(lat, lon, [("O", 0.0, 0.0, 1e6), *spots]) is None
        assert place_position(lat, lon, spots, None).landmark is None


def test_real_exif_sample_positions_scan_to_their_places(tmp_path, shared_data, tiny_bundle_path):
    """The real camera/phone files of exif-samples with GPS: every one is placed (city and country), none is
    sent to the model, and the tagger never loads it."""
    samples = exif_gps_samples(shared_data)
    root = tmp_path / "phone"
    root.mkdir()
    for i, (path, _, _) in enumerate(samples):
        (root / f"{i:02d}_{path.name}").write_bytes(path.read_bytes())
    with Library.open(tmp_path / "lib.db", tiny_bundle_path) as lib:
        lib.add_folder(root)
        lib.tag()
        assert lib._rec is None  # nothing needed the model
        got = {p.path.name.split("_", 1)[1]: p for p in lib.photos()}
    assert len(got) == len(samples)
    assert all(p.status == "gps" and p.country for p in got.values())
    assert (got["DSCN0038.jpg"].city, got["DSCN0038.jpg"].country) == ("Arezzo", "Italy")
    assert got["iphone_hdr_YES.jpg"].place == "Madrid, Spain"


def test_an_existing_library_gets_its_gps_photos_placed_on_the_next_scan(places_env, tmp_path):
    """A library written before revision 0005 (downgraded here, with the old app's GPS photos: no label): the
    upgrade adds the columns; the next scan places its GPS photos without running the model."""
    lib, root = places_env
    lib.tag()
    db_path, model_path = lib.db_path, lib.model_path
    lib.close()
    from alembic import command

    from core.store.engine import Database

    db = Database(db_path)
    try:
        cfg = alembic_config()
        with db.writer.connect() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0004")
            conn.execute(
                text("UPDATE photos SET label = NULL, label_source = NULL, confidence = NULL WHERE status = 'gps'")
            )
            conn.commit()
        with db.read() as conn:
            cols = {r[1] for r in conn.execute(text("PRAGMA table_info(photos)"))}
            assert "city" not in cols and "placed_at" not in cols
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0004"
    finally:
        db.dispose()
    with Library.open(db_path, model_path) as lib2:
        assert lib2.backup_path is not None  # the migration took a copy first
        eiffel = lib2.photo(lib2.photo_id(root / "eiffel_50m.jpg"))
        assert eiffel.label is None and eiffel.city is None  # not placed yet
        counts_before = {p.id: lib2.photo(p.id).model_version for p in lib2.photos()}
        lib2.tag()
        eiffel = lib2.photo(eiffel.id)
        assert (eiffel.label, eiffel.label_source, eiffel.city) == ("Eiffel_Tower", "gps", "Paris")
        assert lib2._rec is None  # placing needed no model
        assert {p.id: lib2.photo(p.id).model_version for p in lib2.photos()} == counts_before
        album = next(a for a in lib2.albums() if a.ref.key == "Eiffel_Tower")
        assert album.count == 1


def test_the_gps_path_never_imports_torch(tmp_path, shared_data, tiny_bundle_path):
    """Scanning a GPS-only folder (and placing its photos) in a fresh process: torch is never imported."""
    camera = shared_data / "exif-samples" / "jpg" / "gps" / "DSCN0010.jpg"
    copy_with_gps(camera, tmp_path / "gps" / "eiffel.jpg", EIFFEL[0], EIFFEL[1])
    (tmp_path / "gps" / "arezzo.jpg").write_bytes(camera.read_bytes())
    script = textwrap.dedent(
        f"""
        import json, sys
        from core.library import Library
        with Library.open({str(tmp_path / "lib.db")!r}, {str(tiny_bundle_path)!r}) as lib:
            lib.add_folder({str(tmp_path / "gps")!r})
            lib.tag()
            labels = sorted((p.path.name, p.label, p.city) for p in lib.photos())
        print(json.dumps({{"torch": sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.")),
                           "labels": labels}}))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["torch"] == []
    assert result["labels"] == [["arezzo.jpg", None, "Arezzo"], ["eiffel.jpg", "Eiffel_Tower", "Paris"]]
