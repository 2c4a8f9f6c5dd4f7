"""The thumbnail grid: a paged ``QAbstractListModel`` over ``Library.photos`` and its ``QListView``.

The model knows the row count (``Library.count``) up front, so the scroll bar is right for 20 000
photos, but it reads rows one page at a time (``Library.photos(limit=PAGE_SIZE, offset=...)``) only
when the view asks for them (the view asks for visible rows only: uniform item sizes), keeping a
bounded number of pages. For painting, missing pages are read in a background thread (placeholders
meanwhile), so scrolling never waits on the database; code that needs a row now (selection, tests)
uses ``photo_at``, which reads synchronously. Thumbnails are requested from ``ThumbnailLoader`` on
demand, with a placeholder until they are ready.

Albums and searches are shown as a timeline (``PhotoOrder.NEWEST``: by the date taken, else the file's date,
newest first; *Needs review* keeps its least-sure-first order). The first photo of each month carries a month
header (a "May 2019" tab over its thumbnail and a bar on its left), and the view tells which months are on
screen (``PhotoGridView.visible_months``; the browser shows them above the grid as a sticky header).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QRunnable,
    QSize,
    Qt,
    QThreadPool,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QPainter, QPalette, QPen
from PySide6.QtWidgets import QAbstractItemView, QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from core.domain import AlbumKind, LibraryError, PhotoOrder, display_text
from core.photos.pathnames import display_path, path_key
from desktop.thumbnails import ThumbnailLoader, placeholder_pixmap

if TYPE_CHECKING:
    from core.library import Library

#: Rows read from the database per page (one ``LIMIT/OFFSET`` query).
PAGE_SIZE = 120
#: Pages kept in memory (older ones are read again when scrolled back to).
MAX_PAGES = 60

GRID_PREFIX = "grid-"
PhotoRole = Qt.ItemDataRole.UserRole + 1  # the PhotoSummary (or None while its page is missing)
PhotoIdRole = Qt.ItemDataRole.UserRole + 2  # int photo id


class _PageSignals(QObject):
    loaded = Signal(int, int, object)  # generation, page number, rows (list) or an Exception


class _PageRead(QRunnable):
    def __init__(self, fn, generation: int, page_no: int, signals: _PageSignals):
        super().__init__()
        self.fn, self.generation, self.page_no, self.signals = fn, generation, page_no, signals

    def run(self) -> None:  # worker thread
        try:
            rows = self.fn()
        except Exception as exc:  # noqa: BLE001 - a worker must never die: the failure reaches the GUI thread
            rows = exc
        self.signals.loaded.emit(self.generation, self.page_no, rows)


class PhotoGridModel(QAbstractListModel):
    """Rows = photos of one album/search (``set_source``) or of a fixed list (``set_list``).

    Args:
        loader: thumbnail source.
        edge: thumbnail edge in pixels.

    Attributes:
        library: the ``core.library.Library`` rows are read from (``None`` while no library is open).
        album, query: what ``set_source`` shows (``None`` = every photo / no filter).
        include_unsure: a landmark album also shows the model's labels below the review threshold
            (``Library.photos(include_unsure=True)``).
        order: ``PhotoOrder`` of the rows (default ``NEWEST``: the timeline).
        queries: database page reads so far (tests and the benchmark count them).
    """

    def __init__(self, loader: ThumbnailLoader, edge: int = 160, parent=None):
        super().__init__(parent)
        self.library: Library | None = None
        self.loader = loader
        self.edge = edge
        self.album = None
        self.query = None
        self.include_unsure = False
        self.order = PhotoOrder.NEWEST
        self._fixed: list | None = None  # set_list rows (similar photos)
        self._total = 0
        self._pages: OrderedDict[int, list] = OrderedDict()
        self._row_of_key: dict[str, int] = {}
        self._placeholder = placeholder_pixmap(edge)
        self._broken = placeholder_pixmap(edge, broken=True)
        self.queries = 0  # database page reads (for tests and the benchmark)
        self._generation = 0  # bumped on every reset: late page reads of an old source are dropped
        self._inflight: set[int] = set()
        self._page_pool = QThreadPool(self)
        self._page_pool.setMaxThreadCount(1)
        self._page_signals = _PageSignals()
        self._page_signals.loaded.connect(self._on_page_loaded, Qt.ConnectionType.QueuedConnection)
        loader.thumbnailReady.connect(self._on_thumb)
        loader.thumbnailFailed.connect(lambda key, _r: self._on_thumb(key))

    # --- sources --------------------------------------------------------------------------------
    @property
    def generation(self) -> int:
        """Bumped whenever the rows are reset or re-read: a background read started under an older
        generation is out of date."""
        return self._generation

    @property
    def shows_list(self) -> bool:
        """Whether the rows are a fixed list (``set_list``, e.g. similar photos) rather than an album/search."""
        return self._fixed is not None

    @property
    def placeholder(self):
        """The pixmap drawn while a row's page or thumbnail is not ready (``QPixmap``)."""
        return self._placeholder

    @property
    def timeline(self) -> bool:
        """The rows are a timeline (newest first, with month headers): an album or a search in ``NEWEST`` order,
        not *Needs review* (least sure first) nor a fixed list."""
        return (
            self._fixed is None
            and self.order == PhotoOrder.NEWEST
            and not (self.album is not None and self.album.kind == AlbumKind.NEEDS_REVIEW)
        )

    def month_of(self, row: int) -> tuple[int, int] | None:
        """``(year, month)`` of the photo at ``row`` on the timeline (``timeline_at``), or ``None`` when its page is not
        in memory yet (never reads the database) or it has no date."""
        photo = self.peek_loaded(row)
        t = getattr(photo, "timeline_at", None) if photo is not None else None
        return None if t is None else (t.year, t.month)

    def starts_month(self, row: int) -> bool:
        """The photo at ``row`` is the first of its month on the timeline (it carries the month header)."""
        if not self.timeline:
            return False
        month = self.month_of(row)
        if month is None:
            return False
        return row == 0 or (self.month_of(row - 1) not in (None, month))

    def peek_loaded(self, row: int):
        """The row if its page is in memory, else ``None`` (reads nothing, starts nothing)."""
        if row < 0 or row >= self._total:
            return None
        if self._fixed is not None:
            return self._fixed[row]
        page = self._pages.get(row // PAGE_SIZE)
        i = row % PAGE_SIZE
        return page[i] if page is not None and i < len(page) else None

    def loaded_rows(self) -> dict[int, int]:
        """``{photo id: row}`` of the rows in memory (never reads the database)."""
        if self._fixed is not None:
            return {p.id: i for i, p in enumerate(self._fixed)}
        return {p.id: page_no * PAGE_SIZE + i for page_no, page in self._pages.items() for i, p in enumerate(page)}

    def row_of(self, photo_id: int) -> int | None:
        """The row of photo ``photo_id``: from the rows in memory, else asked of the library (``Library.photo_row``,
        one query); ``None`` when the grid does not show it."""
        row = self.loaded_rows().get(photo_id)
        if row is not None or self._fixed is not None or self.library is None:
            return row
        try:
            row = self.library.photo_row(
                photo_id, self.album, self.query, include_unsure=self.include_unsure, order=self.order
            )
        except LibraryError:
            return None
        return row if row is not None and row < self._total else None

    def set_source(self, album, query, *, include_unsure: bool = False, order: str = PhotoOrder.NEWEST) -> None:
        """Show ``Library.photos(album, query, include_unsure=..., order=...)`` (``None`` = every photo)."""
        self.beginResetModel()
        self.album, self.query, self._fixed = album, query, None
        self.include_unsure = include_unsure
        self.order = order
        self._invalidate()
        self._row_of_key.clear()
        self._total = (
            self.library.count(album=album, query=query, include_unsure=include_unsure)
            if self.library is not None
            else 0
        )
        self.endResetModel()
        self.loader.cancel_pending(GRID_PREFIX)

    def set_list(self, photos: Sequence) -> None:
        """Show a fixed list of ``PhotoSummary`` rows (e.g. similar photos)."""
        self.beginResetModel()
        self.album, self.query, self._fixed = None, None, list(photos)
        self._invalidate()
        self._row_of_key.clear()
        self._total = len(self._fixed)
        self.endResetModel()
        self.loader.cancel_pending(GRID_PREFIX)

    def refresh(self) -> None:
        """Re-read the rows after the library changed, keeping the scroll position.

        Rows appended or removed at the end are announced as such; every loaded row is re-read.
        """
        if self._fixed is not None or self.library is None:
            self.dataChanged.emit(self.index(0), self.index(max(0, self._total - 1)))
            return
        self.apply_refresh(
            *self.read_refresh(
                self.pages_to_refresh(), self.album, self.query, include_unsure=self.include_unsure, order=self.order
            )
        )

    def pages_to_refresh(self) -> list[int]:
        """The pages worth re-reading after a change: the (at most 3) most recently used ones."""
        return list(self._pages)[-3:]

    def read_refresh(
        self, pages: list[int], album, query, *, include_unsure: bool = False, order: str | None = None
    ) -> tuple[int, dict[int, list]]:
        """``(row count, {page: rows})`` for ``album``/``query`` (in ``order``, default the model's) from the
        library; safe in any thread."""
        lib = self.library
        if lib is None:
            return 0, {}
        order = order or self.order
        total = lib.count(album=album, query=query, include_unsure=include_unsure)
        fresh = {
            p: lib.photos(
                album=album,
                query=query,
                limit=PAGE_SIZE,
                offset=p * PAGE_SIZE,
                include_unsure=include_unsure,
                order=order,
            )
            for p in pages
            if p * PAGE_SIZE < total
        }
        return total, fresh

    def apply_refresh(self, new_total: int, first_pages: dict[int, list] | None = None) -> None:
        """Take a new row count (and optionally freshly read pages) after the library changed."""
        old_pages = dict(self._pages)
        self._invalidate()
        if first_pages:
            for k, v in first_pages.items():
                self._store_page(k, v)
        if new_total > self._total:
            self.beginInsertRows(QModelIndex(), self._total, new_total - 1)
            self._total = new_total
            self.endInsertRows()
        elif new_total < self._total:
            self.beginRemoveRows(QModelIndex(), new_total, self._total - 1)
            self._total = new_total
            self.endRemoveRows()
        if self._total and (
            first_pages is None or any(old_pages.get(k) != v for k, v in first_pages.items()) or not first_pages
        ):
            self.dataChanged.emit(self.index(0), self.index(self._total - 1))

    def _invalidate(self) -> None:
        self._pages.clear()
        self._row_of_key.clear()
        self._inflight.clear()
        self._generation += 1

    def read_page(self, page_no: int) -> list:
        """Rows of page ``page_no`` straight from the library (any thread)."""
        if self.library is None:
            return []
        return self.library.photos(
            album=self.album,
            query=self.query,
            limit=PAGE_SIZE,
            offset=page_no * PAGE_SIZE,
            include_unsure=self.include_unsure,
            order=self.order,
        )

    def set_edge(self, edge: int) -> None:
        """Change the thumbnail size (pixels)."""
        self.beginResetModel()
        self.edge = edge
        self._placeholder = placeholder_pixmap(edge)
        self._broken = placeholder_pixmap(edge, broken=True)
        self._row_of_key.clear()
        self.endResetModel()

    # --- rows -----------------------------------------------------------------------------------
    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else self._total

    def photo_at(self, row: int):
        """The ``PhotoSummary`` at ``row`` (reads its page if needed), or ``None``."""
        if row < 0 or row >= self._total:
            return None
        if self._fixed is not None:
            return self._fixed[row]
        page_no = row // PAGE_SIZE
        page = self._pages.get(page_no)
        if page is None:
            page = self.read_page(page_no)
            self.queries += 1
            self._store_page(page_no, page)
        else:
            self._pages.move_to_end(page_no)
        i = row - page_no * PAGE_SIZE
        return page[i] if i < len(page) else None

    def peek(self, row: int):
        """The row if its page is in memory; otherwise start reading the page in the background and
        return ``None`` (the delegate draws a placeholder; ``dataChanged`` follows)."""
        if row < 0 or row >= self._total:
            return None
        if self._fixed is not None:
            return self._fixed[row]
        page_no = row // PAGE_SIZE
        page = self._pages.get(page_no)
        if page is None:
            if page_no not in self._inflight and self.library is not None:
                self._inflight.add(page_no)
                self.queries += 1
                self._page_pool.start(
                    _PageRead(lambda p=page_no: self.read_page(p), self._generation, page_no, self._page_signals)
                )
            return None
        i = row - page_no * PAGE_SIZE
        return page[i] if i < len(page) else None

    def _store_page(self, page_no: int, page: list) -> None:
        self._pages[page_no] = page
        self._pages.move_to_end(page_no)
        while len(self._pages) > MAX_PAGES:
            self._pages.popitem(last=False)

    def _on_page_loaded(self, generation: int, page_no: int, rows) -> None:
        if generation != self._generation:
            return  # the grid shows something else now
        self._inflight.discard(page_no)
        if isinstance(rows, Exception):
            return  # placeholders stay; the next refresh tries again
        self._store_page(page_no, rows)
        first = page_no * PAGE_SIZE
        last = min(self._total, first + PAGE_SIZE) - 1  # and the next page's first row: its month header may change
        if last >= first:
            self.dataChanged.emit(self.index(first), self.index(min(self._total - 1, last + 1)))

    def photo_ids(self, rows: Sequence[int]) -> list[int]:
        out = []
        for r in rows:
            p = self.photo_at(r)
            if p is not None:
                out.append(p.id)
        return out

    def thumb_key(self, photo) -> str:
        # path_key: a file name that is not valid UTF-8 must survive the str signal (Qt drops lone surrogates)
        return f"{GRID_PREFIX}{photo.id}-{self.edge}-{getattr(photo, 'file_key', '') or path_key(photo.path)}"

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        photo = self.peek(index.row())
        if photo is None:
            return self._placeholder if role == Qt.ItemDataRole.DecorationRole else None
        if role == Qt.ItemDataRole.DisplayRole:
            return caption(photo)
        if role == Qt.ItemDataRole.DecorationRole:
            return self.thumbnail(photo, index.row())
        if role == Qt.ItemDataRole.ToolTipRole:
            return tooltip(photo)
        if role == PhotoRole:
            return photo
        if role == PhotoIdRole:
            return photo.id
        return None

    def thumbnail(self, photo, row: int):
        """The photo's thumbnail pixmap, or a placeholder while it is being made."""
        key = self.thumb_key(photo)
        pm = self.loader.pixmap(key)
        if pm is not None:
            return pm
        if self.loader.failure(key) is not None:
            return self._broken
        self._row_of_key[key] = row
        self.loader.request(key, photo.path, self.edge, getattr(photo, "file_key", None) or None)
        return self._placeholder

    def _on_thumb(self, key: str) -> None:
        row = self._row_of_key.pop(key, None)
        if row is not None and row < self._total:
            idx = self.index(row)
            self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole])


def caption(photo) -> str:
    """The one-line caption under a thumbnail (label names made safe to show: ``core.domain.display_text``)."""
    text = _caption(photo)
    return f"Offline · {text}" if getattr(photo, "offline", False) else text


def _caption(photo) -> str:
    status = photo.status
    if status == "gps" and photo.label_source == "gps" and photo.label:
        return f"{display_text(photo.label_name or photo.label)} · from GPS"
    if status == "gps" and not photo.label:
        place = getattr(photo, "place", None)
        return display_text(place) if place else "Has GPS"
    if status == "failed":
        return "Unreadable"
    if status == "pending":
        return "Not tagged yet"
    if not photo.label:
        return "No landmark" if photo.label_source != "manual" else "✓ Not a landmark"
    name = display_text(photo.label_name or photo.label)
    if photo.label_source == "manual":
        return f"✓ {name}"
    if photo.confidence is not None:  # confidence first: long names are elided, the number stays
        return f"{photo.confidence * 100:.0f}% · {name}"
    return name


def tooltip(photo) -> str:
    lines = [display_path(Path(photo.path).name)]
    lines.append(caption(photo))
    if getattr(photo, "offline", False):
        lines.append("Offline: its folder is missing or cannot be read (the photo stays in the library)")
    if photo.label_source == "manual":
        lines.append("✓ Confirmed by you (locked)")
    elif photo.label_source == "gps":
        lines.append("From the photo's GPS: taken within the landmark's area")
    elif photo.label_source == "model":
        lines.append("The model's guess")
    if photo.taken_at:
        lines.append(photo.taken_at.strftime("%d %b %Y %H:%M"))
    return "\n".join(lines)


def month_name(year: int, month: int) -> str:
    """'May 2019' (English month names, whatever the locale: the app's text is English)."""
    return f"{_MONTHS[month - 1]} {year}"


_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
#: Colour of the timeline's month headers.
MONTH_COLOR = QColor("#1d4ed8")


class PhotoDelegate(QStyledItemDelegate):
    """Draws a square thumbnail (aspect kept, centred) with a one-line caption below it.

    Manual labels (✓ confirmed by the person) get a small blue dot, the model's labels under the review
    threshold (unsure: in Needs review) an amber one. On a timeline the first photo of each month carries the
    month's header: a "May 2019" tab over the top of its thumbnail and a bar down its left side.
    """

    def __init__(self, view: PhotoGridView):
        super().__init__(view)
        self.view = view
        self.review_threshold = 0.5

    def sizeHint(self, option, index) -> QSize:
        e = self.view.edge
        return QSize(e + 12, e + 30)

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        e = self.view.edge
        r = option.rect
        painter.save()
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        pal = option.palette
        if selected:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(pal.color(QPalette.ColorRole.Highlight).lighter(160))
            painter.drawRoundedRect(r.adjusted(1, 1, -1, -1), 6, 6)
        model = cast(PhotoGridModel, index.model())
        photo = model.peek(index.row())
        pm = model.thumbnail(photo, index.row()) if photo is not None else model.placeholder
        box = QRect(r.x() + (r.width() - e) // 2, r.y() + 6, e, e)
        offline = photo is not None and getattr(photo, "offline", False)
        if pm is not None and not pm.isNull():
            w, h = pm.width(), pm.height()
            if offline:
                painter.setOpacity(0.4)  # an offline photo is shown faded
            painter.drawPixmap(box.x() + (e - w) // 2, box.y() + (e - h) // 2, pm)
            painter.setOpacity(1.0)
        if offline:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor("#6b7280"))
            painter.drawEllipse(box.x() + 4, box.y() + 4, 10, 10)
        if selected:
            painter.setPen(QPen(pal.color(QPalette.ColorRole.Highlight), 3))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(r.adjusted(2, 2, -2, -2), 6, 6)
        if photo is not None and model.starts_month(index.row()):
            self._paint_month(painter, option, r, box, model.month_of(index.row()))
        text = caption(photo) if photo is not None else ""
        text_rect = QRect(r.x() + 4, box.bottom() + 4, r.width() - 8, 18)
        if photo is not None:
            dot = None
            if photo.label_source == "manual":
                dot = QColor("#2563eb")
            elif photo.status == "tagged" and photo.confidence is not None and photo.confidence < self.review_threshold:
                dot = QColor("#f59e0b")
            if dot is not None:
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(dot)
                painter.drawEllipse(box.right() - 14, box.y() + 4, 10, 10)
        painter.setPen(pal.color(QPalette.ColorRole.Text))
        f = QFont(option.font)
        f.setPointSizeF(max(7.0, f.pointSizeF() * 0.9))
        painter.setFont(f)
        fm = painter.fontMetrics()
        painter.drawText(
            text_rect,
            Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignVCenter,
            fm.elidedText(text, Qt.TextElideMode.ElideRight, text_rect.width()),
        )
        painter.restore()

    def _paint_month(self, painter: QPainter, option: QStyleOptionViewItem, r: QRect, box: QRect, month) -> None:
        """The month header of the first photo of a month: a bar down the cell's left side, a tab on the thumbnail."""
        if month is None:
            return
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(MONTH_COLOR)
        painter.drawRoundedRect(QRect(r.x(), r.y() + 2, 4, r.height() - 4), 2, 2)
        f = QFont(option.font)
        f.setBold(True)
        f.setPointSizeF(max(7.0, f.pointSizeF() * 0.85))
        painter.setFont(f)
        text = month_name(*month)
        w = painter.fontMetrics().horizontalAdvance(text) + 12
        tab = QRect(box.x(), box.y(), min(w, box.width()), painter.fontMetrics().height() + 4)
        painter.setBrush(MONTH_COLOR)
        painter.drawRoundedRect(tab, 4, 4)
        painter.setPen(QColor("white"))
        painter.drawText(tab, Qt.AlignmentFlag.AlignCenter, text)


class PhotoGridView(QListView):
    """``QListView`` in icon mode tuned for large libraries (uniform sizes, batched layout).

    Signals:
        photoActivated(int): double-click or Enter on a photo (its id).
        viewRequested(int): the photo at this row should open in the viewer (Space, double-click or Enter).
        visibleMonthsChanged(): the months on screen may have changed (scrolled, resized, rows read).
    """

    photoActivated = Signal(int)
    viewRequested = Signal(int)
    visibleMonthsChanged = Signal()

    def __init__(self, parent=None, edge: int = 160):
        super().__init__(parent)
        self.edge = edge
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(400)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setSpacing(4)
        self.setWordWrap(False)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(24)
        self.delegate = PhotoDelegate(self)
        self.setItemDelegate(self.delegate)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.set_edge(edge)
        self.activated.connect(lambda idx: self.photoActivated.emit(int(idx.data(PhotoIdRole) or -1)))
        self.activated.connect(lambda idx: self.viewRequested.emit(idx.row()))
        self.verticalScrollBar().valueChanged.connect(lambda _v: self.visibleMonthsChanged.emit())

    def setModel(self, model) -> None:
        super().setModel(model)
        model.dataChanged.connect(lambda *_: self.visibleMonthsChanged.emit())
        model.modelReset.connect(self.visibleMonthsChanged)
        model.rowsInserted.connect(lambda *_: self.visibleMonthsChanged.emit())

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space and not event.modifiers() and self.currentIndex().isValid():
            self.viewRequested.emit(self.currentIndex().row())  # Space opens the viewer (not: toggle the selection)
            event.accept()
            return
        super().keyPressEvent(event)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.visibleMonthsChanged.emit()

    def visible_rows(self) -> tuple[int, int] | None:
        """``(first, last)`` rows with a cell on screen, or ``None`` when the grid shows none."""
        model = self.model()
        if model is None or model.rowCount() == 0:
            return None
        vp = self.viewport().rect()
        first = self.indexAt(vp.topLeft() + QPoint(8, 8))
        if not first.isValid():
            first = self.indexAt(vp.topLeft() + QPoint(8, self.gridSize().height() // 2))
        last = self.indexAt(vp.bottomLeft() + QPoint(8, -8))
        if not last.isValid():
            last = self.indexAt(vp.bottomLeft() + QPoint(8, -self.gridSize().height() // 2))
        lo = first.row() if first.isValid() else 0
        hi = model.rowCount() - 1
        if last.isValid():  # the last cell of the bottom visible line
            per_line = max(1, vp.width() // max(1, self.gridSize().width()))
            hi = min(hi, last.row() + per_line - 1)
        return lo, max(lo, hi)

    def visible_months(self) -> list[tuple[int, int]]:
        """``(year, month)`` of the timeline's months on screen, newest first (those whose rows are read)."""
        model = self.model()
        rows = self.visible_rows()
        if rows is None or not isinstance(model, PhotoGridModel) or not model.timeline:
            return []
        months: list[tuple[int, int]] = []
        for row in range(rows[0], rows[1] + 1):
            m = model.month_of(row)
            if m is not None and m not in months:
                months.append(m)
        return months

    def set_edge(self, edge: int) -> None:
        self.edge = edge
        self.setIconSize(QSize(edge, edge))
        self.setGridSize(QSize(edge + 16, edge + 34))

    def set_review_threshold(self, threshold: float) -> None:
        """Labels of the model less confident than ``threshold`` (in [0, 1]) get the amber "review" dot."""
        self.delegate.review_threshold = threshold
        self.viewport().update()

    def selected_rows(self) -> list[int]:
        """Rows of the selected photos, ascending."""
        return sorted(i.row() for i in self.selectionModel().selectedIndexes())
