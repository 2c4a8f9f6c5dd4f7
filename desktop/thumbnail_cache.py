"""The thumbnail cache on disk: one JPEG per photo and edge, capped in size, pruned least-recently-used.

Layout: ``<root>/thumbnails/<edge>/<first two characters>/<key>-<edge>.jpg``, where the key is the photo's file key
(``core.domain.PhotoSummary.file_key``: its full SHA-256 where known, else its fingerprint as ``<hex>_<size>``; or,
when a caller does not know it, a hash of path, size and mtime; ``desktop.thumbnails.disk_key``).

* **Recently used** is the file's modification time: a hit sets it to now (``os.utime``, one system call in the
  decoding thread; access times are unreliable under ``noatime``/``relatime``). No index file to keep consistent:
  a crash loses nothing, and a file deleted by hand is simply made again.
* **Size cap** (``limit_bytes``, Settings → "Thumbnail cache", default 1 GB): the cache keeps a running total of its
  bytes (one directory walk when it is first needed, in a worker thread); when a write takes it over the cap,
  the oldest files are deleted until it is at ``PRUNE_TO`` of the cap (so that pruning does not run on every write).
* **Removed photos**: ``prune_removed(keep)`` deletes the entries whose key is not among the library's file keys
  (``Library.file_keys``: photos that left the library — a folder removed, files deleted — and the old bytes of
  files that changed). Entries keyed by path (made without a file key) are removed too; they are made again when
  shown.

Thread safety: every method may be called from any thread; the running total is guarded by a lock, and pruning
runs at most once at a time (a second size prune while one runs is dropped: the running one sees the same files;
``prune_removed`` waits for it).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Collection, Iterator
from pathlib import Path

__all__ = ["ThumbnailDiskCache", "DEFAULT_LIMIT_MB", "PRUNE_TO"]

#: Default size cap, MB (2^20 bytes): 1 GB.
DEFAULT_LIMIT_MB = 1024
#: After pruning, the cache holds at most this fraction of its cap.
PRUNE_TO = 0.9


class ThumbnailDiskCache:
    """Thumbnails on disk under ``root/thumbnails`` (see the module docstring).

    Args:
        root: the cache folder (``core.paths.cache_dir()`` in the app).
        limit_bytes: size cap in bytes; ``0`` or ``None``: no cap.

    Attributes:
        root: as given. limit_bytes: the cap in force (``set_limit`` changes it).
        pruned: files deleted by pruning so far (for tests and benchmarks).
    """

    def __init__(self, root: str | os.PathLike[str], limit_bytes: int | None = DEFAULT_LIMIT_MB << 20) -> None:
        self.root = Path(root)
        self.limit_bytes = int(limit_bytes or 0)
        self.pruned = 0
        self._lock = threading.Lock()
        self._total: int | None = None  # bytes in the cache; None until first counted
        self._puts = 0  # puts so far: a size walk that overlapped one is not trusted
        self._checking = False  # a background count/prune started by put is running
        self._pruning = threading.Lock()

    # ------------------------------------------------------------------------------- files
    @property
    def folder(self) -> Path:
        """``root/thumbnails``: everything this cache writes is below it."""
        return self.root / "thumbnails"

    def path(self, stem: str) -> Path:
        """The file of the entry named ``stem`` (``<key>-<edge>``)."""
        edge = stem.rsplit("-", 1)[-1]
        return self.folder / edge / stem[:2] / f"{stem}.jpg"

    def hit(self, stem: str) -> Path | None:
        """The entry's file if it exists, marked as used now; ``None`` otherwise."""
        file = self.path(stem)
        try:
            os.utime(file)
        except OSError:  # missing (or a read-only cache: then it is only not marked)
            return file if file.is_file() else None
        return file

    def put(self, stem: str, write) -> Path | None:
        """Store an entry: ``write(tmp_path) -> bool`` writes the image to a temporary file, which is then renamed
        into place; when the cap is exceeded (or the total is not counted yet) ``prune`` starts in a background
        thread. Returns the file, or ``None`` when it could not be written (a read-only or full disk only costs
        speed)."""
        file = self.path(stem)
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            tmp = file.with_name(f"{file.stem}.{threading.get_ident()}.tmp.jpg")
            if not write(tmp):
                return None
            size = tmp.stat().st_size
            with self._lock:  # the rename and the count change together: a walk sees both or neither
                old = file.stat().st_size if file.exists() else 0
                tmp.replace(file)
                self._puts += 1
                if self._total is not None:
                    self._total += size - old
        except OSError:
            return None
        with self._lock:
            check = (
                self.limit_bytes > 0 and not self._checking and (self._total is None or self._total > self.limit_bytes)
            )
            if check:
                self._checking = True
        if check:
            # in a thread of its own: the first count walks the whole cache (~1 s at 100 000 thumbnails), which
            # must not hold up the decoding thread that called put
            threading.Thread(target=self._check, name="thumbnail-cache-check", daemon=True).start()
        return file

    def _check(self) -> None:
        try:
            if self.limit_bytes and self.total_bytes() > self.limit_bytes:
                self.prune()
        finally:
            with self._lock:
                self._checking = False

    # ------------------------------------------------------------------------------- size
    def _entries(self) -> Iterator[os.DirEntry]:
        """Every cache file (``*.jpg``, leftover ``*.tmp.jpg`` included)."""
        try:
            edges = list(os.scandir(self.folder))
        except OSError:
            return
        for edge in edges:
            if not edge.is_dir(follow_symlinks=False):
                continue
            try:
                buckets = list(os.scandir(edge.path))
            except OSError:
                continue
            for bucket in buckets:
                if not bucket.is_dir(follow_symlinks=False):
                    continue
                try:
                    files = list(os.scandir(bucket.path))
                except OSError:
                    continue
                for f in files:
                    if f.name.endswith(".jpg") and f.is_file(follow_symlinks=False):
                        yield f

    def total_bytes(self) -> int:
        """Bytes in the cache (counted once by walking it, then kept up to date by ``put`` and pruning)."""
        for _attempt in range(3):
            with self._lock:
                if self._total is not None:
                    return self._total
                puts = self._puts
            total = 0
            for f in self._entries():
                if f.name.endswith(".tmp.jpg"):  # a put in progress: counted by that put once it is renamed
                    continue
                try:
                    total += f.stat(follow_symlinks=False).st_size
                except OSError:
                    continue
            with self._lock:
                if self._total is None and (self._puts == puts or _attempt == 2):
                    self._total = total  # no put landed during the walk (or a third try: close enough)
                if self._total is not None:
                    return self._total
        return total

    def set_limit(self, limit_bytes: int | None) -> None:
        """Change the cap (bytes; ``0``/``None``: none) and prune to it when the cache is over it."""
        self.limit_bytes = int(limit_bytes or 0)
        if self.limit_bytes and self.total_bytes() > self.limit_bytes:
            self.prune()

    # ------------------------------------------------------------------------------- pruning
    def prune(self) -> int:
        """Delete the least recently used entries until the cache holds at most ``PRUNE_TO`` of its cap (nothing
        without a cap). Returns the number of files deleted (0 when another prune is running)."""
        if not self.limit_bytes or not self._pruning.acquire(blocking=False):
            return 0
        try:
            with self._lock:
                puts = self._puts
            files = []
            total = 0
            for f in self._entries():
                try:
                    st = f.stat(follow_symlinks=False)
                except OSError:
                    continue
                files.append((st.st_mtime_ns, st.st_size, f.path))
                total += st.st_size
            target = int(self.limit_bytes * PRUNE_TO)
            files.sort()  # oldest use first
            gone = 0
            for _mtime, size, path in files:
                if total <= target:
                    break
                try:
                    os.unlink(path)
                except OSError:
                    continue
                total -= size
                gone += 1
            with self._lock:
                self._total = total if self._puts == puts else None  # a put during the walk: count again when asked
            self.pruned += gone
            return gone
        finally:
            self._pruning.release()

    def prune_removed(self, keep: Collection[str], *, older_than_s: float = 60.0) -> int:
        """Delete the entries whose key (the part before ``-<edge>``) is not in ``keep`` (the library's file
        keys): thumbnails of photos that left the library. Files written in the last ``older_than_s`` seconds
        are kept (a photo added while ``keep`` was being read). Waits for a running prune. Returns the number of
        files deleted."""
        keep = keep if isinstance(keep, (set, frozenset)) else set(keep)
        with self._pruning:
            recent = time.time() - older_than_s
            gone = 0
            freed = 0
            for f in self._entries():
                key = f.name[: -len(".jpg")].split(".", 1)[0].rsplit("-", 1)[0]
                if key in keep:
                    continue
                try:
                    st = f.stat(follow_symlinks=False)
                    if st.st_mtime > recent:
                        continue
                    os.unlink(f.path)
                except OSError:
                    continue
                gone += 1
                freed += st.st_size
            with self._lock:
                if self._total is not None:
                    self._total = max(0, self._total - freed)
            self.pruned += gone
            return gone
