"""The main window: it puts the parts together and carries out what the user asks.

The parts, each in its own module: ``actions`` (menus, toolbar, shortcuts), ``browser`` (albums,
search bar, grid or map, details), ``viewer`` (one photo full size over the window), ``library_session`` (opening/closing the library off the GUI thread,
tagging and watching), ``corrections_controller`` (change label, confirm ✓, reject ✗, proposals, find more
like this, undo/redo, history), plus the error banner, the proposals offer, the welcome panel and the
tagging strip in the status bar. The window adds folders, applies
settings, and turns the parts' signals into messages. Tagging and watching run in core's threads
and opening the library runs in a worker, so the GUI thread never waits on the model.
"""

from __future__ import annotations

import gc
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QIcon
from PySide6.QtWidgets import QFileDialog, QLabel, QMainWindow, QMessageBox, QStackedWidget, QVBoxLayout, QWidget

from core.domain import (
    AlbumKind,
    CheckResult,
    DatabaseDamagedError,
    FolderInfo,
    LibraryError,
    ModelError,
    NotALibraryError,
    Progress,
    display_text,
)
from core.paths import cache_dir as default_cache_dir
from core.paths import default_db_path, default_model_path
from core.photos.pathnames import display_path
from desktop.actions import WindowActions
from desktop.app import app_icon_path
from desktop.background import run_in_background
from desktop.browser import BrowserPane
from desktop.corrections_controller import CorrectionsController
from desktop.dialogs import AboutModelDialog, SettingsDialog
from desktop.errors import BannerAction, ErrorBanner, describe_model_failure, describe_open_failure, friendly_message
from desktop.library_session import LibrarySession
from desktop.proposals import ProposalOffer
from desktop.repair import RepairDialog
from desktop.settings import AppSettings
from desktop.status import TaggingStatus
from desktop.thumbnails import ThumbnailLoader
from desktop.viewer import PhotoViewer
from desktop.welcome import WelcomePanel

if TYPE_CHECKING:
    from core.library import Library

log = logging.getLogger("landmark_tagger.desktop")

#: Milliseconds between album/grid refreshes while tagging runs.
REFRESH_INTERVAL_MS = 2000
#: Milliseconds a burst of watcher changes is collected before one refresh.
CHANGE_DEBOUNCE_MS = 500
#: Milliseconds a status-bar note stays.
NOTE_MS = 8000


class MainWindow(QMainWindow):
    """The app window.

    Args:
        settings_path: INI file for ``AppSettings`` (tests use a temporary one); ``None`` = the
            platform location (or ``$LANDMARK_TAGGER_SETTINGS``).
        db_path: database file overriding the settings/platform default.
        cache_dir: thumbnail cache folder (default: ``core.paths.cache_dir()``).
        open_async: open the library in a worker thread (the window shows at once).
        auto_tag: scan and tag the folders as soon as the library is open.
        watch: watch the folders for changes once the first tagging pass is done.

    Attributes:
        settings: the ``AppSettings`` in effect. session: the ``LibrarySession``.
        browser: the ``BrowserPane``. corrections: the ``CorrectionsController``.
        menu_actions: the ``WindowActions``. banner, welcome, loading_page, stack, tagging_status: widgets.
        viewer: the full-size ``PhotoViewer`` page (Space, double-click or Enter on a photo).
        offer: the ``ProposalOffer`` strip ("3 photos may also be … — Review…") shown after a correction.

    Signals:
        libraryReady(): the library is open and the window shows it.
        taggingFinished(object): a tagging job ended (its final ``Progress``), after the window showed
            its results.
    """

    libraryReady = Signal()
    taggingFinished = Signal(object)

    def __init__(
        self,
        settings_path: str | Path | None = None,
        *,
        db_path: str | Path | None = None,
        cache_dir: str | Path | None = None,
        open_async: bool = True,
        auto_tag: bool = True,
        watch: bool = True,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self.settings_path = str(settings_path) if settings_path else None
        self.settings = AppSettings.load(self.settings_path)
        if db_path is not None:
            self.settings.db_path = str(db_path)
        self.auto_tag = auto_tag
        self.missing_folder: str | None = None
        self.damage_message: str | None = None  # why the library needs repairing (None: it does not)
        self.repair_dialog: RepairDialog | None = None
        self._tag_after_open = False  # a rebuilt library is tagged as soon as it is open
        self._offline_shown: set[str] = set()

        self.setWindowTitle("Landmark Tagger")
        icon = app_icon_path()
        if icon.is_file():
            self.setWindowIcon(QIcon(str(icon)))
        self.setAcceptDrops(True)
        self.resize(1280, 800)

        self.loader = ThumbnailLoader(
            cache_dir if cache_dir is not None else self._default_cache(),
            limit_mb=self.settings.thumb_cache_mb,
            parent=self,
        )
        self.session = LibrarySession(open_async=open_async, watch=watch, parent=self)
        self.corrections = CorrectionsController(self.loader, self)
        self._build_ui()
        self.menu_actions = WindowActions(self, self._library_folders)
        self._connect()
        self._restore_geometry()

        self.refresh_timer = QTimer(self)
        self.refresh_timer.setInterval(REFRESH_INTERVAL_MS)
        self.refresh_timer.timeout.connect(self.browser.refresh_live)
        self.change_timer = QTimer(self)
        self.change_timer.setSingleShot(True)
        self.change_timer.setInterval(CHANGE_DEBOUNCE_MS)
        self.change_timer.timeout.connect(self.refresh_all)

        self.stack.setCurrentWidget(self.loading_page)
        QTimer.singleShot(0, self.open_library)

    @property
    def library(self) -> Library | None:
        """The open ``Library`` (``None`` while opening, after a failure, after closing)."""
        return self.session.library

    # ================================================================================ building
    @staticmethod
    def _default_cache() -> Path | None:
        try:
            return default_cache_dir()
        except OSError as exc:  # the folder cannot be created: the loader's platformdirs default
            log.warning("cannot use the cache folder: %s", exc)
            return None

    def _build_ui(self) -> None:
        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(6, 6, 6, 0)
        outer.setSpacing(6)
        self.banner = ErrorBanner()
        outer.addWidget(self.banner)
        self.offer = ProposalOffer()
        outer.addWidget(self.offer)
        self.stack = QStackedWidget()
        outer.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        self.loading_page = QLabel("Opening your library…")
        self.loading_page.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stack.addWidget(self.loading_page)
        icon = app_icon_path()
        self.welcome = WelcomePanel(str(icon) if icon.is_file() else None)
        self.stack.addWidget(self.welcome)
        self.browser = BrowserPane(self.loader, self.settings.thumb_size, self.settings.review_threshold)
        self.stack.addWidget(self.browser)
        self.viewer = PhotoViewer()
        self.viewer.review_threshold = self.settings.review_threshold
        self.stack.addWidget(self.viewer)

        self.tagging_status = TaggingStatus()
        self.summary_label = QLabel()
        self.statusBar().addPermanentWidget(self.tagging_status)
        self.statusBar().addPermanentWidget(self.summary_label)

    def _connect(self) -> None:
        a, s, c, b = self.menu_actions, self.session, self.corrections, self.browser
        a.add_folder_action.triggered.connect(self.choose_folder)
        a.rescan_action.triggered.connect(self.start_tagging)
        a.retry_failed_action.triggered.connect(self.retry_failed)
        a.check_library_action.triggered.connect(self.check_library)
        a.settings_action.triggered.connect(self.open_settings)
        a.quit_action.triggered.connect(self.close)
        a.undo_action.triggered.connect(c.undo)
        a.redo_action.triggered.connect(c.redo)
        a.history_action.triggered.connect(c.show_history)
        a.proposals_action.triggered.connect(lambda: c.review_proposals())
        a.confirm_action.triggered.connect(self.confirm_selected)
        a.reject_action.triggered.connect(self.reject_selected)
        a.relabel_action.triggered.connect(self.relabel_selected)
        a.not_landmark_action.triggered.connect(self.mark_not_landmark)
        a.similar_action.triggered.connect(self._show_similar)
        a.more_like_action.triggered.connect(self.more_like_selected)
        a.find_action.triggered.connect(self._find)
        a.about_model_action.triggered.connect(self.show_model_card)
        a.about_app_action.triggered.connect(self.show_about_app)
        a.removeFolderRequested.connect(self._confirm_remove)
        a.showInFolderRequested.connect(b.details.show_in_folder)
        a.viewRequested.connect(lambda: self.open_viewer())
        a.openExternallyRequested.connect(self._open_externally)

        self.banner.actionTriggered.connect(self._on_banner_action)
        self.welcome.addFolderClicked.connect(self.choose_folder)
        b.selectionChanged.connect(lambda ids: a.set_selection(len(ids), library_open=self.library is not None))
        b.relabelRequested.connect(self.relabel_selected)
        b.confirmRequested.connect(self.confirm_selected)
        b.rejectRequested.connect(self.reject_selected)
        b.moreLikeRequested.connect(self.more_like_selected)
        b.contextMenuRequested.connect(
            lambda at: a.exec_grid_menu(self, at, one_photo=b.selected_id() is not None, failed=self._showing_failed())
        )
        b.problem.connect(self.banner.show_message)
        b.summaryChanged.connect(self.summary_label.setText)
        b.grid.viewRequested.connect(self.open_viewer)
        v = self.viewer
        v.rowChanged.connect(self._select_row)
        v.closed.connect(self._on_viewer_closed)
        v.confirmRequested.connect(self.confirm_selected)
        v.rejectRequested.connect(self.reject_selected)

        b.gridRefreshed.connect(v.refresh)  # after a correction or while tagging: the viewer finds its photo again

        c.changed.connect(self.refresh_all)
        c.namesChanged.connect(lambda names: b.set_names([n for _, n in names]))
        c.undoChanged.connect(a.set_undo)
        c.redoChanged.connect(a.set_redo)
        c.proposalsChanged.connect(a.set_proposals)
        c.offer.connect(lambda cid, n, name: self.offer.show_offer(cid, n, name or None))
        c.status.connect(lambda text: self.statusBar().showMessage(text, NOTE_MS))
        c.problem.connect(self.banner.show_message)
        c.offerWithdrawn.connect(self.offer.withdraw)
        c.proposalsChanged.connect(self._on_open_proposals)
        self.offer.reviewClicked.connect(c.review_proposals)

        s.opened.connect(self._on_library_opened)
        s.openFailed.connect(self._on_library_failed)
        s.progress.connect(self._on_progress)
        s.taggingFinished.connect(self._on_tagging_finished)
        s.watchProgress.connect(self._on_watch_progress)
        s.changed.connect(lambda _batch: self.change_timer.start())
        s.problem.connect(lambda msg: self.banner.show_message(msg, "error"))
        s.pollingFallback.connect(lambda reason: self.banner.show_message(f"Watching by polling: {reason}", "info"))
        s.foldersChanged.connect(self._on_folders_changed)
        s.damaged.connect(lambda exc: self._offer_repair(exc))
        s.sidecarProblem.connect(lambda msg: self.banner.show_message(msg, "warning"))
        self.tagging_status.pauseClicked.connect(s.pause)
        self.tagging_status.resumeClicked.connect(s.resume)
        self.tagging_status.cancelClicked.connect(s.cancel)

    def _restore_geometry(self) -> None:
        geo = AppSettings.qsettings(self.settings_path).value("window/geometry")
        if geo is not None:
            self.restoreGeometry(geo)

    def _library_folders(self) -> list[Path]:
        """The library's folders ([] while none is open or when the database cannot be read: logged)."""
        try:
            return self.session.folders()
        except LibraryError as exc:
            log.warning("cannot list the folders: %s", exc)
            return []

    # ============================================================================= library lifecycle
    def open_library(self) -> None:
        """Open the library database with the current settings, in a worker thread (the model is loaded by the
        first job that has photos to tag: the tagging strip says "Loading the model…")."""
        if self.session.opening:
            return
        self.stack.setCurrentWidget(self.loading_page)
        self.statusBar().showMessage("Opening your library…")
        self.session.open(self.settings)

    def _db_file(self) -> Path:
        """The library database file of the current settings."""
        return Path(self.settings.db_path).expanduser() if self.settings.db_path else default_db_path()

    def _on_library_failed(self, exc: Exception) -> None:
        self.statusBar().clearMessage()
        text, action, action_text = describe_open_failure(exc)
        if isinstance(exc, DatabaseDamagedError) or (isinstance(exc, NotALibraryError) and self._has_backups()):
            # A library file that no longer reads as one, with backups beside it, is damage too.
            self.damage_message = friendly_message(exc)
            action, action_text = BannerAction.REPAIR, "Restore or Rebuild…"
        self.banner.show_message(text, "error", action, action_text)
        self.loading_page.setText("The library is not open. See the message above.")
        self.stack.setCurrentWidget(self.loading_page)

    def _has_backups(self) -> bool:
        from core.library import library_backups

        try:
            return bool(library_backups(self._db_file()))
        except (LibraryError, OSError):
            return False

    def _on_library_opened(self, library: Library, model_error: BaseException | None) -> None:
        self.statusBar().clearMessage()
        self.damage_message = None
        if self.banner.showing_error():
            self.banner.hide()
        library.exclude_folder(self.loader.cache_dir)  # never index our own thumbnails
        self.browser.set_library(library)
        self.corrections.library = library
        try:
            names = library.landmark_names()
        except LibraryError as exc:
            names = []
            self.banner.show_message(f"Could not read the landmark list: {friendly_message(exc)}")
        self.corrections.names = names
        self.browser.set_names([n for _, n in names])
        self.welcome.set_landmarks([n for _, n in names])
        self._reconcile_folders(library)
        if model_error is not None:
            text, action, action_text = describe_model_failure(model_error)
            self.banner.show_message(text, "error", action, action_text)
        self.refresh_all()
        self.corrections.refresh_state()  # undo/redo and open proposals are kept in the database
        self.libraryReady.emit()
        tag_now, self._tag_after_open = self._tag_after_open, False
        if self._library_folders() and (self.auto_tag or tag_now):
            self.start_tagging()

    def _reconcile_folders(self, library: Library) -> None:
        """Settings and database agree on the folders; missing folders are reported, not dropped."""
        try:
            lib_folders = [str(f) for f in library.folders()]
            if not lib_folders and self.settings.folders:
                for f in self.settings.folders:
                    if Path(f).is_dir():
                        try:
                            library.add_folder(f)
                        except (LibraryError, OSError) as exc:
                            log.warning("cannot re-add %s: %s", f, exc)
                lib_folders = [str(f) for f in library.folders()]
        except LibraryError as exc:
            self.banner.show_message(f"Could not read the library folders: {friendly_message(exc)}")
            return
        self.settings.folders = lib_folders
        self.settings.save(self.settings_path)
        missing = [f for f in lib_folders if not Path(f).is_dir()]
        if missing:
            self.missing_folder = missing[0]
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            self._offline_shown.update(missing)
            self.banner.show_message(
                f"The folder {display_path(missing[0])}{more} cannot be found. Is the drive disconnected? Its "
                "photos stay in the library, shown as offline, and it is watched again as soon as it is back.",
                "warning",
                BannerAction.REMOVE_MISSING,
                "Remove Folder",
            )

    def _on_folders_changed(self, infos: list[FolderInfo]) -> None:
        """The folders' states changed: show them in the sidebar; tell about a folder that went away or came
        back; re-read the grid so that offline photos are marked."""
        self.browser.sidebar.set_folders(infos)
        for f in infos:
            key = str(f.path)
            if f.offline and key not in self._offline_shown:
                self._offline_shown.add(key)
                self.missing_folder = key
                self.banner.show_message(
                    f"The folder {display_path(f.path)} {display_text(f.reason or f.state)}. Its {f.photos} photo(s) "
                    "stay in the library, shown as offline, and it is watched again as soon as it is back.",
                    "warning",
                    BannerAction.REMOVE_MISSING,
                    "Remove Folder",
                )
            elif not f.offline and key in self._offline_shown:
                self._offline_shown.discard(key)
                self.statusBar().showMessage(f"The folder {display_path(f.path)} is back; watching it again.", NOTE_MS)
                if self.banner.isVisible() and self.missing_folder == key:
                    self.banner.hide()
        self.change_timer.start()

    def close_library(self) -> None:
        """Stop tagging/watching and close the library (used on quit and before reopening)."""
        if self.library is None:
            return
        if self.stack.currentWidget() is self.viewer:
            self.viewer.close_viewer()
        self.refresh_timer.stop()
        self.corrections.wait_idle()
        self.offer.dismiss()
        self.session.close()
        self.loader.cancel_pending()
        self.loader.wait_idle(5000)
        self.browser.set_library(None)
        self.corrections.library = None

    # ================================================================================ refreshing
    def refresh_all(self) -> None:
        """Show the welcome panel while the library is empty, else re-read albums, grid and details."""
        lib = self.library
        if lib is None:
            return
        has_folders = bool(self.settings.folders)
        if not has_folders:
            try:
                has_folders = lib.count() > 0
            except LibraryError:
                has_folders = False
        if not (has_folders and self.stack.currentWidget() is self.viewer):  # the viewer stays open over a refresh
            self.stack.setCurrentWidget(self.browser if has_folders else self.welcome)
        if not has_folders:
            self.summary_label.setText("")
            return
        self.browser.refresh()

    # ================================================================================ folders
    def choose_folder(self) -> None:
        """Ask for a folder (Ctrl+O, the welcome panel's button) and add it."""
        path = QFileDialog.getExistingDirectory(self, "Add a photo folder")
        if path:
            self.add_folder(path)

    def add_folder(self, path: str | Path) -> bool:
        """Add a watched folder and start tagging it; ``False`` (with a message) if it cannot be added."""
        if self.library is None:
            self.banner.show_message("The library is not open yet.", "warning")
            return False
        p = Path(path).expanduser()
        if not p.exists():
            self.banner.show_message(
                f"The folder {display_path(p)} does not exist. Was it moved or renamed, or is the drive disconnected?",
                "error",
            )
            return False
        if not p.is_dir():
            self.banner.show_message(f"{p} is a file, not a folder. Add the folder that holds your photos.", "error")
            return False
        try:
            self.session.add_folder(p)
            self._save_folders()
        except (LibraryError, OSError) as exc:
            self.banner.show_message(f"Cannot add {display_path(p)}: {friendly_message(exc)}", "error")
            return False
        self.statusBar().showMessage(f"Added {display_path(p)}. Looking for photos…", 5000)
        self.refresh_all()
        if self.auto_tag:
            self.start_tagging()
        return True

    def remove_folder(self, path: str | Path) -> bool:
        """Stop watching a folder and forget its photos' labels (the photos themselves are untouched)."""
        if self.library is None:
            return False
        try:
            self.session.remove_folder(path)
            self._save_folders()
        except (LibraryError, OSError) as exc:
            self.banner.show_message(f"Cannot remove {display_path(path)}: {friendly_message(exc)}", "error")
            return False
        self.statusBar().showMessage(
            f"Removed {display_path(path)} from the library (your files were not touched).", 5000
        )
        self.refresh_all()
        self.prune_thumbnails()
        return True

    def prune_thumbnails(self) -> None:
        """Drop the cached thumbnails of photos that left the library (a folder removed, files deleted), off the
        GUI thread: after a folder is removed and after each tagging job (its scan notices deleted files)."""
        lib = self.library
        if lib is None:
            return
        run_in_background(
            lib.file_keys,
            self.loader.prune_removed,
            lambda exc: log.warning("thumbnail cache not pruned: %s", friendly_message(exc)),
            owner=self,
        )

    def _save_folders(self) -> None:
        """Settings follow the library's folders. Raises ``LibraryError`` when the database cannot be read."""
        self.settings.folders = [str(f) for f in self.session.folders()]
        self.settings.save(self.settings_path)

    def _confirm_remove(self, folder: str) -> None:
        answer = QMessageBox.question(
            self,
            "Remove folder",
            f"Stop watching {display_path(folder)}?\n\nIts photos leave the library, with the labels you gave them; "
            "the files on disk are not touched.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.remove_folder(folder)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(u.isLocalFile() and Path(u.toLocalFile()).is_dir() for u in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        folders = [
            u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile() and Path(u.toLocalFile()).is_dir()
        ]
        for f in folders:
            self.add_folder(f)
        if folders:
            event.acceptProposedAction()

    # ================================================================================ tagging
    def start_tagging(self) -> None:
        """Scan the folders and tag new or changed photos in the background (F5)."""
        if self.session.start_tagging():
            self.loader.pool.setMaxThreadCount(1)  # leave the cores to the tagger
            self.refresh_timer.start()

    def _on_progress(self, p: Progress) -> None:
        self.browser.tagging_in_progress = p.state in ("scanning", "tagging")
        self.tagging_status.update_progress(p)

    def _on_watch_progress(self, p: Progress) -> None:
        """Progress of the watcher's own tagging (new or changed files): shown like a tagging job."""
        if not self.session.tagging():
            self.tagging_status.update_progress(p)
        if p.state == "failed":
            self.banner.show_message(
                f"Watching the folders stopped: {p.message or 'unknown error'}",
                "error",
                BannerAction.RETAG,
                "Scan Again",
            )
        if p.state in ("done", "cancelled"):
            self.change_timer.start()

    def _on_tagging_finished(self, p: Progress) -> None:
        self.refresh_timer.stop()
        self.loader.pool.setMaxThreadCount(2)
        self.tagging_status.update_progress(p)
        job = self.session.bridge.job
        error = getattr(job, "error", None)
        if p.state == "failed" and isinstance(error, DatabaseDamagedError):
            self._offer_repair(error)
        elif p.state == "failed" and isinstance(error, ModelError):  # loaded for this job: the library stays open
            text, action, action_text = describe_model_failure(error)
            self.banner.show_message(text, "error", action, action_text)
        elif p.state == "failed":
            self.banner.show_message(
                f"Tagging stopped: {p.message or 'unknown error'}", "error", BannerAction.RETAG, "Try Again"
            )
        elif p.state == "cancelled":
            self.statusBar().showMessage(f"Tagging cancelled after {p.done:,} photos. Press F5 to continue.", NOTE_MS)
        else:
            self.statusBar().showMessage(f"All photos tagged ({p.done:,} this time).", NOTE_MS)
        self.refresh_all()
        self.corrections.refresh_state()  # newly tagged photos may have got proposals
        if p.state == "done":
            self.prune_thumbnails()
        self.taggingFinished.emit(p)

    # ================================================================================ viewer
    def open_viewer(self, row: int | None = None) -> None:
        """Show the grid's photo at ``row`` (default: the current one) full size (Space, double-click, Enter)."""
        b = self.browser
        if self.library is None or b.showing_map or b.grid_model.rowCount() == 0:
            return
        if row is None or row < 0:
            current = b.grid.currentIndex()
            rows = b.selected_rows()
            row = current.row() if current.isValid() else rows[0] if rows else 0
        self.viewer.review_threshold = self.settings.review_threshold
        self.stack.setCurrentWidget(self.viewer)
        self.viewer.open(b.grid_model, row)

    def _leave_viewer(self) -> None:
        """Close the viewer (if open) before a command that changes what the grid shows."""
        if self.stack.currentWidget() is self.viewer:
            self.viewer.close_viewer()

    def _show_similar(self) -> None:
        """S: the grid shows the photos similar to the selected one (the viewer closes first)."""
        self._leave_viewer()
        self.browser.show_similar(self.browser.selected_id())

    def _find(self) -> None:
        """Ctrl+F: the search field (the viewer closes first)."""
        self._leave_viewer()
        self.browser.search_bar.focus_field()

    def _open_externally(self) -> None:
        """The grid's context menu → Open in System Viewer: the selected photo in the system's image viewer."""
        photo_id = self.browser.selected_id()
        if photo_id is not None:
            self.browser.open_photo(photo_id)

    def _select_row(self, row: int) -> None:
        """The viewer moved to ``row``: the grid selects it (the window's commands act on the selection)."""
        from PySide6.QtCore import QItemSelectionModel

        grid, model = self.browser.grid, self.browser.grid_model
        idx = model.index(row)
        if not idx.isValid():
            return
        grid.selectionModel().setCurrentIndex(idx, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        grid.scrollTo(idx)

    def _on_viewer_closed(self) -> None:
        self.stack.setCurrentWidget(self.browser if self.library is not None else self.loading_page)
        self.browser.grid.setFocus()

    # ================================================================================ corrections
    def _on_open_proposals(self, count: int) -> None:
        """No proposal is open any more (accepted, dismissed or withdrawn): the offer has nothing to show."""
        if count == 0:
            self.offer.dismiss()

    def _showing_failed(self) -> bool:
        """The Failed album fills the grid."""
        ref = self.browser.sidebar.current_ref()
        return ref is not None and ref.kind == AlbumKind.FAILED

    def retry_failed(self) -> None:
        """Tag the failed photos again: the selected ones while the Failed album is shown, else all of them."""
        lib = self.library
        if lib is None:
            return
        ids = self.browser.selected_ids() if self._showing_failed() else []
        try:
            n = lib.retry_failed(ids or None)
        except LibraryError as exc:
            self.banner.show_message(f"Cannot retry the failed photos: {friendly_message(exc)}", "error")
            return
        if n == 0:
            self.statusBar().showMessage("No failed photos to retry.", NOTE_MS)
            return
        self.statusBar().showMessage(f"Tagging {n:,} failed photo(s) again…", NOTE_MS)
        self.refresh_all()
        self.start_tagging()

    # ================================================================================ database safety
    def check_library(self) -> None:
        """Settings → Check Library: ``PRAGMA integrity_check`` in a worker thread, then the verdict."""
        lib = self.library
        path = self._db_file()

        def work() -> CheckResult:
            if lib is not None:
                return lib.check(full=True)
            from core.library import check_library

            return check_library(path, full=True)

        def done(result: CheckResult) -> None:
            self.statusBar().clearMessage()
            if result.ok:
                QMessageBox.information(
                    self, "Check Library", f"No damage found in the library database ({result.seconds:.1f} s)."
                )
                return
            self._offer_repair(DatabaseDamagedError(f"the check found damage: {result.problems[0]}", path))

        def failed(exc: Exception) -> None:
            self.statusBar().clearMessage()
            if isinstance(exc, DatabaseDamagedError):
                self._offer_repair(exc)
            else:
                self.banner.show_message(f"Cannot check the library: {friendly_message(exc)}", "error")

        self.statusBar().showMessage("Checking the library database for damage…")
        run_in_background(work, done, failed, owner=self)

    def _offer_repair(self, exc: BaseException) -> None:
        """Damage was found: say so in the banner and open the Restore or Rebuild dialog."""
        self.damage_message = friendly_message(exc)
        text, _action, button = describe_open_failure(DatabaseDamagedError(self.damage_message))
        self.banner.show_message(text, "error", BannerAction.REPAIR, button)
        self.repair_library()

    def repair_library(self) -> None:
        """Open the Restore or Rebuild dialog (``desktop.repair.RepairDialog``) over the backups of the library."""
        from core.library import library_backups

        try:
            backups = library_backups(self._db_file())
        except (LibraryError, OSError):
            backups = []
        dlg = RepairDialog(backups, self.damage_message or "The library database needs repairing.", self)
        dlg.restoreRequested.connect(self._restore)
        dlg.rebuildRequested.connect(self._rebuild)
        self.repair_dialog = dlg
        dlg.open()

    def _restore(self, backup) -> None:
        from core.library import restore_library

        path = self._db_file()
        self.close_library()
        self.statusBar().showMessage("Restoring the library from the backup…")

        def done(_replaced) -> None:
            self.statusBar().showMessage("The library was restored from the backup.", NOTE_MS)
            self.open_library()

        run_in_background(lambda: restore_library(path, backup), done, self._repair_failed, owner=self)

    def _rebuild(self) -> None:
        from core.library import rebuild_library

        path = self._db_file()
        self.close_library()
        self.statusBar().showMessage("Rebuilding the library from your photos…")

        def done(report) -> None:
            kept = report.rows.get("corrections", 0)
            self.statusBar().showMessage(f"Library rebuilt ({kept} correction(s) kept); tagging your photos…", NOTE_MS)
            self._tag_after_open = True
            self.open_library()

        run_in_background(lambda: rebuild_library(path), done, self._repair_failed, owner=self)

    def _repair_failed(self, exc: Exception) -> None:
        self.statusBar().clearMessage()
        self.banner.show_message(
            f"The repair did not work: {friendly_message(exc)}", "error", BannerAction.REPAIR, "Restore or Rebuild…"
        )

    def relabel_selected(self) -> None:
        """Open the relabel dialog for the selected photos (L; non-blocking)."""
        self.corrections.relabel(self.browser.selected_ids(), self.browser.selected_label_name())

    def mark_not_landmark(self) -> None:
        """Label the selected photos "not a landmark" (N)."""
        self.corrections.mark_not_landmark(self.browser.selected_ids())

    def confirm_selected(self) -> None:
        """Confirm ✓ the labels of the selected photos (Y): they become the person's, locked."""
        self.corrections.confirm(self.browser.selected_ids())

    def reject_selected(self) -> None:
        """Reject ✗ the labels of the selected photos (X): each takes the model's next guess."""
        self.corrections.reject(self.browser.selected_ids())

    def more_like_selected(self) -> None:
        """Find more like this (M): proposals for photos that look like the selected ones."""
        self.corrections.more_like(self.browser.selected_ids())

    # ================================================================================ settings, dialogs
    def open_settings(self) -> None:
        """Show the Settings dialog (non-blocking); accepting it applies the settings."""
        folders = self._library_folders()
        if self.library is not None:
            self.settings.folders = [str(f) for f in folders]
        dlg = SettingsDialog(self.settings, str(default_model_path()), self)
        dlg.checkRequested.connect(self.check_library)
        self.settings_dialog = dlg
        dlg.accepted.connect(lambda: self.apply_settings(dlg.result_settings()))
        dlg.open()

    def apply_settings(self, new: AppSettings) -> None:
        """Save ``new`` and apply it: folders added/removed, model/device/threshold reload the library; switching XMP
        sidecars on writes them for every labelled photo (in the background)."""
        old = self.settings
        reopen = (new.model_path, new.device, new.review_threshold, new.db_path, new.follow_links, new.verify) != (
            old.model_path,
            old.device,
            old.review_threshold,
            old.db_path,
            old.follow_links,
            old.verify,
        )
        if new.thumb_size != old.thumb_size:
            self.loader.clear_memory()
            self.browser.set_thumb_size(new.thumb_size)
        if new.thumb_cache_mb != old.thumb_cache_mb:
            self.loader.set_limit_mb(new.thumb_cache_mb)
        self.browser.set_review_threshold(new.review_threshold)
        self.viewer.review_threshold = new.review_threshold
        wanted = list(new.folders)
        self.settings = new
        if self.library is not None:
            have = [str(f) for f in self._library_folders()]
            for f in have:
                if f not in wanted:
                    self.remove_folder(f)
            for f in wanted:
                if f not in have:
                    self.add_folder(f)
            new.folders = [str(f) for f in self._library_folders()]
        new.save(self.settings_path)
        if reopen or self.library is None:
            self.close_library()
            self.open_library()
        elif (new.xmp_sidecars, new.xmp_convention) != (old.xmp_sidecars, old.xmp_convention):
            self.session.set_sidecars(new.xmp_sidecars, new.xmp_convention)

    def show_model_card(self) -> None:
        """Show the model card of the open library's model."""
        lib = self.library
        if lib is None:
            self.banner.show_message("The model is not loaded.", "warning")
            return
        try:
            card = lib.model_card()
        except (LibraryError, OSError) as exc:
            self.banner.show_message(f"Cannot read the model card: {friendly_message(exc)}")
            return
        self.about_dialog = AboutModelDialog(card, dict(self.corrections.names), self)
        self.about_dialog.open()

    def show_about_app(self) -> None:
        """The About box (what the app does, where the settings are)."""
        QMessageBox.about(
            self,
            "About Landmark Tagger",
            "<h3>Landmark Tagger</h3><p>Names the landmark in your photos that have no GPS "
            "location, on this computer. Your photos are never uploaded or modified.</p>"
            f"<p>Settings: {AppSettings.settings_file(self.settings_path)}</p>",
        )

    def _on_banner_action(self, action: BannerAction) -> None:
        self.banner.hide()
        if action is BannerAction.SETTINGS:
            self.open_settings()
        elif action is BannerAction.RETRY:
            self.open_library()
        elif action is BannerAction.RETAG:
            self.start_tagging()
        elif action is BannerAction.REMOVE_MISSING and self.missing_folder is not None:
            self.remove_folder(self.missing_folder)
        elif action is BannerAction.REPAIR:
            self.repair_library()

    # ================================================================================ closing
    def closeEvent(self, event: QCloseEvent) -> None:
        qs = AppSettings.qsettings(self.settings_path)
        qs.setValue("window/geometry", self.saveGeometry())
        qs.sync()
        self.settings.save(self.settings_path)
        self.close_library()
        self.session.shut_down()
        gc.unfreeze()  # let interpreter shutdown collect normally (native extensions check for leaks)
        super().closeEvent(event)
