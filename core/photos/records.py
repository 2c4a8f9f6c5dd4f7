"""Reading what the store keeps about one photo file: (size, mtime), content hash and EXIF.

It imports only ``core.photos.scanner`` and ``core.photos.exif`` (no torch, numpy or SQLAlchemy). ``read_files`` uses
a small thread pool: SHA-256 hashing and file I/O release the GIL, exifread (pure Python) does not, so
the second thread mainly overlaps hashing with EXIF parsing. (Worker processes would use the second
core for exifread too, but a spawned process re-imports the application's ``__main__`` — fragile in
frozen (PyInstaller) apps — so they are not used.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

__all__ = ["FileRecord", "read_file", "read_files", "CHUNK_FILES"]

#: Files per task handed to a worker thread (progress is reported per chunk).
CHUNK_FILES = 64


@dataclass
class FileRecord:
    """What scanning learns about one file.

    Attributes:
        path: the file path (``str``). size: bytes. mtime_ns: modification time, ns since the epoch.
        content_hash: hex SHA-256 of the bytes (``core.photos.scanner.content_hash``).
        exif: the ``core.photos.exif.ExifInfo``.
    """

    path: str
    size: int
    mtime_ns: int
    content_hash: str
    exif: Any


def read_file(path: str) -> FileRecord | tuple[str, str]:
    """Stat, hash and read the EXIF of one file.

    Returns:
        a ``FileRecord``, or ``(path, readable reason)`` when the file vanished or cannot be read
        (never raises for a bad file).
    """
    from core.photos.exif import read_exif
    from core.photos.scanner import content_hash, stat_file

    try:
        st = stat_file(path)
        h = content_hash(path)
        info = read_exif(path)
    except FileNotFoundError:
        return (path, "the file vanished during the scan")
    except OSError as exc:
        return (path, f"cannot read the file: {exc.strerror or exc}")
    return FileRecord(path=str(path), size=st.size, mtime_ns=st.mtime_ns, content_hash=h, exif=info)


def _read_chunk(paths: list[str]) -> list:
    return [read_file(p) for p in paths]


def read_files(
    paths: Sequence[str],
    workers: int = 2,
    checkpoint: Callable[[], None] | None = None,
    on_done: Callable[[int], None] | None = None,
) -> tuple[list[FileRecord], list[tuple[str, str]]]:
    """Read many files.

    Args:
        paths: files to read.
        workers: parallel workers (1 = on the calling thread).
        checkpoint: called between chunks (may raise to stop, e.g. ``core.tagging.jobs.Cancelled``).
        on_done: called with the number of files finished after each chunk.
    Returns:
        ``(records, errors)``: ``errors`` holds ``(path, reason)`` per unreadable file.
    """
    records: list[FileRecord] = []
    errors: list[tuple[str, str]] = []
    paths = [str(p) for p in paths]

    def take(batch) -> None:
        for res in batch:
            (records if isinstance(res, FileRecord) else errors).append(res)

    chunks = [paths[i : i + CHUNK_FILES] for i in range(0, len(paths), CHUNK_FILES)]
    if workers <= 1 or len(paths) < 2:
        for chunk in chunks:
            if checkpoint:
                checkpoint()
            take(_read_chunk(chunk))
            if on_done:
                on_done(len(chunk))
        return records, errors
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scan")
    try:
        window = 2 * workers
        futures: list[tuple[int, Future[list[Any]]]] = []
        nxt = 0
        while nxt < len(chunks) or futures:
            while nxt < len(chunks) and len(futures) < window:
                futures.append((len(chunks[nxt]), pool.submit(_read_chunk, chunks[nxt])))
                nxt += 1
            n, fut = futures.pop(0)
            take(fut.result())
            if on_done:
                on_done(n)
            if checkpoint:
                checkpoint()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return records, errors
