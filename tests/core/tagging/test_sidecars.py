"""XMP sidecars of a real library (issue 13, item 3): export (created / merged / cleaned / errors per file), the
photos never written, corrupt sidecars and unwritable folders, corrections updating sidecars, import of other apps'
keywords as the person's labels, Lightroom's shared names, estimated GPS."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import pytest

from core.library import ChangeKind, InvalidRequestError, Library, SidecarOptions
from core.photos import safe_write
from core.photos.xmp import read_keywords, read_properties
from core.recognition.bundle import save_bundle
from tests.core.photos.test_xmp import DIGIKAM_XMP
from tests.helpers import copy_photos, copy_with_gps, landmark_photos, make_tiny_bundle

EIFFEL = (48.8584, 2.2945)


def _photo_state(root: Path) -> dict[Path, tuple[int, bytes]]:
    """``{photo: (mtime_ns, bytes)}`` of every photo under ``root`` (not the sidecars)."""
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(root.rglob("*.jpg"))}


@pytest.fixture()
def env(tmp_path, shared_data):
    root = tmp_path / "photos"
    camera = shared_data / "exif-samples" / "jpg" / "gps" / "DSCN0010.jpg"
    copy_with_gps(camera, root / "eiffel.jpg", *EIFFEL)
    col = copy_photos(landmark_photos(shared_data, "Colosseum", "test")[:3], root / "rome", prefix="col")
    taj = copy_photos(landmark_photos(shared_data, "Taj_Mahal", "test")[:1], root / "locked", prefix="taj")
    bundle = save_bundle(make_tiny_bundle(("Eiffel_Tower", "Colosseum", "Taj_Mahal")), tmp_path / "tiny.safetensors")
    lib = Library.open(tmp_path / "lib.db", bundle)
    lib.add_folder(root)
    lib.tag()
    ids = {p.path: p.id for p in lib.photos()}
    lib.relabel([ids[col[0]], ids[col[1]]], landmark="Colosseum")
    lib.relabel([ids[col[2]]], not_landmark=True)
    lib.relabel([ids[taj[0]]], landmark="Taj_Mahal")
    yield lib, root, ids, col, taj
    lib.close()


def test_export_writes_merges_and_reports_without_touching_the_photos(env):
    lib, root, ids, col, taj = env
    (root / "rome" / (col[0].name + ".xmp")).write_bytes(DIGIKAM_XMP)  # digiKam's sidecar
    corrupt = root / "rome" / (col[1].name + ".xmp")
    corrupt.write_bytes(DIGIKAM_XMP[:700])  # cut off
    corrupt_before = (corrupt.stat().st_mtime_ns, corrupt.read_bytes())
    photos_before = _photo_state(root)

    dry = lib.export_sidecars(SidecarOptions("digikam"), dry_run=True)
    assert dry.dry_run and not (root / "eiffel.jpg.xmp").exists()
    assert {r.outcome for r in dry.results} == {"created", "updated", "error"}

    report = lib.export_sidecars(SidecarOptions("digikam"))
    by_photo = {r.photo: r for r in report.results}
    assert by_photo[root / "eiffel.jpg"].outcome == "created"
    assert by_photo[col[0]].outcome == "updated"
    assert by_photo[taj[0]].outcome == "created"
    err = by_photo[col[1]]
    assert err.outcome == "error" and "damaged" in err.reason and "untouched" in err.reason
    assert col[2] not in by_photo  # not a landmark: nothing written
    assert report.skipped == 1 and len(report.errors) == 1
    assert "2 created, 1 updated, 0 cleaned, 0 unchanged, 1 error" in report.summary

    gps = read_properties((root / "eiffel.jpg.xmp").read_bytes())
    assert gps["Xmp.dc.subject"] == ["Eiffel Tower, Paris"]
    assert gps["Xmp.lr.hierarchicalSubject"] == ["Places|France|Eiffel Tower, Paris"]
    assert gps["Xmp.lt.labelSource"] == ["gps"] and gps["Xmp.lt.confidence"] == ["1.0000"]
    merged = read_properties((root / "rome" / (col[0].name + ".xmp")).read_bytes())
    assert merged["Xmp.dc.subject"] == ["Anna", "Paris 2023", "Colosseum, Rome"]
    assert merged["Xmp.xmp.Rating"] == ["4"] and merged["Xmp.acme.reviewed"] == ["yes"]
    # the corrupt sidecar and every photo are exactly as they were; no temporary file is left behind
    assert (corrupt.stat().st_mtime_ns, corrupt.read_bytes()) == corrupt_before
    assert _photo_state(root) == photos_before
    assert not [p for p in root.rglob("*.tmp")]
    # a second run changes nothing
    again = lib.export_sidecars(SidecarOptions("digikam"))
    assert {r.outcome for r in again.results} == {"unchanged", "error"}


@contextlib.contextmanager
def _unwritable(folder: Path, monkeypatch):
    """Make ``folder`` unwritable: permissions (an ordinary user), else the immutable attribute (root, which
    permissions do not stop), else — where neither works — creating a file in it fails as it would (EACCES)."""
    os.chmod(folder, 0o555)
    immutable = False
    if _writable(folder):
        immutable = subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
    if _writable(folder):
        real = safe_write.tempfile.mkstemp

        def refuse(*args, dir=None, **kwargs):  # mkstemp's own argument name
            if dir is not None and Path(dir) == folder:
                raise PermissionError(13, "Permission denied", str(folder))
            return real(*args, dir=dir, **kwargs)

        monkeypatch.setattr(safe_write.tempfile, "mkstemp", refuse)
    try:
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        os.chmod(folder, 0o755)


def _writable(folder: Path) -> bool:
    probe = folder / ".probe"
    try:
        probe.write_bytes(b"")
    except OSError:
        return False
    probe.unlink()
    return True


def test_an_unwritable_folder_is_a_per_file_error_and_nothing_is_half_written(env, monkeypatch):
    lib, root, ids, col, taj = env
    locked = root / "locked"
    with _unwritable(locked, monkeypatch):
        report = lib.export_sidecars(SidecarOptions("darktable"))
        listing = sorted(p.name for p in locked.iterdir())
    by_photo = {r.photo: r for r in report.results}
    assert by_photo[taj[0]].outcome == "error" and by_photo[taj[0]].reason.startswith("cannot write")
    assert listing == [taj[0].name]  # no sidecar, no temporary file
    assert by_photo[root / "eiffel.jpg"].outcome == "created"  # the others were written
    assert (root / "eiffel.jpg.xmp").is_file()


def test_corrections_update_their_sidecars(env, tmp_path):
    lib, root, ids, col, taj = env
    reports = []
    lib.set_sidecar_options(SidecarOptions("digikam"), on_report=reports.append)
    (root / "rome" / (col[0].name + ".xmp")).write_bytes(DIGIKAM_XMP)
    lib.export_sidecars()  # the options set above are the default
    sidecar = root / "rome" / (col[0].name + ".xmp")
    pid = ids[col[0]]

    def subjects() -> list[str]:
        return read_properties(sidecar.read_bytes())["Xmp.dc.subject"]

    assert subjects() == ["Anna", "Paris 2023", "Colosseum, Rome"]
    lib.relabel([pid], landmark="Eiffel_Tower")
    assert subjects() == ["Anna", "Paris 2023", "Eiffel Tower, Paris"]
    assert reports and reports[-1].results[0].outcome == "updated"
    lib.undo()
    assert subjects() == ["Anna", "Paris 2023", "Colosseum, Rome"]
    lib.redo()
    assert subjects() == ["Anna", "Paris 2023", "Eiffel Tower, Paris"]
    lib.relabel([pid], not_landmark=True)
    assert subjects() == ["Anna", "Paris 2023"]  # cleaned: the person's keywords stay
    assert read_properties(sidecar.read_bytes()).get("Xmp.lt.landmark") is None
    revert = lib.history()[0]
    lib.revert(revert.id)
    assert subjects() == ["Anna", "Paris 2023", "Eiffel Tower, Paris"]
    # the GPS photo: rejecting its GPS label cleans its sidecar; confirming writes it as the person's
    gps_id = ids[root / "eiffel.jpg"]
    lib.reject([gps_id])
    assert not (root / "eiffel.jpg.xmp").exists()  # it held only what we wrote
    lib.undo()
    lib.confirm([gps_id])
    assert read_properties((root / "eiffel.jpg.xmp").read_bytes())["Xmp.lt.labelSource"] == ["manual"]
    # a sidecar that cannot be written never undoes the correction
    bad = root / "rome" / (col[1].name + ".xmp")
    bad.write_bytes(b"<x:xmpmeta broken")
    change = lib.relabel([ids[col[1]]], landmark="Taj_Mahal")
    assert lib.photo(ids[col[1]]).label == "Taj_Mahal" and change.kind == ChangeKind.SET_LANDMARK
    assert reports[-1].errors and bad.read_bytes() == b"<x:xmpmeta broken"
    # switched off: corrections leave sidecars alone
    lib.set_sidecar_options(None)
    lib.relabel([pid], landmark="Colosseum")
    assert subjects()[-1] == "Eiffel Tower, Paris"
    with pytest.raises(InvalidRequestError, match="convention"):
        lib.set_sidecar_options(SidecarOptions("picasa"))


def test_tagging_writes_sidecars_of_new_photos_when_on(env, shared_data):
    lib, root, ids, col, taj = env
    lib.set_sidecar_options(SidecarOptions("lightroom"))
    camera = shared_data / "exif-samples" / "jpg" / "gps" / "DSCN0021.jpg"
    copy_with_gps(camera, root / "later" / "tower.jpg", EIFFEL[0] + 0.0003, EIFFEL[1])
    lib.tag()
    assert read_properties((root / "later" / "tower.xmp").read_bytes())["Xmp.dc.subject"] == ["Eiffel Tower, Paris"]


def test_import_makes_other_apps_keywords_the_persons_labels(env):
    lib, root, ids, col, taj = env
    target = col[2]  # "not a landmark" here
    lib.undo(lib.history()[1])  # the not-a-landmark correction: back to the model's label
    assert lib.photo(ids[target]).label_source == "model"
    # digiKam wrote "Places/Italy/Colosseum" in its tag list; Lightroom-style names (photo.xmp) are read too
    dk = DIGIKAM_XMP.replace(b"<rdf:li>Holidays/Paris 2023</rdf:li>", b"<rdf:li>Places/Italy/Colosseum</rdf:li>")
    (root / "rome" / (target.name + ".xmp")).write_bytes(dk)
    lr = DIGIKAM_XMP.replace(b"<rdf:li>Paris 2023</rdf:li>", b"<rdf:li>eiffel tower</rdf:li>")
    (root / (Path("eiffel").name + ".xmp")).write_bytes(lr)  # eiffel.xmp beside eiffel.jpg
    both = DIGIKAM_XMP.replace(
        b"<rdf:li>Paris 2023</rdf:li>", b"<rdf:li>Taj Mahal, Agra</rdf:li><rdf:li>Colosseum</rdf:li>"
    )
    (root / "rome" / (col[1].name + ".xmp")).write_bytes(both)
    (root / "locked" / (taj[0].name + ".xmp")).write_bytes(b"\x00garbage")

    dry = lib.import_sidecars(dry_run=True)
    assert dry.change is None and len(dry.imported) == 2
    report = lib.import_sidecars()
    assert dict(report.imported) == {ids[target]: "Colosseum", ids[root / "eiffel.jpg"]: "Eiffel_Tower"}
    assert [pid for pid, _ in report.conflicts] == [ids[col[1]]]  # two landmarks named (and labelled here)
    assert [p for p, _ in report.errors] == [root / "locked" / (taj[0].name + ".xmp")]
    assert report.change is not None and report.change.kind == ChangeKind.IMPORT
    assert (lib.photo(ids[target]).label, lib.photo(ids[target]).label_source) == ("Colosseum", "manual")
    assert (lib.photo(ids[root / "eiffel.jpg"]).label_source) == "manual"
    assert lib.history()[0].description.endswith("(from XMP sidecars)")
    # one undoable change
    lib.undo()
    assert lib.photo(ids[target]).label_source == "model"
    assert lib.photo(ids[root / "eiffel.jpg"]).label_source == "gps"
    # the garbage sidecar is left as it was
    assert (root / "locked" / (taj[0].name + ".xmp")).read_bytes() == b"\x00garbage"


def test_our_own_keywords_are_never_imported(env):
    lib, root, ids, col, taj = env
    lib.undo(lib.history()[1])  # col[2] back to its model label
    lib.export_sidecars(SidecarOptions("digikam"), photo_ids=[ids[root / "eiffel.jpg"]])
    assert read_keywords((root / "eiffel.jpg.xmp").read_bytes()).ours == "Eiffel_Tower"
    report = lib.import_sidecars()
    assert report.imported == () and report.change is None
    assert lib.photo(ids[root / "eiffel.jpg"]).label_source == "gps"


def test_lightroom_names_shared_by_two_photos_are_refused(env, tmp_path):
    lib, root, ids, col, taj = env
    twin = root / "rome" / (col[0].stem + ".png")
    from PIL import Image

    Image.open(col[0]).save(twin)
    lib.tag()
    lib.relabel([lib.photo_id(twin)], landmark="Colosseum")
    report = lib.export_sidecars(SidecarOptions("lightroom"))
    shared = [r for r in report.results if r.sidecar == root / "rome" / (col[0].stem + ".xmp")]
    assert len(shared) == 2 and all(r.outcome == "error" and "would share" in r.reason for r in shared)
    assert not (root / "rome" / (col[0].stem + ".xmp")).exists()


def test_estimated_gps_only_for_photos_without_exif_gps(env):
    lib, root, ids, col, taj = env
    lib.export_sidecars(SidecarOptions("digikam", estimated_gps=True))
    est = read_properties((root / "rome" / (col[0].name + ".xmp")).read_bytes())
    assert est["Xmp.exif.GPSLatitude"] == ["41,53.412000N"] and est["Xmp.lt.addedGPS"] == ["True"]
    gps = read_properties((root / "eiffel.jpg.xmp").read_bytes())
    assert "Xmp.exif.GPSLatitude" not in gps  # its own EXIF GPS is in the photo
    # without the option the estimated coordinates go again
    lib.export_sidecars(SidecarOptions("digikam"))
    assert "Xmp.exif.GPSLatitude" not in read_properties((root / "rome" / (col[0].name + ".xmp")).read_bytes())


def test_unsure_model_labels_are_not_exported(tmp_path, shared_data):
    root = tmp_path / "p"
    copy_photos(landmark_photos(shared_data, "Colosseum", "test")[:2], root)
    bundle = save_bundle(make_tiny_bundle(("Eiffel_Tower", "Colosseum")), tmp_path / "tiny.safetensors")
    for threshold, expect in ((1.0, 0), (0.0, 2)):
        with Library.open(tmp_path / f"lib{threshold}.db", bundle, review_threshold=threshold) as lib:
            lib.add_folder(root)
            lib.tag()
            report = lib.export_sidecars(SidecarOptions("darktable"), dry_run=True)
            assert len(report.outcomes("created")) == expect
            if expect:
                assert all(r.landmark for r in report.results)
