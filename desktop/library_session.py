"""The open library of the window: opening and closing it off the GUI thread, tagging and watching.

``LibrarySession`` owns the ``core.library.Library`` while the window shows it. Opening (the database: albums,
grid, search and details come straight from SQLite and the thumbnail cache) runs in a worker thread and never
imports torch: the model is loaded by the tagging job when it finds photos to tag (its progress says
``LOADING_MODEL_MESSAGE`` meanwhile), or by a correction that needs it. Tagging and watching run in core's own
threads and report through ``TaggingBridge``. Everything the window needs to know arrives as a signal in the
GUI thread; failures arrive as signals too, never as exceptions out of a slot.
"""

from __future__ import annotations

import gc
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from core.domain import DatabaseDamagedError, LibraryClosedError, LibraryError, Progress
from core.photos.pathnames import display_path
from desktop.background import TaggingBridge, run_in_background
from desktop.errors import friendly_message
from desktop.settings import AppSettings

if TYPE_CHECKING:
    from core.library import Library

log = logging.getLogger("landmark_tagger.desktop")

#: Seconds ``close`` waits for a cancelled tagging job to stop.
STOP_TIMEOUT_S = 10.0


class LibrarySession(QObject):
    """Opens, tags, watches and closes the library for the window.

    Args:
        open_async: open the library in a worker thread (``False``: in ``open`` itself).
        watch: watch the folders once a tagging pass is done.

    Attributes:
        library: the open ``Library``, or ``None``.
        opening: an ``open`` is in progress.
        watching: the folders are being watched.
        last_progress: the latest ``Progress`` of a tagging job (``None`` before the first one).
        bridge: the ``TaggingBridge`` of the tagging job (its ``job`` is the running core ``TaggingJob``).

    Signals (all in the GUI thread):
        opened(object, object): the ``Library`` and the reason its model could not be loaded (an exception), or
            ``None``: opening no longer loads the model (a model that fails to load fails the tagging job that
            needed it, ``ModelError``), so this is ``None``; kept for the window's model-failure banner.
        openFailed(object): the exception that kept the library from opening (a ``LibraryError`` for
            every failure the user can act on).
        progress(object): a ``Progress`` of the tagging job.
        taggingFinished(object): its final ``Progress`` (state ``done``, ``cancelled`` or ``failed``).
        watchProgress(object): a ``Progress`` of the watcher's reconciliation or batch tagging.
        changed(object): the watcher applied a batch of file changes.
        problem(str): tagging or watching could not start (one line).
        pollingFallback(str): the watcher polls the folders instead of receiving file events; the reason.
        foldersChanged(object): the library folders and their states (``list[FolderInfo]``): after opening, after
            tagging, after a folder was added or removed, and whenever a watched folder goes missing or comes back.
        damaged(object): the ``DatabaseDamagedError`` found while the library was open (e.g. by the backup's check).
        sidecarProblem(str): XMP sidecars could not be written (one line: how many, the first file and why); the
            labels themselves changed all the same.
    """

    opened = Signal(object, object)
    openFailed = Signal(object)
    progress = Signal(object)
    taggingFinished = Signal(object)
    watchProgress = Signal(object)
    changed = Signal(object)
    problem = Signal(str)
    pollingFallback = Signal(str)
    foldersChanged = Signal(object)
    damaged = Signal(object)
    sidecarProblem = Signal(str)
    _sidecarReport = Signal(object)  # a SidecarReport from whichever thread made it → the GUI thread

    def __init__(self, *, open_async: bool = True, watch: bool = True, parent: QObject | None = None):
        super().__init__(parent)
        self.open_async = open_async
        self.watch = watch
        self.library: Library | None = None
        self.opening = False
        self.watching = False
        self.last_progress: Progress | None = None
        self.bridge = TaggingBridge(self)
        self._shut_down = False
        self._gc_was_enabled: bool | None = None
        self._polling_reason: str | None = None
        self._sidecars: tuple[bool, str] = (False, "digikam")
        self._sidecarReport.connect(self._show_sidecar_report)  # queued when emitted from a worker thread
        self.bridge.progress.connect(self._on_progress)
        self.bridge.finished.connect(self._on_finished)
        self.bridge.watchProgress.connect(self.watchProgress)
        self.bridge.changed.connect(self.changed)
        self.bridge.folders.connect(self.foldersChanged)
        self.bridge.error.connect(self.problem)

    # ------------------------------------------------------------------------------- open / close
    def open(self, settings: AppSettings) -> None:
        """Open the library database of ``settings`` (not the model); ``opened`` or ``openFailed`` follows."""
        if self.opening or self._shut_down:
            return
        self.opening = True
        # Opening imports SQLAlchemy and reads the database in a worker: many new objects, and a full garbage
        # collection they trigger holds the GIL while the GUI thread waits. Collect nothing until the library is
        # open; _opening_ended() then freezes what survived. (Loading the model does the same in
        # core.library.Library.recognizer.)
        if self._gc_was_enabled is None:
            self._gc_was_enabled = gc.isenabled()
        gc.disable()
        self._sidecars = (settings.xmp_sidecars, settings.xmp_convention)
        db, model, device = settings.db_path or None, settings.model_path or None, settings.library_device()
        threshold, follow_links = settings.review_threshold, settings.follow_links
        verify = settings.verify

        def work() -> tuple[Library, BaseException | None]:
            from core.library import Library

            # The model is not loaded here: an already-tagged library shows at once and never imports torch.
            lib = Library.open(db, model, device, review_threshold=threshold, follow_links=follow_links, verify=verify)
            return lib, None

        if self.open_async:
            was_enabled = self._gc_was_enabled

            def orphan(result: Any) -> None:  # the window was deleted while opening: release and restore
                if isinstance(result, tuple):
                    result[0].close()
                if was_enabled:
                    gc.enable()

            run_in_background(work, self._on_opened, self._on_open_failed, owner=self, on_orphan=orphan)
            return
        try:
            result = work()
        except Exception as exc:  # noqa: BLE001 - reported exactly like a failure in the worker thread
            self._on_open_failed(exc)
        else:
            self._on_opened(result)

    def close(self) -> None:
        """Stop tagging and watching and close the library (on quit and before reopening)."""
        lib = self.library
        if lib is None:
            return
        self.bridge.stop(STOP_TIMEOUT_S)
        if self.watching:
            try:
                lib.stop_watching()
            except (LibraryError, OSError) as exc:
                log.warning("cannot stop watching: %s", exc)
            self.watching = False
        self._polling_reason = None
        self.library = None
        try:
            lib.close()
        except (LibraryError, OSError) as exc:
            log.warning("cannot close the library: %s", exc)

    def shut_down(self) -> None:
        """Close the library for good (the window closes): a library still opening is closed when it arrives."""
        self._shut_down = True
        self.close()

    # -------------------------------------------------------------------------------- folders
    def add_folder(self, path: str | Path) -> None:
        """Add a library folder (watched at once while watching).

        Raises:
            LibraryError: no library is open, or the folder cannot be added (``FolderError``, database errors).
            OSError: the folder cannot be read.
        """
        self._require().add_folder(path)
        self.check_watch_mode()
        self.refresh_folders()

    def remove_folder(self, path: str | Path) -> None:
        """Remove a library folder (its photos leave the library; files are untouched). Stops tagging first.

        Raises:
            LibraryError: no library is open, or the folder is not a library folder / the database failed.
            OSError: the folder cannot be read.
        """
        lib = self._require()
        if self.bridge.running():
            self.bridge.stop(STOP_TIMEOUT_S)
        lib.remove_folder(path)
        self.check_watch_mode()
        self.refresh_folders()

    def folders(self) -> list[Path]:
        """The library folders ([] while no library is open).

        Raises:
            LibraryError: the database cannot be read.
        """
        return self.library.folders() if self.library is not None else []

    def refresh_folders(self) -> None:
        """Read the folders' states in a worker thread; ``foldersChanged`` follows."""
        lib = self.library
        if lib is None:
            return

        def done(infos: list) -> None:
            if lib is self.library:
                self.foldersChanged.emit(infos)

        def failed(exc: Exception) -> None:
            log.warning("cannot read the folders: %s", friendly_message(exc))

        run_in_background(lib.folder_states, done, failed, owner=self)

    def backup_if_due(self) -> None:
        """Take the rolling backup in a worker thread when one is due (``Library.backup_if_due``); a check that
        finds damage emits ``damaged``, other failures are logged."""
        lib = self.library
        if lib is None:
            return

        def failed(exc: Exception) -> None:
            if isinstance(exc, DatabaseDamagedError) and lib is self.library:
                self.damaged.emit(exc)
            else:
                log.warning("no backup taken: %s", friendly_message(exc))

        run_in_background(lib.backup_if_due, lambda _info: None, failed, owner=self)

    # -------------------------------------------------------------------------------- tagging
    def tagging(self) -> bool:
        """Whether a tagging job is running."""
        return self.bridge.running()

    def start_tagging(self) -> bool:
        """Scan the folders and tag new or changed photos in the background; ``False`` if it did not start."""
        if self.library is None or self.bridge.running():
            return False
        return self.bridge.start_tagging(self.library)

    def pause(self) -> None:
        """Pause the tagging job."""
        self.bridge.pause()

    def resume(self) -> None:
        """Resume the paused tagging job."""
        self.bridge.resume()

    def cancel(self) -> None:
        """Cancel the tagging job (committed results stay)."""
        self.bridge.cancel()

    def check_watch_mode(self) -> None:
        """Ask the library (in a worker thread) whether the watcher polls; ``pollingFallback`` when it
        newly does. Called when watching starts and after the folders changed."""
        lib = self.library
        if lib is None or not self.watching:
            return

        def done(stats: dict) -> None:
            if lib is not self.library or not self.watching:
                return
            reason = None
            if stats.get("watch_mode") == "polling":
                reason = stats.get("fallback_reason") or "file events are not available"
            if reason is not None and reason != self._polling_reason:
                self.pollingFallback.emit(reason)
            self._polling_reason = reason

        def failed(exc: Exception) -> None:
            log.warning("cannot read the watch mode: %s", friendly_message(exc))

        run_in_background(lib.stats, done, failed, owner=self)

    # -------------------------------------------------------------------------------- internals
    def _require(self) -> Library:
        if self.library is None:
            raise LibraryClosedError("the library is not open")
        return self.library

    def _opening_ended(self) -> None:
        """The library opened (or failed to): freeze the long-lived objects, collect again as before."""
        self.opening = False
        # torch, the model and SQLAlchemy leave ~10^6 long-lived objects; a full (generation-2)
        # garbage collection walking them paused the GUI thread 200-450 ms at random moments while
        # tagging. gc.freeze moves everything alive now out of the collector's reach.
        gc.freeze()
        if self._gc_was_enabled:
            gc.enable()

    def _on_opened(self, result: tuple[Library, BaseException | None]) -> None:
        self._opening_ended()
        library, model_error = result
        if self._shut_down:  # the window was closed while the library opened
            library.close()
            return
        self.library = library
        self._apply_sidecars(export=False)
        self.opened.emit(library, model_error)
        self.refresh_folders()

    # -------------------------------------------------------------------------------- XMP sidecars
    def set_sidecars(self, enabled: bool, convention: str) -> None:
        """Settings → "Write XMP sidecars": from now on corrections and tagging update the sidecars; switched on (or
        to another convention), every labelled photo's sidecar is written now, in a worker thread."""
        changed = (enabled, convention) != self._sidecars
        self._sidecars = (enabled, convention)
        self._apply_sidecars(export=enabled and changed)

    def _apply_sidecars(self, *, export: bool) -> None:
        lib = self.library
        if lib is None:
            return
        from core.domain import SidecarOptions

        enabled, convention = self._sidecars
        options = SidecarOptions(convention) if enabled else None
        lib.set_sidecar_options(options, on_report=self._on_sidecar_report)
        if export and options is not None:
            run_in_background(
                lambda: lib.export_sidecars(options),
                self._show_sidecar_report,
                lambda exc: self.sidecarProblem.emit(f"XMP sidecars not written: {friendly_message(exc)}"),
                owner=self,
            )

    def _on_sidecar_report(self, report: Any) -> None:
        """A ``SidecarReport`` from the library (any thread): handed to the GUI thread."""
        self._sidecarReport.emit(report)

    def _show_sidecar_report(self, report: Any) -> None:
        """In the GUI thread: the report's errors become one ``sidecarProblem`` line."""
        errors = report.errors
        if errors:
            first = errors[0]
            more = f" and {len(errors) - 1} more" if len(errors) > 1 else ""
            self.sidecarProblem.emit(
                f"XMP sidecar not written: {display_path(first.sidecar.name)}: {first.reason}{more}"
            )

    def _on_open_failed(self, exc: Exception) -> None:
        self._opening_ended()
        msg = friendly_message(exc)
        detail = msg if isinstance(exc, LibraryError) else getattr(exc, "__traceback_text__", msg)
        log.error("cannot open the library: %s", detail)
        if not self._shut_down:
            self.openFailed.emit(exc)

    def _on_progress(self, p: Progress) -> None:
        self.last_progress = p
        self.progress.emit(p)

    def _on_finished(self, p: Progress) -> None:
        self.last_progress = p
        self.taggingFinished.emit(p)
        self.refresh_folders()
        if p.state == "done":
            self.backup_if_due()
        if self.watch and not self.watching and self.library is not None and p.state == "done":
            self.watching = self.bridge.start_watching(self.library)
            self.check_watch_mode()
