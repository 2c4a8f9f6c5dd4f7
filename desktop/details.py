"""The details pane for the selected photo: preview, label and who set it (✓ confirmed by you, or the model's
guess and how sure it is), Confirm ✓ / Reject ✗ / Change label… buttons (also for several selected photos),
top-k predictions, location, camera and date, file path with "Show in folder"."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QFont, QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from core.domain import NO_LANDMARK, PhotoDetails, display_text
from core.photos.pathnames import display_path
from desktop.thumbnails import ThumbnailLoader

PREVIEW_EDGE = 360


def format_coords(lat: float, lon: float) -> str:
    """``41.8902° N, 12.4922° E`` (decimal degrees, WGS84)."""
    return f"{abs(lat):.4f}° {'N' if lat >= 0 else 'S'}, {abs(lon):.4f}° {'E' if lon >= 0 else 'W'}"


class DetailsPane(QScrollArea):
    """Shows ``Library.photo(id)`` (or how many photos are selected) with buttons acting on the selection.

    Attributes:
        details: the photo shown, or ``None``. review_threshold: confidence in [0, 1] below which a model
            label is called unsure.
        confirm_button, reject_button, relabel_button, similar_button, more_like_button: the buttons.

    Signals:
        confirmRequested(), rejectRequested(), relabelRequested(): for the selected photos.
        similarRequested(int), moreLikeRequested(int): for the photo shown (its id).
    """

    confirmRequested = Signal()
    rejectRequested = Signal()
    relabelRequested = Signal()
    similarRequested = Signal(int)
    moreLikeRequested = Signal()

    def __init__(self, loader: ThumbnailLoader, parent=None):
        super().__init__(parent)
        self.loader = loader
        self.details: PhotoDetails | None = None
        self.review_threshold = 0.5
        self.setWidgetResizable(True)
        self.setMinimumWidth(300)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        body = QWidget()
        self.setWidget(body)
        lay = QVBoxLayout(body)
        lay.setContentsMargins(12, 12, 12, 12)
        lay.setSpacing(8)

        self.empty_label = QLabel("Select a photo to see what the model thinks it shows.")
        self.empty_label.setWordWrap(True)
        self.empty_label.setStyleSheet("color:#6b7280;")
        lay.addWidget(self.empty_label)

        self.content = QWidget()
        self.content.setMinimumWidth(0)
        c = QVBoxLayout(self.content)
        c.setContentsMargins(0, 0, 0, 0)
        c.setSpacing(8)
        lay.addWidget(self.content)
        self.actions_box = QWidget()
        lay.addWidget(self.actions_box)
        self.more = QWidget()
        self.more.setMinimumWidth(0)
        m = QVBoxLayout(self.more)
        m.setContentsMargins(0, 0, 0, 0)
        m.setSpacing(8)
        lay.addWidget(self.more)
        lay.addStretch(1)

        self.preview = QLabel()
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setMinimumHeight(200)
        self.preview.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.preview.setFixedHeight(260)
        self._preview_pm = None
        self.preview.setStyleSheet("background:#111827; color:#9ca3af; border-radius:6px;")
        c.addWidget(self.preview)

        self.title = QLabel()
        f = QFont(self.font())
        f.setPointSizeF(f.pointSizeF() * 1.4)
        f.setBold(True)
        self.title.setFont(f)
        self.title.setWordWrap(True)
        c.addWidget(self.title)
        self.source = QLabel()
        self.source.setWordWrap(True)
        c.addWidget(self.source)

        buttons = QGridLayout(self.actions_box)
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.setSpacing(6)
        self.confirm_button = QPushButton("✓ Confirm")
        self.confirm_button.setToolTip("The label is right: make it yours and lock it (Y)")
        self.reject_button = QPushButton("✗ Reject")
        self.reject_button.setToolTip("The label is wrong: the photo takes the model's next guess (X)")
        self.relabel_button = QPushButton("Change label…")
        self.relabel_button.setToolTip("Correct the landmark of the selected photos (L)")
        self.similar_button = QPushButton("Similar photos")
        self.similar_button.setToolTip("Show the photos that look most like this one (S)")
        self.more_like_button = QPushButton("Find more like this")
        self.more_like_button.setToolTip("Propose this landmark for photos that look like these (M)")
        for i, b in enumerate(
            (self.confirm_button, self.reject_button, self.relabel_button, self.similar_button, self.more_like_button)
        ):
            b.setMinimumWidth(0)
            b.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)  # never widen the pane
            buttons.addWidget(b, i // 2, i % 2)
        self.confirm_button.clicked.connect(self.confirmRequested)
        self.reject_button.clicked.connect(self.rejectRequested)
        self.relabel_button.clicked.connect(self.relabelRequested)
        self.more_like_button.clicked.connect(self.moreLikeRequested)
        self.similar_button.clicked.connect(lambda: self.details and self.similarRequested.emit(self.details.id))

        self.topk_title = QLabel("<b>What the model sees</b>")
        m.addWidget(self.topk_title)
        self.topk_box = QWidget()
        self.topk_layout = QGridLayout(self.topk_box)
        self.topk_layout.setContentsMargins(0, 0, 0, 0)
        self.topk_layout.setVerticalSpacing(2)
        m.addWidget(self.topk_box)
        self.topk_rows: list[tuple[QLabel, QProgressBar]] = []

        self.info = QLabel()
        self.info.setWordWrap(True)
        self.info.setTextFormat(Qt.TextFormat.RichText)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        m.addWidget(self.info)

        self.path_label = QLabel()
        self.path_label.setWordWrap(True)
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.path_label.setStyleSheet("color:#4b5563;")
        m.addWidget(self.path_label)
        self.show_folder_button = QPushButton("Show in folder")
        self.show_folder_button.clicked.connect(self.show_in_folder)
        m.addWidget(self.show_folder_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.content.hide()
        self.actions_box.hide()
        self.more.hide()
        loader.thumbnailReady.connect(self._on_thumb)
        loader.thumbnailFailed.connect(self._on_thumb_failed)
        self._preview_key: str | None = None

    # ------------------------------------------------------------------------------------------
    def clear(self, message: str = "Select a photo to see what the model thinks it shows.") -> None:
        """Show no photo, only ``message``."""
        self.details = None
        self.content.hide()
        self.actions_box.hide()
        self.more.hide()
        self.empty_label.setText(message)
        self.empty_label.show()

    def show_multi(self, n: int) -> None:
        """Say that ``n`` photos are selected; the buttons act on all of them."""
        self.clear(
            f"<b>{n} photos selected.</b><br>✓ Confirm (Y) makes each one's label yours, ✗ Reject (X) says each "
            "label is wrong, “Change label…” (L) labels them all at once. Only these photos change."
        )
        self.actions_box.show()
        for b in (self.confirm_button, self.reject_button, self.relabel_button, self.more_like_button):
            b.setEnabled(True)
        self.similar_button.setEnabled(False)

    def show_photo(self, d: PhotoDetails) -> None:
        """Show a ``PhotoDetails``."""
        self.details = d
        self.empty_label.hide()
        self.content.show()
        self.actions_box.show()
        self.more.show()
        # preview (async)
        preview_key = self._preview_key = f"preview-{d.id}-{d.file_key}"
        pm = self.loader.pixmap(preview_key)
        if pm is not None:
            self._set_preview(pm)
        else:
            self._preview_pm = None
            self.preview.setPixmap(QPixmap())
            self.preview.setText("Loading preview…")
            self.loader.request(preview_key, d.path, PREVIEW_EDGE, d.file_key or None)
        # title + source
        if d.status == "gps" and d.label and d.label_source == "gps":
            self.title.setText(f"{display_text(d.label_name or d.label)} · from GPS")
        elif d.status == "gps" and d.label:
            self.title.setText(display_text(d.label_name or d.label))
        elif d.status == "gps":
            self.title.setText(display_text(d.place) if d.place else "Has GPS — not sent to the model")
        elif d.status == "failed":
            self.title.setText("Could not read this photo")
        elif d.status == "pending":
            self.title.setText("Not tagged yet")
        elif d.label:
            self.title.setText(display_text(d.label_name or d.label))
        else:
            self.title.setText("No landmark")
        if d.status == "failed":
            self.source.setText(f"<span style='color:#b91c1c'>{_esc(d.failure_reason or 'unreadable file')}</span>")
        elif d.label_source == "manual":
            self.source.setText(
                "<span style='color:#2563eb'>✓ Confirmed by you · locked</span><br>"
                "<small style='color:#6b7280'>Re-tagging and teaching never change it.</small>"
            )
        elif d.label_source == "gps":
            self.source.setText(
                "Placed from the photo's GPS position: taken within the landmark's area (not sent to the model)."
                "<br><small style='color:#6b7280'>✓ Confirm makes it yours; ✗ Reject if the photo shows something "
                "else.</small>"
            )
        elif d.status == "gps":
            self.source.setText("Named by its GPS position; not sent to the model.")
        elif d.label_source == "model" and d.status == "no_landmark":
            best = next(((n or k, c) for k, n, c in d.top_k if k != NO_LANDMARK), None)
            guess = f" (best guess: {_esc(best[0])}, {best[1] * 100:.0f}%)" if best else ""
            self.source.setText(f"The model is not sure of any landmark it knows{guess}")
        elif d.label_source == "model":
            confident = f" · {d.confidence * 100:.0f}% confident" if d.confidence is not None else ""
            unsure = d.confidence is not None and d.confidence < self.review_threshold
            note = (
                "<br><span style='color:#b45309'>● Unsure: only a guess, so it is in Needs review, not in the "
                "album. Is it right? ✓ Confirm or ✗ Reject.</span>"
                if unsure
                else ""
            )
            self.source.setText(f"Labelled by the model{confident}{note}")
            self.source.setToolTip(f"Model version {d.model_version}" if d.model_version else "")
        else:
            self.source.setText("")
        if d.rejected:
            self.source.setText(self.source.text() + f"<br>Rejected by you: {_esc(', '.join(d.rejected))}")
        if getattr(d, "offline", False):
            self.source.setText(
                self.source.text() + "<br><span style='color:#b45309'>Offline: its folder is missing or cannot be "
                "read. The photo stays in the library and is back when the folder is.</span>"
            )
        self.similar_button.setEnabled(bool(getattr(d, "has_embedding", False)))
        labelled = d.status in ("tagged", "no_landmark") or d.label is not None
        self.confirm_button.setEnabled(labelled and d.label_source != "manual")
        self.confirm_button.setToolTip(
            "Already yours" if d.label_source == "manual" else "The label is right: make it yours and lock it (Y)"
        )
        self.reject_button.setEnabled(d.label is not None)
        self.relabel_button.setEnabled(True)
        self.more_like_button.setEnabled(d.label is not None and bool(getattr(d, "has_embedding", False)))
        # top-k bars (rows are reused; extra ones hidden)
        while len(self.topk_rows) < len(d.top_k):
            # name on its own (wrapping) line, the bar under it: long names never widen the pane
            lab, bar = QLabel(), QProgressBar()
            lab.setWordWrap(True)
            bar.setRange(0, 1000)
            bar.setTextVisible(True)
            bar.setMaximumHeight(14)
            i = len(self.topk_rows)
            self.topk_layout.addWidget(lab, 2 * i, 0)
            self.topk_layout.addWidget(bar, 2 * i + 1, 0)
            self.topk_rows.append((lab, bar))
        for i, (lab, bar) in enumerate(self.topk_rows):
            if i < len(d.top_k):
                key, name, conf = d.top_k[i]
                lab.setText(name or key)
                lab.setToolTip(key)
                bar.setValue(int(round(conf * 1000)))
                bar.setFormat(f"{conf * 100:.1f}%")
            lab.setVisible(i < len(d.top_k))
            bar.setVisible(i < len(d.top_k))
        self.topk_title.setVisible(bool(d.top_k))
        self.topk_box.setVisible(bool(d.top_k))
        # info
        rows = []
        if d.latitude is not None and d.longitude is not None:
            coords = format_coords(d.latitude, d.longitude)
            if d.location_source == "gps":
                alt = f", {d.altitude:.0f} m" if d.altitude is not None else ""
                rows.append(("Location", f"{coords}{alt}<br><small>from the photo's GPS tag</small>"))
            else:
                rows.append(("Location", f"≈ {coords}<br><small>estimated from the landmark</small>"))
        else:
            rows.append(("Location", "unknown"))
        if d.place:
            rows.append(("Place", f"{_esc(d.place)}<br><small>from the photo's GPS (GeoNames)</small>"))
        camera = " ".join(x for x in (d.camera_make, d.camera_model) if x)
        if camera and d.camera_model and d.camera_make and d.camera_model.startswith(d.camera_make):
            camera = d.camera_model
        rows.append(("Camera", _esc(camera) if camera else "unknown"))
        if d.taken_at is not None:
            rows.append(("Taken", d.taken_at.strftime("%d %B %Y, %H:%M")))
        elif d.timeline_at is not None:  # no EXIF date: the timeline uses the file's date
            rows.append(("Taken", d.timeline_at.strftime("unknown; file dated %d %B %Y")))
        else:
            rows.append(("Taken", "unknown"))
        if d.size:
            rows.append(("Size", f"{d.size / 1e6:.1f} MB" if d.size >= 1e5 else f"{d.size / 1e3:.0f} KB"))
        self.info.setText(
            "<table cellspacing=3>"
            + "".join(f"<tr><td style='color:#6b7280; padding-right:8px'>{k}</td><td>{v}</td></tr>" for k, v in rows)
            + "</table>"
        )
        self.path_label.setText(display_path(d.path))

    def show_in_folder(self) -> None:
        """Open the photo's folder in the system file manager (QDesktopServices)."""
        if self.details is None:
            return
        folder = str(Path(self.details.path).parent)
        QDesktopServices.openUrl(QUrl.fromLocalFile(folder))

    def topk_shown(self) -> list[tuple[str, str]]:
        """``[(name, percent text)]`` of the bars shown (tests)."""
        n = len(self.details.top_k) if self.details is not None else 0
        return [(lab.text(), bar.format()) for lab, bar in self.topk_rows[:n]]

    # ------------------------------------------------------------------------------------------
    def _set_preview(self, pm) -> None:
        self._preview_pm = pm
        self.preview.setText("")
        self._fit_preview()

    def _fit_preview(self) -> None:
        pm = self._preview_pm
        if pm is None or pm.isNull():
            return
        w = max(50, self.viewport().width() - 24)
        h = self.preview.height()
        if pm.width() > w or pm.height() > h:
            pm = pm.scaled(w, h, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
        self.preview.setPixmap(pm)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_preview()

    def _on_thumb(self, key: str) -> None:
        if key == self._preview_key:
            pm = self.loader.pixmap(key)
            if pm is not None:
                self._set_preview(pm)

    def _on_thumb_failed(self, key: str, reason: str) -> None:
        if key == self._preview_key:
            self.preview.setText(f"No preview: {reason}")


def _esc(text: str) -> str:
    """``text`` for rich text: made safe to show (``display_text``), then HTML-escaped."""
    return display_text(str(text)).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
