"""Tests for core/photos/watcher.py with real files in temporary folders (events and polling observers)."""

from __future__ import annotations

import errno
import os
import threading
import time
from pathlib import Path

import pytest
from watchdog.events import FileCreatedEvent, FileDeletedEvent, FileMovedEvent

import core.photos.watcher as watcher_mod
from core.photos.watcher import ChangeBatch, FolderWatcher

JPEG_BYTES = b"\xff\xd8\xff\xe0" + b"\x00" * 200 + b"\xff\xd9"


class Collector:
    """on_batch target that records batches, the calling threads and any concurrent calls."""

    def __init__(self, delay: float = 0.0):
        self.batches: list[ChangeBatch] = []
        self.threads: set[int] = set()
        self.active = 0
        self.max_active = 0
        self.delay = delay
        self.sizes: dict[Path, int] = {}
        self.times: dict[Path, float] = {}
        self._lock = threading.Lock()

    def __call__(self, batch: ChangeBatch) -> None:
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.threads.add(threading.get_ident())
        try:
            now = time.monotonic()
            for p in batch.upserted:
                self.sizes[p] = p.stat().st_size if p.exists() else -1
                self.times.setdefault(p, now)
            time.sleep(self.delay)  # widen the window in which a second concurrent call would show
            with self._lock:
                self.batches.append(batch)
        finally:
            with self._lock:
                self.active -= 1

    @property
    def upserted(self) -> list[Path]:
        return [p for b in list(self.batches) for p in b.upserted]

    @property
    def deleted(self) -> list[Path]:
        return [p for b in list(self.batches) for p in b.deleted]

    @property
    def moved(self) -> list[tuple[Path, Path]]:
        return [m for b in list(self.batches) for m in b.moved]


def wait_until(pred, timeout: float = 20.0, step: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


def _photo(path: Path, data: bytes = JPEG_BYTES) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def root(tmp_path) -> Path:
    r = tmp_path / "photos"
    r.mkdir()
    return r


def test_burst_of_200_files_delivered_exactly_once_in_few_batches(root):
    col = Collector(delay=0.05)
    w = FolderWatcher([root], col, settle_seconds=0.3, batch_window_seconds=0.4)
    w.start()
    try:
        assert w.mode == "events" and w.fallback_reason is None
        expected = set()
        for i in range(200):
            sub = root / f"card{i % 4}"
            expected.add(_photo(sub / f"IMG_{i:04d}.JPG"))
        _photo(root / ".thumbnails" / "t.jpg")
        _photo(root / "card0" / ".hidden.jpg")
        _photo(root / "card0" / "notes.txt", b"text")
        _photo(root / "card1" / "clip.mov", b"movie")
        assert wait_until(lambda: set(col.upserted) >= expected)
        time.sleep(1.2)  # anything late (duplicates, ignored files) would arrive now
    finally:
        w.stop()
    ups = col.upserted
    assert len(ups) == 200 and set(ups) == expected  # exactly once, nothing hidden/unsupported
    assert 1 <= len(col.batches) <= 5, [len(b) for b in col.batches]
    assert col.deleted == [] and col.moved == []
    assert len(col.threads) == 1 and threading.get_ident() not in col.threads
    assert col.max_active == 1


def test_slowly_written_file_delivered_only_after_it_settles(root):
    col = Collector()
    settle = 0.8
    w = FolderWatcher([root], col, settle_seconds=settle, batch_window_seconds=0.1)
    w.start()
    try:
        target = root / "slow.jpg"
        with open(target, "wb") as fh:
            for _ in range(6):  # 6 chunks, 0.4 s apart: 2 s of writing, each pause < settle_seconds
                fh.write(JPEG_BYTES * 50)
                fh.flush()
                os.fsync(fh.fileno())
                time.sleep(0.4)
                assert col.upserted == [], "delivered while still being written"
        finished = time.monotonic()
        final_size = target.stat().st_size
        assert wait_until(lambda: target in col.upserted, timeout=15)
    finally:
        w.stop()
    assert col.upserted == [target]
    assert col.sizes[target] == final_size
    latency = col.times[target] - finished
    assert latency >= settle - 0.45  # the last write was ~0.4 s before `finished`
    assert latency < settle + 5.0


def test_delete_and_move_events(root):
    a = _photo(root / "a.jpg")
    b = _photo(root / "sub" / "b.jpg")
    c = _photo(root / "c.jpg")
    d_files = [_photo(root / "trip" / n) for n in ("1.jpg", "2.heic", "deep/3.png")]
    col = Collector()
    w = FolderWatcher([root], col, settle_seconds=0.2, batch_window_seconds=0.3)
    w.start()
    try:
        a.rename(root / "a2.jpg")  # rename
        b.unlink()  # delete
        (root / "trip").rename(root / "trip-2019")  # folder move, expanded per photo
        part = _photo(root / "x.jpg.part")
        part.rename(root / "x.jpg")  # copy job finishing: a new photo
        c.rename(root / "c.txt")  # renamed to a non-photo: deleted
        expected_moves = {(a, root / "a2.jpg")} | {
            (f, root / "trip-2019" / f.relative_to(root / "trip")) for f in d_files
        }
        assert wait_until(
            lambda: set(col.moved) >= expected_moves and root / "x.jpg" in col.upserted and {b, c} <= set(col.deleted)
        )
        time.sleep(0.8)
    finally:
        w.stop()
    assert sorted(col.moved) == sorted(expected_moves)  # each move exactly once
    assert sorted(col.deleted) == sorted([b, c])
    assert col.upserted == [root / "x.jpg"]


def test_folder_deleted_is_reported_as_folder(root):
    _photo(root / "old" / "1.jpg")
    col = Collector()
    w = FolderWatcher([root], col, settle_seconds=0.2, batch_window_seconds=0.2)
    w.start()
    try:
        outside = root.parent / "moved-away"
        (root / "old").rename(outside)  # moved out of the watched tree: contents unknown any more
        assert wait_until(lambda: root / "old" in col.deleted)
    finally:
        w.stop()
    assert col.upserted == [] and col.moved == []


def test_watched_folder_itself_going_away_is_not_a_deletion(tmp_path):
    root = tmp_path / "drive"
    _photo(root / "1.jpg")
    col = Collector()
    w = FolderWatcher(
        [root], col, settle_seconds=0.1, batch_window_seconds=0.1, poll_interval_seconds=0.2, force_polling=True
    )
    w.start()
    try:
        root.rename(tmp_path / "drive-unplugged")  # like an unmounted disk: the root vanishes
        time.sleep(1.5)
    finally:
        w.stop()
    assert col.deleted == [] and col.moved == []


def test_forced_polling_mode_delivers_changes(root):
    keep = _photo(root / "keep.jpg")
    gone = _photo(root / "gone.jpg")
    col = Collector()
    w = FolderWatcher(
        [root], col, settle_seconds=0.2, batch_window_seconds=0.2, poll_interval_seconds=0.2, force_polling=True
    )
    w.start()
    try:
        assert w.mode == "polling" and w.fallback_reason == "force_polling=True"
        new = _photo(root / "sub" / "new.jpg")
        gone.unlink()
        keep.rename(root / "kept.jpg")
        assert wait_until(
            lambda: new in col.upserted and gone in col.deleted and (keep, root / "kept.jpg") in col.moved
        )
        time.sleep(0.8)
    finally:
        w.stop()
    assert col.upserted == [new] and col.deleted == [gone] and col.moved == [(keep, root / "kept.jpg")]


class _FailingObserver:
    def __init__(self, err: OSError):
        self.err = err

    def schedule(self, *a, **k):
        return object()

    def start(self):
        raise self.err

    def unschedule_all(self):
        pass


@pytest.mark.parametrize(
    "err,words",
    [
        (OSError(errno.ENOSPC, "inotify watch limit reached"), "inotify watch limit reached"),
        (OSError(errno.EMFILE, "inotify instance limit reached"), "max_user_instances"),
    ],
)
def test_observer_start_failure_falls_back_to_polling(root, monkeypatch, err, words):
    monkeypatch.setattr(FolderWatcher, "_make_event_observer", lambda self: _FailingObserver(err))
    col = Collector()
    w = FolderWatcher([root], col, settle_seconds=0.2, batch_window_seconds=0.2, poll_interval_seconds=0.2)
    w.start()
    try:
        assert w.mode == "polling"
        assert w.fallback_reason and words in w.fallback_reason
        p = _photo(root / "after_fallback.jpg")
        assert wait_until(lambda: p in col.upserted)
    finally:
        w.stop()


def test_network_folder_is_polled(root, monkeypatch):
    monkeypatch.setattr(watcher_mod, "network_filesystem", lambda path: "cifs")
    w = FolderWatcher([root], Collector(), poll_interval_seconds=0.2)
    w.start()
    try:
        assert w.mode == "polling" and "network file system (cifs)" in w.fallback_reason
    finally:
        w.stop()


def test_network_filesystem_of_a_local_folder_is_none(tmp_path):
    assert watcher_mod.network_filesystem(tmp_path) is None


def test_stop_joins_threads_and_callback_errors_do_not_kill_the_watcher(root):
    before = set(threading.enumerate())
    calls = []

    def flaky(batch):
        calls.append(batch)
        if len(calls) == 1:
            raise RuntimeError("consumer bug")

    w = FolderWatcher([root], flaky, settle_seconds=0.1, batch_window_seconds=0.1)
    w.start()
    first = _photo(root / "first.jpg")
    assert wait_until(lambda: len(calls) >= 1)
    second = _photo(root / "second.jpg")
    assert wait_until(lambda: any(second in b.upserted for b in calls))
    w.stop()
    w.stop()  # idempotent
    leftover = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert leftover == []
    assert first in calls[0].upserted


def test_add_and_remove_folder(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    col = Collector()
    w = FolderWatcher([a], col, settle_seconds=0.1, batch_window_seconds=0.1)
    with pytest.raises(FileNotFoundError):
        w.add_folder(tmp_path / "missing")
    w.start()
    try:
        w.add_folder(b)
        assert set(w.folders) == {a, b}
        pb = _photo(b / "in_b.jpg")
        assert wait_until(lambda: pb in col.upserted)
        w.remove_folder(a)
        _photo(a / "ignored.jpg")
        pb2 = _photo(b / "in_b2.jpg")
        assert wait_until(lambda: pb2 in col.upserted)
        time.sleep(0.5)
    finally:
        w.stop()
    assert a / "ignored.jpg" not in col.upserted


def test_a_missing_folder_never_stops_the_others_and_is_watched_when_it_returns(tmp_path):
    """Issue 12 item 7: one missing folder at start used to stop watching for every folder."""
    healthy, usb = tmp_path / "healthy", tmp_path / "usb"
    healthy.mkdir()
    col = Collector()
    changes: list[tuple[Path, str]] = []
    w = FolderWatcher(
        [healthy, usb],
        col,
        settle_seconds=0.1,
        batch_window_seconds=0.1,
        health_interval_seconds=0.2,
        on_folder_state=lambda folder, state, reason: changes.append((folder, state)),
    )
    w.start()
    try:
        assert w.states[healthy][0] == "watching" and w.states[usb][0] == "missing"
        p = _photo(healthy / "new.jpg")
        assert wait_until(lambda: p in col.upserted, timeout=10)  # the healthy folder is watched at once
        usb.mkdir()  # the drive is plugged in
        assert wait_until(lambda: (usb, "watching") in changes, timeout=10)
        q = _photo(usb / "on_usb.jpg")
        assert wait_until(lambda: q in col.upserted, timeout=10)
        usb.rename(tmp_path / "usb-unplugged")  # and pulled out again
        assert wait_until(lambda: (usb, "missing") in changes, timeout=10)
        assert w.states[usb][0] == "missing" and w.states[healthy][0] == "watching"
        r = _photo(healthy / "still.jpg")
        assert wait_until(lambda: r in col.upserted, timeout=10)
    finally:
        w.stop()
    assert col.deleted == []  # a folder going away is never a deletion


def test_batch_normalisation(root):
    """Event sequences inside one batch window collapse so that moved → deleted → upserted is right."""
    col = Collector()
    w = FolderWatcher(
        [root], col, settle_seconds=0.1, batch_window_seconds=0.5, poll_interval_seconds=3600, force_polling=True
    )  # only our injected events
    w.start()
    try:
        q = w._queue
        a, b, c = root / "a.jpg", root / "b.jpg", root / "c.jpg"
        q.put(FileMovedEvent(str(a), str(b)))  # a -> b
        q.put(FileMovedEvent(str(b), str(c)))  # b -> c   => one move a -> c
        t = _photo(root / "tmp.jpg")
        q.put(FileCreatedEvent(str(t)))
        q.put(FileDeletedEvent(str(t)))  # created then deleted before settling: only deleted
        t.unlink()
        x, y = root / "x.jpg", root / "y.jpg"
        q.put(FileMovedEvent(str(x), str(y)))
        q.put(FileDeletedEvent(str(y)))  # moved then deleted: both paths gone, no move
        assert wait_until(lambda: len(col.batches) >= 1)
    finally:
        w.stop()
    assert len(col.batches) == 1
    batch = col.batches[0]
    assert batch.moved == [(a, c)]
    assert sorted(batch.deleted) == sorted([t, x, y])
    assert batch.upserted == []
