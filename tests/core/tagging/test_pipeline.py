"""The tagging pipeline through the Library facade: statuses, GPS skip, bad files, rescans, moves,
new model versions, pause/resume/cancel."""

from __future__ import annotations

import csv
import os
import shutil
import threading
import time

import pytest
import torch
from sqlalchemy import text

import core.photos.scanner
import core.tagging.scan
import core.tagging.tag
from core.library import AlbumKind, AlbumRef, Library, PhotoStatus
from core.recognition.bundle import save_bundle
from tests.helpers import copy_photos, landmark_photos, make_broken_files

torch.set_num_threads(1)


def gps_samples(shared_data):
    """(relative path, lat, lon) of every exif-samples file with GPS, from its MANIFEST."""
    with open(shared_data / "exif-samples" / "MANIFEST.csv", newline="", encoding="utf-8") as fh:
        return [
            (r["path"], float(r["gps_lat"]), float(r["gps_lon"])) for r in csv.DictReader(fh) if r["has_gps"] == "yes"
        ]


def spy_loads(lib):
    """Record every path the model is asked to decode."""
    rec = lib.recognizer()
    seen: list[str] = []
    orig = rec.load_image

    def load(path):
        seen.append(str(path))
        return orig(path)

    rec.load_image = load
    return seen


def inference_counts(lib):
    with lib._db.read() as conn:
        return dict(conn.execute(text("SELECT path, inference_count FROM photos")).all())


@pytest.fixture()
def mixed_folder(tmp_path, shared_data):
    root = tmp_path / "photos"
    landmarks = copy_photos(
        landmark_photos(shared_data, "Colosseum")[:6] + landmark_photos(shared_data, "Petra")[:6], root / "trips"
    )
    gps = []
    for rel, lat, lon in gps_samples(shared_data):
        dst = root / "phone" / rel.replace("/", "_")
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared_data / "exif-samples" / rel, dst)
        gps.append((dst, lat, lon))
    broken = make_broken_files(root / "junk", landmarks[0])
    (root / "junk" / "readme.txt").write_text("not a photo extension: ignored")
    return root, landmarks, gps, broken


def test_mixed_folder_ends_with_the_right_count_in_every_status(tmp_path, mixed_folder, tiny_bundle_path):
    root, landmarks, gps, broken = mixed_folder
    assert len(gps) >= 10
    lib = Library.open(tmp_path / "lib.db", tiny_bundle_path, threads=1)
    try:
        lib.add_folder(root)
        seen = spy_loads(lib)
        updates = []
        final = lib.tag(on_progress=updates.append)
        # The tiny bundle's threshold (0.2) is below 1/3, so every decodable non-GPS photo is a landmark.
        expected = {"pending": 0, "gps": len(gps), "tagged": len(landmarks), "no_landmark": 0, "failed": 4}
        assert final.state == "done" and final.counts == expected
        assert lib.stats()["by_status"] == expected
        # no GPS photo was ever sent to the model
        gps_paths = {str(p) for p, _, _ in gps}
        assert not gps_paths & set(seen)
        assert set(seen) == {str(p) for p in landmarks} | {str(p) for p in broken.values()}
        # GPS photos keep their coordinates (source gps); tagged ones get the landmark's (source landmark)
        by_path = {str(s.path): s for s in lib.photos()}
        for p, lat, lon in gps:
            s = by_path[str(p)]
            assert s.status == PhotoStatus.GPS and s.location_source == "gps" and s.label is None
            assert s.latitude == pytest.approx(lat, abs=1e-4) and s.longitude == pytest.approx(lon, abs=1e-4)
        # failed files carry a readable reason each
        reasons = {k: lib.photo(by_path[str(p)].id).failure_reason for k, p in broken.items()}
        assert all(reasons.values()), reasons
        assert "empty" in reasons["empty"] or "0 bytes" in reasons["empty"]
        assert any(w in reasons["bomb"] for w in ("pixels", "large", "MP", "bomb")), reasons["bomb"]
        assert {s.path.name for s in lib.photos(AlbumRef(AlbumKind.FAILED))} == {p.name for p in broken.values()}
        # progress stream: scanning then tagging, ends done with done == total
        states = [u.state for u in updates]
        assert "scanning" in states and "tagging" in states and states[-1] == "done"
        tagging = [u for u in updates if u.state == "tagging"]
        assert tagging[-1].done == tagging[-1].total == len(landmarks) + 4
        assert all(u.done <= u.total for u in tagging)
    finally:
        lib.close()


def test_estimated_location_comes_from_the_landmark_and_files_are_untouched(tmp_path, shared_data, tiny_bundle_path):
    photos = copy_photos(landmark_photos(shared_data, "Taj_Mahal")[:4], tmp_path / "p")
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in photos}
    lib = Library.open(tmp_path / "lib.db", tiny_bundle_path, threads=1)
    try:
        lib.add_folder(tmp_path / "p")
        lib.tag()
        coords = {"alpha": (10.0, 20.0), "beta": (11.0, 21.0), "gamma": (12.0, 22.0)}  # make_tiny_bundle's
        for s in lib.photos():
            assert s.status == "tagged" and s.location_source == "landmark"
            assert (s.latitude, s.longitude) == coords[s.label]
    finally:
        lib.close()
    assert before == {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in photos}


def test_rescan_of_unchanged_folder_reads_nothing(tmp_path, shared_data, tiny_bundle_path, monkeypatch):
    copy_photos(landmark_photos(shared_data, "Petra")[:5], tmp_path / "p")
    lib = Library.open(tmp_path / "lib.db", tiny_bundle_path, threads=1)
    try:
        lib.add_folder(tmp_path / "p")
        lib.tag()
        hashed = []
        monkeypatch.setattr(core.photos.scanner, "content_hash", lambda p: hashed.append(p) or "x")
        monkeypatch.setattr(core.photos.scanner, "file_fingerprint", lambda p: hashed.append(p) or ("1:x", ""))
        seen = spy_loads(lib)
        final = lib.tag()
        assert hashed == [] and seen == []
        assert final.counts["tagged"] == 5
        assert set(inference_counts(lib).values()) == {1}
    finally:
        lib.close()


def test_changed_and_deleted_files(tmp_path, shared_data, tiny_bundle_path):
    src = landmark_photos(shared_data, "Petra")
    photos = copy_photos(src[:4], tmp_path / "p")
    lib = Library.open(tmp_path / "lib.db", tiny_bundle_path, threads=1)
    try:
        lib.add_folder(tmp_path / "p")
        lib.tag()
        old = {s.path: lib.photo(s.id) for s in lib.photos()}
        photos[0].unlink()
        shutil.copyfile(src[10], photos[1])  # same path, other content
        final = lib.tag()
        assert final.counts["tagged"] == 3
        paths = {s.path: s for s in lib.photos()}
        assert photos[0] not in paths
        d = lib.photo(paths[photos[1]].id)
        assert d.id == old[photos[1]].id  # the same photo, with other bytes
        assert d.fingerprint != old[photos[1]].fingerprint and d.content_hash != old[photos[1]].content_hash
        counts = inference_counts(lib)
        assert counts[str(photos[1])] == 1 and counts[str(photos[2])] == 1
    finally:
        lib.close()


def test_moved_corrected_photo_keeps_its_row_and_label(tmp_path, shared_data, tiny_bundle_path):
    photos = copy_photos(landmark_photos(shared_data, "Colosseum")[:3], tmp_path / "p" / "a")
    lib = Library.open(tmp_path / "lib.db", tiny_bundle_path, threads=1)
    try:
        lib.add_folder(tmp_path / "p")
        lib.tag()
        pid = next(s.id for s in lib.photos() if s.path == photos[0])
        lib.relabel([pid], new_name="Old Amphitheatre")
        (tmp_path / "p" / "b").mkdir()
        moved = tmp_path / "p" / "b" / "renamed.jpg"
        os.rename(photos[0], moved)
        seen = spy_loads(lib)
        lib.tag()
        d = lib.photo(pid)
        assert d.path == moved
        assert (d.label_name, d.label_source) == ("Old Amphitheatre", "manual")
        assert seen == []  # a move is not re-inferred
        assert inference_counts(lib)[str(moved)] == 1
        assert len(lib.photos()) == 3
    finally:
        lib.close()


def test_new_model_version_retags_model_labels_and_keeps_manual_ones(tmp_path, shared_data, tiny_bundle_path):
    from tests.helpers import make_tiny_bundle

    photos = copy_photos(landmark_photos(shared_data, "Taj_Mahal")[:8], tmp_path / "p")
    lib = Library.open(tmp_path / "lib.db", tiny_bundle_path, threads=1)
    try:
        lib.add_folder(tmp_path / "p")
        lib.tag()
        ids = [s.id for s in lib.photos()]
        lib.relabel([ids[0]], landmark="gamma")
        rejected = lib.photo(ids[1]).label
        lib.relabel([ids[1]], reject=True)
    finally:
        lib.close()
    new = save_bundle(make_tiny_bundle(seed=1), tmp_path / "tiny-1.safetensors")
    lib = Library.open(tmp_path / "lib.db", new, threads=1)
    try:
        assert lib.model_version == "tiny-1"
        seen = spy_loads(lib)
        lib.tag()
        assert sorted(seen) == sorted(str(p) for p in photos)  # every photo re-run once
        for pid in ids:
            d = lib.photo(pid)
            assert d.model_version == "tiny-1" and {k for k, _, _ in d.top_k} <= {"alpha", "beta", "gamma"}
        manual = lib.photo(ids[0])
        assert (manual.label, manual.label_source) == ("gamma", "manual")
        assert lib.photo(ids[1]).label != rejected and rejected in lib.photo(ids[1]).rejected
        assert set(inference_counts(lib).values()) == {2}
        assert lib.tag().done == 0  # nothing left to do
    finally:
        lib.close()


def test_file_vanishing_after_the_scan_fails_readably_and_then_leaves(tmp_path, shared_data, tiny_bundle_path):
    photos = copy_photos(landmark_photos(shared_data, "Petra")[:3], tmp_path / "p")
    lib = Library.open(tmp_path / "lib.db", tiny_bundle_path, threads=1)
    try:
        lib.add_folder(tmp_path / "p")
        core.tagging.scan.scan_folders(lib._db)
        photos[1].unlink()
        rep = core.tagging.tag.tag_photos(lib._db, lib.recognizer())
        assert (rep.inferred, rep.failed) == (2, 1)
        gone = next(s for s in lib.photos() if s.path == photos[1])
        reason = lib.photo(gone.id).failure_reason
        assert gone.status == "failed" and ("vanished" in reason or "does not exist" in reason), reason
        lib.tag()
        assert [s.path for s in lib.photos()] == [photos[0], photos[2]]
    finally:
        lib.close()


def wait_until(cond, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def _slow(lib, seconds):
    rec = lib.recognizer()
    orig = rec.load_image

    def load(path):
        time.sleep(seconds)
        return orig(path)

    rec.load_image = load


def test_pause_resume_and_cancel(tmp_path, shared_data, tiny_bundle_path):
    copy_photos(landmark_photos(shared_data, "Hagia_Sophia")[:30], tmp_path / "p")
    lib = Library.open(tmp_path / "lib.db", tiny_bundle_path, threads=1, batch_size=4, decode_workers=1)
    try:
        lib.add_folder(tmp_path / "p")
        _slow(lib, 0.1)
        started = threading.Event()
        job = lib.start_tagging(lambda p: started.set() if p.state == "tagging" and p.done > 0 else None)
        assert started.wait(30)
        job.pause()
        # the batch in flight finishes and commits, then the job waits
        assert wait_until(lambda: job.control.blocked, 60)
        frozen = lib.stats()["by_status"]["tagged"]
        time.sleep(1.0)
        assert lib.stats()["by_status"]["tagged"] == frozen < 30
        assert job.progress.state == "paused"
        job.resume()
        time.sleep(0.15)
        job.cancel()
        final = job.wait(30)
        assert final.state == "cancelled" and job.error is None
        counts = lib.stats()["by_status"]
        assert counts["tagged"] + counts["pending"] == 30 and counts["pending"] > 0
        final = lib.tag()  # the rest, each exactly once
        assert final.counts["tagged"] == 30
        assert set(inference_counts(lib).values()) == {1}
    finally:
        lib.close()


def test_missing_folder_and_bad_model_are_clear_errors(tmp_path, tiny_bundle_path):
    from core.library import LibraryError

    lib = Library.open(tmp_path / "lib.db", tiny_bundle_path)
    try:
        with pytest.raises(LibraryError, match="folder not found"):
            lib.add_folder(tmp_path / "nope")
    finally:
        lib.close()
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(tiny_bundle_path.read_bytes()[:1000])
    with pytest.raises(LibraryError, match="model"):
        Library.open(tmp_path / "lib.db", bad)
