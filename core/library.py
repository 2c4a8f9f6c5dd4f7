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

Reliability: the database is checked at open when its file changed since the last clean close
(``core.store.health``; a damaged one raises ``DatabaseDamagedError``), a rolling daily backup is taken
(``core.store.backup``), and a damaged library is repaired without an open ``Library`` by the module functions
``check_library``, ``library_backups``, ``restore_library`` and ``rebuild_library``. One process tags a library at a
time (``core.tagging.lock``). Each folder has a state (``folder_states``); photos of a missing folder are offline,
never deleted. The app's own folders are never indexed and links out of a folder are not followed unless
``follow_links``.

Typical use::

    lib = Library.open()                      # platformdirs DB, shipped model
    lib.add_folder("~/Pictures")
    lib.tag(on_progress=print)                # or job = lib.start_tagging(cb); job.pause() ...
    for album in lib.albums(): print(album.title, album.count)
    change = lib.relabel([photo_id], landmark="Eiffel_Tower")   # changes exactly that photo
    for p in lib.proposals(change): print(p.photo.path, p.old_label, "->", p.new_label, p.similarity)
    lib.accept_proposals([p.id for p in lib.proposals(change)])  # one more undoable change
    lib.undo(); lib.redo(); lib.history()

Corrections and trust: a correction (``relabel``, ``confirm``, ``reject``) changes exactly the photos it
names; its corrections are kept with the photos' ids, so they follow a photo whose file another app changes or
that moves, and leave with it. Teaching from the person's photos of a landmark only *proposes*
labels for look-alike model-labelled photos (``proposals``); ``accept_proposals`` applies them as one
change. Every change is in ``history``; ``undo`` / ``redo`` / ``revert`` survive restarts. A landmark
album holds confident labels only; the rest is in *Needs review*.
"""

from __future__ import annotations

import csv
import gc
import io
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.domain import (
    LOADING_MODEL_MESSAGE,
    AcceptReport,
    Album,
    AlbumKind,
    AlbumRef,
    BackupInfo,
    Change,
    ChangeKind,
    CheckResult,
    DatabaseDamagedError,
    DatabaseError,
    DatabaseLockedError,
    DatabaseReadOnlyError,
    DatabaseUnavailableError,
    ExportError,
    FolderError,
    FolderInfo,
    FolderState,
    ImportReport,
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
    PhotoOrder,
    PhotoStatus,
    PhotoSummary,
    Progress,
    Proposal,
    ProposalState,
    RebuildReport,
    SearchQuery,
    SidecarConvention,
    SidecarOptions,
    SidecarOutcome,
    SidecarReport,
    SidecarResult,
    TaggingBusyError,
    TaggingError,
)
from core.photos.folder_health import folder_state
from core.photos.pathnames import display_path, text_to_path
from core.photos.safe_write import write_export
from core.store import corrections as store_corrections
from core.store import folders as store_folders
from core.store import landmarks as store_landmarks
from core.store import open_database
from core.store import photos as store_photos
from core.store import places as store_places
from core.store import proposals as store_proposals
from core.store import repair as store_repair
from core.store.albums import DEFAULT_REVIEW_THRESHOLD, list_albums
from core.store.backup import backups_dir as store_backups_dir
from core.store.backup import daily_backup, daily_backup_due, list_backups
from core.store.corrections import last_change
from core.store.engine import Connection, Database
from core.store.errors import DB_ERRORS, damaged_message, translate_db_error
from core.store.health import check_database, forget_clean_close, record_clean_close
from core.store.search import count_photos, page_photos, photo_filter, photo_position
from core.store.search import map_points as store_map_points
from core.store.similarity import EmbeddingIndex
from core.store.stats import library_counts
from core.store.timestamps import utc_now
from core.tagging import relabel as tagging_relabel
from core.tagging.jobs import JobControl, TaggingJob
from core.tagging.lock import TaggingLock
from core.tagging.progress import ProgressTracker
from core.tagging.proposals import propose_for_new_photos
from core.tagging.scan import ScanReport, apply_change_batch, scan_folders
from core.tagging.sidecars import export_sidecars, labels_from_sidecars, landmark_index
from core.tagging.tag import tag_photos

__all__ = [
    "Library",
    "check_library",
    "library_backups",
    "restore_library",
    "rebuild_library",
    "damaged_message",
    "LibraryError",
    "ModelError",
    "DatabaseError",
    "DatabaseLockedError",
    "DatabaseReadOnlyError",
    "NotALibraryError",
    "NewerSchemaError",
    "DatabaseUnavailableError",
    "DatabaseDamagedError",
    "FolderError",
    "NotFoundError",
    "InvalidRequestError",
    "LibraryClosedError",
    "TaggingError",
    "TaggingBusyError",
    "ExportError",
    "TaggingJob",
    "AcceptReport",
    "ChangeKind",
    "Proposal",
    "ProposalState",
    "Album",
    "AlbumKind",
    "AlbumRef",
    "Change",
    "LabelSource",
    "LocationSource",
    "PhotoDetails",
    "PhotoOrder",
    "PhotoStatus",
    "PhotoSummary",
    "Progress",
    "SearchQuery",
    "FolderInfo",
    "FolderState",
    "BackupInfo",
    "CheckResult",
    "RebuildReport",
    "SidecarConvention",
    "SidecarOptions",
    "SidecarOutcome",
    "SidecarReport",
    "SidecarResult",
    "ImportReport",
]

log = logging.getLogger(__name__)

#: Photos per CNN forward pass on the CPU / on a GPU when ``Library.open`` is not given a batch size.
CPU_BATCH, GPU_BATCH = 4, 16

#: Seconds a live look at the folders' states (``folder_states`` while not watching) is reused.
FOLDER_STATE_TTL_S = 1.0


class Library:
    """The photo library (see the module docstring). Create it with ``Library.open``.

    Attributes:
        db_path: the database file. model_path: the model bundle file.
        backup_path: the copy taken before a schema migration at open, else ``None``.
        review_threshold: confidence below which a model label is in "Needs review" ([0, 1]).
        follow_links: scans and the watcher follow symbolic links out of a library folder.
        checked_at_open: ``quick_check`` ran at open (the file had changed since its last clean close).
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
        batch_size: int | None,
        decode_workers: int,
        follow_links: bool = False,
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
        self.batch_size: int | None = int(batch_size) if batch_size else None
        self.decode_workers = int(decode_workers)
        self.verify = bool(verify)
        self._features_info = features_info
        self._rec: Any = None
        self._rec_lock = threading.Lock()
        self._job_lock = threading.Lock()
        # "similar photos" of large libraries: a FAISS index file beside the database (core.store.similarity)
        # (a query never rebuilds it: the tagging job or a background thread with its own connection does)
        self._index = EmbeddingIndex(
            ann_path=self.db_path.with_name(self.db_path.name + ".similar.faiss"), ann_connect=self._db.read
        )
        self._watcher: Any = None  # core.photos.watcher.FolderWatcher while watching
        self._watch_tracker: ProgressTracker | None = None
        self._watch_jobs: list[TaggingJob] = []
        self._jobs: list[TaggingJob] = []
        self._closed = False
        self.follow_links = bool(follow_links)
        self.checked_at_open = bool(getattr(db, "checked_at_open", False))
        self._tag_lock = TaggingLock(self.db_path)
        self._damaged = False  # SQLite reported damage in this session: no clean close, no backup
        self._wrote = False  # something was written: the daily backup is taken at close when due
        self._exclude: list[Path] = _app_folders() + [store_backups_dir(self.db_path)]
        self._live_states: tuple[float, dict[Path, tuple[str, str | None]]] = (0.0, {})
        self._states_lock = threading.Lock()
        self._sidecar_options: SidecarOptions | None = None
        self._sidecar_on_report: Callable[[SidecarReport], None] | None = None

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
        batch_size: int | None = None,
        decode_workers: int | None = None,
        follow_links: bool = False,
        check: bool | None = None,
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
            batch_size: photos per CNN forward pass; ``None``: ``CPU_BATCH`` (4) on the CPU, ``GPU_BATCH`` (16) on a
                GPU. On the CPU (channels_last) 4 is as fast per photo as 8 or 16 and needs ~65 MB less memory
                than 8 (bench/bench_camera.py).
            decode_workers: threads decoding photos ahead of the model (default: cores - 1, 1..4).
            follow_links: follow symbolic links that lead out of a library folder (default: not followed).
            check: ``PRAGMA quick_check`` at open: ``None`` = when the file changed since its last clean close
                (``core.store.health``), ``True`` = always, ``False`` = never.
            verify: geometric verification of uncertain photos when the bundle has a features file beside it
                (``core.recognition.features_file``); a bundle without one runs without verification.
        Raises:
            DatabaseDamagedError: the database fails ``quick_check`` (offer restore/rebuild).
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
        db, backup = open_database(db_path, busy_timeout_s, check=check)
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
            follow_links,
            verify=verify,
            features_info=features_info,
        )
        try:
            lib._sync_landmarks()
            lib._finish_interrupted()
        except BaseException:
            db.dispose()
            raise
        return lib

    def close(self) -> None:
        """Stop watching, cancel running jobs (their committed results stay), take the daily backup when one is
        due and something was written, release the database and remember the clean close."""
        if self._closed:
            return
        self.stop_watching()
        self._index.close()  # a refresh of the similar-photos index (background or in a job) stops
        for job in list(self._jobs):
            job.cancel()
            job.wait()
        if self._wrote and not self._damaged:
            try:
                self.backup_if_due()
            except LibraryError as exc:  # a failed backup never keeps the library from closing
                log.warning("daily backup not taken: %s", exc)
        with self._job_lock:
            self._closed = True
            self._db.dispose()
        if self._damaged:
            forget_clean_close(self.db_path)
        else:
            record_clean_close(self.db_path)

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------- DB helpers
    def _translate(self, exc: BaseException) -> DatabaseError:
        """``translate_db_error``, remembering damage (no clean close, no backup of a damaged file)."""
        err = translate_db_error(exc, self.db_path)
        if isinstance(err, DatabaseDamagedError):
            self._damaged = True
            forget_clean_close(self.db_path)
        return err

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self._db.read() as conn:
                yield conn
        except DB_ERRORS as exc:
            raise self._translate(exc) from None

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        self._wrote = True
        try:
            with self._db.write() as conn:
                yield conn
        except DB_ERRORS as exc:
            raise self._translate(exc) from None

    def _sync_landmarks(self) -> None:
        """Make the ``landmarks`` table hold the model's classes (names/coordinates/uncertainty from the catalog
        ``resources/landmarks.json`` when it knows the key, else from the bundle) and the catalog's other landmarks
        (source ``catalog``: GPS photos are placed at them, the person can choose them). Writes only when
        something differs, so opening a library another program is tagging does not need the lock; when it writes,
        the GPS photos are placed again by the next scan (their landmark may have changed)."""
        wanted: dict[str, store_landmarks.LandmarkRow] = {}
        try:
            from core.recognition.catalog import load_catalog, load_uncertainties

            catalog = load_catalog()
            uncertainty = load_uncertainties()
        except Exception:  # noqa: BLE001 - the bundle carries its own names; the catalog only refines them
            catalog, uncertainty = {}, {}
        model, other = store_landmarks.SOURCE_MODEL, store_landmarks.SOURCE_CATALOG
        for key, entry in catalog.items():  # GPS photos are placed at every catalog landmark, a model class or not
            wanted[key] = (entry.name, entry.latitude, entry.longitude, entry.country, uncertainty.get(key), other)
        for c in self._model_info.get("classes", []):
            e = catalog.get(c["key"])
            if e is not None:
                wanted[c["key"]] = (e.name, e.latitude, e.longitude, e.country, uncertainty.get(c["key"]), model)
            else:
                lat, lon = c.get("latitude"), c.get("longitude")
                wanted[c["key"]] = (c.get("name") or c["key"], lat, lon, c.get("country"), None, model)
        with self._read() as conn:
            todo = store_landmarks.model_landmarks_to_sync(conn, wanted)
        if not todo:
            return
        with self._write() as conn:
            store_landmarks.upsert_model_landmarks(conn, todo, utc_now())
            # the landmarks GPS positions are placed at changed: place every GPS photo again at the next scan
            store_places.forget_places(conn)

    def _finish_interrupted(self) -> None:
        """Finish a change a crash interrupted while it was being written (``core.tagging.relabel.finish_interrupted``:
        one read when there is none, so opening a library another program is tagging does not need the lock)."""
        n = tagging_relabel.finish_interrupted(self._write, self._read, self._threshold)
        if n:
            log.info("finished %d change(s) interrupted by a crash", n)

    @property
    def model_loaded(self) -> bool:
        """The model is loaded (``recognizer`` returns at once). Opening a library never loads it: browsing,
        searching and the read-only commands work without torch; a job loads it when it finds photos to tag, and so
        do the corrections that teach (``relabel`` to a landmark, ``confirm``, ``redo``, ``more_like``)."""
        return self._rec is not None

    def recognizer(self) -> Any:
        """The ``core.recognition.recognizer.Recognizer`` (loaded on first use). It stores the model's own
        labels only: the person's corrections reach other photos as proposals (``proposals``), never by
        blending them into the scores.

        Loading imports torch and builds the network: a few seconds and ~10^6 new Python objects. The garbage
        collector runs once before, is paused meanwhile, and what survives is frozen (``gc.freeze``): full
        collections walking those objects held the GIL for up to 0.6 s each, and in the app they froze the window
        while the model loaded in a worker thread.

        Raises:
            LibraryError: the bundle cannot be loaded or the device is unavailable.
        """
        with self._rec_lock:
            if self._rec is None:
                was_enabled = gc.isenabled()
                gc.collect()  # cheap before torch is imported; freezing garbage would keep it for good
                gc.disable()
                try:
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
                except ImportError as exc:  # a broken torch installation
                    raise ModelError(f"cannot load the model: {exc}") from None
                finally:
                    gc.freeze()
                    if was_enabled:
                        gc.enable()
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
            shown = display_path(p)
            raise FolderError(f"folder not found: {shown}" if not p.exists() else f"not a folder: {shown}")
        for own in self._exclude:
            if _same_or_below(p, own):
                raise FolderError(f"{display_path(p)} holds Landmark Tagger's own data; choose a photo folder")
        with self._write() as conn:
            store_folders.add_folder(conn, str(p), utc_now())
        if self._watcher is not None:
            self._watcher.add_folder(p)

    def remove_folder(self, path: str | Path) -> None:
        """Remove a folder and its photos from the library (the files are not touched). The photos leave with their
        labels and corrections: adding the folder again adds them as new photos.

        Raises:
            LibraryError: the folder is not in the library.
        """
        p = str(Path(os.path.abspath(os.path.expanduser(os.fspath(path)))))
        with self._write() as conn:
            fid = store_folders.folder_id(conn, p)
            if fid is None:
                raise FolderError(f"{display_path(p)} is not a library folder")
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

    def exclude_folder(self, path: str | Path) -> None:
        """Never index photos in ``path`` (e.g. the GUI's thumbnail cache); takes effect at the next scan and
        when watching starts."""
        p = Path(os.path.abspath(os.path.expanduser(os.fspath(path))))
        if p not in self._exclude:
            self._exclude.append(p)

    def folder_states(self) -> list[FolderInfo]:
        """Every library folder with its state (watching / available / missing / unreadable) and photo count.

        While watching, the watcher's states; otherwise a live look (one ``stat`` and one directory read per
        folder). Photos of a missing or unreadable folder are offline: they stay in the library.
        """
        with self._read() as conn:
            rows = store_folders.list_folders(conn)
            counts = store_folders.photos_per_folder(conn)
        states = self._states([Path(p) for _, p in rows], fresh=True)
        out = []
        for fid, path in rows:
            state, reason = states.get(Path(path), (FolderState.AVAILABLE, None))
            out.append(FolderInfo(path=Path(path), state=state, photos=counts.get(fid, 0), reason=reason))
        return out

    def _states(self, folders: list[Path], *, fresh: bool = False) -> dict[Path, tuple[str, str | None]]:
        """``{folder: (state, reason)}``: the watcher's, else a live look reused for ``FOLDER_STATE_TTL_S`` (not
        with ``fresh``)."""
        w = self._watcher
        if w is not None:
            return w.states
        with self._states_lock:
            at, cached = self._live_states
            if not fresh and time.monotonic() - at < FOLDER_STATE_TTL_S and set(cached) == set(folders):
                return cached
            looked = {f: folder_state(f) for f in folders}
            self._live_states = (time.monotonic(), looked)
            return looked

    def _offline_roots(self, folders: list[Path] | None = None, *, fresh: bool = False) -> list[Path]:
        """The library folders that are missing or unreadable now."""
        if folders is None:
            with self._read() as conn:
                folders = [Path(p) for _, p in store_folders.list_folders(conn)]
        return [f for f, (state, _) in self._states(folders, fresh=fresh).items() if state in FolderState.OFFLINE]

    def _mark_offline(self, rows: list[Any]) -> list[Any]:
        """``rows`` (``PhotoSummary`` / ``PhotoDetails``) with ``offline`` set for photos of offline folders."""
        if not rows:
            return rows
        roots = [os.fspath(r) for r in self._offline_roots()]
        if not roots:
            return rows
        return [replace(s, offline=True) if any(_same_or_below(s.path, r) for r in roots) else s for s in rows]

    # ------------------------------------------------------------------------------------ tagging
    def _job(
        self,
        tracker: ProgressTracker,
        control: JobControl,
        *,
        scan: bool = True,
        batch: Any = None,
        folder_ids: list[int] | None = None,
        wait: bool = True,
    ) -> Progress:
        """One scan + tag job (on a job thread), holding this library's tagging lock (``core.tagging.lock``).

        Args:
            scan: scan the folders first (``folder_ids``: only these). batch: a watcher ``ChangeBatch`` to apply
                first instead. wait: wait while another process tags this library (else ``TaggingBusyError``).
        """
        with self._job_lock:
            if self._closed:
                raise LibraryClosedError("the library is closed")
            self._wrote = True
            try:
                with self._tag_lock.hold(wait=wait, checkpoint=control.checkpoint, on_wait=tracker.set_message):
                    return self._scan_and_tag(tracker, control, scan=scan, batch=batch, folder_ids=folder_ids)
            except DB_ERRORS as exc:
                raise self._translate(exc) from None
            except OSError as exc:  # the lock file cannot be created
                raise TaggingError(f"cannot lock the library for tagging: {exc.strerror or exc}") from None

    def _scan_and_tag(
        self, tracker: ProgressTracker, control: JobControl, *, scan: bool, batch: Any, folder_ids: list[int] | None
    ) -> Progress:
        report = ScanReport()
        placed: list[int] = []
        if batch is not None:
            placed += apply_change_batch(self._db, batch).placed_ids
            self._index.invalidate()
        if scan:
            report = scan_folders(
                self._db,
                tracker,
                control,
                workers=2,
                folder_ids=folder_ids,
                exclude=self._exclude,
                follow_links=self.follow_links,
            )
            self._index.invalidate()
            placed += report.placed_ids
        control.checkpoint()
        with self._db.read() as conn:
            rows = store_folders.list_folders(conn)
            offline = set(self._offline_roots([Path(p) for _, p in rows], fresh=True))
            offline |= {Path(root) for root, _why in report.offline}
            skip = [fid for fid, p in rows if Path(p) in offline]
            work = store_photos.work_list(conn, self.model_version, skip_folders=skip)
        # The model is loaded only when there is something to tag (a GPS-only or unchanged
        # library never pays for it); front ends show the message meanwhile.
        if work and self._rec is None:
            tracker.set_message(LOADING_MODEL_MESSAGE)
        rec = self.recognizer() if work else None
        tag = tag_photos(
            self._db,
            rec,
            tracker,
            control,
            batch_size=self.batch_size or (CPU_BATCH if rec is None or rec.device.type == "cpu" else GPU_BATCH),
            decode_workers=self.decode_workers,
            work=work,
        )
        self._index.invalidate()
        with self._db.read() as conn:  # new or removed embeddings reach the similar-photos index (large libraries)
            self._index.refresh_ann(conn, self.model_version)
        if rec is not None and tag.inferred:
            # newly tagged photos that look like a landmark the person taught: proposals only
            with self._db.write() as conn:
                propose_for_new_photos(conn, rec, self._index, [w[0] for w in work], utc_now())
        with self._db.read() as conn:
            counts = store_photos.status_counts(conn)
        if self._sidecar_options is not None and (work or placed):
            self._write_sidecars([w[0] for w in work] + placed)  # new labels reach their sidecars too
        parts = [f"{tag.inferred} tagged", f"{tag.failed} failed"]
        if report.placed:
            parts.append(f"{report.placed} placed by GPS")
        if scan:
            parts = [f"{report.added} new", f"{report.moved} moved", f"{report.deleted} removed"] + parts
        errors = [f"{Path(p).name}: {why}" for p, why in report.errors if "vanished" not in why]
        if errors:
            parts.append(f"{len(errors)} unreadable ({errors[0]}{' …' if len(errors) > 1 else ''})")
        if offline:
            names = ", ".join(str(f) for f in sorted(offline))
            parts.append(f"{len(offline)} folder(s) offline, their photos kept: {names}")
        if self._watcher is not None and self._watcher.fallback_reason:
            parts.append(f"watching by polling: {self._watcher.fallback_reason}")
        state = "cancelled" if tag.cancelled else "done"
        return tracker.set_state(state, ", ".join(parts), counts)

    def start_tagging(self, on_progress: Callable[[Progress], None] | None = None, *, wait: bool = True) -> TaggingJob:
        """Scan all folders and tag what needs it, on a background thread.

        Args:
            on_progress: called with each ``Progress`` (from worker threads).
            wait: while another process tags this library, wait for it (the progress message says so);
                ``False``: the job fails at once with ``TaggingBusyError``.
        Returns:
            the running ``TaggingJob`` (``pause``/``resume``/``cancel``/``wait``). Errors end the job with
            state ``"failed"``; ``job.error`` holds the ``LibraryError``.
        """
        tracker = ProgressTracker([on_progress] if on_progress else None)
        job = TaggingJob(lambda t, c: self._job(t, c, wait=wait), tracker)
        self._jobs = [j for j in self._jobs if j.is_alive()] + [job]
        return job

    def tag(self, on_progress: Callable[[Progress], None] | None = None, *, wait: bool = True) -> Progress:
        """Blocking scan + tag of all folders.

        Returns:
            the final ``Progress`` (state ``"done"``, ``counts`` per status).
        Raises:
            LibraryError: locked/read-only database, model cannot be loaded, another process is tagging and
            ``wait`` is False (``TaggingBusyError``), …
        """
        job = self.start_tagging(on_progress, wait=wait)
        prog = job.wait()
        if job.error is not None:
            if isinstance(job.error, LibraryError):
                raise job.error
            raise TaggingError(f"tagging failed: {job.error.__class__.__name__}: {job.error}") from job.error
        return prog

    def retry_failed(self, photo_ids: Iterable[int] | None = None) -> int:
        """Make failed photos pending again (all, or ``photo_ids``); the next ``tag`` / ``start_tagging`` (or the
        watcher's next batch) tags them. Photos whose file changed or came back are retried without asking.

        Returns:
            the number of photos that will be retried.
        """
        ids = None if photo_ids is None else [int(i) for i in photo_ids]
        with self._write() as conn:
            return store_photos.retry_failed(conn, ids)

    # ----------------------------------------------------------------------------------- watching
    def start_watching(
        self,
        on_progress: Callable[[Progress], None] | None = None,
        on_change: Callable[[Any], None] | None = None,
        *,
        on_folders: Callable[[list[FolderInfo]], None] | None = None,
        **watcher_options: Any,
    ) -> None:
        """Watch the library folders: changes are applied and tagged as they settle.

        First starts a ``core.photos.watcher.FolderWatcher`` on every folder, then a reconciliation scan + tag
        in the background (changes made while the app was closed). If the watcher falls back to
        polling, ``fallback_reason`` appears in the progress message and in ``stats()``. A missing or unreadable
        folder never stops the others: it is watched again, rescanned and tagged as soon as it is back, and its
        photos are offline (kept) meanwhile.

        Args:
            on_progress: progress of the reconciliation and of each batch's tagging (worker threads).
            on_change: called with each applied ``core.photos.watcher.ChangeBatch`` after its photos were tagged.
            on_folders: called with ``folder_states()`` whenever a folder goes missing, becomes unreadable or
                comes back (watcher thread).
            watcher_options: passed to ``FolderWatcher`` (``settle_seconds``, ``batch_window_seconds``,
                ``poll_interval_seconds``, ``force_polling``, ``health_interval_seconds``).
        Raises:
            LibraryError: the watcher cannot start.
        """
        from core.photos.watcher import FolderWatcher

        if self._watcher is not None:
            return
        tracker = ProgressTracker([on_progress] if on_progress else None)
        self._watch_tracker = tracker

        def on_batch(batch: Any) -> None:
            control = JobControl()
            try:
                self._job(tracker, control, scan=False, batch=batch)
            except Exception as exc:  # noqa: BLE001 - the watcher must go on
                tracker.set_state("failed", str(exc))
                return
            if on_change is not None:
                on_change(batch)

        def on_folder_state(folder: Path, state: str, reason: str | None) -> None:
            if state not in FolderState.OFFLINE:
                self._reconcile_folder(folder, tracker)
            elif on_folders is None:
                tracker.set_message(f"folder {display_path(folder)} {reason or state}; its photos are offline")
            if on_folders is not None:
                try:
                    on_folders(self.folder_states())
                except LibraryError as exc:
                    log.warning("cannot report the folders: %s", exc)

        try:
            watcher = FolderWatcher(
                self.folders(),
                on_batch,
                on_folder_state=on_folder_state,
                exclude=self._exclude,
                follow_links=self.follow_links,
                **watcher_options,
            )
            watcher.start()
        except OSError as exc:
            raise FolderError(f"cannot watch the folders: {exc}") from None
        self._watcher = watcher
        if watcher.fallback_reason:
            tracker.set_message(f"watching by polling: {watcher.fallback_reason}")
        job = TaggingJob(lambda t, c: self._job(t, c), tracker, name="reconcile")
        self._watch_jobs.append(job)

    def _reconcile_folder(self, folder: Path, tracker: ProgressTracker) -> None:
        """A folder is back: rescan it (its changes while away were not seen) and tag what needs it."""
        with self._read() as conn:
            fid = store_folders.folder_id(conn, str(folder))
        if fid is None:
            return
        try:
            self._job(tracker, JobControl(), folder_ids=[fid])
        except Exception as exc:  # noqa: BLE001 - the watcher must go on
            tracker.set_state("failed", str(exc))

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

    # ----------------------------------------------------------------------------------- browsing
    def albums(self) -> list[Album]:
        """Landmark albums (count + cover photo), then Unrecognized, Has GPS, Needs review, Failed
        (and "Not tagged yet" while photos are pending)."""
        with self._read() as conn:
            return list_albums(conn, self.review_threshold)

    def photos(
        self,
        album: AlbumRef | None = None,
        query: SearchQuery | None = None,
        limit: int | None = None,
        offset: int = 0,
        *,
        include_unsure: bool = False,
        order: str = PhotoOrder.FOUND,
    ) -> list[PhotoSummary]:
        """Photos of an album and/or matching a query, by id (the order photos were found) or newest first
        (``order=PhotoOrder.NEWEST``: the timeline, by ``PhotoSummary.timeline_at``); "Needs review" always by
        confidence, least sure first (each photo's ``label`` is the model's best guess).

        Args:
            album: ``None`` = all photos. query: filters (``SearchQuery``). limit/offset: paging.
            include_unsure: a landmark album also shows the model's labels below ``review_threshold`` (by
                default it holds only the person's labels and model labels at or above the threshold).
            order: one of ``PhotoOrder``.
        Returns:
            the photos; ``offline`` is set on those of a missing or unreadable folder.
        Raises:
            LibraryError: an invalid filter value or order.
        """
        if order not in PhotoOrder.ALL:
            raise InvalidRequestError(f"unknown order {order!r} (one of {', '.join(PhotoOrder.ALL)})")
        with self._read() as conn:
            where, params = photo_filter(conn, album, query, self.review_threshold, include_unsure)
            if limit is None and offset:
                limit = -1  # SQLite: no limit
            by_conf = album is not None and album.kind == AlbumKind.NEEDS_REVIEW
            rows = page_photos(
                conn, where, params, limit, offset, by_confidence=by_conf, newest_first=order == PhotoOrder.NEWEST
            )
        return self._mark_offline(rows)

    def photo_row(
        self,
        photo_id: int,
        album: AlbumRef | None = None,
        query: SearchQuery | None = None,
        *,
        include_unsure: bool = False,
        order: str = PhotoOrder.FOUND,
    ) -> int | None:
        """The index of photo ``photo_id`` in ``photos(album, query, include_unsure=..., order=...)`` (0-based), or
        ``None`` when it is not among them (another album, filtered out, deleted). A grid finds a selected photo
        again with it after photos were added or removed above it.

        Raises:
            LibraryError: an invalid filter value or order.
        """
        if order not in PhotoOrder.ALL:
            raise InvalidRequestError(f"unknown order {order!r} (one of {', '.join(PhotoOrder.ALL)})")
        with self._read() as conn:
            where, params = photo_filter(conn, album, query, self.review_threshold, include_unsure)
            by_conf = album is not None and album.kind == AlbumKind.NEEDS_REVIEW
            return photo_position(
                conn, where, params, int(photo_id), by_confidence=by_conf, newest_first=order == PhotoOrder.NEWEST
            )

    def map_points(self, query: SearchQuery | None = None) -> list[tuple[int, float, float, str]]:
        """Every photo with a location (EXIF GPS, or estimated from its landmark), for the map.

        Args:
            query: only the photos matching it (``None``: all).
        Returns:
            ``[(photo id, latitude, longitude, location source)]``, decimal degrees WGS84, source ``"gps"`` or
            ``"landmark"`` (estimated). One pass over the photos (~40 ms at 100 000): call it off the GUI thread.
        Raises:
            LibraryError: an invalid filter value, or the database cannot be read.
        """
        with self._read() as conn:
            where, params = photo_filter(conn, None, query, self.review_threshold)
            return store_map_points(conn, where, params)

    def file_keys(self) -> set[str]:
        """The ``PhotoSummary.file_key`` of every photo in the library (offline ones included: the full SHA-256 where
        known, else the fingerprint); the GUI keeps the cached thumbnails stored under them and drops the others
        (photos that left the library, files whose bytes changed)."""
        with self._read() as conn:
            return store_photos.file_keys(conn)

    def count(
        self, album: AlbumRef | None = None, query: SearchQuery | None = None, *, include_unsure: bool = False
    ) -> int:
        """Number of photos ``photos(album, query, include_unsure=...)`` would return without a limit."""
        with self._read() as conn:
            where, params = photo_filter(conn, album, query, self.review_threshold, include_unsure)
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
        return self._mark_offline([details])[0]

    def photo_id(self, path: str | Path) -> int | None:
        """Id of the photo stored at ``path`` (made absolute), or ``None``; one lookup on the
        unique ``photos.path`` index, so it stays fast in a 100 000-photo folder."""
        with self._read() as conn:
            return store_photos.photo_id_at(conn, str(Path(os.path.abspath(os.fspath(path)))))

    def places(self) -> list[tuple[str | None, str | None, int]]:
        """``(country, city, photos)`` of every place photos were taken at (from their EXIF GPS), most photos first;
        photos placed in a country without a city count under ``(country, None)``."""
        with self._read() as conn:
            return store_places.place_counts(conn)

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
        marked = {s.id: s for s in self._mark_offline(list(summaries.values()))}
        return [(marked[i], s) for i, s in hits if i in marked]

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
        """Correct photos; exactly one of the options. Changes exactly these photos (a byte-identical copy elsewhere
        is another photo); the corrections are kept with each photo's id, so they follow it when another app changes
        its bytes or it moves. The request is checked and the proposals worked out before anything is written; the
        change is then written in short transactions (``core.tagging.relabel``: another connection never waits long
        for the write lock), one transaction — all or nothing — when it is small, and a crash in the middle of a long
        one is finished the next time the library is opened.

        Args:
            photo_ids: photos to correct.
            landmark: set this landmark (a key, or a display name that matches one exactly, any case);
                with ``reject=True``: the label to reject.
            new_name: create a new landmark with this display name and set it (an existing landmark with
                exactly that name is reused).
            not_landmark: mark as showing no landmark.
            reject: reject the model's label (each photo's current one, or ``landmark``); re-tagging never
                gives it back; the photo takes the next candidate of its top-k.
        Returns:
            the ``Change`` (for ``undo`` and ``proposals``). Setting a landmark teaches it: look-alike photos
            with a model label get open proposals (``Change.proposals`` of them); no other label changes.
        Raises:
            LibraryError: no/unknown photo ids, unknown landmark (``NotFoundError`` listing close matches),
                not exactly one option, nothing to reject.
        """
        ids = [int(i) for i in dict.fromkeys(photo_ids)]
        if not ids:
            raise InvalidRequestError("no photos selected")
        chosen = sum([landmark is not None and not reject, bool(new_name), bool(not_landmark), bool(reject)])
        if chosen != 1:
            raise InvalidRequestError("choose exactly one of: a landmark, a new landmark name, not a landmark, reject")
        teaches = (landmark is not None and not reject) or bool(new_name)
        rec = self.recognizer() if teaches else None
        with self._read() as conn:
            change = tagging_relabel.correct(
                self._write,
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
        self._after_change(change)
        return change

    def confirm(self, photo_ids: Iterable[int]) -> Change:
        """Confirm ✓: each photo's current label becomes the person's (locked like a manual label, never
        re-scored or proposed away, exported by ``export_corrections``; "no landmark" becomes "not a
        landmark"). Confirmed landmarks teach: look-alikes get open proposals. One undoable change.

        Raises:
            LibraryError: no/unknown photo ids; a photo without a label (pending, failed, GPS without label).
        """
        ids = [int(i) for i in dict.fromkeys(photo_ids)]
        if not ids:
            raise InvalidRequestError("no photos selected")
        rec = self.recognizer()
        with self._read() as conn:
            change = tagging_relabel.confirm(self._write, conn, rec, self._index, self._threshold, ids)
        self._after_change(change)
        return change

    def reject(self, photo_ids: Iterable[int], landmark: str | None = None) -> Change:
        """Reject ✗: the photos do not show their current label (or ``landmark``): a tombstone (re-tagging
        never gives it back) and each photo takes the next candidate of its top-k. Same as
        ``relabel(ids, reject=True, landmark=landmark)``.

        Raises:
            LibraryError: no/unknown photo ids, unknown landmark, a photo without a landmark label.
        """
        return self.relabel(photo_ids, reject=True, landmark=landmark)

    def proposals(
        self, change: Change | int | None = None, *, state: str | None = ProposalState.OPEN, limit: int | None = None
    ) -> list[Proposal]:
        """Proposals, best first (highest similarity): by default the open ones of every change.

        Args:
            change: only those this change (or change id) made. state: ``ProposalState`` value, ``None`` = any.
            limit: at most this many.
        Returns:
            ``Proposal`` s (photo, old → new label, similarity); proposals whose photo left the library are
            left out.
        """
        cid = None if change is None else int(change.id if isinstance(change, Change) else change)
        with self._read() as conn:
            return store_proposals.list_proposals(conn, state=state, change_id=cid, limit=limit)

    def accept_proposals(self, proposal_ids: Iterable[int]) -> AcceptReport:
        """Apply proposals: one undoable change (kind ``accept``) in which each photo takes its proposed label
        as the person's. Proposals whose photo was deleted meanwhile are skipped and counted
        (``AcceptReport.skipped_deleted``); so are ones not open any more (``skipped_other``).

        Raises:
            LibraryError: no proposal ids.
        """
        with self._read() as conn:
            report = tagging_relabel.accept(self._write, conn, self._threshold, [int(i) for i in proposal_ids])
        self._after_change(report.change)
        return report

    def dismiss_proposals(self, proposal_ids: Iterable[int]) -> int:
        """Dismiss proposals (never proposed again for that label); returns how many were open."""
        return tagging_relabel.dismiss(self._write, [int(i) for i in proposal_ids])

    def more_like(self, photo_ids: Iterable[int]) -> list[Proposal]:
        """Find more like this: propose each selected photo's landmark for look-alike model-labelled photos,
        including those the model is sure about and ones dismissed before. Nothing changes until accepted.

        Returns:
            the new open proposals.
        Raises:
            LibraryError: no/unknown photo ids, a photo without a landmark label or without an embedding.
        """
        rec = self.recognizer()
        with self._read() as conn:
            made = tagging_relabel.more_like(self._write, conn, rec, self._index, [int(i) for i in photo_ids])
        if not made:
            return []
        with self._read() as conn:
            return store_proposals.list_proposals(conn, state=None, proposal_ids=made)

    def last_change(self) -> Change | None:
        """The newest change not undone yet (what ``undo`` undoes), or ``None``."""
        with self._read() as conn:
            rec = last_change(conn)
            if rec is None:
                return None
            return rec.to_change(store_proposals.open_counts(conn, [rec.id]).get(rec.id, 0))

    def undo(self, change: Change | None = None) -> Change | None:
        """Undo a change (default: the last one not undone yet; with a change: ``revert``).

        Its corrections go out of force and its photos get back exactly the label and confidence they had
        (from their stored top-k and the other corrections); its open proposals are withdrawn, proposals it
        accepted are open again, a landmark it created is deleted when nothing uses it. Kept in the
        database: ``redo`` works after a restart, until a new change is made.
        Returns:
            the undone ``Change``, or ``None`` when there was nothing to undo.
        Raises:
            LibraryError: the change does not exist or was already undone.
        """
        undone = tagging_relabel.undo(
            self._write, self._read, self._threshold, int(change.id) if change is not None else None
        )
        self._after_change(undone)
        return undone

    def redo(self) -> Change | None:
        """Re-apply the most recently undone change (a new change since then ends redo).

        Returns:
            the redone ``Change``, or ``None`` when there is nothing to redo.
        """
        rec = self.recognizer()
        redone = tagging_relabel.redo(self._write, self._read, rec, self._index, self._threshold)
        self._after_change(redone)
        return redone

    def revert(self, change_id: int) -> Change:
        """Revert any entry of ``history`` (undo that change even when later ones exist; their corrections
        stay in force).

        Raises:
            LibraryError: no such change, or it is already undone.
        """
        out = tagging_relabel.undo(self._write, self._read, self._threshold, int(change_id))
        assert out is not None  # an id was given: undo raises instead of returning None
        self._after_change(out)
        return out

    def history(self, limit: int | None = None) -> list[Change]:
        """Every correction, newest first: what (``description``, ``kind``), when (``created_at``), how many
        photos (``photo_count``), open proposals, and whether it is undone (``undone`` / ``redoable``)."""
        with self._read() as conn:
            return tagging_relabel.history(conn, limit)

    def suggestions(self, change: Change) -> list[PhotoSummary]:
        """The photos of the change's open proposals, best first (nothing is applied: see ``proposals`` and
        ``accept_proposals``)."""
        with self._read() as conn:
            return tagging_relabel.suggestions(conn, int(change.id))

    def export_corrections(self, csv_path: str | Path, *, force: bool = False) -> int:
        """Write the person's labels (set, confirmed or accepted) as a ``path,label`` CSV that ``landmark-train``
        reads.

        One row per photo in the library with a manual landmark label (absolute path,
        landmark key). "Not a landmark" corrections are not exported (training has no such class). The
        file is UTF-8; a path that is not valid UTF-8 is written as its exact bytes (read it back with
        ``errors="surrogateescape"``). Written through ``core.photos.safe_write.write_export``: a secure temporary
        file in the target folder, renamed into place.

        Args:
            csv_path: the file to write. force: replace an existing regular file (never an image, a link,
                a folder or a device).
        Returns:
            the number of rows written.
        Raises:
            InvalidRequestError: an empty path.
            ExportError: the file exists (without ``force``), is not a regular file or is an image, or it
                cannot be written.
        """
        with self._read() as conn:
            rows = store_photos.manual_labels(conn)
        buf = io.StringIO(newline="")
        w = csv.writer(buf)
        w.writerow(["path", "label"])
        for path, label in rows:
            w.writerow([os.fspath(path), label])
        write_export(csv_path, buf.getvalue().encode("utf-8", "surrogateescape"), force=force)
        return len(rows)

    # ------------------------------------------------------------------------------- XMP sidecars
    def set_sidecar_options(
        self, options: SidecarOptions | None, on_report: Callable[[SidecarReport], None] | None = None
    ) -> None:
        """Write XMP sidecars as labels change (Settings → "Write XMP sidecars"), or stop (``None``).

        While set, every correction (``relabel``, ``confirm``, ``reject``, ``accept_proposals``,
        ``import_sidecars``, ``undo``, ``redo``, ``revert``) updates the sidecars of the photos it changed, and every
        tagging job writes those of the photos it labelled, after the change has committed: a sidecar that cannot
        be written never undoes a correction. ``on_report`` gets each ``SidecarReport`` (from the thread that made
        the change); failures are also logged.

        Raises:
            InvalidRequestError: an unknown convention.
        """
        if options is not None:
            _check_convention(options.convention)
        self._sidecar_options = options
        self._sidecar_on_report = on_report

    @property
    def sidecar_options(self) -> SidecarOptions | None:
        """The options of ``set_sidecar_options`` (``None``: sidecars are written only by ``export_sidecars``)."""
        return self._sidecar_options

    def export_sidecars(
        self,
        options: SidecarOptions | None = None,
        *,
        photo_ids: Iterable[int] | None = None,
        dry_run: bool = False,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> SidecarReport:
        """Write each labelled photo's XMP sidecar beside it (``landmark-tagger export-xmp``;
        ``core.tagging.sidecars``): landmark name in ``dc:subject``, ``Places|Country|Landmark`` in
        ``lr:hierarchicalSubject``, our confidence and model version in our namespace, merged into an existing
        sidecar without losing anything of it. Photos whose label is gone get our keyword removed. The photos are
        never written.

        Args:
            options: convention and estimated GPS (default: those of ``set_sidecar_options``, else digiKam names
                without GPS). photo_ids: only these photos (default: all). dry_run: report what would be written.
            on_progress: called with ``(photos done, photos)``.
        Returns:
            the ``SidecarReport``: per-file results (created / updated / cleaned / unchanged / error) — a corrupt
            sidecar is left untouched and reported, an unwritable folder is a per-file error.
        Raises:
            InvalidRequestError: an unknown convention. LibraryError: the database cannot be read.
        """
        opts = options or self._sidecar_options or SidecarOptions()
        _check_convention(opts.convention)
        with self._read() as conn:
            rows = store_photos.sidecar_rows(conn, None if photo_ids is None else [int(i) for i in photo_ids])
        total = len(rows)
        done_cb = (lambda n: on_progress(n, total)) if on_progress is not None else None
        return export_sidecars(rows, opts, self.review_threshold, dry_run=dry_run, on_done=done_cb)

    def import_sidecars(self, *, dry_run: bool = False) -> ImportReport:
        """Labels from the XMP sidecars other apps wrote (``landmark-tagger import-xmp``; run on request only, never
        by a scan): a keyword that names a landmark of the library (display name or key, any case, also as the last
        level of a hierarchical keyword) becomes the photo's label, as the person's, in one undoable change (kind
        ``import``). Our own keywords are not counted; a sidecar naming two landmarks, and a photo the person
        labelled otherwise here, are skipped; unreadable sidecars are reported and left alone. Nothing is taught.

        Raises:
            LibraryError: the database cannot be read or written.
        """
        with self._read() as conn:
            rows = store_photos.sidecar_rows(conn)
            index = landmark_index(store_landmarks.landmark_names(conn))
        found, ambiguous, errors = labels_from_sidecars([(r.id, Path(text_to_path(r.path))) for r in rows], index)
        by_id = {r.id: r for r in rows}
        todo: dict[int, str] = {}
        unchanged: list[int] = []
        conflicts = list(ambiguous)
        for pid, key in found.items():
            r = by_id[pid]
            if r.label_source == LabelSource.MANUAL and r.label == key:
                unchanged.append(pid)
            elif r.label_source == LabelSource.MANUAL:
                conflicts.append((pid, f"you labelled it {r.name or r.label or 'not a landmark'} here"))
            else:
                todo[pid] = key
        change = None
        if todo and not dry_run:
            with self._read() as conn:
                change = tagging_relabel.import_labels(self._write, conn, self._threshold, todo)
            self._after_change(change)
        return ImportReport(
            change=change,
            imported=tuple(sorted(todo.items())),
            unchanged=tuple(sorted(unchanged)),
            conflicts=tuple(sorted(conflicts)),
            errors=tuple(errors),
            dry_run=dry_run,
        )

    def _after_change(self, change: Change | None) -> None:
        """A change committed: update the sidecars of its photos when ``set_sidecar_options`` is on."""
        if self._sidecar_options is None or change is None:
            return
        try:
            with self._read() as conn:
                ids = list(
                    dict.fromkeys([*change.photo_ids, *store_corrections.correction_photo_ids(conn, int(change.id))])
                )
        except LibraryError as exc:
            log.warning("sidecars not updated: %s", exc)
            return
        self._write_sidecars(ids)

    def _write_sidecars(self, photo_ids: list[int]) -> None:
        """``export_sidecars`` of these photos with the set options; never raises (a sidecar is no reason to fail a
        correction or a tagging job)."""
        options, on_report = self._sidecar_options, self._sidecar_on_report
        if options is None or not photo_ids:
            return
        try:
            report = self.export_sidecars(options, photo_ids=photo_ids)
        except Exception as exc:  # noqa: BLE001 - reported, never raised into the correction
            log.warning("sidecars not written: %s", exc)
            return
        for r in report.errors:
            log.warning("sidecar %s not written: %s", display_path(r.sidecar), r.reason)
        if on_report is not None:
            try:
                on_report(report)
            except Exception:  # a front end's callback must not break the library (logged)
                log.exception("sidecar report callback failed")

    # -------------------------------------------------------------------------------------- info
    def stats(self) -> dict[str, Any]:
        """Numbers for a status line / ``landmark-tagger stats``.

        Keys: ``photos`` (total), ``by_status`` ({status: n}), ``folders``, ``landmarks`` (with photos),
        ``user_landmarks``, ``corrections``, ``manual_labels``, ``embeddings``, ``needs_review``,
        ``model_version``, ``db_path``, ``backup_path``, ``last_backup`` (UTC time of the newest backup or None),
        ``offline_folders`` (missing or unreadable folders), ``watching`` (bool), ``watch_mode``
        (``"events"``/``"polling"``/None), ``fallback_reason``.
        """
        with self._read() as conn:
            out: dict[str, Any] = library_counts(conn, self.review_threshold)
        w = self._watcher
        backups = list_backups(self.db_path)
        out.update(
            model_version=self.model_version,
            db_path=str(self.db_path),
            backup_path=str(self.backup_path) if self.backup_path else None,
            last_backup=backups[0].created_at.isoformat(timespec="seconds") if backups else None,
            offline_folders=[str(f) for f in self._offline_roots()],
            watching=w is not None,
            watch_mode=getattr(w, "mode", None),
            fallback_reason=getattr(w, "fallback_reason", None),
        )
        return out

    # ------------------------------------------------------------------------------ database safety
    def check(self, *, full: bool = True) -> CheckResult:
        """Check the open library's database (Settings → Check library, ``landmark-tagger check``).

        Args:
            full: ``PRAGMA integrity_check`` (about 2 s per 100 000 photos) instead of ``quick_check`` (0.5 s).
        Returns:
            the ``CheckResult``; when it is not ``ok`` the library is marked damaged (no clean close, no backup).
        Raises:
            LibraryError: the database cannot be read at all (locked, permissions).
        """
        try:
            result = check_database(self.db_path, full=full)
        except DB_ERRORS as exc:
            raise self._translate(exc) from None
        if not result.ok:
            self._damaged = True
            forget_clean_close(self.db_path)
        return result

    def backup_if_due(self, *, force: bool = False) -> BackupInfo | None:
        """Take the rolling daily backup when the newest is an hour old (or ``force``): one copy per day, the last 7
        days kept, today's replaced by the fresh one (``core.store.backup``).

        The database is checked first (``quick_check``): a damaged database is never copied over a good backup.
        Returns:
            the new ``BackupInfo``, or ``None`` when none was due.
        Raises:
            DatabaseDamagedError: the check found damage (no backup taken).
            LibraryError: the copy failed (disk full, permissions).
        """
        if not force and not daily_backup_due(self.db_path):
            return None
        result = self.check(full=False)
        if not result.ok:
            raise DatabaseDamagedError(damaged_message(self.db_path, result.problems[0]), self.db_path)
        try:
            return daily_backup(self.db_path, force=force)
        except DB_ERRORS as exc:
            raise self._translate(exc) from None
        except OSError as exc:
            raise DatabaseError(f"cannot write a backup of {self.db_path}: {exc.strerror or exc}") from None

    def backups(self) -> list[BackupInfo]:
        """The backups of this library, newest first (``library_backups``)."""
        return list_backups(self.db_path)

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


# ------------------------------------------------------------------------- repair (no open Library)
def _check_convention(convention: str) -> None:
    if convention not in SidecarConvention.ALL:
        raise InvalidRequestError(
            f"unknown sidecar convention {convention!r} (one of {', '.join(SidecarConvention.ALL)})"
        )


def _app_folders() -> list[Path]:
    from core.paths import app_folders

    return app_folders()


def _same_or_below(path: str | os.PathLike[str], folder: str | os.PathLike[str]) -> bool:
    p, f = os.fspath(path), os.fspath(folder).rstrip(os.sep)
    return p == f or p.startswith(f + os.sep)


def _db_file(db_path: str | Path | None) -> Path:
    from core.paths import default_db_path

    return Path(db_path).expanduser().absolute() if db_path is not None else default_db_path()


def check_library(db_path: str | Path | None = None, *, full: bool = False) -> CheckResult:
    """Check a library database without opening it as a library (works on a damaged one).

    Args:
        db_path: the database (``None`` = the default one). full: ``integrity_check`` instead of ``quick_check``.
    Raises:
        DatabaseUnavailableError: there is no database at ``db_path``. LibraryError: it cannot be read (locked).
    """
    path = _db_file(db_path)
    if not path.is_file():
        raise DatabaseUnavailableError(f"there is no library database at {display_path(path)}")
    try:
        result = check_database(path, full=full)
    except DB_ERRORS as exc:
        raise translate_db_error(exc, path) from None
    if not result.ok:
        forget_clean_close(path)
    return result


def library_backups(db_path: str | Path | None = None) -> list[BackupInfo]:
    """The backups of a library database, newest first (daily, before migrations, replaced databases)."""
    return list_backups(_db_file(db_path))


def _exclusive(path: Path) -> TaggingLock:
    """The tagging lock of ``path``, for a repair: no other process may be tagging meanwhile."""
    return TaggingLock(path)


def restore_library(db_path: str | Path | None, backup: str | Path | BackupInfo) -> Path | None:
    """*Restore from backup*: replace the library database with a copy of ``backup``.

    The current database (with its ``-wal``) is moved to ``<db>.backups/<db>.replaced-<stamp>``, never deleted.
    Close the library in every other window first.

    Returns:
        where the replaced database went (``None`` when there was none).
    Raises:
        NotFoundError: ``backup`` does not exist. DatabaseDamagedError: the backup is damaged too.
        TaggingBusyError: another process is tagging the library. LibraryError: the copy failed.
    """
    path = _db_file(db_path)
    src = Path(backup.path if isinstance(backup, BackupInfo) else backup).expanduser()
    if not src.is_file():
        raise NotFoundError(f"no backup at {display_path(src)}")
    try:
        with _exclusive(path).hold(wait=False):
            return store_repair.restore_backup(path, src)
    except DB_ERRORS as exc:
        raise translate_db_error(exc, src) from None
    except OSError as exc:
        raise DatabaseError(f"cannot restore {display_path(path)}: {exc.strerror or exc}") from None


def rebuild_library(db_path: str | Path | None = None, backup: str | Path | BackupInfo | None = None) -> RebuildReport:
    """*Rebuild from photos*: a new library database that keeps the folders, the landmarks the person created and
    the corrections (with their undo history) from a backup; open it and ``tag`` to find and label the photos again.

    Args:
        db_path: the (damaged) database. backup: where the kept rows come from; ``None`` = the newest backup that
            passes ``quick_check``, or — when there is none — whatever can still be read from the damaged database.
    Raises:
        TaggingBusyError: another process is tagging the library. LibraryError: the new database cannot be written.
    """
    path = _db_file(db_path)
    if backup is not None:
        source: Path | None = Path(backup.path if isinstance(backup, BackupInfo) else backup).expanduser()
        if source is not None and not source.is_file():
            raise NotFoundError(f"no backup at {display_path(source)}")
    else:
        source = None
        for b in list_backups(path):
            if b.kind == "replaced":
                continue
            try:
                if check_database(b.path).ok:
                    source = b.path
                    break
            except DB_ERRORS:
                continue
    try:
        with _exclusive(path).hold(wait=False):
            return store_repair.rebuild_database(path, source)
    except DB_ERRORS as exc:
        raise translate_db_error(exc, path) from None
    except OSError as exc:
        raise DatabaseError(f"cannot rebuild {display_path(path)}: {exc.strerror or exc}") from None
