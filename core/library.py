"""``Library``: the one facade the CLI (``cli/commands.py``) and the GUI (``desktop/``) use.

It opens the store (``core.store``) and the model, and delegates: scanning and tagging to
``core.tagging.scan`` / ``core.tagging.tag`` (jobs: ``core.tagging.jobs``), corrections to
``core.tagging.relabel``, reads to the ``core.store`` modules (``photos``, ``search``, ``albums``,
``similarity``, ``landmarks``, ``stats``); the watcher is ``core.photos.watcher``. It holds no SQL. Database
failures are translated here (``core.store.errors``): every failure the user must act on is a
``LibraryError`` with one line.

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
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.domain import (
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
from core.store import folders as store_folders
from core.store import landmarks as store_landmarks
from core.store import open_database
from core.store import photos as store_photos
from core.store.albums import DEFAULT_REVIEW_THRESHOLD, list_albums
from core.store.corrections import last_change, user_gallery
from core.store.engine import Connection, Database
from core.store.errors import DB_ERRORS, translate_db_error
from core.store.search import count_photos, page_photos, photo_filter
from core.store.similarity import EmbeddingIndex
from core.store.stats import library_counts
from core.store.timestamps import utc_now
from core.tagging import relabel as tagging_relabel
from core.tagging.jobs import JobControl, TaggingJob
from core.tagging.progress import ProgressTracker
from core.tagging.scan import ScanReport, apply_change_batch, scan_folders
from core.tagging.tag import tag_photos

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


class Library:
    """The photo library (see the module docstring). Create it with ``Library.open``.

    Attributes:
        db_path: the database file. model_path: the model bundle file.
        backup_path: the copy taken before a schema migration at open, else ``None``.
        review_threshold: confidence below which a model label is in "Needs review" ([0, 1]).
    """

    def __init__(
        self,
        db: Database,
        backup_path: Path | None,
        model_path: Path,
        model_info: dict,
        device: str,
        review_threshold: float,
        threads: int | None,
        batch_size: int,
        decode_workers: int,
        verify: bool = True,
        features_info: dict | None = None,
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
        self.verify = bool(verify)
        self._features_info = features_info
        self._rec: Any = None
        self._rec_lock = threading.Lock()
        self._job_lock = threading.Lock()
        self._index = EmbeddingIndex()
        self._watcher: Any = None  # core.photos.watcher.FolderWatcher while watching
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
        verify: bool = True,
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
            verify: geometric verification of uncertain photos when the bundle has a features file beside it
                (``core.recognition.features_file``); a bundle without one runs without verification.
        Raises:
            LibraryError: bad/missing model bundle, or a tampered features file / one built for another model; database locked, read-only, not a database, or from a
                newer app version.
        """
        from core.paths import default_db_path, default_model_path
        from core.recognition.bundle import BundleError, read_bundle_info

        model_path = Path(model_path).expanduser() if model_path is not None else default_model_path()
        from core.recognition.features_file import features_path_for, read_features_info

        try:
            info = read_bundle_info(model_path)
            features_path = features_path_for(model_path)
            features_info = read_features_info(features_path) if features_path.exists() else None
        except BundleError as exc:
            raise ModelError(f"cannot use the model: {exc}") from None
        if features_info is not None and features_info.get("model_version") != info.get("model_version"):
            raise ModelError(
                f"cannot use the model: {features_path.name} was built for model {features_info.get('model_version')}, "
                f"not for this bundle's model {info.get('model_version')}"
            )
        db_path = Path(db_path).expanduser() if db_path is not None else default_db_path()
        db, backup = open_database(db_path, busy_timeout_s)
        if decode_workers is None:
            decode_workers = max(1, min(4, (os.cpu_count() or 2) - 1))
        lib = cls(
            db,
            backup,
            model_path,
            info,
            device,
            review_threshold,
            threads,
            batch_size,
            decode_workers,
            verify=verify,
            features_info=features_info,
        )
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

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------- DB helpers
    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self._db.read() as conn:
                yield conn
        except DB_ERRORS as exc:
            raise translate_db_error(exc, self.db_path) from None

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        try:
            with self._db.write() as conn:
                yield conn
        except DB_ERRORS as exc:
            raise translate_db_error(exc, self.db_path) from None

    def _sync_landmarks(self) -> None:
        """Make the ``landmarks`` table hold the model's classes (names/coordinates from the catalog
        ``resources/landmarks.json`` when it knows the key, else from the bundle). Writes only when
        something differs, so opening a library another program is tagging does not need the lock."""
        wanted: dict[str, store_landmarks.LandmarkRow] = {}
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
            todo = store_landmarks.model_landmarks_to_sync(conn, wanted)
        if not todo:
            return
        with self._write() as conn:
            store_landmarks.upsert_model_landmarks(conn, todo, utc_now())

    def recognizer(self) -> Any:
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
                        self.model_path,
                        device=self.device,
                        threads=self.threads,
                        decode_workers=self.decode_workers,
                        verify=self.verify,
                    )
                except (BundleError, ValueError, RuntimeError) as exc:
                    raise ModelError(f"cannot load the model: {exc}") from None
                with self._read() as conn:
                    emb, labels, _ = user_gallery(conn, rec.model_version)
                    names = store_landmarks.user_landmark_names(conn)
                if labels:
                    rec.set_user_gallery(emb, labels, names=names)
                self._rec = rec
            return self._rec

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
            store_folders.add_folder(conn, str(p), utc_now())
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
            fid = store_folders.folder_id(conn, p)
            if fid is None:
                raise FolderError(f"{p} is not a library folder")
            store_folders.remove_folder(conn, fid)
        self._index.invalidate()
        if self._watcher is not None:
            try:
                self._watcher.remove_folder(p)
            except Exception:  # noqa: BLE001 - already gone from the watcher
                pass

    def folders(self) -> list[Path]:
        """The library folders, sorted."""
        with self._read() as conn:
            return [Path(path) for _, path in store_folders.list_folders(conn)]

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
                    work = store_photos.work_list(conn, self.model_version)
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
                    counts = store_photos.status_counts(conn)
            except DB_ERRORS as exc:
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

        def on_batch(batch: Any) -> None:
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

    def _apply_change_batch(self, batch: Any) -> None:
        """Apply a watcher ``ChangeBatch`` to the store (``core.tagging.scan.apply_change_batch``)."""
        try:
            apply_change_batch(self._db, batch)
        except DB_ERRORS as exc:
            raise translate_db_error(exc, self.db_path) from None
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
            return page_photos(conn, where, params, limit, offset)

    def count(self, album: AlbumRef | None = None, query: SearchQuery | None = None) -> int:
        """Number of photos ``photos(album, query)`` would return without a limit."""
        with self._read() as conn:
            where, params = photo_filter(conn, album, query, self.review_threshold)
            return count_photos(conn, where, params)

    def photo(self, photo_id: int) -> PhotoDetails:
        """Everything about one photo.

        Raises:
            LibraryError: no photo with that id.
        """
        with self._read() as conn:
            details = store_photos.photo_details(conn, int(photo_id))
        if details is None:
            raise NotFoundError(f"no photo with id {photo_id}")
        return details

    def photo_id(self, path: str | Path) -> int | None:
        """Id of the photo stored at ``path`` (made absolute), or ``None``; one lookup on the
        unique ``photos.path`` index, so it stays fast in a 100 000-photo folder."""
        with self._read() as conn:
            return store_photos.photo_id_at(conn, str(Path(os.path.abspath(os.fspath(path)))))

    def landmark_names(self) -> list[tuple[str, str]]:
        """``(key, display name)`` of every landmark (model and user-created), by name (for completion)."""
        with self._read() as conn:
            return store_landmarks.landmark_names(conn)

    def similar(self, photo_id: int, limit: int = 20) -> list[tuple[PhotoSummary, float]]:
        """Photos most similar to ``photo_id`` by embedding cosine similarity (descending, in [-1, 1]).

        Raises:
            LibraryError: unknown photo, or it has no embedding from the current model (GPS, failed, pending).
        """
        with self._read() as conn:
            if not store_photos.photo_exists(conn, int(photo_id)):
                raise NotFoundError(f"no photo with id {photo_id}")
            hits = self._index.similar(conn, self.model_version, int(photo_id), limit)
            summaries = store_photos.photo_summaries(conn, [i for i, _ in hits])
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
        with self._write() as conn:
            return tagging_relabel.correct(
                conn,
                rec,
                self._index,
                self._threshold,
                ids,
                landmark=landmark,
                new_name=new_name,
                not_landmark=not_landmark,
                reject=reject,
            )

    def last_change(self) -> Change | None:
        """The newest change not undone yet, or ``None``."""
        with self._read() as conn:
            rec = last_change(conn)
        return rec.to_change() if rec is not None else None

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
            return tagging_relabel.undo(
                conn, rec, self._index, self._threshold, int(change.id) if change is not None else None
            )

    def suggestions(self, change: Change) -> list[PhotoSummary]:
        """Other photos that took the change's label when it re-scored the library (still holding it).

        For a not-a-landmark change: photos that the change moved to "no landmark".
        """
        with self._read() as conn:
            return tagging_relabel.suggestions(conn, int(change.id))

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
            rows = store_photos.manual_labels(conn)
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
    def stats(self) -> dict[str, Any]:
        """Numbers for a status line / ``landmark-tagger stats``.

        Keys: ``photos`` (total), ``by_status`` ({status: n}), ``folders``, ``landmarks`` (with photos),
        ``user_landmarks``, ``corrections``, ``manual_labels``, ``embeddings``, ``needs_review``,
        ``model_version``, ``db_path``, ``backup_path``, ``watching`` (bool), ``watch_mode``
        (``"events"``/``"polling"``/None), ``fallback_reason``.
        """
        with self._read() as conn:
            out: dict[str, Any] = library_counts(conn, self.review_threshold)
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
        ``path`` and ``card_path`` (``MODEL_CARD.md`` beside the bundle, or None), ``verification`` (one line:
        ``"on (…)"``, ``"off (turned off in the settings)"`` or ``"unavailable: no verification features"``) and
        ``verification_features`` (the features file's document without its class list, or None)."""
        info = dict(self._model_info)
        card = self.model_path.parent / "MODEL_CARD.md"
        info.update(path=str(self.model_path), card_path=str(card) if card.is_file() else None)
        f = self._features_info
        if f is None:
            info["verification"] = "unavailable: no verification features"
        elif not self.verify:
            info["verification"] = "off (turned off in the settings)"
        else:
            info["verification"] = f"on ({f.get('photos')} gallery photos, {f.get('keypoints')} keypoints)"
        info["verification_features"] = None if f is None else {k: v for k, v in f.items() if k != "class_keys"}
        return info
