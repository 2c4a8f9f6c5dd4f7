"""Reading what the store keeps about one photo file: (size, mtime), fingerprint and EXIF.

A file is read at its two ends only: ``core.photos.scanner.file_fingerprint`` (size + SHA-256 of the first and last
64 KiB) and ``core.photos.exif.read_exif`` (the EXIF of a JPEG from its header). The SHA-256 of all the bytes
(``FileRecord.full_hash``) is read only when the store finds another photo with the same fingerprint.

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
        fingerprint: ``core.photos.scanner.file_fingerprint`` (``"<size>:<hex SHA-256 of the ends>"``).
        exif: the ``core.photos.exif.ExifInfo``.
        content_hash: hex SHA-256 of all the bytes when known (a file of at most 128 KiB, or after ``full_hash``),
            else ``""``.
    """

    path: str
    size: int
    mtime_ns: int
    fingerprint: str
    exif: Any
    content_hash: str = ""

    def full_hash(self) -> str:
        """The hex SHA-256 of all the file's bytes (``core.photos.scanner.content_hash``), read on the first call and
        kept in ``content_hash``; ``""`` when the file cannot be read any more (vanished, unreadable)."""
        if not self.content_hash:
            from core.photos.scanner import content_hash

            try:
                self.content_hash = content_hash(self.path)
            except OSError:
                return ""
        return self.content_hash


def read_file(path: str) -> FileRecord | tuple[str, str]:
    """Stat, fingerprint and read the EXIF of one file.

    Returns:
        a ``FileRecord``, or ``(path, readable reason)`` when the file vanished or cannot be read
        (never raises for a bad file).
    """
    from core.photos.exif import read_exif
    from core.photos.scanner import file_fingerprint, stat_file

    try:
        st = stat_file(path)
        fingerprint, full = file_fingerprint(path)
        info = read_exif(path)
    except FileNotFoundError:
        return (path, "the file vanished during the scan")
    except OSError as exc:
        return (path, f"cannot read the file: {exc.strerror or exc}")
    return FileRecord(
        path=str(path), size=st.size, mtime_ns=st.mtime_ns, fingerprint=fingerprint, exif=info, content_hash=full
    )


def _read_chunk(paths: list[str]) -> list:
    return [read_file(p) for p in paths]


def read_files(
    paths: Sequence[str],
    workers: int = 2,
    checkpoint: Callable[[], None] | None = None,
    on_done: Callable[[int], None] | None = None,
    on_records: Callable[[list[FileRecord]], None] | None = None,
) -> tuple[list[FileRecord], list[tuple[str, str]]]:
    """Read many files.

    Args:
        paths: files to read.
        workers: parallel workers (1 = on the calling thread).
        checkpoint: called between chunks (may raise to stop, e.g. ``core.tagging.jobs.Cancelled``).
        on_done: called with the number of files finished after each chunk.
        on_records: called (on the calling thread) with the records of each chunk as it is done.
    Returns:
        ``(records, errors)``: ``errors`` holds ``(path, reason)`` per unreadable file.
    """
    records: list[FileRecord] = []
    errors: list[tuple[str, str]] = []
    paths = [str(p) for p in paths]

    def take(batch) -> None:
        got = [res for res in batch if isinstance(res, FileRecord)]
        records.extend(got)
        errors.extend(res for res in batch if not isinstance(res, FileRecord))
        if on_records is not None and got:
            on_records(got)

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
