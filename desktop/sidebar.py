"""The album sidebar: All photos, every landmark (count + cover thumbnail), the status albums, then the library
folders with their state (watching / available / missing / unreadable)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPainterPath, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QStyle, QTreeWidget, QTreeWidgetItem

from core.domain import Album, AlbumRef, FolderInfo, FolderState, LibraryError, display_text
from core.photos.pathnames import display_path
from desktop.thumbnails import ThumbnailLoader, placeholder_pixmap

if TYPE_CHECKING:
    from core.library import Library

AlbumRefRole = Qt.ItemDataRole.UserRole + 10
CountRole = Qt.ItemDataRole.UserRole + 11
FolderRole = Qt.ItemDataRole.UserRole + 12
MapRole = Qt.ItemDataRole.UserRole + 13

#: How a folder's state reads in the sidebar.
FOLDER_STATE_TEXT = {
    FolderState.WATCHING: "watching",
    FolderState.AVAILABLE: "available",
    FolderState.MISSING: "missing — photos offline",
    FolderState.UNREADABLE: "unreadable — photos offline",
}
COVER_EDGE = 40

ROW_HEIGHT = COVER_EDGE + 6

#: What each non-landmark album holds (sidebar tooltips).
STATUS_TIPS = {
    "unrecognized": "Photos in which the model (or you) found no landmark it knows.",
    "has_gps": "Photos whose EXIF already has GPS coordinates: they are not sent to the model.",
    "needs_review": "Labels the model is unsure about (confidence below your review threshold). "
    "Check them and correct the wrong ones.",
    "failed": "Files that could not be read (damaged or unsupported). The reason is in the details pane.",
    "pending": "Photos found but not tagged yet.",
}


def pin_icon(edge: int = 24, color: str = "#16a34a") -> QIcon:
    """A map-pin icon (drawn, so it needs no emoji font)."""
    pm = QPixmap(edge, edge)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(color))
    r = edge * 0.32
    cx, cy = edge / 2, edge * 0.38
    path = QPainterPath()
    path.addEllipse(QPointF(cx, cy), r, r)
    tri = QPainterPath()
    tri.moveTo(cx - r * 0.85, cy + r * 0.5)
    tri.lineTo(cx + r * 0.85, cy + r * 0.5)
    tri.lineTo(cx, edge * 0.95)
    tri.closeSubpath()
    p.drawPath(path.united(tri))
    p.setBrush(QColor("white"))
    p.drawEllipse(QPointF(cx, cy), r * 0.4, r * 0.4)
    p.end()
    return QIcon(pm)


def status_icon(widget, kind: str) -> QIcon:
    """Icon of a non-landmark album (standard style icons, a drawn pin for Has GPS)."""
    sp = QStyle.StandardPixmap
    if kind == "has_gps":
        return pin_icon()
    which = {
        "unrecognized": sp.SP_MessageBoxQuestion,
        "needs_review": sp.SP_MessageBoxWarning,
        "failed": sp.SP_MessageBoxCritical,
        "pending": sp.SP_BrowserReload,
        "all": sp.SP_DirIcon,
    }
    return widget.style().standardIcon(which.get(kind, sp.SP_FileIcon))


def folder_icon(widget, state: str) -> QIcon:
    """Icon of a library folder in ``state`` (a folder; a warning sign when its photos are offline)."""
    sp = QStyle.StandardPixmap
    return widget.style().standardIcon(sp.SP_MessageBoxWarning if state in FolderState.OFFLINE else sp.SP_DirIcon)


class AlbumSidebar(QTreeWidget):
    """All photos, Map, then three sections, "Landmarks", "Library" and "Folders"; selecting an album emits
    ``albumSelected(AlbumRef | None)`` (``None`` stands for All photos), selecting *Map* emits ``mapSelected()``.
    Folder entries show each library folder's state (``set_folders``); they are not albums.
    """

    albumSelected = Signal(object)
    mapSelected = Signal()

    def __init__(self, loader: ThumbnailLoader, parent=None):
        super().__init__(parent)
        self.loader = loader
        self.library: Library | None = None
        self.setHeaderHidden(True)
        self.setIndentation(8)
        self.setIconSize(QSize(COVER_EDGE, COVER_EDGE))
        self.setRootIsDecorated(False)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setMinimumWidth(250)
        self._cover_items: dict[str, QTreeWidgetItem] = {}
        self._cover_cache: dict[int, tuple] = {}
        self._missing_covers: set[int] = set()
        self._fetching = False
        self._placeholder = QIcon(placeholder_pixmap(COVER_EDGE))
        self.all_item = QTreeWidgetItem(["All photos"])
        self.all_item.setData(0, AlbumRefRole, None)
        self.all_item.setIcon(0, status_icon(self, "all"))
        self.all_item.setSizeHint(0, QSize(-1, 30))
        self.addTopLevelItem(self.all_item)
        self.map_item = QTreeWidgetItem(["Map"])
        self.map_item.setData(0, MapRole, True)
        self.map_item.setIcon(0, pin_icon(color="#2563eb"))
        self.map_item.setSizeHint(0, QSize(-1, 30))
        self.map_item.setToolTip(
            0, "Every photo with a location on a map: GPS from the photo, or estimated from its landmark"
        )
        self.addTopLevelItem(self.map_item)
        bold = QFont(self.font())
        bold.setBold(True)
        self.landmarks_header = self._header("LANDMARKS", bold)
        self.other_header = self._header("LIBRARY", bold)
        self.folders_header = self._header("FOLDERS", bold)
        self.folders: list[FolderInfo] = []
        self.albums: list[Album] = []
        self._shown_total: int | None = None
        self.itemSelectionChanged.connect(self._on_selection)
        loader.thumbnailReady.connect(self._on_thumb)
        self._suppress = False

    def _header(self, text: str, font: QFont) -> QTreeWidgetItem:
        item = QTreeWidgetItem([text])
        item.setFlags(Qt.ItemFlag.ItemIsEnabled)
        item.setFont(0, font)
        item.setForeground(0, QColor("#6b7280"))
        item.setSizeHint(0, QSize(-1, 28))
        self.addTopLevelItem(item)
        item.setExpanded(True)
        return item

    def set_albums(self, albums: list, total: int | None = None) -> None:
        """Show ``Library.albums()``; keeps the current selection when that album still exists.

        Does nothing when the albums and total did not change (cheap to call on every refresh).
        """
        if (list(albums), total) == (self.albums, self._shown_total):
            return
        self._shown_total = total
        current = self.current_ref()
        on_map = self.map_selected()
        had_selection = self.currentItem() is not None
        self._suppress = True
        self.albums = list(albums)
        self.landmarks_header.takeChildren()
        self.other_header.takeChildren()
        self._cover_items.clear()
        if total is not None:
            self.all_item.setText(0, f"All photos  ({total})")
            self.all_item.setData(0, CountRole, total)
        select = self.map_item if on_map else self.all_item if current is None else None
        for album in self.albums:
            is_landmark = album.ref.kind == "landmark"
            if not is_landmark and album.count == 0 and album.ref.kind == "pending":
                continue
            item = QTreeWidgetItem([f"{album.title}  ({album.count})"])
            item.setData(0, AlbumRefRole, album.ref)
            item.setData(0, CountRole, album.count)
            tip = STATUS_TIPS.get(album.ref.kind, album.title)
            if album.country:
                tip += f" — {album.country}"
            if album.latitude is not None and album.longitude is not None:
                tip += f"\n{album.latitude:.4f}, {album.longitude:.4f}"
            if album.user_created:
                tip += "\n(added by you)"
            item.setToolTip(0, tip)
            if is_landmark:
                self.landmarks_header.addChild(item)
                item.setSizeHint(0, QSize(-1, ROW_HEIGHT))
                item.setIcon(0, self._cover_icon(album, item))
            else:
                item.setSizeHint(0, QSize(-1, 30))
                item.setIcon(0, status_icon(self, album.ref.kind))
                self.other_header.addChild(item)
            if current is not None and album.ref == current:
                select = item
        if self._missing_covers:
            self._fetch_covers()
        self.landmarks_header.setText(0, f"LANDMARKS ({sum(1 for a in self.albums if a.ref.kind == 'landmark')})")
        if had_selection or select is not None:
            self.setCurrentItem(select or self.all_item)
        self._suppress = False
        if select is None and had_selection:  # the album vanished: fall back to All photos
            self.albumSelected.emit(None)

    def set_folders(self, folders: list[FolderInfo]) -> None:
        """Show the library folders and their state (``Library.folder_states()``); cheap when nothing changed."""
        if list(folders) == self.folders:
            return
        self.folders = list(folders)
        self.folders_header.takeChildren()
        for f in self.folders:
            name = display_path(f.path.name or f.path)
            state = FOLDER_STATE_TEXT.get(f.state, f.state)
            item = QTreeWidgetItem([f"{name}  ({state})"])
            item.setFlags(Qt.ItemFlag.ItemIsEnabled)  # information, not an album
            item.setData(0, FolderRole, f)
            item.setIcon(0, folder_icon(self, f.state))
            tip = f"{display_path(f.path)}\n{f.photos} photo(s) — {state}"
            if f.reason:
                tip += f"\nThe folder {display_text(f.reason)}. Its photos stay in the library, shown as offline, "
                tip += "and are watched again as soon as it is back."
            item.setToolTip(0, tip)
            if f.offline:
                item.setForeground(0, QColor("#b45309"))
            item.setSizeHint(0, QSize(-1, 26))
            self.folders_header.addChild(item)
        self.folders_header.setText(0, f"FOLDERS ({len(self.folders)})")

    def folder_items(self) -> list[QTreeWidgetItem]:
        """The folder entries, top to bottom."""
        return self._album_items(self.folders_header)

    def _cover_icon(self, album, item) -> QIcon:
        if album.cover_photo_id is None or self.library is None:
            return self._placeholder
        info = self._cover_cache.get(album.cover_photo_id)
        if info is None:
            self._missing_covers.add(album.cover_photo_id)
            return self._placeholder
        key = f"cover-{album.cover_photo_id}-{info[1]}"
        pm = self.loader.pixmap(key)
        if pm is not None:
            return QIcon(_square(pm, COVER_EDGE))
        self._cover_items[key] = item
        self.loader.request(key, info[0], 2 * COVER_EDGE, info[1] or None)
        return self._placeholder

    def _fetch_covers(self) -> None:
        """Look up the cover photos' paths in a worker thread, then show their thumbnails."""
        if self._fetching or self.library is None:
            return
        from desktop.background import run_in_background

        ids, lib = sorted(self._missing_covers), self.library
        self._missing_covers.clear()
        self._fetching = True

        def work():
            out = {}
            for pid in ids:
                try:
                    d = lib.photo(pid)
                except LibraryError:  # a vanished cover only loses the icon
                    continue
                out[pid] = (str(d.path), d.file_key)
            return out

        def done(infos):
            self._fetching = False
            self._cover_cache.update(infos)
            if infos and lib is self.library:
                self._apply_covers()

        run_in_background(work, done, lambda _e: setattr(self, "_fetching", False), owner=self)

    def _apply_covers(self) -> None:
        for item in self._album_items(self.landmarks_header):
            ref = item.data(0, AlbumRefRole)
            album = next((a for a in self.albums if a.ref == ref), None)
            if album is not None and album.cover_photo_id in self._cover_cache:
                item.setIcon(0, self._cover_icon(album, item))

    def _on_thumb(self, key: str) -> None:
        item = self._cover_items.pop(key, None)
        if item is not None:
            pm = self.loader.pixmap(key)
            if pm is not None:
                item.setIcon(0, QIcon(_square(pm, COVER_EDGE)))

    def _album_items(self, *headers: QTreeWidgetItem) -> list[QTreeWidgetItem]:
        """The album entries under ``headers`` (default: both sections), top to bottom."""
        out = []
        for header in headers or (self.landmarks_header, self.other_header):
            for i in range(header.childCount()):
                child = header.child(i)
                if child is not None:
                    out.append(child)
        return out

    def current_ref(self) -> AlbumRef | None:
        """The selected album (``None`` = All photos, *Map*, or nothing selected)."""
        item = self.currentItem()
        return item.data(0, AlbumRefRole) if item is not None else None

    def map_selected(self) -> bool:
        """*Map* is the selected entry."""
        return self.currentItem() is self.map_item

    def select_map(self) -> None:
        """Select *Map* (emits ``mapSelected``)."""
        self.setCurrentItem(self.map_item)

    def item_for(self, ref: AlbumRef | None) -> QTreeWidgetItem | None:
        """The entry of album ``ref`` (``None`` = All photos), or ``None`` when it is not listed."""
        if ref is None:
            return self.all_item
        return next((item for item in self._album_items() if item.data(0, AlbumRefRole) == ref), None)

    def select(self, ref: AlbumRef | None) -> None:
        """Select the album ``ref`` (``None`` = All photos)."""
        item = self.item_for(ref)
        if item is not None:
            self.setCurrentItem(item)

    def count_of(self, ref: AlbumRef | None) -> int | None:
        """The count shown for ``ref`` (``None`` if it is not listed)."""
        item = self.item_for(ref)
        return None if item is None else item.data(0, CountRole)

    def shown_counts(self) -> dict[AlbumRef, int]:
        """``{AlbumRef: count}`` of every listed album (tests compare it with the database)."""
        return {item.data(0, AlbumRefRole): item.data(0, CountRole) for item in self._album_items()}

    def _on_selection(self) -> None:
        if self._suppress:
            return
        item = self.currentItem()
        if item is None or item in (self.landmarks_header, self.other_header, self.folders_header):
            return
        if item.data(0, FolderRole) is not None:
            return
        if item is self.map_item:
            self.mapSelected.emit()
            return
        self.albumSelected.emit(item.data(0, AlbumRefRole))


def _square(pm: QPixmap, edge: int) -> QPixmap:
    """Centre-crop ``pm`` to a square and scale it to ``edge`` pixels."""
    side = min(pm.width(), pm.height())
    x, y = (pm.width() - side) // 2, (pm.height() - side) // 2
    return pm.copy(x, y, side, side).scaled(
        edge, edge, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation
    )
