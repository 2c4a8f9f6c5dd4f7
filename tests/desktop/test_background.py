"""Work off the GUI thread: thumbnails and their disk cache, signals from worker threads, and the
library session's reports."""

from __future__ import annotations

import hashlib
import sys

import pytest
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QFont

from desktop.library_session import LibrarySession
from desktop.thumbnails import ThumbnailLoader


@pytest.mark.shared
def test_thumbnails_are_cached_on_disk_by_content_hash(qtbot, tmp_path, shared_data):
    src = sorted((shared_data / "landmarks" / "test" / "Colosseum").glob("*.jpg"))[0]
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    loader = ThumbnailLoader(tmp_path / "cache")
    with qtbot.waitSignal(loader.thumbnailReady, timeout=20_000) as blocker:
        loader.request("k1", src, 128, digest)
    assert blocker.args == ["k1"]
    pm = loader.pixmap("k1")
    assert pm is not None and max(pm.width(), pm.height()) == 128
    files = list((tmp_path / "cache").rglob("*.jpg"))
    assert [f.name for f in files] == [f"{digest}-128.jpg"]
    assert loader.decoded == 1
    # a second loader (next run) reads the disk cache instead of decoding the photo
    loader2 = ThumbnailLoader(tmp_path / "cache")
    with qtbot.waitSignal(loader2.thumbnailReady, timeout=20_000):
        loader2.request("k1", src, 128, digest)
    assert loader2.decoded == 0
    # an unreadable file reports a failure instead of raising
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    with qtbot.waitSignal(loader2.thumbnailFailed, timeout=20_000):
        loader2.request("k2", bad, 128)
    assert loader2.failure("k2")


def test_thousands_of_signals_do_not_wear_down_singletons(qtbot):
    """Thousands of signals and paints must not wear down None/True/False (PySide6 6.12.0 did, and
    aborted Python 3.11; pyproject excludes that release)."""

    class Emitter(QObject):
        sig = Signal(str)

    e = Emitter()
    seen = []
    e.sig.connect(seen.append)
    font = QFont()
    for i in range(5000):
        e.sig.emit("x")
        font.setPointSizeF(9.0 + (i % 3))
    assert len(seen) == 5000
    assert sys.getrefcount(None) > 10_000 and sys.getrefcount(True) > 1_000


class StatsLibrary:
    """Stands in for a watching ``Library``: only ``stats()`` is read."""

    def __init__(self, mode: str, reason: str | None):
        self.mode, self.reason = mode, reason

    def stats(self) -> dict:
        return {"watching": True, "watch_mode": self.mode, "fallback_reason": self.reason}


def test_session_reports_the_polling_fallback_from_the_watch_mode_once(qtbot):
    session = LibrarySession()
    lib = StatsLibrary("polling", "/mnt/photos is on a network file system (nfs)")
    session.library, session.watching = lib, True
    with qtbot.waitSignal(session.pollingFallback, timeout=5000) as blocker:
        session.check_watch_mode()
    assert blocker.args == ["/mnt/photos is on a network file system (nfs)"]
    with qtbot.assertNotEmitted(session.pollingFallback, wait=300):  # same reason: said already
        session.check_watch_mode()
    lib.mode, lib.reason = "events", None
    with qtbot.assertNotEmitted(session.pollingFallback, wait=300):
        session.check_watch_mode()
    lib.mode, lib.reason = "polling", "force_polling=True"  # polling again: said again
    with qtbot.waitSignal(session.pollingFallback, timeout=5000) as blocker:
        session.check_watch_mode()
    assert blocker.args == ["force_polling=True"]
