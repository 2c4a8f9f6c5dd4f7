"""The CLI of issue 13 (places, XMP sidecars): ``places``, ``search`` by city/country and ``--source gps``,
``export-xmp`` (``--dry-run``, ``--estimated-gps``, ``--convention``, ``--json``, exit status on errors) and
``import-xmp``, in-process on a library of real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.commands import main
from core.photos.xmp import read_properties
from tests.core.photos.test_xmp import DIGIKAM_XMP
from tests.helpers import copy_photos, copy_with_gps, landmark_photos


@pytest.fixture
def photos(shared_data, tmp_path) -> Path:
    root = tmp_path / "photos"
    camera = shared_data / "exif-samples" / "jpg" / "gps" / "DSCN0010.jpg"
    copy_with_gps(camera, root / "trip" / "tower.jpg", 48.8586, 2.2946)  # 25 m from the Eiffel Tower's point
    (root / "trip" / "arezzo.jpg").write_bytes(camera.read_bytes())
    copy_photos(landmark_photos(shared_data, "Colosseum", "test")[:1], root / "rome", prefix="c")
    return root


@pytest.fixture
def cli(tmp_path, tiny_bundle_path, capsys):
    db = tmp_path / "lib.sqlite3"

    def run(*args: str, json_out: bool = False):
        argv = ["--db", str(db), "--model", str(tiny_bundle_path)] + (["--json"] if json_out else []) + list(args)
        code = main(argv)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_places_and_search_by_place(cli, photos):
    assert cli("add-folder", str(photos))[0] == 0
    assert cli("tag", "--no-progress")[0] == 0
    code, out, _ = cli("places")
    assert code == 0 and "Paris, France" in out and "Arezzo, Italy" in out
    code, out, _ = cli("places", json_out=True)
    assert {"country": "Italy", "city": "Arezzo", "photos": 1} in json.loads(out)
    code, out, _ = cli("search", "paris")
    assert code == 0 and "Eiffel Tower, Paris" in out and "tower.jpg" in out and "gps" in out
    code, out, _ = cli("search", "--country", "Italy")
    assert "(Arezzo, Italy)" in out and "tower.jpg" not in out
    code, out, _ = cli("search", "--city", "arezzo", json_out=True)
    rows = json.loads(out)
    assert [r["city"] for r in rows] == ["Arezzo"] and rows[0]["country"] == "Italy"
    code, out, _ = cli("search", "--source", "gps", json_out=True)
    assert [Path(r["path"]).name for r in json.loads(out)] == ["tower.jpg"]
    assert json.loads(out)[0]["label_source"] == "gps"


def test_export_and_import_xmp(cli, photos):
    cli("add-folder", str(photos))
    cli("tag", "--no-progress")
    colosseum = next((photos / "rome").glob("*.jpg"))
    assert cli("relabel", str(colosseum), "--landmark", "Colosseum")[0] == 0
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in photos.rglob("*.jpg")}

    code, out, _ = cli("export-xmp", "--dry-run")
    assert code == 0 and "Dry run, nothing written" in out and not list(photos.rglob("*.xmp"))

    code, out, _ = cli("export-xmp", "--estimated-gps")
    assert code == 0, out
    assert "created" in out and "2 created, 0 updated, 0 cleaned, 0 unchanged, 0 errors" in out
    side = read_properties((colosseum.parent / (colosseum.name + ".xmp")).read_bytes())
    assert side["Xmp.dc.subject"] == ["Colosseum, Rome"] and side["Xmp.exif.GPSLatitude"] == ["41,53.412000N"]
    tower = read_properties((photos / "trip" / "tower.jpg.xmp").read_bytes())
    assert tower["Xmp.lr.hierarchicalSubject"] == ["Places|France|Eiffel Tower, Paris"]
    assert "Xmp.exif.GPSLatitude" not in tower  # it has its own EXIF GPS

    code, out, _ = cli("export-xmp", "--convention", "lightroom", json_out=True)
    report = json.loads(out)
    assert code == 0 and report["counts"]["created"] == 2 and report["convention"] == "lightroom"
    assert (photos / "trip" / "tower.xmp").is_file()

    # a corrupt sidecar: reported per file, untouched, exit status 1 with one error line
    bad = photos / "trip" / "tower.jpg.xmp"
    bad.write_bytes(b"<x:xmpmeta")
    code, out, err = cli("export-xmp")
    assert code == 1 and "error" in out and "left untouched" in out
    assert err.strip().splitlines()[-1].startswith("landmark-tagger: error: 1 sidecar(s) could not be written")
    assert bad.read_bytes() == b"<x:xmpmeta"
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in photos.rglob("*.jpg")} == before

    # import: digiKam says the Arezzo photo shows the Colosseum
    arezzo = photos / "trip" / "arezzo.jpg"
    dk = DIGIKAM_XMP.replace(b"<rdf:li>Paris 2023</rdf:li>", b"<rdf:li>Colosseum</rdf:li>")
    (arezzo.parent / (arezzo.name + ".xmp")).write_bytes(dk)
    code, out, _ = cli("import-xmp", "--dry-run")
    assert code == 0 and "would set" in out and "1 photo(s) would take a label" in out
    code, out, _ = cli("import-xmp")
    assert code == 0 and "labelled" in out and "Colosseum, Rome" in out and "unreadable" in out
    code, out, _ = cli("search", "--city", "arezzo", json_out=True)
    row = json.loads(out)[0]
    assert (row["label"], row["label_source"]) == ("Colosseum", "manual")
    code, out, _ = cli("history", json_out=True)
    assert json.loads(out)[0]["kind"] == "import"
    assert cli("undo")[0] == 0
    code, out, _ = cli("search", "--city", "arezzo", json_out=True)
    assert json.loads(out)[0]["label"] is None
