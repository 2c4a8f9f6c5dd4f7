"""The library browser: album sidebar | search bar, grid header and thumbnail grid (or the map) | details pane.

``BrowserPane`` shows the open library: which album or search fills the grid, the selected photo's
details, the "similar photos" view and the map (sidebar entry *Map*: ``desktop.map_view.MapView``; clicking a
marker fills the grid with its photos, ``SearchQuery.bbox``). The grid is a timeline: newest first by the date
taken (else the file's date), with month headers and the months on screen named above it. A landmark album holds the confident labels; its header's
"Show unsure (N)" toggle adds the model's guesses below the review threshold (they live in *Needs
review*, least sure first). Database reads here are small (the album list, one page of
rows, one photo); while tagging runs, ``refresh_live`` re-reads counts and visible rows in a worker
thread so the GUI thread never waits on the writer.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QItemSelection, QItemSelectionModel, QPoint, Qt, QThreadPool, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from core.domain import Album, AlbumKind, AlbumRef, LibraryError, SearchQuery
from desktop.background import run_in_background
from desktop.details import DetailsPane, format_coords
from desktop.errors import friendly_message
from desktop.map_clusters import Cluster, MapPoints, unproject
from desktop.map_view import MapView
from desktop.photo_grid import PhotoGridModel, PhotoGridView, month_name
from desktop.search_bar import SearchBar
from desktop.sidebar import AlbumSidebar
from desktop.thumbnails import ThumbnailLoader

if TYPE_CHECKING:
    from core.library import Library

log = logging.getLogger("landmark_tagger.desktop")

#: Photos shown by "Similar photos" (nearest embeddings).
SIMILAR_LIMIT = 60
#: Most selected photos the grid keeps selected by id when its rows move under them (photos added above them on the
#: timeline while tagging); a bigger selection is cleared instead, so a command never acts on photos that moved in.
FOLLOW_SELECTION = 500
#: Most selected photos looked up in the library (one query each) when their rows are not in memory after a refresh;
#: the others are deselected.
FOLLOW_LOOKUPS = 20


class BrowserPane(QSplitter):
    """Albums, search + grid and details side by side.

    Args:
        loader: thumbnails for the sidebar covers, the grid and the details preview.
        thumb_size: grid thumbnail edge in pixels.
        review_threshold: confidence in [0, 1] below which a model label needs review.

    Attributes:
        library: the ``Library`` shown (``None`` while none is open; ``set_library``).
        sidebar, search_bar, grid_model, grid, details: the parts (tests and benchmarks drive them).
        grid_title, grid_empty, back_button: the grid's header, its "nothing here" note and the way
            back from similar photos or a map marker's photos.
        months_label: the months of the timeline on screen ("May 2019 – March 2019"), above the grid.
        pages: the middle's pages: ``grid_page`` (search bar, header, grid) and ``map_page`` (the map).
        map: the ``MapView``; map_title: its header. map_cluster: the marker whose photos fill the grid (from
            the map), else ``None``.
        unsure_toggle: "Show unsure (N)" in a landmark album's header (shown when it has unsure photos).
        grid_hint: a line under the header (how to review *Needs review*).
        similar_to: the photo whose similar photos fill the grid, else ``None``.
        tagging_in_progress: a tagging job runs (an empty album then says photos are on their way).

    Signals:
        selectionChanged(list): ids of the selected photos.
        relabelRequested(), confirmRequested(), rejectRequested(), moreLikeRequested(): the details pane's
            "Change label…", "✓ Confirm", "✗ Reject" and "Find more like this" (for the selected photos).
        contextMenuRequested(QPoint): right click on selected photos (global position).
        problem(str, str): (message, level) for the window's banner: a read failed.
        summaryChanged(str): "N photos · M landmarks" for the status bar.
        gridRefreshed(): the grid re-read its rows after a change (the viewer finds its photo again).
    """

    selectionChanged = Signal(list)
    relabelRequested = Signal()
    confirmRequested = Signal()
    rejectRequested = Signal()
    moreLikeRequested = Signal()
    contextMenuRequested = Signal(QPoint)
    problem = Signal(str, str)
    summaryChanged = Signal(str)
    gridRefreshed = Signal()

    def __init__(self, loader: ThumbnailLoader, thumb_size: int, review_threshold: float, parent=None):
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.library: Library | None = None
        self.similar_to: int | None = None
        self.map_cluster: Cluster | None = None
        self.map_location: str | None = None  # the map's legend filter when the marker was clicked
        self._selection_ids: list[int] = []  # the selected photos, as last announced (update_selection)
        self._map_busy = False
        self._map_again = False
        self.similar_name = ""
        self.tagging_in_progress = False
        self._live_busy = False
        self._epoch = 0  # bumped by every full read of the albums: older live reads are dropped
        self._reader_pool = QThreadPool(self)
        self._reader_pool.setMaxThreadCount(1)

        self.sidebar = AlbumSidebar(loader)
        self.sidebar.albumSelected.connect(self._on_album_selected)
        self.sidebar.mapSelected.connect(self.show_map)
        self.addWidget(self.sidebar)

        middle = self.grid_page = QWidget()
        ml = QVBoxLayout(middle)
        ml.setContentsMargins(0, 0, 0, 0)
        ml.setSpacing(4)
        self.search_bar = SearchBar()
        self.search_bar.review_threshold = review_threshold
        self.search_bar.changed.connect(self.apply_filters)
        ml.addWidget(self.search_bar)
        header_row = QHBoxLayout()
        self.grid_title = QLabel()
        self.grid_title.setStyleSheet("font-size:15pt; font-weight:600;")
        self.back_button = QPushButton("← Back to album")
        self.back_button.hide()
        self.back_button.clicked.connect(self._go_back)
        self.unsure_toggle = QCheckBox()
        self.unsure_toggle.hide()
        self.unsure_toggle.toggled.connect(lambda _on: self.apply_filters())
        header_row.addWidget(self.grid_title, 1)
        header_row.addWidget(self.unsure_toggle)
        header_row.addWidget(self.back_button)
        ml.addLayout(header_row)
        self.months_label = QLabel()
        self.months_label.setStyleSheet("color:#1d4ed8; font-weight:600;")
        self.months_label.setToolTip("The months on screen: photos are sorted by the date taken, newest first")
        ml.addWidget(self.months_label)
        self.grid_hint = QLabel()
        self.grid_hint.setWordWrap(True)
        self.grid_hint.setStyleSheet("color:#6b7280;")
        self.grid_hint.hide()
        ml.addWidget(self.grid_hint)
        self.review_threshold = review_threshold

        self.grid_model = PhotoGridModel(loader, thumb_size, self)
        self.grid = PhotoGridView(edge=thumb_size)
        self.grid.setModel(self.grid_model)
        self.grid.set_review_threshold(review_threshold)
        self.grid.selectionModel().selectionChanged.connect(lambda *_: self.update_selection())
        self.grid.customContextMenuRequested.connect(self._on_context_menu)
        self.grid_empty = QLabel()
        self.grid_empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.grid_empty.setStyleSheet("color:#6b7280; font-size:13pt;")
        self.grid_empty.hide()
        self.grid.visibleMonthsChanged.connect(self._update_months)
        ml.addWidget(self.grid, 1)
        ml.addWidget(self.grid_empty, 1)

        self.map_page = QWidget()
        mp = QVBoxLayout(self.map_page)
        mp.setContentsMargins(0, 0, 0, 0)
        mp.setSpacing(4)
        self.map_title = QLabel("Map")
        self.map_title.setStyleSheet("font-size:15pt; font-weight:600;")
        mp.addWidget(self.map_title)
        map_hint = QLabel(
            "Click a marker to see its photos. Drag or use the arrow keys to move; the wheel, double-click or +/− "
            "to zoom; 0 shows them all."
        )
        map_hint.setWordWrap(True)
        map_hint.setStyleSheet("color:#6b7280;")
        mp.addWidget(map_hint)
        self.map = MapView()
        self.map.clusterActivated.connect(self.show_map_cluster)
        mp.addWidget(self.map, 1)

        self.pages = QStackedWidget()
        self.pages.addWidget(self.grid_page)
        self.pages.addWidget(self.map_page)
        self.addWidget(self.pages)

        self.details = DetailsPane(loader)
        self.details.review_threshold = review_threshold
        self.details.relabelRequested.connect(self.relabelRequested)
        self.details.confirmRequested.connect(self.confirmRequested)
        self.details.rejectRequested.connect(self.rejectRequested)
        self.details.moreLikeRequested.connect(self.moreLikeRequested)
        self.details.similarRequested.connect(self.show_similar)
        self.addWidget(self.details)
        self.setStretchFactor(0, 0)
        self.setStretchFactor(1, 1)
        self.setStretchFactor(2, 0)
        self.setSizes([280, 680, 340])

    # ------------------------------------------------------------------------------- configuration
    def set_library(self, library: Library | None) -> None:
        """Show ``library`` (``None``: the library closed; nothing is read until the next one)."""
        self.library = library
        self.sidebar.library = library
        self.grid_model.library = library

    def set_names(self, names: list[str]) -> None:
        """Landmark display names offered while typing a search."""
        self.search_bar.set_names(names)

    def set_thumb_size(self, edge: int) -> None:
        """Grid thumbnails of ``edge`` pixels."""
        self.grid.set_edge(edge)
        self.grid_model.set_edge(edge)

    def set_review_threshold(self, threshold: float) -> None:
        """Confidence in [0, 1] below which a model label needs review (grid dots, "Unsure" filter)."""
        self.grid.set_review_threshold(threshold)
        self.search_bar.review_threshold = threshold
        self.details.review_threshold = threshold
        self.review_threshold = threshold

    # -------------------------------------------------------------------------------- refreshing
    def refresh(self) -> None:
        """Re-read the album list, the grid (or the map) and the details after a change; the same photos stay
        selected (``follow_selection``)."""
        if self.library is None:
            return
        selected = list(self._selection_ids)
        self.refresh_albums()
        if self.showing_map:
            self.reload_map()
        elif self.similar_to is None:
            if self.grid_model.album != self.sidebar.current_ref() or self.grid_model.rowCount() == 0:
                self.apply_filters()
            else:
                try:
                    self.grid_model.refresh()
                except LibraryError as exc:
                    self.problem.emit(f"Could not read the photos: {friendly_message(exc)}", "error")
                self._update_header()
        if not self.showing_map:
            self.follow_selection(selected)
        self.update_selection()
        self.gridRefreshed.emit()

    def refresh_albums(self) -> None:
        """Re-read the album list and counts (in this thread)."""
        if self.library is None:
            return
        self._epoch += 1
        try:
            albums = self.library.albums()
            total = self.library.count()
        except LibraryError as exc:
            self.problem.emit(f"Could not read the albums: {friendly_message(exc)}", "error")
            return
        self._show_albums(albums, total)

    def refresh_live(self) -> None:
        """While tagging: update counts, and the grid if rows were added or changed.

        The database reads run in a worker thread; only the (small) result is applied here, and only
        when no full refresh (``refresh``/``refresh_albums``) read newer counts meanwhile.
        """
        if self.library is None or self._live_busy:
            return
        self._live_busy = True
        lib, model, epoch = self.library, self.grid_model, self._epoch
        generation, pages = model.generation, model.pages_to_refresh()
        album, query, unsure = model.album, model.query, model.include_unsure
        grid_too = self.similar_to is None and not model.shows_list

        def work() -> tuple[list[Album], int, Any]:
            albums, total = lib.albums(), lib.count()
            grid = model.read_refresh(pages, album, query, include_unsure=unsure) if grid_too else None
            return albums, total, grid

        def done(result: tuple[list[Album], int, Any]) -> None:
            self._live_busy = False
            if self.library is not lib or self._epoch != epoch:
                return  # the library closed, or a full refresh already showed newer counts
            albums, total, grid = result
            self._show_albums(albums, total)
            if grid is not None and model.generation == generation:
                selected = list(self._selection_ids)
                model.apply_refresh(*grid)
                self._update_header()
                self.follow_selection(selected)
                self.gridRefreshed.emit()

        def failed(exc: Exception) -> None:
            self._live_busy = False
            log.warning("live refresh failed: %s", exc)

        run_in_background(work, done, failed, self._reader_pool, owner=self)

    @property
    def live_refresh_running(self) -> bool:
        """Whether a ``refresh_live`` read is in flight (its result not handled yet)."""
        return self._live_busy

    def _show_albums(self, albums: list[Album], total: int) -> None:
        self.sidebar.set_albums(albums, total)
        landmarks = sum(1 for a in albums if a.ref.kind == AlbumKind.LANDMARK and a.count)
        self.summaryChanged.emit(f"{total:,} photos · {landmarks} landmarks")

    # -------------------------------------------------------------------------------- browsing
    def apply_filters(self) -> None:
        """Show the current album (or map marker) narrowed by the search field and the filters."""
        if self.library is None:
            return
        if self.search_bar.text() and (self.sidebar.current_ref() is not None or self.sidebar.map_selected()):
            # search is global, as in photo apps: leave the album (or the map) for All photos
            self.sidebar.blockSignals(True)
            self.sidebar.select(None)
            self.sidebar.blockSignals(False)
            self.map_cluster = None
        if self.map_cluster is not None and not self.sidebar.map_selected():
            self.map_cluster = None
        self.pages.setCurrentWidget(self.grid_page)
        self.similar_to = None
        self.back_button.setVisible(self.map_cluster is not None)
        ref = self.sidebar.current_ref()
        unsure = self.unsure_toggle.isChecked() and ref is not None and ref.kind == AlbumKind.LANDMARK
        query = self.search_bar.query()
        if self.map_cluster is not None:
            query = replace(query or SearchQuery(), bbox=self.map_cluster.bbox, location=self.map_location)
        try:
            self.grid_model.set_source(ref, query, include_unsure=unsure)
        except LibraryError as exc:
            self.problem.emit(f"Could not read the photos: {friendly_message(exc)}", "error")
            return
        self._update_header()
        self.update_selection()

    def show_similar(self, photo_id: int | None) -> None:
        """Fill the grid with the photos most similar to ``photo_id`` (nearest embeddings)."""
        if photo_id is None or self.library is None:
            return
        try:
            rows = self.library.similar(photo_id, limit=SIMILAR_LIMIT)
        except LibraryError as exc:
            self.problem.emit(f"Cannot find similar photos: {friendly_message(exc)}", "warning")
            return
        self.similar_to = photo_id
        try:
            self.similar_name = Path(self.library.photo(photo_id).path).name
        except LibraryError:
            self.similar_name = ""
        self.grid_model.set_list([p for p, _score in rows])
        self.back_button.show()
        self._update_header()

    def leave_similar(self) -> None:
        """Back from similar photos to the album (and search, or map marker) shown before."""
        self.similar_to = None
        self.apply_filters()

    def _go_back(self) -> None:
        if self.similar_to is None and self.map_cluster is not None:
            self.show_map()
        else:
            self.leave_similar()

    # -------------------------------------------------------------------------------- the map
    @property
    def showing_map(self) -> bool:
        """The map fills the middle (not the grid)."""
        return self.pages.currentWidget() is self.map_page

    def show_map(self) -> None:
        """Show the map of the located photos (sidebar *Map*), reading them in a worker thread."""
        if not self.sidebar.map_selected():
            self.sidebar.blockSignals(True)
            self.sidebar.select_map()
            self.sidebar.blockSignals(False)
        self.map_cluster = None
        self.similar_to = None
        self.pages.setCurrentWidget(self.map_page)
        self.grid.clearSelection()
        self.update_selection()
        self.map.setFocus()
        self.reload_map()

    def reload_map(self) -> None:
        """Re-read the located photos (``Library.map_points``, off the GUI thread) and show them on the map."""
        lib = self.library
        if lib is None:
            return
        if self._map_busy:
            self._map_again = True
            return
        self._map_busy = True

        def work() -> MapPoints:
            return MapPoints.from_rows(lib.map_points())

        def done(points: MapPoints) -> None:
            self._map_busy = False
            if lib is self.library:
                self.map.set_points(points)
                n, g = len(points), points.gps_count
                self.map_title.setText(
                    f"Map  <span style='color:#6b7280; font-weight:400'>{n:,} photo{'s' if n != 1 else ''} with a "
                    f"location · {g:,} GPS, {n - g:,} estimated from their landmark</span>"
                )
            if self._map_again:
                self._map_again = False
                self.reload_map()

        def failed(exc: Exception) -> None:
            self._map_busy = False
            self.problem.emit(f"Could not read the photos' locations: {friendly_message(exc)}", "error")

        run_in_background(work, done, failed, self._reader_pool, owner=self)

    def show_map_cluster(self, cluster: Cluster) -> None:
        """Fill the grid with the photos of a map marker (the box of their locations, the legend's kinds)."""
        if self.library is None:
            return
        self.map_cluster = cluster
        self.map_location = self.map.location_filter()
        if self.search_bar.text():
            self.search_bar.clear_text()
        self.apply_filters()
        self.grid.scrollToTop()

    def _on_album_selected(self, ref: AlbumRef | None) -> None:
        self.map_cluster = None
        if ref is not None and self.search_bar.text():
            self.search_bar.clear_text()
        if self.unsure_toggle.isChecked():  # every album opens on its confident labels
            self.unsure_toggle.blockSignals(True)
            self.unsure_toggle.setChecked(False)
            self.unsure_toggle.blockSignals(False)
        self.apply_filters()
        self.grid.scrollToTop()

    def current_album(self) -> Album | None:
        """The ``Album`` selected in the sidebar (``None`` for All photos)."""
        ref = self.sidebar.current_ref()
        return None if ref is None else next((a for a in self.sidebar.albums if a.ref == ref), None)

    def _album_title(self) -> str:
        if self.sidebar.current_ref() is None:
            return "All photos"
        album = self.current_album()
        return album.title if album is not None else "Album"

    def _update_album_tools(self) -> None:
        """The unsure toggle of a landmark album and the review hint of *Needs review*."""
        album = None if self.similar_to is not None or self.search_bar.text() else self.current_album()
        unsure = album.unsure if album is not None and album.ref.kind == AlbumKind.LANDMARK else 0
        self.unsure_toggle.setVisible(bool(unsure) or (album is not None and self.unsure_toggle.isChecked()))
        self.unsure_toggle.setText(f"Show unsure ({unsure})")
        self.unsure_toggle.setToolTip(
            f"Also show the {unsure} photo{'s' if unsure != 1 else ''} the model guessed as this landmark with "
            f"less than {self.review_threshold * 100:.0f}% confidence (they are in Needs review)."
        )
        if album is not None and album.ref.kind == AlbumKind.NEEDS_REVIEW:
            self.grid_hint.setText(
                "The model's unsure guesses, least sure first. Select photos, then ✓ Confirm (Y) the right ones "
                "or ✗ Reject (X) the wrong ones; only the selected photos change."
            )
            self.grid_hint.show()
        else:
            self.grid_hint.hide()

    def _update_header(self) -> None:
        n = self.grid_model.rowCount()
        text = self.search_bar.text()
        if self.similar_to is not None:
            title = f"Similar to {self.similar_name or 'the photo'}"
        elif self.map_cluster is not None:
            lat, lon = unproject(self.map_cluster.x, self.map_cluster.y)
            title = f"Map · around {format_coords(float(lat), float(lon))}"
        elif text:
            title = f"Search: “{text}”"
        else:
            title = self._album_title()
        filtered = self.search_bar.filtered()
        self._update_album_tools()
        with_unsure = ""
        if self.grid_model.include_unsure and self.similar_to is None:
            album = self.current_album()
            if album is not None and album.unsure:
                with_unsure = f", {album.unsure} unsure"
        self.grid_title.setText(
            f"{title}  <span style='color:#6b7280; font-weight:400'>"
            f"{n:,} photo{'s' if n != 1 else ''}{with_unsure}{' (filtered)' if filtered else ''}</span>"
        )
        self.back_button.setText(
            "← Back to the map" if self.similar_to is None and self.map_cluster is not None else "← Back to album"
        )
        self.grid_empty.setVisible(n == 0)
        self.grid.setVisible(n > 0)
        self._update_months()
        if n == 0:
            if text or self.search_bar.query() is not None:
                self.grid_empty.setText("No photos match. Try another name or clear the filters.")
            elif self.tagging_in_progress:
                self.grid_empty.setText("Tagging in progress — photos appear here as they are done.")
            else:
                self.grid_empty.setText("No photos in this album.")

    def _update_months(self) -> None:
        """Name the timeline's months on screen above the grid ("May 2019 – March 2019"); the line stays while
        rows are being read (no jumping layout) and is hidden when the grid is not a timeline."""
        timeline = self.grid_model.timeline and self.grid_model.rowCount() > 0
        self.months_label.setVisible(timeline)
        months = self.grid.visible_months() if timeline else []
        if months:
            first, last = month_name(*months[0]), month_name(*months[-1])
            self.months_label.setText(first if first == last else f"{first} – {last}")

    # -------------------------------------------------------------------------------- selection
    def selected_rows(self) -> list[int]:
        """Grid rows of the selected photos, ascending."""
        return self.grid.selected_rows()

    def selected_ids(self) -> list[int]:
        """Ids of the selected photos."""
        return self.grid_model.photo_ids(self.selected_rows())

    def selected_id(self) -> int | None:
        """Id of the one selected photo (``None`` for none or several)."""
        ids = self.selected_ids()
        return ids[0] if len(ids) == 1 else None

    def selected_label_name(self) -> str | None:
        """Display name of the label of the one photo in the details pane ("No landmark" for none)."""
        d = self.details.details
        if d is None or len(self.selected_ids()) != 1:
            return None
        return d.label_name or ("No landmark" if d.status == "no_landmark" else None)

    def follow_selection(self, ids: list[int]) -> None:
        """After the grid re-read its rows, select the photos ``ids`` (the selection before) where they are now.

        On a timeline, photos added while tagging go above older ones and move them down; the selection (rows) would
        then hold other photos, and Y / X would act on them. So each photo is found again (in the rows in memory,
        else ``Library.photo_row``, at most ``FOLLOW_LOOKUPS`` queries) and selected at its new row; a photo that left
        the grid, or could not be looked up, is deselected. A selection bigger than ``FOLLOW_SELECTION`` is cleared
        when its rows moved.
        """
        if not ids or self.similar_to is not None:
            return
        model = self.grid_model
        rows = self.selected_rows()
        if len(rows) == len(ids) and all(
            (p := model.peek_loaded(r)) is not None and p.id == i for r, i in zip(rows, ids)
        ):
            return  # the same photos at the same rows
        if len(ids) > FOLLOW_SELECTION:
            self.grid.clearSelection()
            return
        loaded = model.loaded_rows()
        found: list[int] = []
        lookups = 0
        for pid in ids:
            row = loaded.get(pid)
            if row is None and lookups < FOLLOW_LOOKUPS:
                lookups += 1
                row = model.row_of(pid)
            if row is not None:
                found.append(row)
        if not found:
            self.grid.clearSelection()
            return
        sel = QItemSelection()
        for r in found:
            sel.select(model.index(r), model.index(r))
        sm = self.grid.selectionModel()
        sm.setCurrentIndex(model.index(found[0]), QItemSelectionModel.SelectionFlag.NoUpdate)
        sm.select(sel, QItemSelectionModel.SelectionFlag.ClearAndSelect)

    def update_selection(self) -> None:
        """Show the selection in the details pane and announce it (``selectionChanged``)."""
        ids = self.selected_ids()
        self._selection_ids = ids
        if not ids or self.library is None:
            self.details.clear()
        elif len(ids) == 1:
            try:
                self.details.show_photo(self.library.photo(ids[0]))
            except LibraryError as exc:
                self.details.clear(f"This photo is no longer in the library ({friendly_message(exc)}).")
        else:
            self.details.show_multi(len(ids))
        self.selectionChanged.emit(ids)

    def open_photo(self, photo_id: int) -> None:
        """Open a selected photo in the system's image viewer (the grid's context menu; Space, double-click and Enter
        open the app's own viewer, ``desktop.viewer``)."""
        rows = (self.grid_model.photo_at(r) for r in self.selected_rows())
        photo = next((p for p in rows if p is not None and p.id == photo_id), None)
        if photo is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(photo.path)))

    def _on_context_menu(self, pos: QPoint) -> None:
        if self.selected_ids():
            self.contextMenuRequested.emit(self.grid.viewport().mapToGlobal(pos))
