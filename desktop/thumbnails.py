"""Thumbnails for the grid and previews for the details pane, made off the GUI thread.

* Decoding and scaling run in a ``QThreadPool`` (``QImage`` may be built in any thread; ``QPixmap``
  only in the GUI thread, so workers hand back ``QImage`` through a queued signal).
* Finished thumbnails are cached on disk under the platform cache folder
  (``platformdirs.user_cache_dir("Landmark Tagger", "LandmarkTagger")/thumbnails/<edge>/``), one JPEG
  per photo keyed by the photo's ``file_key`` (its full SHA-256 where known, else its fingerprint: size + SHA-256
  of the first and last 64 KiB; ``core.domain.PhotoSummary.file_key``) and the edge length in pixels, so a moved
  or renamed photo keeps its thumbnail and an edited one gets a new one. The disk cache
  (``desktop.thumbnail_cache.ThumbnailDiskCache``) has a size cap (Settings, default 1 GB), is pruned least
  recently used, and drops the thumbnails of photos that left the library (``prune_removed``).
* Requests are served newest first (a stack): while the user scrolls, the rows on screen now are
  decoded before rows that scrolled past; the queue is capped so a fast fling does not leave
  thousands of stale jobs behind.
* An in-memory LRU of ``QPixmap`` (GUI thread only) keeps recently shown thumbnails.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap

from desktop.thumbnail_cache import DEFAULT_LIMIT_MB, ThumbnailDiskCache

#: Most pending (not yet started) requests kept; older ones are dropped (they scrolled away).
MAX_PENDING = 400
#: JPEG quality of cached thumbnails (0-100).
CACHE_JPEG_QUALITY = 85


def default_cache_dir() -> Path:
    """The platform's per-user cache folder for this app (``platformdirs.user_cache_dir``)."""
    from platformdirs import user_cache_dir

    from desktop.settings import APPLICATION, ORGANIZATION

    return Path(user_cache_dir(APPLICATION, ORGANIZATION))


def disk_key(path: str | Path, edge: int, file_key: str | None = None) -> str:
    """Disk-cache file stem for one photo at one edge length (pixels).

    The photo's ``file_key`` (``core.domain.PhotoSummary.file_key``: its full SHA-256 where known, else its
    fingerprint, size + SHA-256 of the first and last 64 KiB) names its bytes when the caller knows it; otherwise the
    path, size (bytes) and mtime (ns) are hashed. Either way an edited file gets a new thumbnail. Called in worker
    threads (it may ``stat`` the file).

    Raises:
        OSError: the file cannot be ``stat``-ed (it vanished).
    """
    if not file_key:
        st = Path(path).stat()
        # os.fsencode: the file name's own bytes (a name that is not valid UTF-8 cannot be str.encode()d)
        file_key = hashlib.sha256(os.fsencode(path) + f"|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()
    return f"{file_key}-{int(edge)}"


def decode_scaled(path: str | Path, edge: int) -> QImage:
    """Decode ``path`` and scale it to fit in ``edge``×``edge`` pixels (aspect ratio kept).

    Uses ``core.photos.image_io.open_photo`` (pillow-heif, EXIF orientation, draft decoding of large JPEGs)
    so HEIF and rotated photos look right. Runs in worker threads.

    Raises:
        Exception: whatever the decoder raises for an unreadable file (``ImageDecodeError``, ``OSError``).
    """
    from core.photos.image_io import open_photo  # Pillow loads in the worker thread, not at start-up

    pil = open_photo(path, target_size=edge)
    pil.thumbnail((edge, edge))
    pil = pil.convert("RGB")
    data = pil.tobytes("raw", "RGB")
    img = QImage(data, pil.width, pil.height, 3 * pil.width, QImage.Format.Format_RGB888)
    return img.copy()  # own the pixels (``data`` is freed when this function returns)


class _Signals(QObject):
    ready = Signal(str, QImage)  # key, image
    failed = Signal(str, str)  # key, reason


class _Worker(QRunnable):
    def __init__(self, loader: ThumbnailLoader):
        super().__init__()
        self.loader = loader
        self.setAutoDelete(True)

    def run(self) -> None:  # worker thread
        loader = self.loader
        while True:
            job = loader._pop()
            if job is None:
                return
            key, path, edge, file_key = job
            try:
                img = loader._load_or_make(path, edge, file_key)
            except Exception as exc:  # noqa: BLE001 - any decode failure becomes a placeholder
                loader._signals.failed.emit(key, str(exc) or type(exc).__name__)
            else:
                loader._signals.ready.emit(key, img)
            finally:
                loader._finish(key)


class ThumbnailLoader(QObject):
    """Asynchronous thumbnail source with a disk cache and an in-memory LRU.

    Use from the GUI thread: ``pixmap(key)`` returns a cached ``QPixmap`` or ``None``; ``request``
    queues a decode; ``thumbnailReady(key)`` fires (in the GUI thread) when it is available,
    ``thumbnailFailed(key, reason)`` when the file cannot be decoded.

    Args:
        cache_dir: disk cache root (default: ``default_cache_dir()``); ``None`` entries are never
            written when ``disk_cache`` is False.
        max_threads: decoding threads (default 2: the app shares the CPU with tagging).
        memory_items: pixmaps kept in memory (160 px ≈ 100 KB each).
        limit_mb: size cap of the disk cache, MB (2^20 bytes); ``0``: none.

    Attributes:
        disk: the ``ThumbnailDiskCache``.
    """

    thumbnailReady = Signal(str)
    thumbnailFailed = Signal(str, str)

    def __init__(
        self,
        cache_dir: str | Path | None = None,
        *,
        max_threads: int = 2,
        memory_items: int = 800,
        disk_cache: bool = True,
        limit_mb: int = DEFAULT_LIMIT_MB,
        parent: QObject | None = None,
    ):
        super().__init__(parent)
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.disk_cache = disk_cache
        self.disk = ThumbnailDiskCache(self.cache_dir, int(limit_mb) << 20)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max(1, max_threads))
        self._memory: OrderedDict[str, QPixmap] = OrderedDict()
        self._memory_items = memory_items
        self._failed: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stack: list[tuple[str, str, int, str | None]] = []
        self._queued: set[str] = set()
        self._running = 0
        self._signals = _Signals()
        self._signals.ready.connect(self._on_ready, Qt.ConnectionType.QueuedConnection)
        self._signals.failed.connect(self._on_failed, Qt.ConnectionType.QueuedConnection)
        self.decoded = 0  # images decoded from the photo (not from the disk cache)

    # --- GUI thread API -------------------------------------------------------------------------
    def pixmap(self, key: str) -> QPixmap | None:
        """The cached pixmap for ``key`` or ``None`` (marks it recently used)."""
        pm = self._memory.get(key)
        if pm is not None:
            self._memory.move_to_end(key)
        return pm

    def failure(self, key: str) -> str | None:
        """Why ``key`` could not be decoded, or ``None``."""
        return self._failed.get(key)

    def request(self, key: str, path: str | Path, edge: int, file_key: str | None = None) -> None:
        """Queue a decode of ``path`` at ``edge`` pixels unless it is cached, queued or failed.

        ``key`` names the result in memory (e.g. ``"<photo id>-<edge>"``); ``file_key`` (the photo's
        ``PhotoSummary.file_key``, when known) names it on disk.
        """
        if key in self._memory or key in self._failed:
            return
        with self._lock:
            if key in self._queued:
                # already queued: move it to the top of the stack (it is on screen again)
                for i in range(len(self._stack) - 1, -1, -1):
                    if self._stack[i][0] == key:
                        self._stack.append(self._stack.pop(i))
                        break
                return
            self._queued.add(key)
            self._stack.append((key, str(path), int(edge), file_key))
            if len(self._stack) > MAX_PENDING:
                dropped = self._stack[: len(self._stack) - MAX_PENDING]
                del self._stack[: len(self._stack) - MAX_PENDING]
                for k, *_ in dropped:
                    self._queued.discard(k)
            start = self._running < self.pool.maxThreadCount()
            if start:
                self._running += 1
        if start:
            self.pool.start(_Worker(self))

    def clear_memory(self) -> None:
        """Forget in-memory pixmaps and failures (e.g. after the thumbnail size changed)."""
        self._memory.clear()
        self._failed.clear()

    def cancel_pending(self, prefix: str | None = None) -> None:
        """Drop queued requests (all, or those whose key starts with ``prefix``), e.g. when the grid
        shows another album its old rows are no longer wanted."""
        with self._lock:
            keep = []
            for job in self._stack:
                if prefix is None or job[0].startswith(prefix):
                    self._queued.discard(job[0])
                else:
                    keep.append(job)
            self._stack[:] = keep

    def pending(self) -> int:
        """Requests queued or being decoded."""
        with self._lock:
            return len(self._queued)

    def wait_idle(self, msecs: int = 30000) -> bool:
        """Block until the pool has no work (tests, benchmarks)."""
        return self.pool.waitForDone(msecs)

    def set_limit_mb(self, limit_mb: int) -> None:
        """Change the disk cache's size cap (MB; ``0``: none); pruning to it runs in a worker thread."""
        self._in_background(lambda: self.disk.set_limit(int(limit_mb) << 20))

    def prune_removed(self, keep_keys) -> None:
        """Drop, in a worker thread, the disk thumbnails whose file key is not in ``keep_keys`` (the library's
        ``Library.file_keys``: photos that left it, bytes that changed)."""
        self._in_background(lambda: self.disk.prune_removed(keep_keys))

    def _in_background(self, fn) -> None:
        """Cache maintenance in a daemon thread of its own: never in the decoding pool, whose threads the grid
        is waiting for. A failure only leaves the cache as it was."""

        def run() -> None:
            try:
                fn()
            except Exception:  # noqa: BLE001 - maintenance of a cache never disturbs the app
                pass

        threading.Thread(target=run, name="thumbnail-cache", daemon=True).start()

    # --- worker side ----------------------------------------------------------------------------
    def _pop(self) -> tuple[str, str, int, str | None] | None:
        with self._lock:
            if not self._stack:
                self._running -= 1
                return None
            return self._stack.pop()

    def _finish(self, key: str) -> None:
        with self._lock:
            self._queued.discard(key)

    def cache_file(self, stem: str) -> Path:
        """Disk location of a thumbnail named ``stem`` (``disk_key``); fan-out keeps folders small."""
        return self.disk.path(stem)

    def _load_or_make(self, path: str, edge: int, file_key: str | None) -> QImage:
        stem = disk_key(path, edge, file_key)
        file = self.disk.hit(stem) if self.disk_cache else None  # a hit is marked as recently used
        if file is not None:
            img = QImage(str(file))
            if not img.isNull():
                return img
        img = decode_scaled(path, edge)
        self.decoded += 1
        if self.disk_cache:  # JPEG: the format follows the suffix; a read-only or full disk only costs speed
            self.disk.put(stem, lambda tmp: img.save(str(tmp), None, CACHE_JPEG_QUALITY))
        return img

    # --- back in the GUI thread -----------------------------------------------------------------
    def _on_ready(self, key: str, img: QImage) -> None:
        self._memory[key] = QPixmap.fromImage(img)
        self._memory.move_to_end(key)
        while len(self._memory) > self._memory_items:
            self._memory.popitem(last=False)
        self.thumbnailReady.emit(key)

    def _on_failed(self, key: str, reason: str) -> None:
        self._failed[key] = reason
        self.thumbnailFailed.emit(key, reason)


def placeholder_pixmap(edge: int, *, broken: bool = False) -> QPixmap:
    """A neutral square shown until the thumbnail is ready (or a crossed one for unreadable files)."""
    pm = QPixmap(QSize(edge, edge))
    pm.fill(QColor("#e5e7eb") if not broken else QColor("#fde2e2"))
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(QColor("#9ca3af") if not broken else QColor("#b91c1c"))
    if broken:
        p.drawLine(edge // 3, edge // 3, 2 * edge // 3, 2 * edge // 3)
        p.drawLine(2 * edge // 3, edge // 3, edge // 3, 2 * edge // 3)
    p.end()
    return pm
