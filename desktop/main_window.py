"""The main window: album sidebar, search + filters, thumbnail grid, details pane, tagging status.

Every database read here is small (album list, one page of rows, one photo); tagging and watching run
in core's own threads and report through ``TaggingBridge`` signals, so the GUI thread never waits on
the model. Opening the library (which loads the model) also runs in a worker thread.
"""

from __future__ import annotations

import gc
import logging
from pathlib import Path

from PySide6.QtCore import QDate, QDateTime, Qt, QThreadPool, QTime, QTimer, Signal
from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.background import TaggingBridge, run_in_background
from desktop.details import DetailsPane
from desktop.dialogs import AboutModelDialog, SettingsDialog
from desktop.errors import ErrorBanner, friendly_message
from desktop.photo_grid import PhotoGridModel, PhotoGridView
from desktop.relabel import RelabelDialog, SuggestionsDialog, make_completer
from desktop.settings import AppSettings
from desktop.sidebar import AlbumSidebar
from desktop.status import TaggingStatus
from desktop.thumbnails import ThumbnailLoader
from desktop.welcome import WelcomePanel

log = logging.getLogger("landmark_tagger.desktop")

#: Milliseconds between album/grid refreshes while tagging runs.
REFRESH_INTERVAL_MS = 2000
#: Debounce of the search field (milliseconds after the last key press).
SEARCH_DEBOUNCE_MS = 250

CONFIDENCE_FILTERS = [  # (label, min, max) — confidence in [0, 1]; None = review threshold
    ("Any confidence", None, None),
    ("Confident (≥ 80%)", 0.8, None),
    ("Fairly sure (≥ 50%)", 0.5, None),
    ("Unsure (below review threshold)", None, "review"),
]
SOURCE_FILTERS = [("Any source", None), ("Labelled by the model", "model"), ("Labelled by you", "manual")]


def resources_icon_path() -> Path:
    """``resources/icons/landmark-tagger.png`` (also when frozen, via ``core.paths``)."""
    try:
        from core.paths import resources_dir

        return resources_dir() / "icons" / "landmark-tagger.png"
    except ImportError:  # pragma: no cover
        return Path(__file__).resolve().parents[1] / "resources" / "icons" / "landmark-tagger.png"


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

    Signals:
        libraryReady(): the library is open and the window shows it.
        taggingFinished(object): a tagging job ended (its final ``Progress``).
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
        parent=None,
    ):
        super().__init__(parent)
        self.settings_path = str(settings_path) if settings_path else None
        self.settings = AppSettings.load(self.settings_path)
        if db_path is not None:
            self.settings.db_path = str(db_path)
        self.open_async = open_async
        self.auto_tag = auto_tag
        self.watch = watch
        self.library = None
        self.opening = False
        self.watching = False
        self.undo_stack: list = []
        self.names: list[tuple[str, str]] = []
        self.relabel_dialog: RelabelDialog | None = None
        self.suggestions_dialog: SuggestionsDialog | None = None
        self.last_progress = None
        self.similar_to: int | None = None

        self.setWindowTitle("Landmark Tagger")
        icon = resources_icon_path()
        if icon.is_file():
            self.setWindowIcon(QIcon(str(icon)))
        self.setAcceptDrops(True)
        self.resize(1280, 800)

        if cache_dir is None:
            try:
                from core.paths import cache_dir as core_cache_dir

                cache_dir = core_cache_dir()
            except Exception:  # noqa: BLE001 - falls back to platformdirs
                cache_dir = None
        self.loader = ThumbnailLoader(cache_dir, parent=self)
        self.bridge = TaggingBridge(self)
        self._build_ui()
        self._build_actions()
        self._restore_geometry()

        self._live_busy = False
        self._closed = False
        self._reader_pool = QThreadPool(self)
        self._reader_pool.setMaxThreadCount(1)
        self.refresh_timer = QTimer(self)
        self.refresh_timer.setInterval(REFRESH_INTERVAL_MS)
        self.refresh_timer.timeout.connect(self.refresh_live)
        self.change_timer = QTimer(self)
        self.change_timer.setSingleShot(True)
        self.change_timer.setInterval(500)
        self.change_timer.timeout.connect(self.refresh_all)
        self.search_timer = QTimer(self)
        self.search_timer.setSingleShot(True)
        self.search_timer.setInterval(SEARCH_DEBOUNCE_MS)
        self.search_timer.timeout.connect(self.apply_filters)

        self.bridge.progress.connect(self._on_progress)
        self.bridge.finished.connect(self._on_tagging_finished)
        self.bridge.watchProgress.connect(self._on_watch_progress)
        self.bridge.changed.connect(lambda _c: self.change_timer.start())
        self.bridge.error.connect(lambda msg: self.banner.show_message(msg, "error"))

        self.stack.setCurrentWidget(self.loading_page)
        QTimer.singleShot(0, self.open_library)

    # ================================================================================ UI building
    def _build_ui(self) -> None:
        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(6, 6, 6, 0)
        outer.setSpacing(6)
        self.banner = ErrorBanner()
        self.banner.actionTriggered.connect(self._on_banner_action)
        outer.addWidget(self.banner)
        self.stack = QStackedWidget()
        outer.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        self.loading_page = QLabel("Opening your library…")
        self.loading_page.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stack.addWidget(self.loading_page)

        icon = resources_icon_path()
        self.welcome = WelcomePanel(str(icon) if icon.is_file() else None)
        self.welcome.addFolderClicked.connect(self.choose_folder)
        self.stack.addWidget(self.welcome)

        self.browser = QSplitter(Qt.Orientation.Horizontal)
        self.sidebar = AlbumSidebar(self.loader)
        self.sidebar.albumSelected.connect(self._on_album_selected)
        self.browser.addWidget(self.sidebar)

        middle = QWidget()
        ml = QVBoxLayout(middle)
        ml.setContentsMargins(0, 0, 0, 0)
        ml.setSpacing(4)
        search_row = QHBoxLayout()
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search landmarks…  (e.g. Colosseum, taj, petra)")
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumWidth(240)
        self.search.textChanged.connect(lambda _t: self.search_timer.start())
        self.search.returnPressed.connect(self.apply_filters)
        search_row.addWidget(self.search, 1)
        self.confidence_filter = QComboBox()
        for label, *_ in CONFIDENCE_FILTERS:
            self.confidence_filter.addItem(label)
        self.confidence_filter.setToolTip("Filter by the model's confidence")
        self.confidence_filter.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.source_filter = QComboBox()
        for label, _ in SOURCE_FILTERS:
            self.source_filter.addItem(label)
        self.source_filter.setToolTip("Labels from the model, or the ones you set")
        self.source_filter.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.date_check = QCheckBox("Taken between")
        self.date_from = QDateEdit(QDate.currentDate().addYears(-10))
        self.date_to = QDateEdit(QDate.currentDate())
        for d in (self.date_from, self.date_to):
            d.setCalendarPopup(True)
            d.setDisplayFormat("yyyy-MM-dd")
            d.setEnabled(False)
            d.dateChanged.connect(lambda _d: self.date_check.isChecked() and self.apply_filters())
        self.date_check.toggled.connect(self._on_date_toggled)
        self.confidence_filter.currentIndexChanged.connect(lambda _i: self.apply_filters())
        self.source_filter.currentIndexChanged.connect(lambda _i: self.apply_filters())
        search_row.addWidget(self.confidence_filter)
        search_row.addWidget(self.source_filter)
        search_row.addWidget(self.date_check)
        search_row.addWidget(self.date_from)
        search_row.addWidget(QLabel("–"))
        search_row.addWidget(self.date_to)
        ml.addLayout(search_row)

        header_row = QHBoxLayout()
        self.grid_title = QLabel()
        self.grid_title.setStyleSheet("font-size:15pt; font-weight:600;")
        self.back_button = QPushButton("← Back to album")
        self.back_button.hide()
        self.back_button.clicked.connect(self._leave_similar)
        header_row.addWidget(self.grid_title, 1)
        header_row.addWidget(self.back_button)
        ml.addLayout(header_row)

        self.grid_model = PhotoGridModel(self.loader, self.settings.thumb_size, self)
        self.grid = PhotoGridView(edge=self.settings.thumb_size)
        self.grid.setModel(self.grid_model)
        self.grid.delegate.review_threshold = self.settings.review_threshold
        self.grid.selectionModel().selectionChanged.connect(lambda *_: self._on_grid_selection())
        self.grid.customContextMenuRequested.connect(self._grid_menu)
        self.grid.photoActivated.connect(self.open_photo)
        self.grid_empty = QLabel()
        self.grid_empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.grid_empty.setStyleSheet("color:#6b7280; font-size:13pt;")
        self.grid_empty.hide()
        ml.addWidget(self.grid, 1)
        ml.addWidget(self.grid_empty, 1)
        self.browser.addWidget(middle)

        self.details = DetailsPane(self.loader)
        self.details.relabelRequested.connect(self.relabel_selected)
        self.details.similarRequested.connect(self.show_similar)
        self.browser.addWidget(self.details)
        self.browser.setStretchFactor(0, 0)
        self.browser.setStretchFactor(1, 1)
        self.browser.setStretchFactor(2, 0)
        self.browser.setSizes([280, 680, 340])
        self.stack.addWidget(self.browser)

        self.tagging_status = TaggingStatus()
        self.tagging_status.pauseClicked.connect(self.bridge.pause)
        self.tagging_status.resumeClicked.connect(self.bridge.resume)
        self.tagging_status.cancelClicked.connect(self.bridge.cancel)
        self.summary_label = QLabel()
        self.statusBar().addPermanentWidget(self.tagging_status)
        self.statusBar().addPermanentWidget(self.summary_label)

    def _build_actions(self) -> None:
        mb = self.menuBar()
        file_menu = mb.addMenu("&File")
        self.add_folder_action = QAction(
            "&Add Photo Folder…", self, shortcut=QKeySequence.StandardKey.Open, triggered=self.choose_folder
        )
        self.remove_folder_menu = QMenu("&Remove Folder", self)
        self.remove_folder_menu.aboutToShow.connect(self._fill_remove_menu)
        self.rescan_action = QAction(
            "Scan Folders &Now", self, shortcut=QKeySequence("F5"), triggered=self.start_tagging
        )
        self.settings_action = QAction(
            "&Settings…", self, shortcut=QKeySequence("Ctrl+,"), triggered=self.open_settings
        )
        self.settings_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        quit_action = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit, triggered=self.close)
        file_menu.addAction(self.add_folder_action)
        file_menu.addMenu(self.remove_folder_menu)
        file_menu.addAction(self.rescan_action)
        file_menu.addSeparator()
        file_menu.addAction(self.settings_action)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)

        edit_menu = mb.addMenu("&Edit")
        self.undo_action = QAction("&Undo", self, shortcut=QKeySequence.StandardKey.Undo, triggered=self.undo)
        self.undo_action.setEnabled(False)
        self.relabel_action = QAction(
            "&Change Label…", self, shortcut=QKeySequence("L"), triggered=self.relabel_selected
        )
        self.not_landmark_action = QAction(
            "&Not a Landmark", self, shortcut=QKeySequence("N"), triggered=self.mark_not_landmark
        )
        self.similar_action = QAction(
            "Show &Similar Photos",
            self,
            shortcut=QKeySequence("S"),
            triggered=lambda: self.show_similar(self.selected_id()),
        )
        self.find_action = QAction(
            "&Find",
            self,
            shortcut=QKeySequence.StandardKey.Find,
            triggered=lambda: (self.search.setFocus(), self.search.selectAll()),
        )
        for a in (
            self.undo_action,
            None,
            self.relabel_action,
            self.not_landmark_action,
            self.similar_action,
            None,
            self.find_action,
        ):
            if a is None:
                edit_menu.addSeparator()
            else:
                edit_menu.addAction(a)
        for a in (self.relabel_action, self.not_landmark_action, self.similar_action):
            a.setEnabled(False)

        help_menu = mb.addMenu("&Help")
        self.about_model_action = QAction("About the &Model…", self, triggered=self.show_model_card)
        help_menu.addAction(self.about_model_action)
        help_menu.addAction(QAction("&About Landmark Tagger", self, triggered=self._about_app))

        tb = self.addToolBar("Main")
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for a in (
            self.add_folder_action,
            self.rescan_action,
            None,
            self.relabel_action,
            self.not_landmark_action,
            self.similar_action,
            self.undo_action,
            None,
            self.settings_action,
            self.about_model_action,
        ):
            if a is None:
                tb.addSeparator()
            else:
                tb.addAction(a)

    def _restore_geometry(self) -> None:
        geo = AppSettings.qsettings(self.settings_path).value("window/geometry")
        if geo is not None:
            self.restoreGeometry(geo)

    # ============================================================================= library lifecycle
    def open_library(self) -> None:
        """Open the library (database + model) with the current settings, in a worker thread."""
        if self.opening:
            return
        self.opening = True
        # Opening imports torch and builds the model in a worker: hundreds of thousands of new objects,
        # and each full garbage collection they trigger (up to ~0.6 s, GIL held) froze the GUI thread.
        # Collect nothing until the library is open; _opened() then freezes what survived.
        self._gc_was_enabled = getattr(self, "_gc_was_enabled", None)
        if self._gc_was_enabled is None:
            self._gc_was_enabled = gc.isenabled()
        gc.disable()
        self.stack.setCurrentWidget(self.loading_page)
        self.statusBar().showMessage("Opening your library and loading the model…")
        s = self.settings
        model = s.model_path or None

        def work():
            from core.library import Library

            lib = Library.open(s.db_path or None, model, s.library_device(), review_threshold=s.review_threshold)
            # Load the model now, in this worker, while the window says "Opening…": importing torch
            # and building the network hold the GIL for long stretches, which would otherwise stall the
            # GUI thread at the start of the first tagging job. A model that fails here is reported
            # but the library stays open for browsing.
            try:
                lib.recognizer()
            except Exception as exc:  # noqa: BLE001 - shown by _on_library_opened
                lib.warmup_error = exc
            return lib

        if self.open_async:
            was_enabled = self._gc_was_enabled

            def orphan(result):  # the window was closed while opening: release and restore
                if not isinstance(result, Exception):
                    result.close()
                if was_enabled:
                    gc.enable()

            run_in_background(work, self._on_library_opened, self._on_library_failed, owner=self, on_orphan=orphan)
        else:
            try:
                lib = work()
            except Exception as exc:  # noqa: BLE001
                self._on_library_failed(exc)
            else:
                self._on_library_opened(lib)

    def _opened(self) -> None:
        """The library opened (or failed to): freeze the long-lived objects, collect again as before."""
        self.opening = False
        gc.freeze()
        if self._gc_was_enabled:
            gc.enable()

    def _on_library_failed(self, exc: Exception) -> None:
        self._opened()
        msg = friendly_message(exc)
        for prefix in ("cannot use the model: ", "cannot load the model: "):
            if msg.startswith(prefix):
                msg = msg[len(prefix) :]
        expected = type(exc).__name__ == "LibraryError"
        log.error("cannot open the library: %s", msg if expected else getattr(exc, "__traceback_text__", msg))
        self.statusBar().clearMessage()
        lower = msg.lower()
        if "model" in lower or "bundle" in lower:
            self.banner.show_message(
                f"The model could not be loaded: {msg}", "error", "settings", "Choose Another Model…"
            )
        elif "lock" in lower:
            self.banner.show_message(f"The library database is busy: {msg}", "error", "retry", "Try Again")
        else:
            self.banner.show_message(f"The library could not be opened: {msg}", "error", "retry", "Try Again")
        self.loading_page.setText("The library is not open. See the message above.")
        self.stack.setCurrentWidget(self.loading_page)

    def _on_library_opened(self, library) -> None:
        # torch, the model and SQLAlchemy leave ~10^6 long-lived objects; a full (generation-2)
        # garbage collection walking them paused the GUI thread 200-450 ms at random moments while
        # tagging. _opened() moves everything alive now out of the collector's reach (gc.freeze).
        self._opened()
        if self._closed:  # the window was closed while the library opened
            library.close()
            return
        self.library = library
        self.statusBar().clearMessage()
        if self.banner.isVisible() and getattr(self.banner, "level", "") == "error":
            self.banner.hide()
        self.sidebar.library = library
        self.grid_model.library = library
        try:
            self.names = library.landmark_names()
        except Exception as exc:  # noqa: BLE001
            self.names = []
            self.banner.show_message(f"Could not read the landmark list: {friendly_message(exc)}")
        self.search.setCompleter(make_completer([n for _, n in self.names], self))
        self.welcome.set_landmarks([n for _, n in self.names])
        self._reconcile_folders()
        warm = getattr(library, "warmup_error", None)
        if warm is not None:
            self.banner.show_message(
                f"The model could not be loaded: {friendly_message(warm)}", "error", "settings", "Choose Another Model…"
            )
        self.refresh_all()
        self.libraryReady.emit()
        if self.library.folders() and self.auto_tag:
            self.start_tagging()

    def _reconcile_folders(self) -> None:
        """Settings and database agree on the folders; missing folders are reported, not dropped."""
        lib_folders = [str(f) for f in self.library.folders()]
        if not lib_folders and self.settings.folders:
            for f in self.settings.folders:
                if Path(f).is_dir():
                    try:
                        self.library.add_folder(f)
                    except Exception as exc:  # noqa: BLE001
                        log.warning("cannot re-add %s: %s", f, exc)
            lib_folders = [str(f) for f in self.library.folders()]
        self.settings.folders = lib_folders
        self.settings.save(self.settings_path)
        missing = [f for f in lib_folders if not Path(f).is_dir()]
        if missing:
            self.missing_folder = missing[0]
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            self.banner.show_message(
                f"The folder {missing[0]}{more} cannot be found. Is the drive disconnected? Its photos stay in "
                "the library until you remove the folder.",
                "warning",
                "remove-missing",
                "Remove Folder",
            )

    def close_library(self) -> None:
        """Stop tagging/watching and close the library (used on quit and before reopening)."""
        lib = self.library
        if lib is None:
            return
        self.refresh_timer.stop()
        if self.bridge.job is not None:
            try:
                self.bridge.cancel()
                self.bridge.job.wait(10)
            except Exception:  # noqa: BLE001
                pass
        if self.watching:
            try:
                lib.stop_watching()
            except Exception:  # noqa: BLE001
                pass
            self.watching = False
        self.loader.cancel_pending()
        self.loader.wait_idle(5000)
        try:
            lib.close()
        except Exception:  # noqa: BLE001
            pass
        self.library = None
        self.grid_model.library = None
        self.sidebar.library = None

    # ================================================================================ refreshing
    def refresh_all(self) -> None:
        """Re-read the album list, the grid and the details after a change."""
        if self.library is None:
            return
        has_folders = bool(self.settings.folders)
        if not has_folders:
            try:
                has_folders = self.library.count() > 0
            except Exception:  # noqa: BLE001
                has_folders = False
        self.stack.setCurrentWidget(self.browser if has_folders else self.welcome)
        if not has_folders:
            self.summary_label.setText("")
            return
        self.refresh_albums()
        if self.similar_to is None:
            if self.grid_model.album != self.sidebar.current_ref() or self.grid_model.rowCount() == 0:
                self.apply_filters()
            else:
                self.grid_model.refresh()
                self._update_grid_header()
        self._on_grid_selection()

    def refresh_albums(self) -> None:
        try:
            albums = self.library.albums()
            total = self.library.count()
        except Exception as exc:  # noqa: BLE001
            self.banner.show_message(f"Could not read the albums: {friendly_message(exc)}")
            return
        self._show_albums(albums, total)

    def _show_albums(self, albums, total: int) -> None:
        self.sidebar.set_albums(albums, total)
        landmarks = sum(1 for a in albums if a.ref.kind == "landmark" and a.count)
        self.summary_label.setText(f"{total:,} photos · {landmarks} landmarks")

    def refresh_live(self) -> None:
        """While tagging: update counts, and the grid if rows were added or changed.

        The database reads run in a worker thread; only the (small) result is applied here.
        """
        if self.library is None or self._live_busy:
            return
        self._live_busy = True
        lib, model = self.library, self.grid_model
        generation, pages = model._generation, model.pages_to_refresh()
        album, query = model.album, model.query
        grid_too = self.similar_to is None and model._fixed is None

        def work():
            albums, total = lib.albums(), lib.count()
            grid = model.read_refresh(pages, album, query) if grid_too else None
            return albums, total, grid

        def done(result):
            self._live_busy = False
            if self.library is not lib:
                return
            albums, total, grid = result
            self._show_albums(albums, total)
            if grid is not None and model._generation == generation:
                model.apply_refresh(*grid)
                self._update_grid_header()

        def failed(exc):
            self._live_busy = False
            log.warning("live refresh failed: %s", exc)

        run_in_background(work, done, failed, self._reader_pool, owner=self)

    # ================================================================================ browsing
    def current_query(self):
        """The ``SearchQuery`` built from the search field and the filters (``None`` when empty)."""
        from core.library import SearchQuery

        text = self.search.text().strip() or None
        _label, lo, hi = CONFIDENCE_FILTERS[self.confidence_filter.currentIndex()]
        if hi == "review":
            hi = max(0.0, self.settings.review_threshold - 1e-9)
        source = SOURCE_FILTERS[self.source_filter.currentIndex()][1]
        date_from = date_to = None
        if self.date_check.isChecked():
            date_from = QDateTime(self.date_from.date(), QTime(0, 0)).toPython()
            date_to = QDateTime(self.date_to.date(), QTime(23, 59, 59)).toPython()
        if not any((text, lo, hi, source, date_from, date_to)):
            return None
        return SearchQuery(
            text=text, label_source=source, min_confidence=lo, max_confidence=hi, date_from=date_from, date_to=date_to
        )

    def apply_filters(self) -> None:
        """Show the current album narrowed by the search field and filters."""
        if self.library is None:
            return
        if self.search.text().strip() and self.sidebar.current_ref() is not None:
            # search is global, as in photo apps: leave the album for All photos
            self.sidebar.blockSignals(True)
            self.sidebar.select(None)
            self.sidebar.blockSignals(False)
        self.similar_to = None
        self.back_button.hide()
        try:
            self.grid_model.set_source(self.sidebar.current_ref(), self.current_query())
        except Exception as exc:  # noqa: BLE001
            self.banner.show_message(f"Could not read the photos: {friendly_message(exc)}")
            return
        self._update_grid_header()
        self._on_grid_selection()

    def _on_date_toggled(self, on: bool) -> None:
        self.date_from.setEnabled(on)
        self.date_to.setEnabled(on)
        self.apply_filters()

    def _on_album_selected(self, ref) -> None:
        if ref is not None and self.search.text():
            self.search.blockSignals(True)
            self.search.clear()
            self.search.blockSignals(False)
        self.apply_filters()
        self.grid.scrollToTop()

    def _album_title(self) -> str:
        ref = self.sidebar.current_ref()
        if ref is None:
            return "All photos"
        for a in self.sidebar.albums:
            if a.ref == ref:
                return a.title
        return "Album"

    def _update_grid_header(self) -> None:
        n = self.grid_model.rowCount()
        if self.similar_to is not None:
            title = f"Similar to {getattr(self, '_similar_name', '') or 'the photo'}"
        elif self.search.text().strip():
            title = f"Search: “{self.search.text().strip()}”"
        else:
            title = self._album_title()
        filtered = self.current_query() is not None and not self.search.text().strip()
        self.grid_title.setText(
            f"{title}  <span style='color:#6b7280; font-weight:400'>"
            f"{n:,} photo{'s' if n != 1 else ''}{' (filtered)' if filtered else ''}</span>"
        )
        self.grid_empty.setVisible(n == 0)
        self.grid.setVisible(n > 0)
        if n == 0:
            if self.search.text().strip() or self.current_query() is not None:
                self.grid_empty.setText("No photos match. Try another name or clear the filters.")
            elif self.last_progress is not None and self.last_progress.state in ("scanning", "tagging"):
                self.grid_empty.setText("Tagging in progress — photos appear here as they are done.")
            else:
                self.grid_empty.setText("No photos in this album.")

    def selected_rows(self) -> list[int]:
        return self.grid.selected_rows()

    def selected_ids(self) -> list[int]:
        return self.grid_model.photo_ids(self.selected_rows())

    def selected_id(self) -> int | None:
        ids = self.selected_ids()
        return ids[0] if len(ids) == 1 else None

    def _on_grid_selection(self) -> None:
        ids = self.selected_ids()
        has = bool(ids) and self.library is not None
        self.relabel_action.setEnabled(has)
        self.not_landmark_action.setEnabled(has)
        self.similar_action.setEnabled(len(ids) == 1)
        if not ids or self.library is None:
            self.details.clear()
        elif len(ids) == 1:
            try:
                self.details.show_photo(self.library.photo(ids[0]))
            except Exception as exc:  # noqa: BLE001
                self.details.clear(f"This photo is no longer in the library ({friendly_message(exc)}).")
        else:
            self.details.show_multi(len(ids))

    def _grid_menu(self, pos) -> None:
        if not self.selected_ids():
            return
        menu = QMenu(self)
        menu.addAction(self.relabel_action)
        menu.addAction(self.not_landmark_action)
        menu.addAction(self.similar_action)
        menu.addSeparator()
        menu.addAction("Show in Folder", self.details.show_in_folder).setEnabled(self.selected_id() is not None)
        menu.exec(self.grid.viewport().mapToGlobal(pos))

    def open_photo(self, photo_id: int) -> None:
        """Open a photo in the system's image viewer (double-click / Enter in the grid)."""
        photo = next(
            (p for p in (self.grid_model.photo_at(r) for r in self.selected_rows()) if p and p.id == photo_id), None
        )
        if photo is not None:
            from PySide6.QtCore import QUrl
            from PySide6.QtGui import QDesktopServices

            QDesktopServices.openUrl(QUrl.fromLocalFile(str(photo.path)))

    def show_similar(self, photo_id: int | None) -> None:
        """Fill the grid with the photos most similar to ``photo_id`` (embedding kNN)."""
        if photo_id is None or self.library is None:
            return
        try:
            rows = self.library.similar(photo_id, limit=60)
        except Exception as exc:  # noqa: BLE001
            self.banner.show_message(f"Cannot find similar photos: {friendly_message(exc)}", "warning")
            return
        self.similar_to = photo_id
        try:
            self._similar_name = Path(self.library.photo(photo_id).path).name
        except Exception:  # noqa: BLE001
            self._similar_name = ""
        self.grid_model.set_list([p for p, _score in rows])
        self.back_button.show()
        self._update_grid_header()

    def _leave_similar(self) -> None:
        self.similar_to = None
        self.apply_filters()

    # ================================================================================ folders
    def choose_folder(self) -> None:
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
                f"The folder {p} does not exist. Was it moved or renamed, or is the drive disconnected?", "error"
            )
            return False
        if not p.is_dir():
            self.banner.show_message(f"{p} is a file, not a folder. Add the folder that holds your photos.", "error")
            return False
        try:
            self.library.add_folder(p)
        except Exception as exc:  # noqa: BLE001 - LibraryError and OS errors: readable message
            self.banner.show_message(f"Cannot add {p}: {friendly_message(exc)}", "error")
            return False
        self.settings.folders = [str(f) for f in self.library.folders()]
        self.settings.save(self.settings_path)
        self.statusBar().showMessage(f"Added {p}. Looking for photos…", 5000)
        self.refresh_all()
        if self.auto_tag:
            self.start_tagging()
        return True

    def remove_folder(self, path: str | Path) -> bool:
        """Stop watching a folder and forget its photos' labels (the photos themselves are untouched)."""
        if self.library is None:
            return False
        if self.bridge.running():
            self.bridge.cancel()
            self.bridge.job.wait(10)
        try:
            self.library.remove_folder(path)
        except Exception as exc:  # noqa: BLE001
            self.banner.show_message(f"Cannot remove {path}: {friendly_message(exc)}", "error")
            return False
        self.settings.folders = [str(f) for f in self.library.folders()]
        self.settings.save(self.settings_path)
        self.statusBar().showMessage(f"Removed {path} from the library (your files were not touched).", 5000)
        self.refresh_all()
        return True

    def _fill_remove_menu(self) -> None:
        self.remove_folder_menu.clear()
        folders = self.library.folders() if self.library is not None else []
        if not folders:
            self.remove_folder_menu.addAction("No folders").setEnabled(False)
        for f in folders:
            self.remove_folder_menu.addAction(str(f), lambda f=f: self._confirm_remove(f))

    def _confirm_remove(self, folder) -> None:
        answer = QMessageBox.question(
            self,
            "Remove folder",
            f"Stop watching {folder}?\n\nIts photos leave the library; the files on disk are not touched.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.remove_folder(folder)

    def dragEnterEvent(self, event) -> None:
        if any(u.isLocalFile() and Path(u.toLocalFile()).is_dir() for u in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:
        folders = [
            u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile() and Path(u.toLocalFile()).is_dir()
        ]
        for f in folders:
            self.add_folder(f)
        if folders:
            event.acceptProposedAction()

    # ================================================================================ tagging
    def start_tagging(self) -> None:
        """Scan the folders and tag new or changed photos in the background."""
        if self.library is None or self.bridge.running():
            return
        if self.bridge.start_tagging(self.library):
            self.loader.pool.setMaxThreadCount(1)  # leave the cores to the tagger
            self.refresh_timer.start()

    def _on_progress(self, p) -> None:
        self.last_progress = p
        self.tagging_status.update_progress(p)
        if p.message and p.state not in ("done", "cancelled", "failed") and "polling" in p.message.lower():
            self.banner.show_message(p.message, "info")

    def _on_watch_progress(self, p) -> None:
        """Progress of the watcher's own tagging (new or changed files): shown like a tagging job."""
        if not self.bridge.running():
            self.tagging_status.update_progress(p)
        if p.state == "failed":
            self.banner.show_message(
                f"Watching the folders stopped: {p.message or 'unknown error'}", "error", "retag", "Scan Again"
            )
        elif p.message and "polling" in p.message.lower():
            self.banner.show_message(f"{p.message[:1].upper()}{p.message[1:]}", "info")
        if p.state in ("done", "cancelled"):
            self.change_timer.start()

    def _on_tagging_finished(self, p) -> None:
        self.refresh_timer.stop()
        self.loader.pool.setMaxThreadCount(2)
        self.tagging_status.update_progress(p)
        if p.state == "failed":
            self.banner.show_message(f"Tagging stopped: {p.message or 'unknown error'}", "error", "retag", "Try Again")
        elif p.state == "cancelled":
            self.statusBar().showMessage(f"Tagging cancelled after {p.done:,} photos. Press F5 to continue.", 8000)
        else:
            self.statusBar().showMessage(f"All photos tagged ({p.done:,} this time).", 8000)
        self.refresh_all()
        self.taggingFinished.emit(p)
        if self.watch and not self.watching and self.library is not None and p.state == "done":
            self.watching = self.bridge.start_watching(self.library)

    # ================================================================================ corrections
    def relabel_selected(self) -> None:
        """Open the relabel dialog for the selected photos (non-blocking)."""
        ids = self.selected_ids()
        if not ids or self.library is None:
            return
        current = None
        if len(ids) == 1 and self.details.details is not None:
            d = self.details.details
            current = d.label_name or ("No landmark" if d.status == "no_landmark" else None)
        try:
            self.names = self.library.landmark_names()
        except Exception:  # noqa: BLE001
            pass
        dlg = RelabelDialog(self.names, len(ids), current, self)
        self.relabel_dialog = dlg
        dlg.accepted.connect(lambda: dlg.choice is not None and self.apply_relabel(ids, dlg.choice))
        dlg.open()

    def mark_not_landmark(self) -> None:
        from desktop.relabel import RelabelChoice

        ids = self.selected_ids()
        if ids:
            self.apply_relabel(ids, RelabelChoice(not_landmark=True))

    def apply_relabel(self, ids: list[int], choice) -> object | None:
        """Apply a ``RelabelChoice`` to ``ids``; refreshes albums and offers suggestions. Returns the Change."""
        try:
            change = self.library.relabel(ids, **choice.kwargs())
        except Exception as exc:  # noqa: BLE001
            self.banner.show_message(f"Could not change the label: {friendly_message(exc)}", "error")
            return None
        self._push_change(change)
        if choice.new_name:
            self.names = self.library.landmark_names()
            self.search.setCompleter(make_completer([n for _, n in self.names], self))
        self.refresh_all()
        self._offer_suggestions(change)
        return change

    def _push_change(self, change) -> None:
        self.undo_stack.append(change)
        self.undo_action.setEnabled(True)
        self.undo_action.setText(f"&Undo “{change.description}”")
        self.statusBar().showMessage(f"{change.description}. Press Ctrl+Z to undo.", 8000)

    def _target_name(self, change) -> str:
        if change.kind == "not_landmark" or change.landmark is None:
            return "Not a landmark"
        return dict(self.names).get(change.landmark, change.landmark)

    def _offer_suggestions(self, change) -> None:
        if change.kind == "reject":
            return
        try:
            photos = self.library.suggestions(change)
        except Exception as exc:  # noqa: BLE001
            log.warning("suggestions failed: %s", exc)
            return
        photos = [p for p in photos if p.id not in set(change.photo_ids)]
        if not photos:
            return
        dlg = SuggestionsDialog(photos, self._target_name(change), self.loader, self)
        self.suggestions_dialog = dlg

        def accept():
            ids = dlg.accepted_ids()
            if not ids:
                return
            kwargs = {"not_landmark": True} if change.landmark is None else {"landmark": change.landmark}
            try:
                c = self.library.relabel(ids, **kwargs)
            except Exception as exc:  # noqa: BLE001
                self.banner.show_message(f"Could not label the suggested photos: {friendly_message(exc)}")
                return
            self._push_change(c)
            self.refresh_all()

        dlg.accepted.connect(accept)
        dlg.open()

    def undo(self) -> None:
        """Undo the last correction made in this window (Ctrl+Z)."""
        if not self.undo_stack or self.library is None:
            return
        change = self.undo_stack.pop()
        try:
            self.library.undo(change)
        except Exception as exc:  # noqa: BLE001
            self.undo_stack.append(change)
            self.banner.show_message(f"Could not undo: {friendly_message(exc)}", "error")
            return
        self.undo_action.setEnabled(bool(self.undo_stack))
        self.undo_action.setText(f"&Undo “{self.undo_stack[-1].description}”" if self.undo_stack else "&Undo")
        self.statusBar().showMessage(f"Undone: {change.description}", 8000)
        self.refresh_all()

    # ================================================================================ settings, dialogs
    def open_settings(self) -> None:
        default_model = ""
        try:
            from core.paths import default_model_path

            default_model = str(default_model_path())
        except ImportError:  # pragma: no cover
            pass
        self.settings.folders = [str(f) for f in self.library.folders()] if self.library else self.settings.folders
        dlg = SettingsDialog(self.settings, default_model, self)
        self.settings_dialog = dlg
        dlg.accepted.connect(lambda: self.apply_settings(dlg.result_settings()))
        dlg.open()

    def apply_settings(self, new: AppSettings) -> None:
        """Save ``new`` and apply it: folders added/removed, model/device/threshold reload the library."""
        old = self.settings
        reopen = (new.model_path, new.device, new.review_threshold, new.db_path) != (
            old.model_path,
            old.device,
            old.review_threshold,
            old.db_path,
        )
        if new.thumb_size != old.thumb_size:
            self.loader.clear_memory()
            self.grid.set_edge(new.thumb_size)
            self.grid_model.set_edge(new.thumb_size)
        self.grid.delegate.review_threshold = new.review_threshold
        wanted = list(new.folders)
        self.settings = new
        if self.library is not None:
            have = [str(f) for f in self.library.folders()]
            for f in have:
                if f not in wanted:
                    self.remove_folder(f)
            for f in wanted:
                if f not in have:
                    self.add_folder(f)
            new.folders = [str(f) for f in self.library.folders()]
        new.save(self.settings_path)
        if reopen or self.library is None:
            self.close_library()
            self.open_library()

    def show_model_card(self) -> None:
        if self.library is None:
            self.banner.show_message("The model is not loaded.", "warning")
            return
        try:
            card = self.library.model_card()
        except Exception as exc:  # noqa: BLE001
            self.banner.show_message(f"Cannot read the model card: {friendly_message(exc)}")
            return
        self.about_dialog = AboutModelDialog(card, dict(self.names), self)
        self.about_dialog.open()

    def _about_app(self) -> None:
        QMessageBox.about(
            self,
            "About Landmark Tagger",
            "<h3>Landmark Tagger</h3><p>Names the landmark in your photos that have no GPS "
            "location, on this computer. Your photos are never uploaded or modified.</p>"
            f"<p>Settings: {AppSettings.settings_file(self.settings_path)}</p>",
        )

    def _on_banner_action(self, action: str) -> None:
        self.banner.hide()
        if action == "settings":
            self.open_settings()
        elif action == "retry":
            self.open_library()
        elif action == "retag":
            self.start_tagging()
        elif action == "remove-missing":
            self.remove_folder(getattr(self, "missing_folder", ""))

    # ================================================================================ closing
    def closeEvent(self, event) -> None:
        self._closed = True
        qs = AppSettings.qsettings(self.settings_path)
        qs.setValue("window/geometry", self.saveGeometry())
        qs.sync()
        self.settings.save(self.settings_path)
        self.close_library()
        gc.unfreeze()  # let interpreter shutdown collect normally (native extensions check for leaks)
        super().closeEvent(event)
