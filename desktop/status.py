"""The tagging strip in the status bar: progress bar, done/total, photos per second, ETA and
pause/resume/cancel buttons; "Loading the model…" while a job loads the model (it is loaded only when there are
photos to tag)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from core.domain import LOADING_MODEL_MESSAGE

#: What the strip says while a job loads the model.
LOADING_MODEL_TEXT = "Loading the model…"


def format_eta(seconds: float | None) -> str:
    """``"about 3 min left"``; ``""`` when unknown."""
    if seconds is None or seconds < 0:
        return ""
    if seconds < 60:
        return f"about {max(1, int(round(seconds)))} s left"
    if seconds < 3600:
        return f"about {int(round(seconds / 60))} min left"
    return f"about {seconds / 3600:.1f} h left"


class TaggingStatus(QWidget):
    """Shows one ``Progress`` at a time; buttons emit ``pauseClicked``, ``resumeClicked``, ``cancelClicked``."""

    pauseClicked = Signal()
    resumeClicked = Signal()
    cancelClicked = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel()
        self.bar = QProgressBar()
        self.bar.setFixedWidth(220)
        self.bar.setMaximumHeight(16)
        self.pause_button = QPushButton("Pause")
        self.cancel_button = QPushButton("Cancel")
        for b in (self.pause_button, self.cancel_button):
            b.setFlat(False)
            b.setMaximumHeight(22)
        lay.addWidget(self.label)
        lay.addWidget(self.bar)
        lay.addWidget(self.pause_button)
        lay.addWidget(self.cancel_button)
        self.pause_button.clicked.connect(self._on_pause)
        self.cancel_button.clicked.connect(self.cancelClicked)
        self.state = "idle"
        self.hide()

    def _on_pause(self) -> None:
        if self.state == "paused":
            self.resumeClicked.emit()
        else:
            self.pauseClicked.emit()

    def update_progress(self, p) -> None:
        """Show a ``core`` ``Progress``."""
        self.state = p.state
        if p.state in ("done", "cancelled", "failed"):
            self.hide()
            return
        self.show()
        if p.message == LOADING_MODEL_MESSAGE and p.state != "paused":
            self.bar.setRange(0, 0)  # busy indicator: importing torch and building the network
            self.label.setText(LOADING_MODEL_TEXT)
        elif p.state == "scanning":
            self.bar.setRange(0, 0)  # busy indicator: total not known yet
            self.label.setText(f"Looking for photos… {p.done} found" if p.done else "Looking for photos…")
        else:
            total = max(p.total, p.done, 1)
            self.bar.setRange(0, total)
            self.bar.setValue(p.done)
            parts = [f"{'Paused' if p.state == 'paused' else 'Tagging'} {p.done:,} / {p.total:,}"]
            if p.state != "paused" and p.photos_per_second > 0:
                parts.append(f"{p.photos_per_second:.1f} photos/s")
            eta = format_eta(p.eta_seconds) if p.state != "paused" else ""
            if eta:
                parts.append(eta)
            self.label.setText(" · ".join(parts))
        self.pause_button.setText("Resume" if p.state == "paused" else "Pause")
        self.pause_button.setEnabled(p.state in ("tagging", "paused", "scanning"))
