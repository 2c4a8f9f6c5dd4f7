"""The full-size viewer: one photo over the whole window, with its label and ✓ / ✗ on it.

``PhotoViewer`` is a page of the main window's stack, opened by Space, double-click or Enter on a photo of the
grid. It shows the grid's photos in the grid's order (Left / Right: previous / next; Home / End: first / last)
and keeps the grid's selection on the photo shown, so the window's commands (Y confirm ✓, X reject ✗, L change
label, …, through ``desktop.corrections_controller``) act on it; its own ✓ / ✗ buttons emit
``confirmRequested`` / ``rejectRequested`` for the same. Esc (or Space) goes back to the grid.

``ImageCanvas`` draws the photo fitted to the window (``0``), at 100 % (``1``) and beyond (``+`` / ``-`` and the
wheel zoom around the pointer, up to 800 %; drag to pan). Pictures come from ``desktop.viewer_images``: decoded in
worker threads (EXIF orientation, HEIC, large photos), screen-size first with "Loading…" until it arrives, the
neighbours prefetched, and full resolution only when the zoom needs more pixels than the screen-size picture has.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainter, QPaintEvent, QResizeEvent, QWheelEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from core.domain import PhotoStatus, display_text
from core.photos.pathnames import display_path
from desktop.viewer_images import FULL, SCREEN, Decoded, ViewerImages

__all__ = ["ImageCanvas", "PhotoViewer", "label_line", "MAX_ZOOM"]

#: Deepest zoom: 8 screen pixels per photo pixel.
MAX_ZOOM = 8.0
#: Zoom factor of one key press (+ / -) or wheel notch.
ZOOM_STEP = 1.25
BACKGROUND = QColor("#111111")


def label_line(photo: Any, review_threshold: float = 0.5) -> str:
    """What the viewer says about a photo's label: "Eiffel Tower · 87 %", "✓ Eiffel Tower — confirmed by you",
    "No landmark (the model's guess)", "Has GPS — not sent to the model", … (display-safe)."""
    status = photo.status
    if status == PhotoStatus.GPS:
        return "Has GPS — not sent to the model"
    if status == PhotoStatus.FAILED:
        return "Could not read this photo"
    if status == PhotoStatus.PENDING:
        return "Not tagged yet"
    name = display_text(photo.label_name or photo.label) if photo.label else None
    if photo.label_source == "manual":
        return f"✓ {name} — confirmed by you" if name else "✓ Not a landmark — set by you"
    if name is None:
        return "No landmark (the model's guess)"
    if photo.confidence is None:
        return name
    unsure = " · unsure" if photo.confidence < review_threshold else ""
    return f"{name} · {photo.confidence * 100:.0f} %{unsure}"


class ImageCanvas(QWidget):
    """Draws one picture fitted or zoomed (coordinates in the photo's full-resolution pixels).

    Attributes:
        image: the picture drawn (screen-size or full), or ``None``. full_size: the photo's ``(w, h)`` at full
            resolution. scale: screen pixels per photo pixel. fitting: the zoom follows the window (fit).
        message: drawn in the middle when there is no picture ("Loading…", why it cannot be shown).

    Signals:
        zoomChanged(): the zoom changed. moreDetailNeeded(): the zoom wants more pixels than ``image`` has.
    """

    zoomChanged = Signal()
    moreDetailNeeded = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumSize(200, 150)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.image: Any = None
        self.full_size = (1, 1)
        self.scale = 1.0
        self.fitting = True
        self.message = ""
        self._cx, self._cy = 0.5, 0.5  # photo pixel at the canvas centre
        self._press: QPointF | None = None
        self._press_center = (0.0, 0.0)

    # --------------------------------------------------------------------------------- state
    def set_picture(self, image: Any, full_size: tuple[int, int], *, keep_view: bool = False) -> None:
        """Draw ``image`` (a ``QImage``, or ``None`` for ``message`` only) of a photo of ``full_size`` pixels;
        ``keep_view`` keeps the zoom and position (a sharper picture of the same photo), else it fits."""
        self.image = image
        self.full_size = (max(1, int(full_size[0])), max(1, int(full_size[1])))
        if not keep_view:
            self.fit()
        else:
            self._clamp()
            self.update()

    def fit_scale(self) -> float:
        """The zoom at which the whole photo fits the canvas."""
        fw, fh = self.full_size
        return min(self.width() / fw, self.height() / fh) if self.width() > 0 and self.height() > 0 else 1.0

    def min_scale(self) -> float:
        """The smallest zoom: fitted, or 100 % for a photo smaller than the canvas, whichever is smaller."""
        return min(self.fit_scale(), 1.0)

    def fit(self) -> None:
        """Fit the whole photo in the canvas (key 0)."""
        self.fitting = True
        self.scale = self.fit_scale()
        self._cx, self._cy = self.full_size[0] / 2, self.full_size[1] / 2
        self._changed()

    def zoom_to(self, scale: float, anchor: QPointF | None = None) -> None:
        """Zoom to ``scale`` screen pixels per photo pixel (1.0 = 100 %) keeping the photo point under ``anchor``."""
        anchor = anchor if anchor is not None else QPointF(self.width() / 2, self.height() / 2)
        before = self.to_photo(anchor)
        self.scale = min(MAX_ZOOM, max(self.min_scale(), scale))
        self.fitting = abs(self.scale - self.fit_scale()) < 1e-9
        after = self.to_photo(anchor)
        self._cx += before.x() - after.x()
        self._cy += before.y() - after.y()
        self._changed()

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Zoom by ``factor`` around ``anchor`` (default: the centre)."""
        self.zoom_to(self.scale * factor, anchor)

    def to_photo(self, pos: QPointF) -> QPointF:
        """Photo pixel (full resolution) under canvas position ``pos``."""
        return QPointF(
            self._cx + (pos.x() - self.width() / 2) / self.scale, self._cy + (pos.y() - self.height() / 2) / self.scale
        )

    def photo_rect(self) -> QRectF:
        """Where the whole photo is drawn, in canvas pixels."""
        fw, fh = self.full_size
        return QRectF(
            self.width() / 2 - self._cx * self.scale,
            self.height() / 2 - self._cy * self.scale,
            fw * self.scale,
            fh * self.scale,
        )

    def needs_more_detail(self) -> bool:
        """The zoom shows the photo larger than the picture's own pixels (a full-resolution decode is needed)."""
        if self.image is None or self.image.width() >= self.full_size[0]:
            return False
        return self.scale > self.image.width() / self.full_size[0] * 1.02

    def _clamp(self) -> None:
        fw, fh = self.full_size
        half_w, half_h = self.width() / 2 / self.scale, self.height() / 2 / self.scale
        self._cx = fw / 2 if fw <= 2 * half_w else min(max(self._cx, half_w), fw - half_w)
        self._cy = fh / 2 if fh <= 2 * half_h else min(max(self._cy, half_h), fh - half_h)

    def _changed(self) -> None:
        self._clamp()
        self.update()
        self.zoomChanged.emit()
        if self.needs_more_detail():
            self.moreDetailNeeded.emit()

    # --------------------------------------------------------------------------------- events
    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.fitting:
            self.fit()
        else:
            self._changed()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), BACKGROUND)
        img = self.image
        if img is not None and not img.isNull():
            target = self.photo_rect()
            visible = target.intersected(QRectF(self.rect()))
            if not visible.isEmpty():
                # only the visible part of the picture is read (a 100 MP picture at 100 % is a window's worth)
                ratio = img.width() / self.full_size[0]
                source = QRectF(
                    (visible.x() - target.x()) / self.scale * ratio,
                    (visible.y() - target.y()) / self.scale * ratio,
                    visible.width() / self.scale * ratio,
                    visible.height() / self.scale * ratio,
                )
                p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.scale * ratio < 2.5 or ratio < 1)
                p.drawImage(visible, img, source)
        if self.message:
            p.setPen(QColor("#e5e7eb"))
            f = self.font()
            f.setPointSizeF(f.pointSizeF() * 1.2)
            p.setFont(f)
            p.drawText(
                self.rect().adjusted(40, 40, -40, -40),
                Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                self.message,
            )
        p.end()

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_by(ZOOM_STEP**steps, event.position())
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._press = event.position()
            self._press_center = (self._cx, self._cy)
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._press is not None and event.buttons() & Qt.MouseButton.LeftButton:
            d = event.position() - self._press
            self._cx = self._press_center[0] - d.x() / self.scale
            self._cy = self._press_center[1] - d.y() / self.scale
            self._clamp()
            self.update()
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._press = None
        self.unsetCursor()
        super().mouseReleaseEvent(event)


class PhotoViewer(QWidget):
    """The viewer page (see the module docstring).

    Args:
        images: the decoder (``ViewerImages``; one is made when ``None``).

    Attributes:
        model: the grid's ``PhotoGridModel`` whose rows are shown (``open``). row: the row shown. photo: its
            ``PhotoSummary``. review_threshold: confidence below which a model label is called unsure.
        canvas, images: the picture and its decoder. back_button, prev_button, next_button, fit_button,
            actual_button, confirm_button, reject_button: the buttons. position_label, name_label, zoom_label,
            label_label, date_label: the texts.

    Signals:
        rowChanged(int): the viewer shows another row of the grid (the window selects it there).
        closed(): the person went back to the grid.
        confirmRequested(), rejectRequested(): ✓ / ✗ for the photo shown.
    """

    rowChanged = Signal(int)
    closed = Signal()
    confirmRequested = Signal()
    rejectRequested = Signal()

    def __init__(self, images: ViewerImages | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAutoFillBackground(True)
        self.setStyleSheet(
            "PhotoViewer, #viewerBar { background: #111111; } QLabel { color: #e5e7eb; } "
            "QPushButton { color: #f9fafb; background: #262626; border: 1px solid #404040; border-radius: 4px; "
            "padding: 4px 10px; } QPushButton:disabled { color: #6b7280; } QPushButton:hover { background: #333333; }"
        )
        self.images = images or ViewerImages(self)
        self.images.ready.connect(self._on_ready)
        self.images.failed.connect(self._on_failed)
        self.model: Any = None
        self.row = -1
        self.photo: Any = None
        self.review_threshold = 0.5

        self.canvas = ImageCanvas()
        self.canvas.zoomChanged.connect(self._show_zoom)
        self.canvas.moreDetailNeeded.connect(self._load_full)

        top = QHBoxLayout()
        top.setContentsMargins(8, 6, 8, 6)
        self.back_button = self._button("← Back", "Back to the photos (Esc)", self.close_viewer)
        self.prev_button = self._button("‹", "Previous photo (←)", self.previous)
        self.next_button = self._button("›", "Next photo (→)", self.next)
        self.position_label = QLabel()
        self.name_label = QLabel()
        self.name_label.setStyleSheet("font-weight:600;")
        self.zoom_label = QLabel()
        self.fit_button = self._button("Fit", "Fit the photo in the window (0)", self.canvas.fit)
        self.actual_button = self._button("100 %", "Every pixel of the photo (1)", lambda: self.canvas.zoom_to(1.0))
        for w in (self.back_button, self.prev_button, self.position_label, self.next_button, self.name_label):
            top.addWidget(w)
        top.addStretch(1)
        for w in (self.zoom_label, self.fit_button, self.actual_button):
            top.addWidget(w)

        bottom = QHBoxLayout()
        bottom.setContentsMargins(12, 6, 12, 8)
        texts = QVBoxLayout()
        self.label_label = QLabel()
        self.label_label.setStyleSheet("font-size:14pt; font-weight:600;")
        self.date_label = QLabel()
        self.date_label.setStyleSheet("color:#9ca3af;")
        texts.addWidget(self.label_label)
        texts.addWidget(self.date_label)
        bottom.addLayout(texts, 1)
        self.confirm_button = self._button(
            "✓ Confirm", "The label is right: make it yours and lock it (Y)", self.confirmRequested.emit
        )
        self.reject_button = self._button(
            "✗ Reject", "The label is wrong: the photo takes the model's next guess (X)", self.rejectRequested.emit
        )
        bottom.addWidget(self.confirm_button)
        bottom.addWidget(self.reject_button)

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        bar_top, bar_bottom = QWidget(), QWidget()
        bar_top.setObjectName("viewerBar")
        bar_bottom.setObjectName("viewerBar")
        bar_top.setLayout(top)
        bar_bottom.setLayout(bottom)
        outer.addWidget(bar_top)
        outer.addWidget(self.canvas, 1)
        outer.addWidget(bar_bottom)

    def _button(self, text: str, tip: str, slot: Any) -> QPushButton:
        b = QPushButton(text)
        b.setToolTip(tip)
        b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        b.clicked.connect(lambda _checked=False: slot())
        return b

    # ------------------------------------------------------------------------------------- showing
    def open(self, model: Any, row: int) -> None:
        """Show row ``row`` of the grid model ``model`` (``PhotoGridModel``); its order is the viewer's order."""
        self.model = model
        self.row = -1
        self.show_row(row)
        self.setFocus()

    @property
    def count(self) -> int:
        """Photos the viewer can move through (the grid's rows)."""
        return self.model.rowCount() if self.model is not None else 0

    def show_row(self, row: int) -> None:
        """Show the photo at ``row`` (clamped to the grid's rows); emits ``rowChanged``."""
        if self.model is None or self.count == 0:
            return
        row = max(0, min(self.count - 1, row))
        photo = self.model.photo_at(row)
        if photo is None:
            return
        changed = row != self.row or self.photo is None or photo.id != self.photo.id
        self.row, self.photo = row, photo
        self._show_texts()
        if changed:
            self._show_picture()
            self._prefetch()
            self.rowChanged.emit(row)

    def next(self) -> None:
        """The next photo of the grid (→)."""
        if self.row + 1 < self.count:
            self.show_row(self.row + 1)

    def previous(self) -> None:
        """The previous photo of the grid (←)."""
        if self.row > 0:
            self.show_row(self.row - 1)

    def refresh(self) -> None:
        """The grid re-read its rows (a correction, tagging): find the photo shown again (rows move when photos are
        added above it) and show its new label; when it left the grid (confirmed out of *Needs review*, deleted),
        show the photo that took its row."""
        if self.model is None or self.photo is None or not self.isVisible():
            return
        if self.count == 0:
            self.close_viewer()
            return
        row = self.model.row_of(self.photo.id)
        if row is None:
            old, self.row = self.row, -1
            self.show_row(min(max(0, old), self.count - 1))
            return
        fresh = self.model.photo_at(row)
        if fresh is None or fresh.id != self.photo.id:
            return
        moved = row != self.row
        self.row, self.photo = row, fresh
        self._show_texts()
        if moved:
            self.rowChanged.emit(row)

    def close_viewer(self) -> None:
        """Back to the grid (Esc): forget the pictures, emit ``closed``."""
        self.images.clear()
        self.canvas.set_picture(None, (1, 1))
        self.model, self.photo = None, None
        self.closed.emit()

    def _show_texts(self) -> None:
        p = self.photo
        self.position_label.setText(f"{self.row + 1:,} / {self.count:,}")
        self.name_label.setText(display_path(p.path.name))
        self.name_label.setToolTip(display_path(p.path))
        self.label_label.setText(label_line(p, self.review_threshold))
        date = getattr(p, "timeline_at", None)
        when = ""
        if p.taken_at is not None:
            when = p.taken_at.strftime("Taken %d %B %Y, %H:%M")
        elif date is not None:
            when = date.strftime("File dated %d %B %Y, %H:%M (no date in the photo)")
        if getattr(p, "offline", False):
            when += " · offline: its folder is missing"
        self.date_label.setText(when)
        labelled = p.status in (PhotoStatus.TAGGED, PhotoStatus.NO_LANDMARK) or p.label is not None
        self.confirm_button.setEnabled(labelled and p.label_source != "manual")
        self.reject_button.setEnabled(p.label is not None)
        self.prev_button.setEnabled(self.row > 0)
        self.next_button.setEnabled(self.row + 1 < self.count)

    def _show_picture(self) -> None:
        p = self.photo
        full = self.images.get(p.id, FULL)
        screen = self.images.get(p.id, SCREEN)
        best = full or screen
        if best is not None:
            self.canvas.message = ""
            self.canvas.set_picture(best.image, best.full_size)
            return
        failure = self.images.failure(p.id, SCREEN)
        self.canvas.message = f"Cannot show this photo: {failure}" if failure else "Loading…"
        self.canvas.set_picture(None, (1, 1))
        self._sync_fit()
        self.images.request(p.id, p.path, SCREEN)

    def _prefetch(self) -> None:
        for r in (self.row + 1, self.row - 1):
            q = self.model.peek_loaded(r) if 0 <= r < self.count else None
            if q is not None:
                self.images.request(q.id, q.path, SCREEN, prefetch=True)

    def _sync_fit(self) -> None:
        ratio = self.devicePixelRatioF()
        self.images.fit = (max(64, int(self.canvas.width() * ratio)), max(64, int(self.canvas.height() * ratio)))

    def _load_full(self) -> None:
        p = self.photo
        if p is None or self.images.get(p.id, FULL) is not None:
            return
        if self.images.request(p.id, p.path, FULL) or self.images.pending(p.id, FULL):
            self._show_zoom()

    def _on_ready(self, d: Decoded) -> None:
        p = self.photo
        if p is None or d.photo_id != p.id:
            return
        if d.level == FULL:
            self.canvas.set_picture(d.image, d.full_size, keep_view=True)
        elif self.canvas.image is None:
            self.canvas.message = ""
            self.canvas.set_picture(d.image, d.full_size)
        self._show_zoom()

    def _on_failed(self, photo_id: int, level: int, reason: str) -> None:
        if self.photo is None or photo_id != self.photo.id:
            return
        if level == SCREEN and self.canvas.image is None:
            self.canvas.message = f"Cannot show this photo: {reason}"
            self.canvas.update()
        self._show_zoom()

    def _show_zoom(self) -> None:
        c = self.canvas
        if c.image is None:
            self.zoom_label.setText("")
            return
        text = f"{c.scale * 100:.0f} %"
        if c.fitting:
            text = f"Fit · {text}"
        if self.photo is not None and self.images.pending(self.photo.id, FULL):
            text += " · loading full resolution…"
        self.zoom_label.setText(text)

    # ------------------------------------------------------------------------------------- keys
    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._sync_fit()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        k = event.key()
        if k in (Qt.Key.Key_Right, Qt.Key.Key_PageDown):
            self.next()
        elif k in (Qt.Key.Key_Left, Qt.Key.Key_PageUp):
            self.previous()
        elif k == Qt.Key.Key_Home:
            self.show_row(0)
        elif k == Qt.Key.Key_End:
            self.show_row(self.count - 1)
        elif k in (Qt.Key.Key_Escape, Qt.Key.Key_Space):
            self.close_viewer()
        elif k in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.canvas.zoom_by(ZOOM_STEP)
        elif k in (Qt.Key.Key_Minus, Qt.Key.Key_Underscore):
            self.canvas.zoom_by(1 / ZOOM_STEP)
        elif k == Qt.Key.Key_0:
            self.canvas.fit()
        elif k == Qt.Key.Key_1:
            self.canvas.zoom_to(1.0)
        else:
            super().keyPressEvent(event)
            return
        event.accept()
