"""Nothing lost, nothing stuck (issue 12) at the ``Library`` level, on real photos: file names that are not valid
UTF-8, failed photos retried, one tagger per library, folder health and offline photos, scope of the scans."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest
import torch

from core.library import FolderState, Library, SearchQuery, TaggingBusyError
from core.tagging.lock import TaggingLock
from tests.helpers import copy_photos, landmark_photos

torch.set_num_threads(1)
pytestmark = pytest.mark.shared

LATIN1 = b"caf\xe9 \xff.jpg"  # a name from an old Windows disk or a USB stick: not valid UTF-8


def wait_for(cond, timeout=90.0, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


def _inference_counts(lib) -> list[int]:
    with lib._db.read() as conn:
        return [r[0] for r in conn.exec_driver_sql("SELECT inference_count FROM photos ORDER BY id")]


@pytest.mark.skipif(os.name == "nt", reason="POSIX file names are bytes")
def test_a_name_that_is_not_utf8_is_tagged_with_its_batch_and_round_trips(tmp_path, shared_data, tiny_bundle_path):
    folder = tmp_path / "usb"
    good = copy_photos(landmark_photos(shared_data, "Petra", "test")[:3], folder)
    odd = Path(os.fsdecode(os.fsencode(folder) + b"/" + LATIN1))
    shutil.copyfile(landmark_photos(shared_data, "Colosseum", "test")[0], odd)
    lib = Library.open(tmp_path / "lib.db", tiny_bundle_path, threads=1)
    try:
        lib.add_folder(folder)
        final = lib.tag()  # used to abort with "UnicodeEncodeError: surrogates not allowed", storing nothing
        assert final.counts["failed"] == 0 and final.counts["pending"] == 0
        paths = {p.path for p in lib.photos()}
        assert paths == set(good) | {odd}  # stored and read back exactly
        pid = lib.photo_id(odd)
        assert pid is not None and lib.photo(pid).path == odd
        assert len(lib.photos(query=SearchQuery(folder=folder))) == 4  # the folder's prefix range holds it
        # the watcher: a batch with such a name tags the good photos of the same batch too
        lib.start_watching(settle_seconds=0.2, batch_window_seconds=0.2)
        odd2 = Path(os.fsdecode(os.fsencode(folder) + b"/new \xe9.jpg"))
        shutil.copyfile(landmark_photos(shared_data, "Colosseum", "test")[1], odd2)
        good2 = copy_photos(landmark_photos(shared_data, "Petra", "test")[3:4], folder, "new")
        assert wait_for(lambda: {odd2, *good2} <= {p.path for p in lib.photos() if p.status != "pending"})
    finally:
        lib.close()


def test_photos_that_failed_because_their_folder_was_away_are_retried_when_it_is_back(
    tmp_path, shared_data, tiny_bundle_path
):
    import core.tagging.scan
    import core.tagging.tag

    folder = tmp_path / "p"
    copy_photos(landmark_photos(shared_data, "Petra", "test")[:5], folder)
    lib = Library.open(tmp_path / "lib.db", tiny_bundle_path, threads=1)
    try:
        lib.add_folder(folder)
        core.tagging.scan.scan_folders(lib._db)
        folder.rename(tmp_path / "away")  # deleted during tag ...
        rep = core.tagging.tag.tag_photos(lib._db, lib.recognizer())
        assert rep.failed == 5
        (tmp_path / "away").rename(folder)  # ... and put back, same bytes, same times
        final = lib.tag()  # used to say "0 new … 0 tagged" with all of them stuck in "does not exist"
        assert final.counts["failed"] == 0 and final.counts["tagged"] + final.counts["no_landmark"] == 5
        assert _inference_counts(lib) == [1] * 5
    finally:
        lib.close()


def test_a_failed_photo_is_retried_when_its_file_changes_or_when_asked(tmp_path, shared_data, tiny_bundle_path):
    folder = tmp_path / "p"
    photos = copy_photos(landmark_photos(shared_data, "Petra", "test")[:2], folder)
    good = photos[0].read_bytes()
    photos[0].write_bytes(good[: len(good) // 3])  # truncated while still being copied
    lib = Library.open(tmp_path / "lib.db", tiny_bundle_path, threads=1)
    try:
        lib.add_folder(folder)
        assert lib.tag().counts["failed"] == 1
        photos[0].write_bytes(good)  # the copy finished
        assert lib.tag().counts["failed"] == 0
        photos[1].write_bytes(b"")  # now the other one is broken for good
        assert lib.tag().counts["failed"] == 1
        assert lib.tag().counts["failed"] == 1  # not retried on every run
        assert lib.retry_failed() == 1  # Retry failed: the person asks
        photos[1].write_bytes(good)
        os.utime(photos[1], ns=(1, 1))
        assert lib.tag().counts["failed"] == 0
    finally:
        lib.close()


def test_one_tagging_process_per_library(tmp_path, shared_data, tiny_bundle_path):
    folder = tmp_path / "p"
    copy_photos(landmark_photos(shared_data, "Colosseum", "test")[:6], folder)
    db = tmp_path / "lib.db"
    lib = Library.open(db, tiny_bundle_path, threads=1)
    other = TaggingLock(db)  # stands for another process tagging the library
    try:
        lib.add_folder(folder)
        with other.hold(wait=False):
            with pytest.raises(TaggingBusyError, match="another Landmark Tagger process is tagging"):
                lib.tag(wait=False)
            messages: list[str] = []
            job = lib.start_tagging(lambda p: messages.append(p.message))
            assert wait_for(lambda: any(m.startswith("waiting:") for m in messages), timeout=10)
            time.sleep(0.5)
            assert job.is_alive() and lib.photos() == []  # it waits: nothing scanned, nothing inferred twice
        final = job.wait(120)
        assert final.state == "done" and len(lib.photos()) == 6
        assert _inference_counts(lib) == [1] * 6
    finally:
        lib.close()


def test_two_libraries_tagging_at_once_infer_each_photo_once(tmp_path, shared_data, tiny_bundle_path):
    folder = tmp_path / "p"
    n = len(copy_photos(landmark_photos(shared_data, "Colosseum")[:8], folder))
    db = tmp_path / "lib.db"
    a = Library.open(db, tiny_bundle_path, threads=1)
    a.add_folder(folder)
    b = Library.open(db, tiny_bundle_path, threads=1)
    inferred = {}
    try:
        threads = [
            threading.Thread(target=lambda lib=lib, k=k: inferred.__setitem__(k, lib.tag().message))
            for k, lib in (("a", a), ("b", b))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        assert sorted(m.split(", ")[3] for m in inferred.values()) == ["0 tagged", f"{n} tagged"]
        assert n == 8 and _inference_counts(a) == [1] * n
    finally:
        a.close()
        b.close()


def test_a_missing_folder_keeps_its_photos_offline_and_never_stops_the_others(tmp_path, shared_data, tiny_bundle_path):
    healthy, usb = tmp_path / "healthy", tmp_path / "usb"
    copy_photos(landmark_photos(shared_data, "Petra", "test")[:2], healthy)
    copy_photos(landmark_photos(shared_data, "Colosseum", "test")[:3], usb)
    lib = Library.open(tmp_path / "lib.db", tiny_bundle_path, threads=1)
    try:
        lib.add_folder(healthy)
        lib.add_folder(usb)
        lib.tag()
        usb.rename(tmp_path / "usb-unplugged")
        final = lib.tag()  # a scan with the drive gone deletes nothing
        assert "1 folder(s) offline" in final.message and len(lib.photos()) == 5
        states = {f.path: (f.state, f.photos) for f in lib.folder_states()}
        assert states == {healthy: (FolderState.AVAILABLE, 2), usb: (FolderState.MISSING, 3)}
        assert sorted(p.offline for p in lib.photos()) == [False, False, True, True, True]

        reports: list[dict] = []
        lib.start_watching(
            settle_seconds=0.2,
            batch_window_seconds=0.2,
            health_interval_seconds=0.2,
            on_folders=lambda infos: reports.append({f.path: f.state for f in infos}),
        )
        new = copy_photos(landmark_photos(shared_data, "Petra", "test")[2:3], healthy, "new")[0]
        assert wait_for(lambda: lib.photo_id(new) is not None)  # picked up while the other folder is missing
        (tmp_path / "usb-unplugged").rename(usb)  # plugged in again: watched again by itself
        assert wait_for(lambda: any(r.get(usb) == FolderState.WATCHING for r in reports), timeout=20)
        on_usb = copy_photos(landmark_photos(shared_data, "Colosseum", "test")[3:4], usb, "new")[0]
        assert wait_for(lambda: lib.photo_id(on_usb) is not None)
        assert not any(p.offline for p in lib.photos())
        usb.rename(tmp_path / "usb-gone")  # vanishes mid-session: reported, photos offline, kept
        assert wait_for(lambda: reports and reports[-1].get(usb) == FolderState.MISSING, timeout=20)
        assert wait_for(lambda: sum(p.offline for p in lib.photos()) == 4)
        assert len(lib.photos()) == 7
    finally:
        lib.close()


def test_the_apps_own_folders_are_never_indexed_and_links_out_are_not_followed(
    tmp_path, shared_data, tiny_bundle_path, monkeypatch
):
    home = tmp_path / "Pictures" / "LandmarkTaggerData"  # the app's data folder inside the photo folder
    monkeypatch.setenv("LANDMARK_TAGGER_HOME", str(home))
    pictures = tmp_path / "Pictures"
    copy_photos(landmark_photos(shared_data, "Petra", "test")[:2], pictures)
    copy_photos(landmark_photos(shared_data, "Petra", "test")[2:5], home / "cache" / "thumbnails" / "160" / "ab")
    elsewhere = tmp_path / "elsewhere"
    copy_photos(landmark_photos(shared_data, "Colosseum", "test")[:3], elsewhere)
    if os.name != "nt":
        os.symlink(elsewhere, pictures / "link-to-elsewhere")
        os.symlink(elsewhere / sorted(os.listdir(elsewhere))[0], pictures / "linked.jpg")
    lib = Library.open(tmp_path / "lib.db", tiny_bundle_path, threads=1)
    try:
        with pytest.raises(Exception, match="own data"):
            lib.add_folder(home / "cache")
        lib.add_folder(pictures)
        lib.tag()
        names = sorted(p.path.name for p in lib.photos())
        assert len(names) == 2 and all(n.endswith(".jpg") and "link" not in n for n in names)
        assert all(home not in p.path.parents for p in lib.photos())
    finally:
        lib.close()
    if os.name != "nt":  # a setting allows following them
        lib = Library.open(tmp_path / "lib.db", tiny_bundle_path, threads=1, follow_links=True)
        try:
            lib.tag()
            assert len(lib.photos()) == 2 + 3 + 1
        finally:
            lib.close()
