"""Watching: files dropped into a watched folder are tagged; moves keep rows; deletions leave;
a reconciliation scan at start-up; the polling fallback is surfaced."""

from __future__ import annotations

import os
import shutil
import time

import torch
from sqlalchemy import text

from core.library import Library
from tests.helpers import landmark_photos

torch.set_num_threads(1)


def wait_for(cond, timeout=90.0, step=0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


def distinct_copies(srcs, dest, n, prefix="img"):
    """n JPEG copies with distinct bytes (a counter appended after the JPEG end marker: still decodable)."""
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        q = dest / f"{prefix}{i:04d}.jpg"
        q.write_bytes(srcs[i % len(srcs)].read_bytes() + f"copy {i}".encode())
        out.append(q)
    return out


def test_200_files_dropped_into_a_watched_folder_are_all_tagged(tmp_path, shared_data, tiny_bundle_path):
    srcs = landmark_photos(shared_data, "Colosseum")[:20]
    watched = tmp_path / "watched"
    early = distinct_copies(srcs, watched, 3, prefix="before")  # present before watching starts
    lib = Library.open(tmp_path / "lib.db", tiny_bundle_path, threads=1)
    changes = []
    try:
        lib.add_folder(watched)
        lib.start_watching(on_change=changes.append, settle_seconds=0.3, batch_window_seconds=0.2)
        assert lib.stats()["watching"]
        # reconciliation scan picks up what was there before
        assert wait_for(lambda: lib.stats()["by_status"]["tagged"] == 3), lib.stats()
        staging = tmp_path / "staging"
        files = distinct_copies(srcs, staging, 200)
        for f in files:
            shutil.move(str(f), watched / f.name)
        assert wait_for(lambda: lib.stats()["by_status"]["tagged"] == 203), lib.stats()["by_status"]
        # on_change comes after a batch's photos are committed
        assert wait_for(lambda: sum(len(b.upserted) + len(b.moved) for b in changes) >= 200, timeout=30)
        with lib._db.read() as conn:
            assert conn.execute(text("SELECT DISTINCT inference_count FROM photos")).scalars().all() == [1]
        # a rename keeps the row (and its label); a deletion leaves the library
        pid = next(s.id for s in lib.photos() if s.path == early[0])
        label = lib.photo(pid).label
        renamed = watched / "renamed.jpg"
        os.rename(early[0], renamed)
        early[1].unlink()
        assert wait_for(lambda: lib.photo(pid).path == renamed and lib.stats()["photos"] == 202)
        assert lib.photo(pid).label == label
    finally:
        lib.close()
    assert not lib.watching


def test_polling_fallback_is_reported(tmp_path, shared_data, tiny_bundle_path):
    watched = tmp_path / "w"
    watched.mkdir()
    messages = []
    lib = Library.open(tmp_path / "lib.db", tiny_bundle_path, threads=1)
    try:
        lib.add_folder(watched)
        lib.start_watching(
            on_progress=lambda p: messages.append(p.message),
            force_polling=True,
            poll_interval_seconds=0.2,
            settle_seconds=0.2,
            batch_window_seconds=0.1,
        )
        st = lib.stats()
        assert st["watch_mode"] == "polling" and st["fallback_reason"]
        assert any("polling" in m for m in messages)
        distinct_copies(landmark_photos(shared_data, "Petra")[:2], watched, 2)
        assert wait_for(lambda: lib.stats()["by_status"]["tagged"] == 2, timeout=60)
    finally:
        lib.close()
