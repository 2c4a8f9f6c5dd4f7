"""Scanning: bring the store in line with the files of the library folders.

``scan_folders``: ``core.photos.scanner.diff_folder`` against what the store knows (path → (size, mtime_ns));
only new and changed files are read, at their ends only (``core.photos.records.read_files``, a small thread pool:
the fingerprint — size + SHA-256 of the first and last 64 KiB — and the EXIF of the header). A photo is its row
(``core.store.photos.write_file_changes``): a file whose bytes changed at the same path is the same photo (the model
runs on it again; the person's corrections, keyed by the photo's id, stay and its manual label is restored at once),
and a new file with the fingerprint of a vanished photo is that photo *moved*: the row (labels, predictions,
corrections) just gets the new path. Other vanished files leave the library, with their corrections. A photo with
EXIF GPS gets status ``gps`` and its coordinates and is never sent to the model: it is placed instead
(``core.tagging.places``: the catalog landmark whose uncertainty circle holds it, city and country from offline
reverse geocoding; a manual label of the photo still wins); the others become ``pending`` for ``core.tagging.tag``.
Nothing here imports torch.

``apply_change_batch``: the same for one batch of the folder watcher's events (moves, deletions of files
and folders, new/modified files); a deletion and a creation of the same bytes in one batch (a move the watcher saw
as two events) is a move too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.photos.records import FileRecord, read_files
from core.store import folders as store_folders
from core.store import landmarks as store_landmarks
from core.store import photos as store_photos
from core.store.engine import Connection, Database
from core.store.timestamps import utc_now
from core.tagging.jobs import JobControl
from core.tagging.places import place_gps_photos, prefetch_geocoder
from core.tagging.progress import ProgressTracker
from core.tagging.relabel import refresh_effective_labels

__all__ = ["SCAN_COMMIT_ROWS", "ScanReport", "apply_file_changes", "scan_folders", "apply_change_batch"]

#: Rows per write transaction while scanning.
SCAN_COMMIT_ROWS = 500


@dataclass
class ScanReport:
    """Counts of one scan: files added, changed (other bytes at the same path: the same photo), moved, deleted,
    unchanged, touched (new size/mtime, same bytes), read whole (``full_hashes``: their fingerprint collided with
    another file's), GPS photos placed (``core.tagging.places``; ``placed_ids`` their ids); ``errors`` holds ``(path, readable reason)`` per unreadable file or folder below a
    library folder, ``offline`` the same for library folders that are missing or unreadable (their photos are
    kept, offline)."""

    added: int = 0
    changed: int = 0
    moved: int = 0
    deleted: int = 0
    unchanged: int = 0
    touched: int = 0
    full_hashes: int = 0
    placed: int = 0
    placed_ids: list[int] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    offline: list[tuple[str, str]] = field(default_factory=list)


def _read_files(
    paths: Sequence[str], workers: int, control: JobControl | None, on_done: Callable[[int], Any] | None = None
) -> tuple[list[FileRecord], list[tuple[str, str]]]:
    """Fingerprint + EXIF of many files (``core.photos.records.read_files``), honouring pause/cancel. The place data
    start loading in the background at the first GPS photo (``core.tagging.places.prefetch_geocoder``), while the
    other files are read."""
    seen_gps: list[bool] = []

    def on_records(got: list[FileRecord]) -> None:
        if not seen_gps and any(getattr(r.exif, "has_gps", False) for r in got):
            seen_gps.append(True)
            prefetch_geocoder()

    return read_files(paths, workers, control.checkpoint if control is not None else None, on_done, on_records)


def apply_file_changes(
    conn: Connection,
    folder_id_for: Callable[[str], int | None],
    records: Sequence[FileRecord],
    deleted_paths: Sequence[str],
    report: ScanReport,
    *,
    delete_left: bool = True,
) -> None:
    """Write one batch of scanned files into the store (one transaction, the caller's ``conn``), give the photos
    whose bytes changed their manual labels back (``core.tagging.relabel.refresh_effective_labels``: a pending photo
    shows the person's label before the model ran on it again), then place the GPS photos not placed yet
    (``core.tagging.places.place_gps_photos``: the new and changed ones, and those of a library upgraded to revision
    0005), in the same transaction.

    Args:
        conn: a write connection (inside ``Database.write()``).
        folder_id_for: maps a file path to its library folder id (``None``: not in the library → ignored).
        records: new or changed files (``core.photos.records.read_file``).
        deleted_paths: paths that are gone; a record with the bytes (fingerprint) of one of them is a move
            (the row keeps its id, labels, corrections and predictions); the others are deleted.
        report: counters to update.
        delete_left: delete the vanished photos no record matched (False for all but the last batch of a scan).
    """
    done = store_photos.write_file_changes(
        conn, folder_id_for, records, deleted_paths, utc_now(), delete_left=delete_left
    )
    report.added += done.added
    report.changed += done.changed
    report.moved += done.moved
    report.deleted += done.deleted
    report.touched += done.touched
    report.full_hashes += done.full_hashes
    if done.changed_ids:
        # the changed rows are pending or gps again: the model's threshold plays no part, only the person's label
        refresh_effective_labels(conn, done.changed_ids, 1.0, store_landmarks.landmark_coords(conn))
    placed = place_gps_photos(conn)
    report.placed += len(placed)
    report.placed_ids += placed


def scan_folders(
    db: Database,
    tracker: ProgressTracker | None = None,
    control: JobControl | None = None,
    *,
    workers: int = 2,
    folder_ids: Sequence[int] | None = None,
    exclude: Collection[str | os.PathLike[str]] = (),
    follow_links: bool = False,
) -> ScanReport:
    """Bring the store in line with the files of the library folders.

    Args:
        db: the library database.
        tracker: progress ("scanning": files read / files to read).
        control: pause/cancel (raises ``Cancelled``).
        workers: threads fingerprinting files and reading EXIF.
        folder_ids: scan only these folders (default: all).
        exclude: folders never scanned (the app's own data and cache); photos stored there leave the library.
        follow_links: follow symbolic links out of a library folder (``core.photos.scanner.iter_photo_files``).
    Returns:
        a ``ScanReport``. A folder that is missing (unmounted disk) or unreadable is reported in ``offline``
        and its photos are kept, never deleted.
    Raises:
        Cancelled: ``control`` was cancelled. ``core.store.errors.DB_ERRORS``: the database failed (the
        caller translates it).
    """
    from core.photos.scanner import diff_folder

    report = ScanReport()
    with db.read() as conn:
        folders = store_folders.list_folders(conn)
    if folder_ids is not None:
        wanted = set(folder_ids)
        scan_list = [f for f in folders if f[0] in wanted]
    else:
        scan_list = folders
    # A sub-folder that is itself a library folder is scanned under its own id.
    resolve = store_folders.folder_resolver(folders)
    to_read: list[str] = []
    deleted: list[str] = []
    for fid, root in scan_list:
        if control is not None:
            control.checkpoint()
        with db.read() as conn:
            known = store_photos.known_files(conn, fid)
        try:
            diff = diff_folder(root, known, exclude=exclude, follow_links=follow_links)
        except OSError as exc:
            report.offline.append((root, f"folder not available: {exc.strerror or exc}"))
            continue
        to_read += [str(f.path) for f in diff.new + diff.changed if resolve(str(f.path)) == fid]
        deleted += list(diff.deleted)
        report.unchanged += len(diff.unchanged)
        report.errors += list(diff.errors)
    if tracker is not None:
        tracker.start_phase("scanning", len(to_read), f"reading {len(to_read)} new or changed files")
    records, errors = _read_files(to_read, workers, control, on_done=(tracker.advance if tracker else None))
    report.errors += errors
    # Files that vanished between the walk and the read are deletions too.
    deleted += [p for p, reason in errors if "vanished" in reason and p not in deleted]
    # Moves are matched across the whole scan: every batch may find a vanished photo again; the last one deletes
    # those no file was found for.
    for start in range(0, max(len(records), 1), SCAN_COMMIT_ROWS):
        batch = records[start : start + SCAN_COMMIT_ROWS]
        last = start + SCAN_COMMIT_ROWS >= len(records)
        with db.write() as conn:
            apply_file_changes(conn, resolve, batch, deleted, report, delete_left=last)
    return report


def apply_change_batch(db: Database, batch: Any) -> ScanReport:
    """Apply a watcher ``core.photos.watcher.ChangeBatch`` to the store: moves, deletions (paths and
    everything below), then new/modified files (fingerprint + EXIF).

    A moved file keeps its row when its source is known and its destination is in a library folder;
    otherwise the source row is deleted and the destination read as a new file. The photos of deleted paths
    leave the library in the same transaction as the new files are written, so a new file with the bytes of one of
    them (a move seen as a deletion and a creation) is that photo moved. Files whose stored (size, mtime) still
    match are not read again.
    Returns:
        the ``ScanReport`` of the new/modified files.
    Raises:
        ``core.store.errors.DB_ERRORS``: the database failed (the caller translates it).
    """
    with db.read() as conn:
        resolve = store_folders.folder_resolver(store_folders.list_folders(conn))
    upserts = [str(p) for p in batch.upserted]
    with db.write() as conn:
        for src, dst in batch.moved:
            src, dst = str(src), str(dst)
            fid = resolve(dst)
            photo_id = store_photos.photo_id_at(conn, src)
            if photo_id is None or fid is None:
                if fid is not None:
                    upserts.append(dst)
                if photo_id is not None:
                    store_photos.delete_photo(conn, photo_id)
                continue
            store_photos.move_photo(conn, photo_id, dst, fid)
            upserts.append(dst)  # same (size, mtime) → only a cheap check; changed → re-read
    # Skip files whose (size, mtime) the store already has (e.g. the moved ones).
    with db.read() as conn:
        todo = []
        for p in dict.fromkeys(upserts):
            known = store_photos.file_signature(conn, p)
            try:
                st = os.stat(p)
            except OSError:
                continue
            if known is None or known != (st.st_size, st.st_mtime_ns):
                todo.append(p)
    records, _errors = _read_files(todo, 2, None)
    report = ScanReport()
    with db.write() as conn:
        read = {r.path for r in records}
        gone = dict.fromkeys(q for p in batch.deleted for q in store_photos.paths_under(conn, str(p)) if q not in read)
        apply_file_changes(conn, resolve, records, list(gone), report)
    return report
