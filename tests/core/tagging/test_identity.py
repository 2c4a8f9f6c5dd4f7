"""Photo identity (issues 12.3 and 14.2): a photo is its row, not its bytes.

A person's label and corrections follow the photo when another app changes its bytes at the same path (a caption,
a rating, a re-save) and when it moves within the library folders (by a scan, or by the watcher); they leave only
with the photo. Files are told apart by their fingerprint (size + SHA-256 of the first and last 64 KiB); the full
SHA-256 is read only when fingerprints collide. All on real photos of ``../shared/data``.
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil

import pytest
import torch
from PIL import Image
from sqlalchemy import text

import core.photos.scanner
import core.tagging.scan
from core.library import Library
from core.photos.watcher import ChangeBatch
from core.tagging.scan import apply_change_batch, scan_folders
from tests.helpers import copy_photos, landmark_photos

torch.set_num_threads(1)

#: Real camera JPEGs larger than 128 KiB (the fingerprint reads their ends only), with EXIF GPS.
BIG_GPS = ["exif-samples/jpg/gps/DSCN0010.jpg", "exif-samples/jpg/gps/DSCN0029.jpg"]


def _corrections(lib: Library) -> list[tuple]:
    with lib._db.read() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT photo_id, kind, label FROM corrections ORDER BY id"))]


def _exported(lib: Library, path) -> dict[str, str]:
    lib.export_corrections(path, force=True)
    with open(path, newline="", encoding="utf-8") as fh:
        return {r["path"]: r["label"] for r in csv.DictReader(fh)}


@pytest.fixture()
def lib_with_label(tmp_path, shared_data, tiny_bundle_path):
    """A tagged library of 4 real photos; the first one labelled Colosseum by the person."""
    photos = copy_photos(landmark_photos(shared_data, "Colosseum")[:4], tmp_path / "p" / "a")
    lib = Library.open(tmp_path / "lib.db", tiny_bundle_path, threads=1)
    lib.add_folder(tmp_path / "p")
    lib.tag()
    pid = lib.photo_id(photos[0])
    lib.relabel([pid], landmark="Colosseum")
    yield lib, photos, pid
    lib.close()


def _assert_labelled(lib: Library, pid: int, path, csv_path) -> None:
    d = lib.photo(pid)
    assert d.path == path and (d.label, d.label_source) == ("Colosseum", "manual")
    assert _corrections(lib) == [(pid, "label", "Colosseum")]  # the correction row is the photo's, not orphaned
    assert _exported(lib, csv_path) == {str(path): "Colosseum"}
    assert len(lib.photos()) == 4


def test_label_survives_bytes_appended_at_the_same_path(lib_with_label, tmp_path):
    """Issue 12.3: ``relabel 3 --landmark Colosseum; printf '\\0' >> photo.jpg; tag`` kept the model's label."""
    lib, photos, pid = lib_with_label
    before = lib.photo(pid)
    with open(photos[0], "ab") as fh:
        fh.write(b"\0")
    final = lib.tag()
    assert final.counts["pending"] == 0
    d = lib.photo(pid)
    assert d.fingerprint != before.fingerprint and d.model_version is not None  # read and tagged again
    _assert_labelled(lib, pid, photos[0], tmp_path / "c.csv")


def test_label_survives_a_resave_and_a_caption_written_by_another_app(lib_with_label, tmp_path):
    lib, photos, pid = lib_with_label
    with Image.open(photos[0]) as im:  # a re-save with a caption (EXIF ImageDescription): every byte differs
        exif = im.getexif()
        exif[0x010E] = "Holiday in Rome"
        im.save(photos[0], quality=80, exif=exif.tobytes())
    lib.tag()
    _assert_labelled(lib, pid, photos[0], tmp_path / "c.csv")
    # the label is back as soon as the scan has read the file, before the model runs on it again
    with open(photos[0], "ab") as fh:
        fh.write(b"\0")
    assert _scan(lib).changed == 1
    d = lib.photo(pid)
    assert (d.status, d.label, d.label_source) == ("pending", "Colosseum", "manual")


def _scan(lib: Library):
    """Scan the library folders without tagging; the ``ScanReport``."""
    return scan_folders(lib._db)


def test_label_survives_a_rename_and_a_move_to_another_library_folder(lib_with_label, tmp_path):
    lib, photos, pid = lib_with_label
    other = tmp_path / "elsewhere"
    other.mkdir()
    lib.add_folder(other)
    renamed = photos[0].with_name("renamed.jpg")
    os.rename(photos[0], renamed)
    lib.tag()
    _assert_labelled(lib, pid, renamed, tmp_path / "c.csv")
    moved = other / "moved.jpg"
    shutil.move(renamed, moved)
    final = lib.tag()
    assert final.counts["pending"] == 0
    _assert_labelled(lib, pid, moved, tmp_path / "c.csv")
    assert lib.photo(pid).folder == other


def test_a_move_read_in_a_later_batch_of_the_scan_keeps_the_label(lib_with_label, tmp_path, shared_data, monkeypatch):
    """A scan writes its files in batches; a moved photo is found again whichever batch reads it."""
    lib, photos, pid = lib_with_label
    monkeypatch.setattr(core.tagging.scan, "SCAN_COMMIT_ROWS", 1)
    copy_photos(landmark_photos(shared_data, "Petra")[:3], tmp_path / "p" / "b")  # read before the moved one
    moved = tmp_path / "p" / "z" / "moved.jpg"
    moved.parent.mkdir()
    shutil.move(photos[0], moved)
    report = _scan(lib)
    assert (report.added, report.moved, report.deleted) == (3, 1, 0)
    assert lib.photo_id(moved) == pid and (lib.photo(pid).label, lib.photo(pid).label_source) == ("Colosseum", "manual")
    photos[1].unlink()  # and a photo that really went is deleted by the last batch
    assert _scan(lib).deleted == 1 and lib.photo_id(photos[1]) is None


def test_a_move_the_watcher_saw_as_a_deletion_and_a_creation_keeps_the_label(lib_with_label, tmp_path):
    lib, photos, pid = lib_with_label
    dst = tmp_path / "p" / "b" / "moved.jpg"
    dst.parent.mkdir()
    shutil.move(photos[0], dst)
    report = apply_change_batch(lib._db, ChangeBatch(upserted=[dst], deleted=[photos[0]]))
    assert (report.moved, report.added, report.deleted) == (1, 0, 0)
    _assert_labelled(lib, pid, dst, tmp_path / "c.csv")
    # a folder deleted in the same batch as its photo re-appears elsewhere (a folder moved out and back in)
    back = tmp_path / "p" / "c" / "back.jpg"
    back.parent.mkdir()
    shutil.move(dst, back)
    shutil.rmtree(dst.parent)
    apply_change_batch(lib._db, ChangeBatch(upserted=[back], deleted=[dst.parent]))
    _assert_labelled(lib, pid, back, tmp_path / "c.csv")


def test_the_label_leaves_only_with_the_photo(lib_with_label, tmp_path):
    lib, photos, pid = lib_with_label
    photos[0].unlink()
    lib.tag()
    assert lib.photo_id(photos[0]) is None
    assert _corrections(lib) == [] and _exported(lib, tmp_path / "c.csv") == {}
    # a byte-identical copy of a photo is another photo: it does not take the other's label
    lib.relabel([lib.photo_id(photos[1])], landmark="Colosseum")
    shutil.copyfile(photos[1], photos[1].with_name("copy.jpg"))
    lib.tag()
    copy = lib.photo(lib.photo_id(photos[1].with_name("copy.jpg")))
    assert copy.id != lib.photo_id(photos[1]) and copy.label_source == "model"


def test_big_files_are_read_at_their_ends_only_unless_fingerprints_collide(
    tmp_path, shared_data, tiny_bundle_path, monkeypatch
):
    """A scan reads the first and last 64 KiB of a big photo, never all of it, except to tell apart two files
    whose fingerprints are equal (same size, head and tail, other bytes in the middle)."""
    root = tmp_path / "p"
    root.mkdir()
    srcs = [shared_data / rel for rel in BIG_GPS]
    assert all(p.stat().st_size > 2 * core.photos.scanner.FINGERPRINT_EDGE_BYTES for p in srcs)
    a, b = root / "a.jpg", root / "b.jpg"
    shutil.copyfile(srcs[0], a)
    shutil.copyfile(srcs[1], b)
    full_reads: list[str] = []
    real = core.photos.scanner.content_hash

    def spy(path):
        full_reads.append(os.path.basename(path))
        return real(path)

    monkeypatch.setattr(core.photos.scanner, "content_hash", spy)
    lib = Library.open(tmp_path / "lib.db", tiny_bundle_path, threads=1)
    try:
        lib.add_folder(root)
        lib.tag()
        assert full_reads == []
        ida, idb = lib.photo_id(a), lib.photo_id(b)
        assert lib.photo(ida).content_hash == "" and lib.photo(ida).fingerprint.startswith(f"{a.stat().st_size}:")
        lib.relabel([ida], landmark="Colosseum")
        # c: a's bytes with one byte changed in the middle: the same fingerprint, another file
        data = bytearray(a.read_bytes())
        data[len(data) // 2] ^= 0xFF
        c = root / "c.jpg"
        c.write_bytes(bytes(data))
        os.rename(b, root / "b2.jpg")  # a plain move: no full read
        lib.tag()
        assert lib.photo_id(root / "b2.jpg") == idb and full_reads == ["c.jpg"]
        idc = lib.photo_id(c)
        dc = lib.photo(idc)
        assert idc not in (ida, idb) and dc.fingerprint == lib.photo(ida).fingerprint and len(dc.content_hash) == 64
        # a and c vanish, a's bytes come back at a new path: the full hash says which photo it is
        moved = root / "sub" / "a-again.jpg"
        moved.parent.mkdir()
        os.rename(a, moved)
        c.unlink()
        full_reads.clear()
        lib.tag()
        assert full_reads == ["a-again.jpg"]
        assert lib.photo_id(moved) == ida and lib.photo_id(c) is None
        assert (lib.photo(ida).label, lib.photo(ida).label_source) == ("Colosseum", "manual")
    finally:
        lib.close()


def test_photos_scanned_before_the_fingerprint_keep_their_identity(tmp_path, shared_data, tiny_bundle_path):
    """Rows from before revision 0007 have a full content hash and no fingerprint: an unchanged file is not read, a
    moved one is matched by its size and full hash, a changed one stays the same photo and gets its fingerprint."""
    root = tmp_path / "p"
    photos = copy_photos([shared_data / rel for rel in BIG_GPS], root)
    lib = Library.open(tmp_path / "lib.db", tiny_bundle_path, threads=1)
    try:
        lib.add_folder(root)
        lib.tag()
        ids = [lib.photo_id(p) for p in photos]
        lib.relabel(ids, landmark="Colosseum")
        with lib._db.write() as conn:  # what revision 0007 leaves of a scanned row
            for p, i in zip(photos, ids):
                conn.execute(
                    text("UPDATE photos SET fingerprint = NULL, content_hash = :h WHERE id = :i"),
                    {"h": hashlib.sha256(p.read_bytes()).hexdigest(), "i": i},
                )
        moved = root / "sub" / "moved.jpg"
        moved.parent.mkdir()
        os.rename(photos[0], moved)
        with open(photos[1], "ab") as fh:
            fh.write(b"\0")
        report = _scan(lib)
        assert (report.moved, report.changed, report.added, report.deleted) == (1, 1, 0, 0)
        assert lib.photo_id(moved) == ids[0] and lib.photo_id(photos[1]) == ids[1]
        for i in ids:
            d = lib.photo(i)
            assert (d.label, d.label_source) == ("Colosseum", "manual") and d.fingerprint
    finally:
        lib.close()
