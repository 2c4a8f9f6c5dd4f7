"""The map: every located photo as clustered markers over an offline basemap, drawn with Qt.

``MapView`` draws the Natural Earth countries (``desktop.basemap``) in Web Mercator (``desktop.map_clusters``)
and, over them, one marker per cluster of photos with its count. Markers tell how the photos were located:

* **GPS** (EXIF coordinates of the photo): a filled blue disc;
* **estimated** (the catalog coordinates of the photo's landmark): a white disc with a dashed orange ring;
* **mixed**: a white disc whose ring is blue (solid) for its GPS share and orange (dashed) for the rest.

The legend's two check boxes show or hide each kind. Mouse: drag to pan, wheel to zoom around the pointer,
double-click to zoom in, click a marker to open its photos (``clusterActivated``). Keys: arrows pan, ``+``/``-``
zoom, ``0`` (or Home) shows every located photo. Clusters are computed per zoom level in a worker thread
(``cluster_points``: ~25 ms for 100 000 photos) and cached; until a level is ready the previous markers stay.
No online tiles are fetched (the basemap ships with the app).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, QSize, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QIcon,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QPixmap,
    QResizeEvent,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import QCheckBox, QFrame, QHBoxLayout, QToolButton, QToolTip, QVBoxLayout, QWidget

from desktop.background import run_in_background
from desktop.basemap import countries_path, load_countries
from desktop.map_clusters import MAX_LEVEL, TILE_PX, Cluster, Clusters, MapPoints, cluster_points, level_for_scale

__all__ = ["MapView", "GPS_COLOR", "ESTIMATED_COLOR", "marker_radius", "marker_icon"]

GPS_COLOR = QColor("#2563eb")
ESTIMATED_COLOR = QColor("#ea580c")
OCEAN_COLOR = QColor("#dbe7f3")
LAND_COLOR = QColor("#f7f5ef")
BORDER_COLOR = QColor("#a8a29e")
#: Zoom factor of one key press / double-click / button.
ZOOM_STEP = 2.0
#: Deepest zoom: the world this many pixels wide (a few metres per pixel).
MAX_SCALE = float(TILE_PX * 2 ** (MAX_LEVEL + 1))
#: Fraction of the view one arrow key moves it.
PAN_STEP = 0.25
#: A press that moves less than this many pixels before its release is a click, not a drag.
CLICK_SLOP_PX = 5
#: Milliseconds after the last pan or zoom before the countries are drawn again with antialiasing, in a worker thread
#: (on the GUI thread they are drawn without: ~3-6 ms instead of ~60 ms for the whole world, ``bench/bench_places.py``).
SETTLE_MS = 160


def marker_radius(count: int) -> float:
    """Marker radius in pixels for ``count`` photos: 11 for one photo, +5 per tenfold (36 for 100 000)."""
    return 11.0 + 5.0 * math.log10(max(1, count))


def _dashed(color: QColor, width: float) -> QPen:
    pen = QPen(color, width)
    pen.setDashPattern([2.2, 1.4])
    pen.setCapStyle(Qt.PenCapStyle.FlatCap)
    return pen


def draw_marker(p: QPainter, center: QPointF, count: int, gps: int, font: QFont | None = None) -> None:
    """One cluster marker at ``center`` (pixels) for ``count`` photos of which ``gps`` are EXIF GPS."""
    r = marker_radius(count)
    rect = QRectF(center.x() - r, center.y() - r, 2 * r, 2 * r)
    if gps == count:  # all GPS: filled blue
        p.setPen(QPen(QColor("white"), 2))
        p.setBrush(GPS_COLOR)
        p.drawEllipse(rect)
        text_color = QColor("white")
    else:
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(255, 255, 255, 235))
        p.drawEllipse(rect)
        ring = rect.adjusted(2, 2, -2, -2)
        share = int(round(5760 * gps / count))  # 1/16 degrees
        if share:
            pen = QPen(GPS_COLOR, 3.5)
            pen.setCapStyle(Qt.PenCapStyle.FlatCap)
            p.setPen(pen)
            p.drawArc(ring, 90 * 16, -share)
        p.setPen(_dashed(ESTIMATED_COLOR, 3.0))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawArc(ring, 90 * 16 - share, -(5760 - share))
        text_color = QColor("#1f2937") if gps else ESTIMATED_COLOR.darker(130)
    if font is not None:
        p.setFont(font)
    p.setPen(text_color)
    p.drawText(rect, Qt.AlignmentFlag.AlignCenter, _count_text(count))


def _count_text(count: int) -> str:
    return f"{count / 1000:.0f}k" if count >= 10_000 else f"{count / 1000:.1f}k" if count >= 1000 else str(count)


class MarkerCache:
    """Markers drawn once into pixmaps and blitted afterwards (a marker with its text and dashed arcs costs ~0.3 ms
    to draw with antialiasing; a blit a few µs). Keyed by count, GPS share (in 1/64 steps) and device pixel ratio;
    at most ``size`` pixmaps are kept (least recently used dropped).
    """

    def __init__(self, size: int = 3000):
        self.size = size
        self._pixmaps: OrderedDict[tuple[int, int, float], QPixmap] = OrderedDict()

    def pixmap(self, count: int, gps: int, font: QFont, ratio: float) -> QPixmap:
        """The marker for ``count`` photos of which ``gps`` have GPS, drawn for ``ratio`` (device pixels per pixel)."""
        share = 64 if gps == count else min(63, int(round(64 * gps / count))) if gps else 0
        key = (count, share, ratio)
        pm = self._pixmaps.get(key)
        if pm is not None:
            self._pixmaps.move_to_end(key)
            return pm
        edge = int(math.ceil(2 * marker_radius(count) + 4))
        pm = QPixmap(int(edge * ratio), int(edge * ratio))
        pm.setDevicePixelRatio(ratio)
        pm.fill(Qt.GlobalColor.transparent)
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        draw_marker(p, QPointF(edge / 2, edge / 2), count, count if share == 64 else round(count * share / 64), font)
        p.end()
        self._pixmaps[key] = pm
        while len(self._pixmaps) > self.size:
            self._pixmaps.popitem(last=False)
        return pm


def marker_icon(kind: str, edge: int = 22) -> QIcon:
    """The legend's icon of a marker ``kind`` (``"gps"`` or ``"estimated"``)."""
    pm = QPixmap(edge, edge)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    r = edge / 2 - 2
    c = QPointF(edge / 2, edge / 2)
    if kind == "gps":
        p.setPen(QPen(QColor("white"), 1.5))
        p.setBrush(GPS_COLOR)
    else:
        p.setPen(_dashed(ESTIMATED_COLOR, 2.5))
        p.setBrush(QColor("white"))
    p.drawEllipse(c, r, r)
    p.end()
    return QIcon(pm)


def draw_land(path: QPainterPath, key: tuple, *, smooth: bool) -> QImage:
    """The sea and the countries ``path`` (world coordinates) for a view ``key`` = ``(scale, centre x, centre y,
    width, height, device pixel ratio)``, as an image (any thread: ``QImage`` painting is thread-safe)."""
    scale, cx, cy, w, h, ratio = key
    img = QImage(max(1, int(w * ratio)), max(1, int(h * ratio)), QImage.Format.Format_ARGB32_Premultiplied)
    img.setDevicePixelRatio(ratio)
    img.fill(OCEAN_COLOR)
    p = QPainter(img)
    p.setRenderHint(QPainter.RenderHint.Antialiasing, smooth)
    p.setTransform(QTransform(scale, 0, 0, scale, w / 2 - cx * scale, h / 2 - cy * scale))
    pen = QPen(BORDER_COLOR, 0.8)
    pen.setCosmetic(True)
    p.setPen(pen)
    p.setBrush(LAND_COLOR)
    p.drawPath(path)
    p.end()
    return img


class MapView(QWidget):
    """The map of the located photos (see the module docstring).

    Attributes:
        points: the located photos shown (``set_points``), or ``None`` before the first load.
        center: the view's centre in world coordinates ([0, 1]²). scale: the world's width in pixels.
        gps_check, estimated_check: the legend's check boxes (show GPS / estimated locations).
        message: a line drawn in the middle (nothing located yet, loading), '' for none.

    Signals:
        clusterActivated(object): a marker was clicked: its ``desktop.map_clusters.Cluster``.
        viewChanged(): the view was panned or zoomed.
    """

    clusterActivated = Signal(object)
    viewChanged = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setMinimumSize(320, 240)
        self.points: MapPoints | None = None
        self.center = QPointF(0.5, 0.42)
        self.scale = 1024.0
        self.message = "Loading the map…"
        self._land = countries_path(load_countries())
        self._cache: dict[tuple[int, bool, bool], Clusters] = {}
        self._pending: set[tuple[int, bool, bool]] = set()
        self._shown: Clusters | None = None  # what is drawn: the current level's clusters, or the last ready ones
        self._generation = 0  # bumped by set_points: clusters of older points are dropped
        self._press: QPoint | None = None
        self._press_center = QPointF()
        self._dragged = False
        self._fitted = False
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._land_pool = QThreadPool(self)
        self._land_pool.setMaxThreadCount(1)
        self._markers = MarkerCache()
        self._land_cache: QPixmap | None = None
        self._land_key: tuple | None = None
        self._moving = False
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(SETTLE_MS)
        self._settle.timeout.connect(self._settled)

        self.legend = QFrame(self)
        self.legend.setObjectName("mapLegend")
        self.legend.setStyleSheet(
            "#mapLegend { background: rgba(255,255,255,235); border: 1px solid #d6d3d1; border-radius: 6px; }"
        )
        lay = QVBoxLayout(self.legend)
        lay.setContentsMargins(8, 6, 8, 6)
        lay.setSpacing(2)
        self.gps_check = QCheckBox("GPS (from the photo)")
        self.gps_check.setIcon(marker_icon("gps"))
        self.gps_check.setToolTip("Photos whose EXIF holds GPS coordinates")
        self.estimated_check = QCheckBox("Estimated (from the landmark)")
        self.estimated_check.setIcon(marker_icon("estimated"))
        self.estimated_check.setToolTip("Photos placed at the catalog coordinates of the landmark they show")
        for box in (self.gps_check, self.estimated_check):
            box.setChecked(True)
            box.setIconSize(QSize(18, 18))
            box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            box.toggled.connect(lambda _on: self._on_filter())
            lay.addWidget(box)

        self.zoom_box = QFrame(self)
        zl = QHBoxLayout(self.zoom_box)
        zl.setContentsMargins(0, 0, 0, 0)
        zl.setSpacing(2)
        self.zoom_in_button = self._tool("+", "Zoom in (+)", lambda: self.zoom_by(ZOOM_STEP))
        self.zoom_out_button = self._tool("−", "Zoom out (−)", lambda: self.zoom_by(1 / ZOOM_STEP))
        self.fit_button = self._tool("⌂", "Show every located photo (0)", self.fit_points)
        for b in (self.zoom_in_button, self.zoom_out_button, self.fit_button):
            zl.addWidget(b)

    def _tool(self, text: str, tip: str, slot: Any) -> QToolButton:
        b = QToolButton(self.zoom_box)
        b.setText(text)
        b.setToolTip(tip)
        b.setFixedSize(30, 30)
        b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        b.setStyleSheet(
            "QToolButton { background: white; border: 1px solid #d6d3d1; border-radius: 4px; font-size: 15pt; }"
        )
        b.clicked.connect(slot)
        return b

    # ------------------------------------------------------------------------------------- data
    def set_points(self, points: MapPoints) -> None:
        """Show ``points`` (all located photos); the first time, the view fits them."""
        self.points = points
        self._generation += 1
        self._cache.clear()
        self._pending.clear()
        self._shown = None
        self.message = (
            ""
            if len(points)
            else "No photo has a location yet. Photos with GPS in their EXIF, and photos of a landmark the "
            "catalog knows, appear here."
        )
        if not self._fitted and len(points):
            self._fitted = True
            self.fit_points()
        self._request()
        self.update()

    @property
    def level(self) -> int:
        """The clustering level of the current zoom (``map_clusters.level_for_scale``)."""
        return level_for_scale(self.scale)

    def _key(self) -> tuple[int, bool, bool]:
        return self.level, self.gps_check.isChecked(), self.estimated_check.isChecked()

    @property
    def clusters(self) -> Clusters | None:
        """The clusters of the current zoom level and legend filters, or ``None`` while they are computed."""
        return self._cache.get(self._key())

    @property
    def clusters_ready(self) -> bool:
        """The markers drawn are those of the current zoom level and filters."""
        return self.points is not None and self.clusters is not None

    def location_filter(self) -> str | None:
        """``SearchQuery.location`` of the kinds shown: ``"gps"``, ``"estimated"``, or ``None`` (both or none)."""
        g, e = self.gps_check.isChecked(), self.estimated_check.isChecked()
        return "gps" if g and not e else "estimated" if e and not g else None

    def _mask(self, gps: bool, estimated: bool) -> np.ndarray | None:
        assert self.points is not None
        if gps and estimated:
            return None
        if gps:
            return self.points.gps
        if estimated:
            return ~self.points.gps
        return np.zeros(len(self.points), dtype=bool)

    def _request(self) -> None:
        """Make sure the clusters of the current level are ready or being computed (in a worker thread)."""
        if self.points is None:
            return
        key = self._key()
        ready = self._cache.get(key)
        if ready is not None:
            self._shown = ready
            return
        if key in self._pending:
            return
        self._pending.add(key)
        points, mask, generation = self.points, self._mask(key[1], key[2]), self._generation

        def done(clusters: Clusters) -> None:
            if generation != self._generation:
                return
            self._pending.discard(key)
            self._cache[key] = clusters
            if key == self._key():
                self._shown = clusters
            self.update()

        def failed(exc: Exception) -> None:
            self._pending.discard(key)
            self.message = f"Cannot place the markers: {exc}"
            self.update()

        run_in_background(lambda: cluster_points(points, key[0], mask), done, failed, self._pool, owner=self)

    def _on_filter(self) -> None:
        self._request()
        self.update()

    # ------------------------------------------------------------------------------------- view
    def min_scale(self) -> float:
        """The smallest zoom: the whole world as wide as the view (at least ``TILE_PX``)."""
        return float(max(TILE_PX, self.width()))

    def to_screen(self, x: float, y: float) -> QPointF:
        """Pixel position of world point ``(x, y)``."""
        return QPointF(
            (x - self.center.x()) * self.scale + self.width() / 2,
            (y - self.center.y()) * self.scale + self.height() / 2,
        )

    def to_world(self, pos: QPointF | QPoint) -> QPointF:
        """World point under pixel ``pos``."""
        return QPointF(
            self.center.x() + (pos.x() - self.width() / 2) / self.scale,
            self.center.y() + (pos.y() - self.height() / 2) / self.scale,
        )

    def _clamp(self) -> None:
        self.scale = min(MAX_SCALE, max(self.min_scale(), self.scale))
        half_w, half_h = self.width() / 2 / self.scale, self.height() / 2 / self.scale
        cx = min(max(self.center.x(), half_w), 1 - half_w) if half_w < 0.5 else 0.5
        cy = min(max(self.center.y(), half_h), 1 - half_h) if half_h < 0.5 else 0.5
        self.center = QPointF(cx, cy)

    def _changed(self) -> None:
        self._clamp()
        self._request()
        self._moving = True
        self._settle.start()
        self.update()
        self.viewChanged.emit()

    def _settled(self) -> None:
        self._moving = False
        self._smooth_land()

    def zoom_by(self, factor: float, anchor: QPointF | QPoint | None = None) -> None:
        """Zoom by ``factor`` keeping the world point under ``anchor`` (pixels; default the centre) in place."""
        anchor = QPointF(anchor) if anchor is not None else QPointF(self.width() / 2, self.height() / 2)
        before = self.to_world(anchor)
        self.scale = min(MAX_SCALE, max(self.min_scale(), self.scale * factor))
        after = self.to_world(anchor)
        self.center = QPointF(self.center.x() + before.x() - after.x(), self.center.y() + before.y() - after.y())
        self._changed()

    def pan_by(self, dx: float, dy: float) -> None:
        """Move the view by ``(dx, dy)`` pixels (positive: the map moves left/up, the view east/south)."""
        self.center = QPointF(self.center.x() + dx / self.scale, self.center.y() + dy / self.scale)
        self._changed()

    def fit_points(self) -> None:
        """Show every located photo (the whole world when none), zoomed in no further than a city."""
        pts = self.points
        if pts is None or not len(pts) or self.width() < 2:
            self.scale, self.center = self.min_scale(), QPointF(0.5, 0.42)
            self._changed()
            return
        x0, x1 = float(pts.x.min()), float(pts.x.max())
        y0, y1 = float(pts.y.min()), float(pts.y.max())
        span = max(x1 - x0, (y1 - y0) * self.width() / max(1, self.height()), 1e-9)
        self.scale = min(TILE_PX * 2.0**11, 0.7 * self.width() / span)
        self.center = QPointF((x0 + x1) / 2, (y0 + y1) / 2)
        self._changed()

    def cluster_at(self, pos: QPointF | QPoint) -> Cluster | None:
        """The marker under pixel ``pos`` (the topmost: the biggest), or ``None``."""
        c = self._shown
        if c is None or not len(c):
            return None
        sx = (c.x - self.center.x()) * self.scale + self.width() / 2
        sy = (c.y - self.center.y()) * self.scale + self.height() / 2
        radius = 11.0 + 5.0 * np.log10(np.maximum(c.count, 1))
        hit = np.flatnonzero((sx - pos.x()) ** 2 + (sy - pos.y()) ** 2 <= radius**2)
        if hit.size == 0:
            return None
        return c[int(hit[np.argmax(c.count[hit])])]

    def marker_position(self, cluster: Cluster) -> QPoint:
        """Pixel position of ``cluster``'s marker (tests click there)."""
        p = self.to_screen(cluster.x, cluster.y)
        return QPoint(round(p.x()), round(p.y()))

    def visible_clusters(self) -> list[Cluster]:
        """The clusters whose markers are inside the view."""
        c = self._shown
        if c is None:
            return []
        sx = (c.x - self.center.x()) * self.scale + self.width() / 2
        sy = (c.y - self.center.y()) * self.scale + self.height() / 2
        inside = np.flatnonzero((sx >= 0) & (sx <= self.width()) & (sy >= 0) & (sy <= self.height()))
        return [c[int(i)] for i in inside]

    # ------------------------------------------------------------------------------------- events
    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        m = 10
        self.legend.adjustSize()
        self.legend.move(m, self.height() - self.legend.height() - m)
        self.zoom_box.adjustSize()
        self.zoom_box.move(self.width() - self.zoom_box.width() - m, m)
        if not self._fitted and self.points is not None and len(self.points):
            self._fitted = True
            self.fit_points()
        else:
            self._changed()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.drawPixmap(0, 0, self._land_layer())
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        self._paint_markers(p)
        small = QFont(self.font())
        small.setPointSizeF(max(6.5, small.pointSizeF() * 0.8))
        p.setFont(small)
        p.setPen(QColor("#78716c"))
        p.drawText(
            self.rect().adjusted(0, 0, -8, -4),
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom,
            "Basemap: Natural Earth (public domain), offline",
        )
        if self.message:
            box = QRectF(self.width() * 0.15, self.height() * 0.4, self.width() * 0.7, 60)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(255, 255, 255, 220))
            p.drawRoundedRect(box, 8, 8)
            p.setPen(QColor("#374151"))
            p.setFont(self.font())
            p.drawText(
                box.adjusted(10, 4, -10, -4), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.message
            )
        p.end()

    def _land_key_now(self) -> tuple:
        ratio = self.devicePixelRatioF()
        return (self.scale, self.center.x(), self.center.y(), self.width(), self.height(), ratio)

    def _land_layer(self) -> QPixmap:
        """The sea and the countries for the current view: drawn here without antialiasing (a few ms), then once the
        view stops moving drawn again with antialiasing in a worker thread (~60 ms for the whole world)."""
        key = self._land_key_now()
        if self._land_cache is not None and self._land_key is not None and self._land_key[:-1] == key:
            return self._land_cache
        pm = QPixmap.fromImage(draw_land(self._land, key, smooth=False))
        self._land_cache, self._land_key = pm, (*key, False)
        if not self._moving:
            self._settle.start()
        return pm

    def _smooth_land(self) -> None:
        """Draw the current view's countries with antialiasing in a worker thread; shown if the view has not moved."""
        key = self._land_key_now()
        if self._land_key == (*key, True):
            return
        path = QPainterPath(self._land)

        def done(image: QImage) -> None:
            if self._land_key_now() == key and not self._moving:
                self._land_cache, self._land_key = QPixmap.fromImage(image), (*key, True)
                self.update()

        run_in_background(lambda: draw_land(path, key, smooth=True), done, lambda _e: None, self._land_pool, owner=self)

    def _paint_markers(self, p: QPainter) -> None:
        c = self._shown
        if c is None or not len(c):
            return
        sx = (c.x - self.center.x()) * self.scale + self.width() / 2
        sy = (c.y - self.center.y()) * self.scale + self.height() / 2
        m = 40
        inside = np.flatnonzero((sx >= -m) & (sx <= self.width() + m) & (sy >= -m) & (sy <= self.height() + m))
        inside = inside[np.argsort(c.count[inside], kind="stable")]  # the biggest on top
        font = QFont(self.font())
        font.setBold(True)
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        ratio = self.devicePixelRatioF()
        for i in inside.tolist():
            pm = self._markers.pixmap(int(c.count[i]), int(c.gps[i]), font, ratio)
            w = pm.width() / ratio
            p.drawPixmap(QPointF(float(sx[i]) - w / 2, float(sy[i]) - w / 2), pm)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._press = event.position().toPoint()
            self._press_center = QPointF(self.center)
            self._dragged = False
            self.setFocus()
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position().toPoint()
        if self._press is not None and event.buttons() & Qt.MouseButton.LeftButton:
            d = pos - self._press
            if self._dragged or abs(d.x()) + abs(d.y()) >= CLICK_SLOP_PX:
                self._dragged = True
                self.setCursor(Qt.CursorShape.ClosedHandCursor)
                self.center = QPointF(
                    self._press_center.x() - d.x() / self.scale, self._press_center.y() - d.y() / self.scale
                )
                self._changed()
        else:
            hit = self.cluster_at(pos)
            self.setCursor(Qt.CursorShape.PointingHandCursor if hit is not None else Qt.CursorShape.OpenHandCursor)
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self._press is not None:
            clicked = not self._dragged
            self._press = None
            self._dragged = False
            self.unsetCursor()
            if clicked:
                hit = self.cluster_at(event.position())
                if hit is not None:
                    self.clusterActivated.emit(hit)
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.cluster_at(event.position()) is None:
            self.zoom_by(ZOOM_STEP, event.position())

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_by(2.0 ** (steps / 2), event.position())  # one notch: ×√2
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        k = event.key()
        w, h = self.width() * PAN_STEP, self.height() * PAN_STEP
        moves = {
            int(Qt.Key.Key_Left.value): (-w, 0.0),
            int(Qt.Key.Key_Right.value): (w, 0.0),
            int(Qt.Key.Key_Up.value): (0.0, -h),
            int(Qt.Key.Key_Down.value): (0.0, h),
        }
        if int(k) in moves:
            self.pan_by(*moves[int(k)])
        elif k in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom_by(ZOOM_STEP)
        elif k in (Qt.Key.Key_Minus, Qt.Key.Key_Underscore):
            self.zoom_by(1 / ZOOM_STEP)
        elif k in (Qt.Key.Key_0, Qt.Key.Key_Home):
            self.fit_points()
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def event(self, e: QEvent) -> bool:
        if e.type() == QEvent.Type.ToolTip:
            pos = e.pos()  # type: ignore[attr-defined]
            hit = self.cluster_at(pos)
            if hit is None:
                QToolTip.hideText()
            else:
                QToolTip.showText(e.globalPos(), cluster_tooltip(hit), self)  # type: ignore[attr-defined]
            return True
        return super().event(e)


def cluster_tooltip(c: Cluster) -> str:
    """'12 photos · 10 with GPS, 2 estimated from their landmark · click to see them'."""
    parts = []
    if c.gps:
        parts.append(f"{c.gps} with GPS")
    if c.estimated:
        parts.append(f"{c.estimated} estimated from their landmark")
    return f"{c.count} photo{'s' if c.count != 1 else ''} · {', '.join(parts)}\nClick to see them"
