"""``Library``: the one facade the CLI (``cli/commands.py``) and the GUI (``desktop/``) use.

It ties together the store (``core.store``), the tagging pipeline (``core.tagging.pipeline``), the
watcher (``core.photos.watcher``), search and albums (``core.store.search``, ``core.store.albums``) and corrections
(``core.tagging.corrections``). Every failure the user must act on is a ``LibraryError`` with one line.

Threading: methods may be called from any thread. Tagging runs on a background thread
(``start_tagging``; progress callbacks come from worker threads); only one scan/tag job runs at a
time per library (later ones wait). Reads never block on the tagging writer (SQLite WAL).

Typical use::

    lib = Library.open()                      # platformdirs DB, shipped model
    lib.add_folder("~/Pictures")
    lib.tag(on_progress=print)                # or job = lib.start_tagging(cb); job.pause() ...
    for album in lib.albums(): print(album.title, album.count)
    change = lib.relabel([photo_id], landmark="Eiffel_Tower"); lib.undo(change)
"""

from __future__ import annotations

import csv
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy import exc as sa_exc

from core.domain import (
    NO_LANDMARK,
    Album,
    AlbumKind,
    AlbumRef,
    Change,
    DatabaseError,
    DatabaseLockedError,
    DatabaseReadOnlyError,
    DatabaseUnavailableError,
    ExportError,
    FolderError,
    InvalidRequestError,
    LabelSource,
    LibraryClosedError,
    LibraryError,
    LocationSource,
    ModelError,
    NewerSchemaError,
    NotALibraryError,
    NotFoundError,
    PhotoDetails,
    PhotoStatus,
    PhotoSummary,
    Progress,
    SearchQuery,
    TaggingError,
)
from core.store import open_database
from core.store.albums import DEFAULT_REVIEW_THRESHOLD, list_albums
from core.store.errors import translate_db_error
from core.store.search import SUMMARY_COLUMNS, EmbeddingIndex, page_photos, photo_filter
from core.tagging import corrections as corr
from core.tagging.pipeline import (
    JobControl,
    ScanReport,
    TaggingJob,
    _folder_resolver,
    _read_files,
    apply_file_changes,
    scan_folders,
    status_counts,
    tag_photos,
    work_list,
)
from core.tagging.progress import ProgressTracker

__all__ = [
    "Library",
    "LibraryError",
    "ModelError",
    "DatabaseError",
    "DatabaseLockedError",
    "DatabaseReadOnlyError",
    "NotALibraryError",
    "NewerSchemaError",
    "DatabaseUnavailableError",
    "FolderError",
    "NotFoundError",
    "InvalidRequestError",
    "LibraryClosedError",
    "TaggingError",
    "ExportError",
    "TaggingJob",
    "Album",
    "AlbumKind",
    "AlbumRef",
    "Change",
    "LabelSource",
    "LocationSource",
    "PhotoDetails",
    "PhotoStatus",
    "PhotoSummary",
    "Progress",
    "SearchQuery",
]

_DB_ERRORS = (sa_exc.DBAPIError, sqlite3.Error)


def _dt(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _summary(r: Any) -> PhotoSummary:
    return PhotoSummary(
        id=r.id,
        path=Path(r.path),
        status=r.status,
        label=r.label,
        label_name=r.label_name or r.label,
        confidence=r.confidence,
        label_source=r.label_source,
        taken_at=_dt(r.taken_at),
        latitude=r.latitude,
        longitude=r.longitude,
        location_source=r.location_source,
    )


class Library:
    """The photo library (see the module docstring). Create it with ``Library.open``.

    Attributes:
        db_path: the database file. model_path: the model bundle file.
        backup_path: the copy taken before a schema migration at open, else ``None``.
        review_threshold: confidence below which a model label is in "Needs review" ([0, 1]).
    """

    def __init__(
        self,
        db,
        backup_path: Path | None,
        model_path: Path,
        model_info: dict,
        device: str,
        review_threshold: float,
        threads: int | None,
        batch_size: int,
        decode_workers: int,
    ) -> None:
        self._db = db
        self.db_path: Path = db.path
        self.backup_path = backup_path
        self.model_path = model_path
        self._model_info = model_info
        self.model_version: str = str(model_info.get("model_version"))
        self._threshold = float(model_info.get("no_landmark_threshold", 0.5))
        self.device = device
        self.review_threshold = float(review_threshold)
        self.threads = threads
        self.batch_size = int(batch_size)
        self.decode_workers = int(decode_workers)
        self._rec = None
        self._rec_lock = threading.Lock()
        self._job_lock = threading.Lock()
        self._index = EmbeddingIndex()
        self._watcher = None
        self._watch_tracker: ProgressTracker | None = None
        self._watch_jobs: list[TaggingJob] = []
        self._jobs: list[TaggingJob] = []
        self._closed = False

    # ------------------------------------------------------------------------------------ opening
    @classmethod
    def open(
        cls,
        db_path: str | Path | None = None,
        model_path: str | Path | None = None,
        device: str = "auto",
        *,
        busy_timeout_s: float = 5.0,
        review_threshold: float = DEFAULT_REVIEW_THRESHOLD,
        threads: int | None = None,
        batch_size: int = 8,
        decode_workers: int | None = None,
    ) -> Library:
        """Open (or create) a library.

        Args:
            db_path: database file (``--db PATH``); ``None`` = ``core.paths.default_db_path()``
                (platformdirs user-data folder). Its folder must exist (the default one is created).
            model_path: model bundle; ``None`` = the shipped ``resources/models/landmarks-mobilenet_v2.safetensors``.
                It is checked now (SHA-256) and loaded on first use.
            device: torch device for the model: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"mps"``.
            busy_timeout_s: seconds to wait for another program's write lock before failing.
            review_threshold: model confidence below which a photo is in "Needs review".
            threads: torch CPU threads (``torch.set_num_threads``; ``None`` keeps torch's default).
            batch_size: photos per CNN forward pass (8: on CPU as fast as 16 with ~150 MB less peak memory).
            decode_workers: threads decoding photos ahead of the model (default: cores - 1, 1..4).
        Raises:
            LibraryError: bad/missing model bundle; database locked, read-only, not a database, or from a
                newer app version.
        """
        from core.paths import default_db_path, default_model_path
        from core.recognition.bundle import BundleError, read_bundle_info

        model_path = Path(model_path).expanduser() if model_path is not None else default_model_path()
        try:
            info = read_bundle_info(model_path)
        except BundleError as exc:
            raise ModelError(f"cannot use the model: {exc}") from None
        db_path = Path(db_path).expanduser() if db_path is not None else default_db_path()
        db, backup = open_database(db_path, busy_timeout_s)
        if decode_workers is None:
            decode_workers = max(1, min(4, (os.cpu_count() or 2) - 1))
        lib = cls(db, backup, model_path, info, device, review_threshold, threads, batch_size, decode_workers)
        try:
            lib._sync_landmarks()
        except BaseException:
            db.dispose()
            raise
        return lib

    def close(self) -> None:
        """Stop watching, cancel running jobs (their committed results stay), release the database."""
        if self._closed:
            return
        self.stop_watching()
        for job in list(self._jobs):
            job.cancel()
            job.wait()
        with self._job_lock:
            self._closed = True
            self._db.dispose()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------------------- DB helpers
    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self._db.read() as conn:
                yield conn
        except _DB_ERRORS as exc:
            raise translate_db_error(exc, self.db_path) from None

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        try:
            with self._db.write() as conn:
                yield conn
        except _DB_ERRORS as exc:
            raise translate_db_error(exc, self.db_path) from None

    def _sync_landmarks(self) -> None:
        """Make the ``landmarks`` table hold the model's classes (names/coordinates from the catalog
        ``resources/landmarks.json`` when it knows the key, else from the bundle). Writes only when
        something differs, so opening a library another program is tagging does not need the lock."""
        wanted: dict[str, tuple] = {}
        try:
            from core.recognition.catalog import load_catalog

            catalog = load_catalog()
        except Exception:  # noqa: BLE001 - the bundle carries its own names; the catalog only refines them
            catalog = {}
        for c in self._model_info.get("classes", []):
            e = catalog.get(c["key"])
            if e is not None:
                wanted[c["key"]] = (e.name, e.latitude, e.longitude, e.country)
            else:
                wanted[c["key"]] = (c.get("name") or c["key"], c.get("latitude"), c.get("longitude"), c.get("country"))
        with self._read() as conn:
            have = {
                r.key: (r.name, r.latitude, r.longitude, r.country, r.source)
                for r in conn.execute(text("SELECT * FROM landmarks"))
            }
        todo = {k: v for k, v in wanted.items() if have.get(k, (None,) * 5)[:4] != v or have[k][4] != "model"}
        if not todo:
            return
        now = corr.utc_now()
        with self._write() as conn:
            for key, (name, lat, lon, country) in todo.items():
                conn.execute(
                    text(
                        "INSERT INTO landmarks (key, name, latitude, longitude, country, source, created_at) "
                        "VALUES (:k, :n, :lat, :lon, :c, 'model', :now) ON CONFLICT(key) DO UPDATE SET "
                        "name = excluded.name, latitude = excluded.latitude, longitude = excluded.longitude, "
                        "country = excluded.country, source = 'model'"
                    ),
                    {"k": key, "n": name, "lat": lat, "lon": lon, "c": country, "now": now},
                )

    def recognizer(self):
        """The ``core.recognition.recognizer.Recognizer`` (loaded on first use, user gallery applied).

        Raises:
            LibraryError: the bundle cannot be loaded or the device is unavailable.
        """
        with self._rec_lock:
            if self._rec is None:
                from core.recognition.bundle import BundleError
                from core.recognition.recognizer import Recognizer

                try:
                    rec = Recognizer(
                        self.model_path, device=self.device, threads=self.threads, decode_workers=self.decode_workers
                    )
                except (BundleError, ValueError, RuntimeError) as exc:
                    raise ModelError(f"cannot load the model: {exc}") from None
                with self._read() as conn:
                    emb, labels, _ = corr.user_gallery(conn, rec.model_version)
                    names = self._user_landmark_names(conn)
                if labels:
                    rec.set_user_gallery(emb, labels, names=names)
                self._rec = rec
            return self._rec

    @staticmethod
    def _user_landmark_names(conn: Connection) -> dict[str, str]:
        return {k: n for k, n in conn.execute(text("SELECT key, name FROM landmarks WHERE source = 'user'"))}

    # ------------------------------------------------------------------------------------ folders
    def add_folder(self, path: str | Path) -> None:
        """Add a folder (recursively) to the library; it is scanned by the next ``tag``/``start_tagging``.

        Raises:
            LibraryError: the folder does not exist / is not a folder; database errors.
        """
        p = Path(os.path.abspath(os.path.expanduser(os.fspath(path))))
        if not p.is_dir():
            raise FolderError(f"folder not found: {p}" if not p.exists() else f"not a folder: {p}")
        with self._write() as conn:
            conn.execute(
                text("INSERT INTO folders (path, added_at) VALUES (:p, :now) ON CONFLICT(path) DO NOTHING"),
                {"p": str(p), "now": corr.utc_now()},
            )
        if self._watcher is not None:
            self._watcher.add_folder(p)

    def remove_folder(self, path: str | Path) -> None:
        """Remove a folder and its photos from the library (the files are not touched; corrections,
        keyed by content, are kept and apply again if the photos come back).

        Raises:
            LibraryError: the folder is not in the library.
        """
        p = str(Path(os.path.abspath(os.path.expanduser(os.fspath(path)))))
        with self._write() as conn:
            fid = conn.execute(text("SELECT id FROM folders WHERE path = :p"), {"p": p}).scalar()
            if fid is None:
                raise FolderError(f"{p} is not a library folder")
            conn.execute(text("DELETE FROM photos WHERE folder_id = :f"), {"f": fid})
            conn.execute(text("DELETE FROM folders WHERE id = :f"), {"f": fid})
        self._index.invalidate()
        if self._watcher is not None:
            try:
                self._watcher.remove_folder(p)
            except Exception:  # noqa: BLE001 - already gone from the watcher
                pass

    def folders(self) -> list[Path]:
        """The library folders, sorted."""
        with self._read() as conn:
            return [Path(r[0]) for r in conn.execute(text("SELECT path FROM folders ORDER BY path"))]

    # ------------------------------------------------------------------------------------ tagging
    def _job(self, tracker: ProgressTracker, control: JobControl, *, scan: bool = True) -> Progress:
        with self._job_lock:
            if self._closed:
                raise LibraryClosedError("the library is closed")
            try:
                report = ScanReport()
                if scan:
                    report = scan_folders(self._db, tracker, control, workers=2)
                    self._index.invalidate()
                control.checkpoint()
                with self._db.read() as conn:
                    work = work_list(conn, self.model_version)
                # The model is loaded only when there is something to tag (a GPS-only or unchanged
                # library never pays for it).
                rec = self.recognizer() if work else None
                tag = tag_photos(
                    self._db,
                    rec,
                    tracker,
                    control,
                    batch_size=self.batch_size,
                    decode_workers=self.decode_workers,
                    work=work,
                )
                self._index.invalidate()
                with self._db.read() as conn:
                    counts = status_counts(conn)
            except _DB_ERRORS as exc:
                raise translate_db_error(exc, self.db_path) from None
            parts = [f"{tag.inferred} tagged", f"{tag.failed} failed"]
            if scan:
                parts = [f"{report.added} new", f"{report.moved} moved", f"{report.deleted} removed"] + parts
            errors = [f"{Path(p).name}: {why}" for p, why in report.errors if "vanished" not in why]
            if errors:
                parts.append(f"{len(errors)} unreadable ({errors[0]}{' …' if len(errors) > 1 else ''})")
            if self._watcher is not None and self._watcher.fallback_reason:
                parts.append(f"watching by polling: {self._watcher.fallback_reason}")
            state = "cancelled" if tag.cancelled else "done"
            return tracker.set_state(state, ", ".join(parts), counts)

    def start_tagging(self, on_progress: Callable[[Progress], None] | None = None) -> TaggingJob:
        """Scan all folders and tag what needs it, on a background thread.

        Args:
            on_progress: called with each ``Progress`` (from worker threads).
        Returns:
            the running ``TaggingJob`` (``pause``/``resume``/``cancel``/``wait``). Errors end the job with
            state ``"failed"``; ``job.error`` holds the ``LibraryError``.
        """
        tracker = ProgressTracker([on_progress] if on_progress else None)
        job = TaggingJob(lambda t, c: self._job(t, c), tracker)
        self._jobs = [j for j in self._jobs if j.is_alive()] + [job]
        return job

    def tag(self, on_progress: Callable[[Progress], None] | None = None) -> Progress:
        """Blocking scan + tag of all folders.

        Returns:
            the final ``Progress`` (state ``"done"``, ``counts`` per status).
        Raises:
            LibraryError: locked/read-only database, model cannot be loaded, …
        """
        job = self.start_tagging(on_progress)
        prog = job.wait()
        if job.error is not None:
            if isinstance(job.error, LibraryError):
                raise job.error
            raise TaggingError(f"tagging failed: {job.error.__class__.__name__}: {job.error}") from job.error
        return prog

    # ----------------------------------------------------------------------------------- watching
    def start_watching(
        self,
        on_progress: Callable[[Progress], None] | None = None,
        on_change: Callable[[Any], None] | None = None,
        **watcher_options: Any,
    ) -> None:
        """Watch the library folders: changes are applied and tagged as they settle.

        First starts a ``core.photos.watcher.FolderWatcher`` on every folder, then a reconciliation scan + tag
        in the background (changes made while the app was closed). If the watcher falls back to
        polling, ``fallback_reason`` appears in the progress message and in ``stats()``.

        Args:
            on_progress: progress of the reconciliation and of each batch's tagging (worker threads).
            on_change: called with each applied ``core.photos.watcher.ChangeBatch`` after its photos were tagged.
            watcher_options: passed to ``FolderWatcher`` (``settle_seconds``, ``batch_window_seconds``,
                ``poll_interval_seconds``, ``force_polling``).
        Raises:
            LibraryError: a folder is missing.
        """
        from core.photos.watcher import FolderWatcher

        if self._watcher is not None:
            return
        tracker = ProgressTracker([on_progress] if on_progress else None)
        self._watch_tracker = tracker

        def on_batch(batch) -> None:
            control = JobControl()
            try:
                self._apply_change_batch(batch)
                self._job(tracker, control, scan=False)
            except Exception as exc:  # noqa: BLE001 - the watcher must go on
                tracker.set_state("failed", str(exc))
                return
            if on_change is not None:
                on_change(batch)

        try:
            watcher = FolderWatcher(self.folders(), on_batch, **watcher_options)
            watcher.start()
        except OSError as exc:
            raise FolderError(f"cannot watch the folders: {exc}") from None
        self._watcher = watcher
        if watcher.fallback_reason:
            tracker.set_message(f"watching by polling: {watcher.fallback_reason}")
        job = TaggingJob(lambda t, c: self._job(t, c), tracker, name="reconcile")
        self._watch_jobs.append(job)

    def stop_watching(self) -> None:
        """Stop the watcher (a reconciliation job still running is cancelled)."""
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()
        for job in self._watch_jobs:
            job.cancel()
            job.wait()
        self._watch_jobs.clear()

    @property
    def watching(self) -> bool:
        """True while ``start_watching`` is in effect."""
        return self._watcher is not None

    def _apply_change_batch(self, batch) -> None:
        """Apply a watcher ``ChangeBatch`` to the store: moves, deletions (paths and everything below),
        then new/modified files (hash + EXIF)."""
        from core.tagging.pipeline import FileRecord  # noqa: F401 - documented type of the records

        with self._read() as conn:
            folders = [(r.id, r.path) for r in conn.execute(text("SELECT id, path FROM folders"))]
        resolve = _folder_resolver(folders)
        upserts = [str(p) for p in batch.upserted]
        with self._write() as conn:
            for src, dst in batch.moved:
                src, dst = str(src), str(dst)
                fid = resolve(dst)
                row = conn.execute(text("SELECT id FROM photos WHERE path = :p"), {"p": src}).first()
                if row is None or fid is None:
                    if fid is not None:
                        upserts.append(dst)
                    if row is not None:
                        conn.execute(text("DELETE FROM photos WHERE id = :id"), {"id": row.id})
                    continue
                conn.execute(text("DELETE FROM photos WHERE path = :p AND id != :id"), {"p": dst, "id": row.id})
                conn.execute(
                    text("UPDATE photos SET path = :p, folder_id = :f WHERE id = :id"),
                    {"p": dst, "f": fid, "id": row.id},
                )
                upserts.append(dst)  # same (size, mtime) → only a cheap check; changed → re-read
            for p in batch.deleted:
                p = str(p)
                lo = p.rstrip(os.sep) + os.sep
                conn.execute(
                    text("DELETE FROM photos WHERE path = :p OR (path >= :lo AND path < :hi)"),
                    {"p": p, "lo": lo, "hi": lo[:-1] + chr(ord(os.sep) + 1)},
                )
        # Skip files whose (size, mtime) the store already has (e.g. the moved ones).
        with self._read() as conn:
            todo = []
            for p in dict.fromkeys(upserts):
                row = conn.execute(text("SELECT size, mtime_ns FROM photos WHERE path = :p"), {"p": p}).first()
                try:
                    st = os.stat(p)
                except OSError:
                    continue
                if row is None or (row.size, row.mtime_ns) != (st.st_size, st.st_mtime_ns):
                    todo.append(p)
        records, _errors = _read_files(todo, 2, None)
        report = ScanReport()
        with self._write() as conn:
            apply_file_changes(conn, resolve, records, [], report)
        self._index.invalidate()

    # ----------------------------------------------------------------------------------- browsing
    def albums(self) -> list[Album]:
        """Landmark albums (count + cover photo), then Unrecognized, Has GPS, Needs review, Failed
        (and "Not tagged yet" while photos are pending)."""
        with self._read() as conn:
            return list_albums(conn, self.review_threshold)

    def photos(
        self, album: AlbumRef | None = None, query: SearchQuery | None = None, limit: int | None = None, offset: int = 0
    ) -> list[PhotoSummary]:
        """Photos of an album and/or matching a query, by id (the order photos were found).

        Args:
            album: ``None`` = all photos. query: filters (``SearchQuery``). limit/offset: paging.
        Raises:
            LibraryError: an invalid filter value.
        """
        with self._read() as conn:
            where, params = photo_filter(conn, album, query, self.review_threshold)
            if limit is None and offset:
                limit = -1  # SQLite: no limit
            return [_summary(r) for r in page_photos(conn, where, params, limit, offset)]

    def count(self, album: AlbumRef | None = None, query: SearchQuery | None = None) -> int:
        """Number of photos ``photos(album, query)`` would return without a limit."""
        with self._read() as conn:
            where, params = photo_filter(conn, album, query, self.review_threshold)
            if where == "1":  # every photo: the trigger-kept counters (revision 0003)
                return int(conn.execute(text("SELECT COALESCE(SUM(n), 0) FROM status_counts")).scalar())
            return int(conn.execute(text(f"SELECT COUNT(*) FROM photos p WHERE {where}"), params).scalar())

    def photo(self, photo_id: int) -> PhotoDetails:
        """Everything about one photo.

        Raises:
            LibraryError: no photo with that id.
        """
        with self._read() as conn:
            r = conn.execute(
                text(
                    f"SELECT {SUMMARY_COLUMNS}, p.content_hash, p.size, p.mtime_ns, f.path AS folder, p.failure_reason, "
                    f"p.gps_altitude, p.camera_make, p.camera_model, p.model_version, "
                    f"EXISTS(SELECT 1 FROM embeddings e WHERE e.photo_id = p.id) AS has_emb "
                    f"FROM photos p LEFT JOIN landmarks l ON l.key = p.label JOIN folders f ON f.id = p.folder_id "
                    f"WHERE p.id = :id"
                ),
                {"id": int(photo_id)},
            ).first()
            if r is None:
                raise NotFoundError(f"no photo with id {photo_id}")
            names = dict(conn.execute(text("SELECT key, name FROM landmarks")).all())
            top = tuple(
                (k, names.get(k, "No landmark" if k == NO_LANDMARK else k), float(c))
                for k, c in conn.execute(
                    text("SELECT label, confidence FROM predictions WHERE photo_id = :id ORDER BY rank"), {"id": r.id}
                )
            )
            state = corr.load_corrections(conn, [r.content_hash]).get(r.content_hash)
            s = _summary(r)
            return PhotoDetails(
                **s.__dict__,
                content_hash=r.content_hash,
                size=r.size,
                mtime_ns=r.mtime_ns,
                folder=Path(r.folder),
                failure_reason=r.failure_reason,
                altitude=r.gps_altitude,
                camera_make=r.camera_make,
                camera_model=r.camera_model,
                top_k=top,
                model_version=r.model_version,
                rejected=tuple(sorted(state.rejected)) if state else (),
                has_embedding=bool(r.has_emb),
            )

    def photo_id(self, path: str | Path) -> int | None:
        """Id of the photo stored at ``path`` (made absolute), or ``None``; one lookup on the
        unique ``photos.path`` index, so it stays fast in a 100 000-photo folder."""
        with self._read() as conn:
            r = conn.execute(
                text("SELECT id FROM photos WHERE path = :p"), {"p": str(Path(os.path.abspath(os.fspath(path))))}
            ).first()
            return None if r is None else int(r.id)

    def landmark_names(self) -> list[tuple[str, str]]:
        """``(key, display name)`` of every landmark (model and user-created), by name (for completion)."""
        with self._read() as conn:
            return [
                (k, n) for k, n in conn.execute(text("SELECT key, name FROM landmarks ORDER BY name COLLATE NOCASE"))
            ]

    def _summaries(self, conn: Connection, ids: list[int]) -> dict[int, PhotoSummary]:
        out: dict[int, PhotoSummary] = {}
        for start in range(0, len(ids), 500):
            chunk = ",".join(str(int(i)) for i in ids[start : start + 500])
            for r in conn.execute(
                text(
                    f"SELECT {SUMMARY_COLUMNS} FROM photos p LEFT JOIN landmarks l "
                    f"ON l.key = p.label WHERE p.id IN ({chunk})"
                )
            ):
                out[r.id] = _summary(r)
        return out

    def similar(self, photo_id: int, limit: int = 20) -> list[tuple[PhotoSummary, float]]:
        """Photos most similar to ``photo_id`` by embedding cosine similarity (descending, in [-1, 1]).

        Raises:
            LibraryError: unknown photo, or it has no embedding from the current model (GPS, failed, pending).
        """
        with self._read() as conn:
            if conn.execute(text("SELECT 1 FROM photos WHERE id = :id"), {"id": int(photo_id)}).first() is None:
                raise NotFoundError(f"no photo with id {photo_id}")
            hits = self._index.similar(conn, self.model_version, int(photo_id), limit)
            summaries = self._summaries(conn, [i for i, _ in hits])
        return [(summaries[i], s) for i, s in hits if i in summaries]

    # -------------------------------------------------------------------------------- corrections
    def relabel(
        self,
        photo_ids: Iterable[int],
        *,
        landmark: str | None = None,
        new_name: str | None = None,
        not_landmark: bool = False,
        reject: bool = False,
    ) -> Change:
        """Correct photos; exactly one of the options.

        Args:
            photo_ids: photos to correct.
            landmark: set this landmark (a key, or a display name that matches one exactly, any case);
                with ``reject=True``: the label to reject.
            new_name: create a new landmark with this display name and set it (an existing landmark with
                exactly that name is reused).
            not_landmark: mark as showing no landmark.
            reject: reject the model's label (each photo's current one, or ``landmark``); re-tagging never
                gives it back.
        Returns:
            the ``Change`` (for ``undo`` and ``suggestions``). Other photos are re-scored at once from their
            stored embeddings with the corrected photos as the user gallery.
        Raises:
            LibraryError: no/unknown photo ids, unknown landmark, not exactly one option, nothing to reject.
        """
        ids = [int(i) for i in dict.fromkeys(photo_ids)]
        if not ids:
            raise InvalidRequestError("no photos selected")
        chosen = sum([landmark is not None and not reject, bool(new_name), bool(not_landmark), bool(reject)])
        if chosen != 1:
            raise InvalidRequestError("choose exactly one of: a landmark, a new landmark name, not a landmark, reject")
        rec = self.recognizer()
        now = corr.utc_now()
        with self._write() as conn:
            rows = conn.execute(
                text("SELECT id, content_hash, label FROM photos WHERE id IN ({})".format(",".join(map(str, ids))))
            ).all()
            missing = set(ids) - {r.id for r in rows}
            if missing:
                raise NotFoundError(f"no photo with id {min(missing)}")
            created = None
            if reject:
                kind = "reject"
                key = self._landmark_key(conn, landmark) if landmark is not None else None
                targets = [(r.content_hash, key or r.label) for r in rows]
                if any(t is None for _, t in targets):
                    raise InvalidRequestError("nothing to reject: a photo has no landmark label")
                labels = {t for _, t in targets}
                key = next(iter(labels)) if len(labels) == 1 else None
                corr_rows = [(h, corr.KIND_REJECT, t) for h, t in targets]
            elif not_landmark:
                kind, key = "not_landmark", None
                corr_rows = [(r.content_hash, corr.KIND_NOT_LANDMARK, None) for r in rows]
            elif new_name:
                name = " ".join(new_name.split())
                existing = conn.execute(
                    text("SELECT key FROM landmarks WHERE lower(name) = lower(:n)"), {"n": name}
                ).scalar()
                if existing is not None:
                    kind, key = "set_landmark", existing
                else:
                    try:
                        key = corr.new_landmark_key(
                            name, [k for (k,) in conn.execute(text("SELECT key FROM landmarks"))]
                        )
                    except ValueError as exc:
                        raise InvalidRequestError(str(exc)) from None
                    conn.execute(
                        text("INSERT INTO landmarks (key, name, source, created_at) VALUES (:k, :n, 'user', :now)"),
                        {"k": key, "n": name, "now": now},
                    )
                    kind, created = "new_landmark", key
                corr_rows = [(r.content_hash, corr.KIND_LABEL, key) for r in rows]
            else:
                kind, key = "set_landmark", self._landmark_key(conn, landmark)
                corr_rows = [(r.content_hash, corr.KIND_LABEL, key) for r in rows]
            lname = (
                conn.execute(text("SELECT name FROM landmarks WHERE key = :k"), {"k": key}).scalar() if key else None
            )
            n = len(ids)
            what = {"reject": f"rejected {lname or 'the model labels'}", "not_landmark": "not a landmark"}.get(
                kind, f"→ {lname}"
            )
            desc = f"{n} photo{'s' if n != 1 else ''} {what}"
            change_id = conn.execute(
                text(
                    "INSERT INTO changes (kind, landmark, photo_ids, description, created_landmark, suggested, created_at) "
                    "VALUES (:k, :l, :ids, :d, :c, '[]', :now)"
                ),
                {"k": kind, "l": key, "ids": corr.dumps_ids(ids), "d": desc, "c": created, "now": now},
            ).lastrowid
            conn.execute(
                text(
                    "INSERT INTO corrections (content_hash, kind, label, created_at, change_id) "
                    "VALUES (:h, :k, :l, :now, :c)"
                ),
                [{"h": h, "k": k, "l": lab, "now": now, "c": change_id} for h, k, lab in corr_rows],
            )
            suggested = self._after_corrections(
                conn, rec, [h for h, _, _ in corr_rows], ids, key if kind != "reject" else None, kind
            )
            conn.execute(
                text("UPDATE changes SET suggested = :s WHERE id = :id"),
                {"s": corr.dumps_ids(suggested), "id": change_id},
            )
        return Change(
            id=change_id,
            kind=kind,
            photo_ids=tuple(ids),
            landmark=key,
            created_at=_dt(now),
            description=desc,
            rescored=len(suggested),
        )

    def _landmark_key(self, conn: Connection, landmark: str) -> str:
        if conn.execute(text("SELECT 1 FROM landmarks WHERE key = :k"), {"k": landmark}).first():
            return landmark
        key = conn.execute(
            text("SELECT key FROM landmarks WHERE lower(name) = lower(:n)"), {"n": " ".join(landmark.split())}
        ).scalar()
        if key is None:
            raise NotFoundError(f"unknown landmark {landmark!r} (use new_name= to create it)")
        return key

    def _after_corrections(
        self, conn: Connection, rec, hashes: list[str], ids: list[int], key: str | None, kind: str
    ) -> list[int]:
        """Refresh the corrected photos (and their duplicates), re-score the rest; return the photos
        whose model label moved to ``key`` (or to "no landmark" for not_landmark)."""
        coords = dict(corr.landmark_coords(conn))
        dup = [
            r[0]
            for h in dict.fromkeys(hashes)
            for r in conn.execute(text("SELECT id FROM photos WHERE content_hash = :h"), {"h": h})
        ]
        corr.refresh_effective_labels(conn, dup, self._threshold, coords)
        changed = corr.rescore_model_labels(
            conn, rec, self._index, self._threshold, coords, self._user_landmark_names(conn)
        )
        exclude = set(ids) | set(dup)
        if kind == "not_landmark":
            return [pid for pid, lab in changed if lab is None and pid not in exclude]
        if kind == "reject" or key is None:
            return []
        return [pid for pid, lab in changed if lab == key and pid not in exclude]

    def _change_from_row(self, r: Any) -> Change:
        return Change(
            id=r.id,
            kind=r.kind,
            photo_ids=corr.loads_ids(r.photo_ids),
            landmark=r.landmark,
            created_at=_dt(r.created_at),
            description=r.description,
            rescored=len(corr.loads_ids(r.suggested)),
        )

    def last_change(self) -> Change | None:
        """The newest change not undone yet, or ``None``."""
        with self._read() as conn:
            r = conn.execute(text("SELECT * FROM changes WHERE undone = 0 ORDER BY id DESC LIMIT 1")).first()
            return self._change_from_row(r) if r is not None else None

    def undo(self, change: Change | None = None) -> Change | None:
        """Undo a change (default: the last one not undone yet).

        Its corrections are removed, the affected photos go back to the model's (or earlier manual)
        label, a landmark it created is deleted when nothing uses it any more, and other photos are
        re-scored without it.
        Returns:
            the undone ``Change``, or ``None`` when there was nothing to undo.
        Raises:
            LibraryError: the change does not exist or was already undone.
        """
        rec = self.recognizer()
        with self._write() as conn:
            if change is None:
                r = conn.execute(text("SELECT * FROM changes WHERE undone = 0 ORDER BY id DESC LIMIT 1")).first()
                if r is None:
                    return None
            else:
                r = conn.execute(text("SELECT * FROM changes WHERE id = :id"), {"id": int(change.id)}).first()
                if r is None:
                    raise NotFoundError(f"no change with id {change.id}")
                if r.undone:
                    raise InvalidRequestError(f"that change was already undone ({r.description})")
            hashes = [
                h
                for (h,) in conn.execute(
                    text("SELECT DISTINCT content_hash FROM corrections WHERE change_id = :c"), {"c": r.id}
                )
            ]
            conn.execute(text("DELETE FROM corrections WHERE change_id = :c"), {"c": r.id})
            conn.execute(text("UPDATE changes SET undone = 1 WHERE id = :c"), {"c": r.id})
            self._after_corrections(conn, rec, hashes, list(corr.loads_ids(r.photo_ids)), None, r.kind)
            if r.created_landmark:
                used = conn.execute(
                    text(
                        "SELECT 1 FROM photos WHERE label = :k UNION ALL "
                        "SELECT 1 FROM corrections WHERE label = :k LIMIT 1"
                    ),
                    {"k": r.created_landmark},
                ).first()
                if used is None:
                    conn.execute(
                        text("DELETE FROM landmarks WHERE key = :k AND source = 'user'"), {"k": r.created_landmark}
                    )
            return self._change_from_row(r)

    def suggestions(self, change: Change) -> list[PhotoSummary]:
        """Other photos that took the change's label when it re-scored the library (still holding it).

        For a not-a-landmark change: photos that the change moved to "no landmark".
        """
        with self._read() as conn:
            r = conn.execute(text("SELECT * FROM changes WHERE id = :id"), {"id": int(change.id)}).first()
            if r is None:
                raise NotFoundError(f"no change with id {change.id}")
            ids = list(corr.loads_ids(r.suggested))
            summaries = self._summaries(conn, ids)
        out = []
        for i in ids:
            s = summaries.get(i)
            if s is None or s.label_source == LabelSource.MANUAL:
                continue
            if (r.kind == "not_landmark" and s.status == PhotoStatus.NO_LANDMARK) or (
                r.landmark and s.label == r.landmark
            ):
                out.append(s)
        return out

    def export_corrections(self, csv_path: str | Path) -> int:
        """Write the manually labelled photos as a ``path,label`` CSV that ``landmark-train`` reads.

        One row per photo in the library whose content has a manual landmark label (absolute path,
        landmark key). "Not a landmark" corrections are not exported (training has no such class).
        Returns:
            the number of rows written.
        Raises:
            LibraryError: the file cannot be written.
        """
        with self._read() as conn:
            rows = conn.execute(
                text("SELECT path, label FROM photos WHERE label_source = 'manual' AND label IS NOT NULL ORDER BY path")
            ).all()
        csv_path = Path(csv_path).expanduser()
        try:
            tmp = csv_path.with_name(csv_path.name + ".tmp")
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                w.writerow(["path", "label"])
                for path, label in rows:
                    w.writerow([path, label])
            tmp.replace(csv_path)
        except OSError as exc:
            raise ExportError(f"cannot write {csv_path}: {exc.strerror or exc}") from None
        return len(rows)

    # -------------------------------------------------------------------------------------- info
    def stats(self) -> dict:
        """Numbers for a status line / ``landmark-tagger stats``.

        Keys: ``photos`` (total), ``by_status`` ({status: n}), ``folders``, ``landmarks`` (with photos),
        ``user_landmarks``, ``corrections``, ``manual_labels``, ``embeddings``, ``needs_review``,
        ``model_version``, ``db_path``, ``backup_path``, ``watching`` (bool), ``watch_mode``
        (``"events"``/``"polling"``/None), ``fallback_reason``.
        """
        with self._read() as conn:
            counts = status_counts(conn)
            one = lambda sql, **kw: conn.execute(text(sql), kw).scalar()  # noqa: E731
            out = {
                "photos": sum(counts.values()),
                "by_status": counts,
                "folders": one("SELECT COUNT(*) FROM folders"),
                "landmarks": one("SELECT COUNT(DISTINCT label) FROM photos WHERE label IS NOT NULL"),
                "user_landmarks": one("SELECT COUNT(*) FROM landmarks WHERE source = 'user'"),
                "corrections": one("SELECT COUNT(*) FROM corrections"),
                "manual_labels": one("SELECT COUNT(*) FROM photos WHERE label_source = 'manual'"),
                "embeddings": one("SELECT COUNT(*) FROM embeddings"),
                "needs_review": one(
                    "SELECT COUNT(*) FROM photos WHERE status = 'tagged' AND label_source = 'model' "
                    "AND confidence < :t",
                    t=self.review_threshold,
                ),
            }
        w = self._watcher
        out.update(
            model_version=self.model_version,
            db_path=str(self.db_path),
            backup_path=str(self.backup_path) if self.backup_path else None,
            watching=w is not None,
            watch_mode=getattr(w, "mode", None),
            fallback_reason=getattr(w, "fallback_reason", None),
        )
        return out

    def model_card(self) -> dict:
        """The model bundle's metadata: ``model_version``, ``backbone``, ``input_size``, ``classes``
        (list of dicts), ``temperature``, ``no_landmark_threshold``, ``training`` (metrics), plus
        ``path`` and ``card_path`` (``MODEL_CARD.md`` beside the bundle, or None)."""
        info = dict(self._model_info)
        card = self.model_path.parent / "MODEL_CARD.md"
        info.update(path=str(self.model_path), card_path=str(card) if card.is_file() else None)
        return info
