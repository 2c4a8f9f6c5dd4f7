"""The tagging pipeline: scan folders into the store, then run the recognizer on what needs it.

Scan (``scan_folders``):
    ``core.photos.scanner.diff_folder`` against what the store knows (path → (size, mtime_ns)); only new
    and changed files are read (SHA-256 ``content_hash`` + ``core.photos.exif.read_exif``, in a small thread
    pool). A new file whose hash equals a vanished photo's is a *move*: the row (labels, predictions,
    corrections — keyed by hash) just gets the new path. Other vanished files leave the library. A
    photo with EXIF GPS gets status ``gps`` and its coordinates and is never sent to the model; the
    others become ``pending``.

Tag (``tag_photos``):
    the work list is every ``pending`` photo plus every tagged photo whose ``model_version`` differs
    from the recognizer's (a new model re-tags; manual labels stay, see ``core.tagging.corrections``).
    ``Recognizer.load_image`` decodes photos in a thread pool ahead of the model (decoding overlaps
    the CNN forward); the calling thread runs ``predict_tensors`` on batches; ONE writer thread
    commits results in batched transactions. A bad file becomes ``failed`` with the decoder's
    readable reason; it never stops the run.

Crash safety: a photo stays ``pending`` until the transaction holding its result commits, and a
result is an idempotent upsert guarded by the photo's content hash, so after ``kill -9`` the next
run simply picks up the photos still pending: every photo's result is committed exactly once
(``photos.inference_count`` counts committed model results).

Pause/resume/cancel: ``JobControl``; ``TaggingJob`` runs scan + tag on a background thread and
feeds one ``core.tagging.progress.ProgressTracker`` stream.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Connection, text

from core.domain import PhotoStatus, Progress
from core.photos.records import FileRecord, read_files
from core.store import location
from core.store.engine import Database
from core.tagging.corrections import landmark_coords, load_corrections, resolve_label, utc_now
from core.tagging.progress import ProgressTracker

__all__ = [
    "JobControl",
    "Cancelled",
    "ScanReport",
    "TagReport",
    "scan_folders",
    "apply_file_changes",
    "tag_photos",
    "status_counts",
    "TaggingJob",
    "FileRecord",
]

#: Rows per write transaction while scanning.
SCAN_COMMIT_ROWS = 500


class Cancelled(Exception):
    """Raised inside a job when ``JobControl.cancel`` was called."""


class JobControl:
    """Pause / resume / cancel flags shared by a job's threads (all methods thread-safe, non-blocking
    except ``checkpoint``)."""

    def __init__(self) -> None:
        self._run = threading.Event()
        self._run.set()
        self._cancel = threading.Event()
        self._blocked = threading.Event()

    def pause(self) -> None:
        """Workers block at their next ``checkpoint`` (the batch in flight still commits)."""
        self._run.clear()

    def resume(self) -> None:
        """Let paused workers go on."""
        self._run.set()

    def cancel(self) -> None:
        """Workers raise ``Cancelled`` at their next ``checkpoint`` (a paused job wakes up to stop)."""
        self._cancel.set()
        self._run.set()

    @property
    def cancelled(self) -> bool:
        """``cancel`` was called."""
        return self._cancel.is_set()

    @property
    def paused(self) -> bool:
        """Paused and not cancelled."""
        return not self._run.is_set()

    @property
    def blocked(self) -> bool:
        """A worker is waiting in ``checkpoint`` (paused, with everything before it committed)."""
        return self._blocked.is_set()

    def checkpoint(
        self, on_pause: Callable[[], None] | None = None, on_resume: Callable[[], None] | None = None
    ) -> None:
        """Block while paused; raise ``Cancelled`` when cancelled."""
        if self._cancel.is_set():
            raise Cancelled()
        if not self._run.is_set():
            if on_pause:
                on_pause()
            self._blocked.set()
            try:
                self._run.wait()
            finally:
                self._blocked.clear()
            if self._cancel.is_set():
                raise Cancelled()
            if on_resume:
                on_resume()


# --------------------------------------------------------------------------------------------- scan
@dataclass
class ScanReport:
    """Counts of one scan: files added, changed (content), moved, deleted, unchanged; errors."""

    added: int = 0
    changed: int = 0
    moved: int = 0
    deleted: int = 0
    unchanged: int = 0
    touched: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)


def _read_files(
    paths: Sequence[str], workers: int, control: JobControl | None, on_done: Callable[[int], None] | None = None
) -> tuple[list[FileRecord], list[tuple[str, str]]]:
    """Hash + EXIF of many files (``core.photos.records.read_files``), honouring pause/cancel."""
    return read_files(paths, workers, control.checkpoint if control is not None else None, on_done)


def _exif_columns(info: Any) -> dict[str, Any]:
    has_gps = bool(getattr(info, "has_gps", False))
    taken = getattr(info, "datetime_original", None)
    return {
        "gps_latitude": info.latitude if has_gps else None,
        "gps_longitude": info.longitude if has_gps else None,
        "gps_altitude": getattr(info, "altitude", None) if has_gps else None,
        "taken_at": taken.isoformat() if taken is not None else None,
        "camera_make": getattr(info, "camera_make", None),
        "camera_model": getattr(info, "camera_model", None),
        "exif_error": getattr(info, "error", None),
    }


def _apply_manual_to_gps(conn: Connection, hashes: Sequence[str]) -> None:
    """GPS photos are never inferred, but a correction made for their content still applies."""
    corr = load_corrections(conn, hashes)
    for h, c in corr.items():
        if c.manual is None:
            continue
        res = resolve_label(None, None, 1.0, c)
        conn.execute(
            text(
                "UPDATE photos SET label = :label, label_source = 'manual', confidence = :conf "
                "WHERE content_hash = :h AND status = 'gps'"
            ),
            {"label": res.label, "conf": res.confidence, "h": h},
        )


# Statements parsed once (``text()`` construction is not free at 100 000 files).
_SQL_EXISTING = "SELECT id, path, content_hash FROM photos WHERE path IN ({marks})"
_SQL_TOUCH = text("UPDATE photos SET size = :s, mtime_ns = :m WHERE id = :id")
_SQL_DEL_PRED = text("DELETE FROM predictions WHERE photo_id = :id")
_SQL_DEL_EMB = text("DELETE FROM embeddings WHERE photo_id = :id")
_SQL_RESET = text(
    "UPDATE photos SET content_hash = :h, size = :s, mtime_ns = :m, status = :st, failure_reason = NULL, "
    "gps_latitude = :gps_latitude, gps_longitude = :gps_longitude, gps_altitude = :gps_altitude, "
    "taken_at = :taken_at, camera_make = :camera_make, camera_model = :camera_model, "
    "exif_error = :exif_error, label = NULL, label_source = NULL, confidence = NULL, "
    "model_version = NULL, latitude = :lat, longitude = :lon, location_source = :src, "
    "inference_count = 0, scanned_at = :now, tagged_at = NULL WHERE id = :id"
)
_SQL_MOVE = text("UPDATE photos SET path = :p, folder_id = :f, size = :s, mtime_ns = :m WHERE id = :id")
_SQL_INSERT = text(
    "INSERT INTO photos (folder_id, path, content_hash, size, mtime_ns, status, gps_latitude, gps_longitude, "
    "gps_altitude, taken_at, camera_make, camera_model, exif_error, latitude, longitude, location_source, "
    "inference_count, scanned_at) VALUES (:f, :p, :h, :s, :m, :st, :gps_latitude, :gps_longitude, "
    ":gps_altitude, :taken_at, :camera_make, :camera_model, :exif_error, :lat, :lon, :src, 0, :now)"
)


def _rows_by_path(conn: Connection, paths: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    paths = list(paths)
    for start in range(0, len(paths), 500):
        chunk = paths[start : start + 500]
        marks = ",".join(f":p{i}" for i in range(len(chunk)))
        for r in conn.execute(text(_SQL_EXISTING.format(marks=marks)), {f"p{i}": p for i, p in enumerate(chunk)}):
            out[r.path] = r
    return out


def apply_file_changes(
    conn: Connection,
    folder_id_for: Callable[[str], int | None],
    records: Sequence[FileRecord],
    deleted_paths: Sequence[str],
    report: ScanReport,
) -> None:
    """Write one batch of scanned files into the store (one transaction, the caller's ``conn``).

    Args:
        conn: a write connection (inside ``Database.write()``).
        folder_id_for: maps a file path to its library folder id (``None``: not in the library → ignored).
        records: new or changed files (``core.photos.records.read_file``).
        deleted_paths: paths that are gone; a record with the same content hash as one of them is a move
            (the row keeps its id, labels and predictions); the others are deleted.
        report: counters to update.
    """
    now = utc_now()
    touched_hashes: list[str] = []
    gone: dict[str, list[int]] = {}
    for r in _rows_by_path(conn, deleted_paths).values():
        gone.setdefault(r.content_hash, []).append(r.id)
    existing = _rows_by_path(conn, [rec.path for rec in records])
    inserts: list[dict[str, Any]] = []
    for rec in records:
        folder_id = folder_id_for(rec.path)
        if folder_id is None:
            continue
        row = existing.get(rec.path)
        cols = _exif_columns(rec.exif)
        has_gps = cols["gps_latitude"] is not None and cols["gps_longitude"] is not None
        status = PhotoStatus.GPS if has_gps else PhotoStatus.PENDING
        lat, lon, src = location.photo_location(cols["gps_latitude"], cols["gps_longitude"], None, {})
        if row is not None:
            if row.content_hash == rec.content_hash:  # touched, same bytes: keep everything
                conn.execute(_SQL_TOUCH, {"s": rec.size, "m": rec.mtime_ns, "id": row.id})
                report.touched += 1
                continue
            # Content changed: a different photo now lives at this path.
            conn.execute(_SQL_DEL_PRED, {"id": row.id})
            conn.execute(_SQL_DEL_EMB, {"id": row.id})
            conn.execute(
                _SQL_RESET,
                {
                    "h": rec.content_hash,
                    "s": rec.size,
                    "m": rec.mtime_ns,
                    "st": status,
                    "lat": lat,
                    "lon": lon,
                    "src": src,
                    "now": now,
                    "id": row.id,
                    **cols,
                },
            )
            report.changed += 1
            touched_hashes.append(rec.content_hash)
            continue
        moved_from = gone.get(rec.content_hash)
        if moved_from:
            conn.execute(
                _SQL_MOVE, {"p": rec.path, "f": folder_id, "s": rec.size, "m": rec.mtime_ns, "id": moved_from.pop(0)}
            )
            report.moved += 1
            continue
        inserts.append(
            {
                "f": folder_id,
                "p": rec.path,
                "h": rec.content_hash,
                "s": rec.size,
                "m": rec.mtime_ns,
                "st": status,
                "lat": lat,
                "lon": lon,
                "src": src,
                "now": now,
                **cols,
            }
        )
        touched_hashes.append(rec.content_hash)
    if inserts:
        conn.execute(_SQL_INSERT, inserts)
        report.added += len(inserts)
    leftover = [pid for ids in gone.values() for pid in ids]
    for start in range(0, len(leftover), 500):
        chunk = leftover[start : start + 500]
        conn.execute(text("DELETE FROM photos WHERE id IN ({})".format(",".join(str(int(i)) for i in chunk))))
    report.deleted += len(leftover)
    _apply_manual_to_gps(conn, touched_hashes)


def _folder_resolver(folders: Sequence[tuple[int, str]]) -> Callable[[str], int | None]:
    ordered = sorted(folders, key=lambda f: len(f[1]), reverse=True)  # deepest folder first

    def folder_id_for(path: str) -> int | None:
        for fid, root in ordered:
            if path == root or path.startswith(root.rstrip(os.sep) + os.sep):
                return fid
        return None

    return folder_id_for


def scan_folders(
    db: Database,
    tracker: ProgressTracker | None = None,
    control: JobControl | None = None,
    *,
    workers: int = 2,
    folder_ids: Sequence[int] | None = None,
) -> ScanReport:
    """Bring the store in line with the files of the library folders.

    Args:
        db: the library database.
        tracker: progress ("scanning": files read / files to read).
        control: pause/cancel (raises ``Cancelled``).
        workers: threads hashing files and reading EXIF.
        folder_ids: scan only these folders (default: all).
    Returns:
        a ``ScanReport``. A folder that is missing (unmounted disk) is reported in ``errors`` and its
        photos are kept, never deleted.
    """
    from core.photos.scanner import diff_folder

    report = ScanReport()
    with db.read() as conn:
        folders = [(r.id, r.path) for r in conn.execute(text("SELECT id, path FROM folders ORDER BY path"))]
    if folder_ids is not None:
        wanted = set(folder_ids)
        scan_list = [f for f in folders if f[0] in wanted]
    else:
        scan_list = folders
    to_read: list[str] = []
    deleted: list[str] = []
    for fid, root in scan_list:
        if control is not None:
            control.checkpoint()
        with db.read() as conn:
            known = {
                p: (s, m)
                for p, s, m in conn.execute(
                    text("SELECT path, size, mtime_ns FROM photos WHERE folder_id = :f"), {"f": fid}
                )
            }
        try:
            diff = diff_folder(root, known)
        except OSError as exc:
            report.errors.append((root, f"folder not available: {exc.strerror or exc}"))
            continue
        # A sub-folder that is itself a library folder is scanned under its own id.
        resolve = _folder_resolver(folders)
        to_read += [str(f.path) for f in diff.new + diff.changed if resolve(str(f.path)) == fid]
        deleted += list(diff.deleted)
        report.unchanged += len(diff.unchanged)
        report.errors += list(diff.errors)
    if tracker is not None:
        tracker.start_phase("scanning", len(to_read), f"reading {len(to_read)} new or changed files")
    resolve = _folder_resolver(folders)
    records, errors = _read_files(to_read, workers, control, on_done=(tracker.advance if tracker else None))
    report.errors += errors
    # Files that vanished between the walk and the read are deletions too.
    deleted += [p for p, reason in errors if "vanished" in reason and p not in deleted]
    # Moves are matched across the whole library, so write everything deleted in the first batch.
    for start in range(0, max(len(records), 1), SCAN_COMMIT_ROWS):
        batch = records[start : start + SCAN_COMMIT_ROWS]
        with db.write() as conn:
            apply_file_changes(conn, resolve, batch, deleted if start == 0 else [], report)
    return report


# ---------------------------------------------------------------------------------------------- tag
@dataclass
class TagReport:
    """Counts of one tagging run."""

    inferred: int = 0
    failed: int = 0
    skipped: int = 0
    cancelled: bool = False


def status_counts(conn: Connection) -> dict[str, int]:
    """``{status: photos}`` over the whole library (all statuses present, 0 when none)."""
    counts = {s: 0 for s in PhotoStatus.ALL}
    for st, n in conn.execute(text("SELECT status, n FROM status_counts")):  # kept by triggers (revision 0003)
        counts[st] = n
    return counts


def work_list(conn: Connection, model_version: str) -> list[tuple[int, str, str]]:
    """``(id, path, content_hash)`` of photos the model must (re)run on, by id.

    Pending photos, and tagged / no-landmark photos whose results came from another model version.
    GPS and failed photos are never in it.
    """
    return [
        tuple(r)
        for r in conn.execute(
            text(
                "SELECT id, path, content_hash FROM photos WHERE status = 'pending' OR "
                "(status IN ('tagged', 'no_landmark') AND (model_version IS NULL OR model_version != :mv)) ORDER BY id"
            ),
            {"mv": model_version},
        )
    ]


@dataclass
class _Result:
    photo_id: int
    content_hash: str
    prediction: Any = None  # core.recognition.recognizer.Prediction
    failure: str | None = None  # readable reason


def write_results(
    conn: Connection, results: Sequence[_Result], model_version: str, threshold: float, coords: dict
) -> int:
    """Upsert a batch of model results (idempotent; guarded by each photo's content hash).

    Returns:
        the number of photos written (a photo whose file changed or left meanwhile is skipped).
    """
    corr = load_corrections(conn, [r.content_hash for r in results])
    now = utc_now()
    written = 0
    for r in results:
        if r.failure is not None:
            n = conn.execute(
                text(
                    "UPDATE photos SET status = 'failed', failure_reason = :reason, model_version = :mv, tagged_at = :now "
                    "WHERE id = :id AND content_hash = :h AND status != 'gps'"
                ),
                {"reason": r.failure, "mv": model_version, "now": now, "id": r.photo_id, "h": r.content_hash},
            ).rowcount
            written += n
            continue
        p = r.prediction
        row = conn.execute(
            text("SELECT gps_latitude, gps_longitude, status FROM photos WHERE id = :id AND content_hash = :h"),
            {"id": r.photo_id, "h": r.content_hash},
        ).first()
        if row is None or row.status == PhotoStatus.GPS:
            continue
        res = resolve_label(p.top_k, p.is_landmark, threshold, corr.get(r.content_hash))
        lat, lon, src = location.photo_location(row.gps_latitude, row.gps_longitude, res.label, coords)
        conn.execute(
            text(
                "UPDATE photos SET status = :st, failure_reason = NULL, label = :label, label_source = :ls, "
                "confidence = :conf, model_version = :mv, latitude = :lat, longitude = :lon, location_source = :src, "
                "inference_count = inference_count + 1, tagged_at = :now WHERE id = :id"
            ),
            {
                "st": res.status,
                "label": res.label,
                "ls": res.label_source,
                "conf": res.confidence,
                "mv": model_version,
                "lat": lat,
                "lon": lon,
                "src": src,
                "now": now,
                "id": r.photo_id,
            },
        )
        conn.execute(text("DELETE FROM predictions WHERE photo_id = :id"), {"id": r.photo_id})
        conn.execute(
            text(
                "INSERT INTO predictions (photo_id, rank, label, confidence, model_version) "
                "VALUES (:id, :rank, :label, :conf, :mv)"
            ),
            [
                {"id": r.photo_id, "rank": i, "label": k, "conf": float(c), "mv": model_version}
                for i, (k, c) in enumerate(p.top_k)
            ],
        )
        emb = np.asarray(p.embedding, dtype=np.float16)
        conn.execute(
            text(
                "INSERT OR REPLACE INTO embeddings (photo_id, model_version, dim, vector) VALUES (:id, :mv, :dim, :vec)"
            ),
            {"id": r.photo_id, "mv": model_version, "dim": int(emb.shape[0]), "vec": emb.tobytes()},
        )
        written += 1
    return written


def _decode_failure(exc: BaseException, path: str) -> str:
    from core.photos.image_io import ImageDecodeError

    if isinstance(exc, ImageDecodeError):
        return exc.reason
    if isinstance(exc, FileNotFoundError) or not os.path.exists(path):
        return "the file vanished before it could be tagged"
    if isinstance(exc, OSError):
        return f"cannot read the file: {exc.strerror or exc}"
    return f"unexpected error while decoding ({exc.__class__.__name__}: {exc})"


_FLUSH = object()


class _Writer(threading.Thread):
    """The one thread that commits results: batches of ``commit_every`` or whatever arrived within
    ``flush_s`` seconds, one transaction per batch."""

    def __init__(
        self,
        db: Database,
        model_version: str,
        threshold: float,
        coords: dict,
        on_commit: Callable[[int, int], None],
        commit_every: int,
        flush_s: float,
    ) -> None:
        super().__init__(name="tag-writer", daemon=True)
        self.db, self.model_version, self.threshold, self.coords = db, model_version, threshold, coords
        self.on_commit, self.commit_every, self.flush_s = on_commit, commit_every, flush_s
        self.q: queue.Queue = queue.Queue(maxsize=4 * commit_every)
        self.error: BaseException | None = None

    def run(self) -> None:
        pending: list[_Result] = []
        deadline = None
        done = False
        while not done:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            flush = False
            flushed: threading.Event | None = None
            try:
                item = self.q.get(timeout=timeout)
                if item is None:
                    done = True
                elif isinstance(item, tuple) and item[0] is _FLUSH:
                    flush = True
                    flushed = item[1]
                else:
                    pending.append(item)
                    if deadline is None:
                        deadline = time.monotonic() + self.flush_s
            except queue.Empty:
                pass
            if pending and (done or flush or len(pending) >= self.commit_every or time.monotonic() >= (deadline or 0)):
                if self.error is None:
                    try:
                        with self.db.write() as conn:
                            write_results(conn, pending, self.model_version, self.threshold, self.coords)
                        failed = sum(1 for r in pending if r.failure is not None)
                        self.on_commit(len(pending), failed)
                    except BaseException as exc:  # noqa: BLE001 - reported by the job
                        self.error = exc
                pending = []
                deadline = None
            if flushed is not None:
                flushed.set()

    def put(self, item: _Result) -> None:
        if self.error is not None:
            raise self.error
        self.q.put(item)

    def flush(self, timeout: float = 60.0) -> None:
        """Commit what has arrived and wait (at most ``timeout`` s) until it is committed (on pause)."""
        done = threading.Event()
        self.q.put((_FLUSH, done))
        done.wait(timeout)

    def close(self) -> None:
        self.q.put(None)
        self.join()


def tag_photos(
    db: Database,
    recognizer: Any,
    tracker: ProgressTracker | None = None,
    control: JobControl | None = None,
    *,
    batch_size: int = 16,
    decode_workers: int = 1,
    commit_every: int = 32,
    flush_s: float = 1.0,
    work: Sequence[tuple[int, str, str]] | None = None,
) -> TagReport:
    """Run the recognizer on every photo of ``work_list`` and commit the results.

    Args:
        db: the library database.
        recognizer: a ``core.recognition.recognizer.Recognizer`` (``load_image``, ``predict_tensors``,
            ``model_version``, ``bundle.no_landmark_threshold``); may be ``None`` when ``work`` is empty.
        tracker: progress ("tagging": results committed / photos to tag; ``counts`` per status).
        control: pause / resume / cancel. On cancel the results decoded so far are still committed;
            the rest stays ``pending``.
        batch_size: photos per CNN forward pass.
        decode_workers: threads decoding photos ahead of the model (>= 1).
        commit_every: results per write transaction (the writer also commits every ``flush_s`` s).
        work: explicit ``(id, path, content_hash)`` list (default: ``work_list``).
    Returns:
        a ``TagReport``.
    Raises:
        whatever the writer hit (e.g. ``sqlalchemy.exc.OperationalError`` for a locked database);
        ``Cancelled`` is not raised (see ``TagReport.cancelled``).
    """
    import torch

    control = control or JobControl()
    report = TagReport()
    if work is not None and not work:
        if tracker is not None:
            tracker.start_phase("tagging", 0, "nothing to tag")
        return report
    mv = recognizer.model_version
    threshold = float(recognizer.bundle.no_landmark_threshold)
    with db.read() as conn:
        if work is None:
            work = work_list(conn, mv)
        coords = dict(landmark_coords(conn))
    if tracker is not None:
        tracker.start_phase("tagging", len(work), f"tagging {len(work)} photos")
    if not work:
        return report

    def on_commit(n: int, failed: int) -> None:
        report.inferred += n - failed
        report.failed += failed
        if tracker is not None:
            with db.read() as c:
                counts = status_counts(c)
            tracker.advance(n, counts=counts)

    writer = _Writer(db, mv, threshold, coords, on_commit, commit_every, flush_s)
    writer.start()
    ahead = 2 * batch_size + decode_workers
    pool = ThreadPoolExecutor(max_workers=max(1, decode_workers), thread_name_prefix="decode")
    inflight: deque[tuple[tuple[int, str, str], Future]] = deque()
    nxt = 0

    def on_pause() -> None:
        writer.flush()
        if tracker is not None:
            tracker.set_state("paused", "paused")

    def on_resume() -> None:
        if tracker is not None:
            tracker.set_state("tagging", "tagging")

    def load(path: str):
        try:
            return recognizer.load_image(path)
        except BaseException as exc:  # noqa: BLE001 - becomes a failed photo
            return exc

    try:
        while inflight or nxt < len(work):
            try:
                control.checkpoint(on_pause, on_resume)
            except Cancelled:
                report.cancelled = True
                break
            while nxt < len(work) and len(inflight) < batch_size + ahead:
                item = work[nxt]
                inflight.append((item, pool.submit(load, item[1])))
                nxt += 1
            batch_items: list[tuple[int, str, str]] = []
            tensors = []
            for _ in range(min(batch_size, len(inflight))):
                item, fut = inflight.popleft()
                out = fut.result()
                if isinstance(out, BaseException):
                    writer.put(_Result(item[0], item[2], failure=_decode_failure(out, item[1])))
                else:
                    batch_items.append(item)
                    tensors.append(out)
            if tensors:
                preds = recognizer.predict_tensors(torch.stack(tensors))
                for item, pred in zip(batch_items, preds):
                    writer.put(_Result(item[0], item[2], prediction=pred))
    finally:
        for _, fut in inflight:
            fut.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        writer.close()
    if writer.error is not None:
        raise writer.error
    report.skipped = len(work) - report.inferred - report.failed
    return report


# ---------------------------------------------------------------------------------------------- job
class TaggingJob:
    """A scan + tag job on a background thread (``Library.start_tagging``).

    Attributes:
        progress: the latest ``Progress`` (also sent to the callbacks).
        error: the ``LibraryError`` (or other exception) that ended the job, else ``None``.
    Methods:
        pause(), resume(), cancel(): control the job (thread-safe, return at once).
        wait(timeout=None) -> Progress: block until the job ends (or ``timeout`` seconds pass).
    """

    def __init__(
        self,
        run: Callable[[ProgressTracker, JobControl], Progress],
        tracker: ProgressTracker,
        name: str = "tagging-job",
    ) -> None:
        self._tracker = tracker
        self.control = JobControl()
        self.error: BaseException | None = None
        self._final: Progress | None = None

        def main() -> None:
            try:
                self._final = run(tracker, self.control)
            except Cancelled:
                self._final = tracker.set_state("cancelled", "cancelled")
            except BaseException as exc:  # noqa: BLE001 - reported through progress and wait()
                self.error = exc
                self._final = tracker.set_state("failed", str(exc).splitlines()[0] if str(exc) else repr(exc))

        self._thread = threading.Thread(target=main, name=name, daemon=True)
        self._thread.start()

    @property
    def progress(self) -> Progress:
        """The latest ``Progress`` (the final one once the job ended)."""
        return self._final or self._tracker.current

    def pause(self) -> None:
        """Pause after the batch in flight (its results are committed); state becomes ``"paused"``."""
        self.control.pause()
        self._tracker.set_state("paused", "paused")

    def resume(self) -> None:
        """Continue a paused job."""
        if self.control.paused:
            self.control.resume()
            self._tracker.set_state("tagging", "tagging")

    def cancel(self) -> None:
        """Stop soon; committed results stay, the rest stays pending for the next run."""
        self.control.cancel()

    def is_alive(self) -> bool:
        """True while the job's thread runs."""
        return self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> Progress:
        """Block until the job ends or ``timeout`` seconds pass; returns ``progress``."""
        self._thread.join(timeout)
        return self.progress
