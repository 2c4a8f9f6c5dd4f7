"""The Settings dialog and the "About the model" dialog."""

from __future__ import annotations

import desktop.qtguard  # noqa: F401 - PySide6 fixes first (see desktop/qtguard.py)

import json
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QHeaderView, QLabel, QLineEdit, QListWidget, QPushButton,
                               QTableWidget, QTableWidgetItem, QTabWidget, QTextBrowser, QVBoxLayout, QWidget)

from desktop.settings import DEVICES, THUMB_SIZES, AppSettings

DEVICE_LABELS = {"auto": "Automatic (GPU when available)", "cpu": "CPU", "gpu": "GPU"}


class SettingsDialog(QDialog):
    """Edits a copy of ``AppSettings``; ``result_settings()`` gives the edited copy after ``accept``."""

    def __init__(self, settings: AppSettings, default_model: str = "", parent=None):
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(560)
        self.settings = settings
        lay = QVBoxLayout(self)
        form = QFormLayout()
        lay.addLayout(form)

        folders_box = QWidget()
        fl = QHBoxLayout(folders_box)
        fl.setContentsMargins(0, 0, 0, 0)
        self.folders = QListWidget()
        self.folders.addItems(settings.folders)
        self.folders.setMaximumHeight(120)
        fb = QVBoxLayout()
        self.add_folder_button = QPushButton("Add…")
        self.remove_folder_button = QPushButton("Remove")
        fb.addWidget(self.add_folder_button)
        fb.addWidget(self.remove_folder_button)
        fb.addStretch(1)
        fl.addWidget(self.folders, 1)
        fl.addLayout(fb)
        form.addRow("Watched folders", folders_box)
        self.add_folder_button.clicked.connect(self._add_folder)
        self.remove_folder_button.clicked.connect(self._remove_folder)

        model_box = QWidget()
        ml = QHBoxLayout(model_box)
        ml.setContentsMargins(0, 0, 0, 0)
        self.model_edit = QLineEdit(settings.model_path or "")
        self.model_edit.setPlaceholderText(f"built-in model ({Path(default_model).name})" if default_model
                                           else "built-in model")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_model)
        ml.addWidget(self.model_edit, 1)
        ml.addWidget(browse)
        form.addRow("Model bundle file", model_box)

        self.device = QComboBox()
        for d in DEVICES:
            self.device.addItem(DEVICE_LABELS[d], d)
        self.device.setCurrentIndex(DEVICES.index(settings.device))
        form.addRow("Run the model on", self.device)

        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0, 100)
        self.threshold.setDecimals(0)
        self.threshold.setSuffix(" %")
        self.threshold.setValue(settings.review_threshold * 100)
        self.threshold.setToolTip("Model labels less confident than this go to the Needs review album.")
        form.addRow("Needs review below", self.threshold)

        self.thumb = QComboBox()
        for s in THUMB_SIZES:
            self.thumb.addItem(f"{s} px", s)
        self.thumb.setCurrentIndex(THUMB_SIZES.index(settings.thumb_size))
        form.addRow("Thumbnail size", self.thumb)

        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        lay.addWidget(box)

    def _add_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Add a photo folder")
        if path and not self.folders.findItems(path, Qt.MatchFlag.MatchExactly):
            self.folders.addItem(path)

    def _remove_folder(self) -> None:
        for it in self.folders.selectedItems():
            self.folders.takeItem(self.folders.row(it))

    def _browse_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a model bundle", "", "Model bundles (*.safetensors)")
        if path:
            self.model_edit.setText(path)

    def result_settings(self) -> AppSettings:
        """The edited settings (a new object)."""
        return AppSettings(
            folders=[self.folders.item(i).text() for i in range(self.folders.count())],
            model_path=self.model_edit.text().strip() or None,
            device=self.device.currentData(),
            review_threshold=self.threshold.value() / 100.0,
            thumb_size=int(self.thumb.currentData()),
            db_path=self.settings.db_path,
        )


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, indent=1, default=str)
    return "" if value is None else str(value)


class AboutModelDialog(QDialog):
    """Shows ``Library.model_card()``: the landmarks (with coordinates), metrics and version."""

    def __init__(self, card: dict, names: dict[str, str] | None = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("About the model")
        names = names or {}
        self.resize(720, 560)
        self.card = card
        lay = QVBoxLayout(self)
        version = card.get("model_version") or card.get("version") or "unknown"
        backbone = card.get("backbone", "")
        head = QLabel(f"<h2>Landmark model {version}</h2>"
                      + (f"<p>Backbone: {backbone}" + (f", input {card['input_size']} px" if card.get("input_size") else "")
                         + "</p>" if backbone else ""))
        head.setWordWrap(True)
        lay.addWidget(head)
        tabs = QTabWidget()
        lay.addWidget(tabs, 1)
        classes = sorted((c if isinstance(c, dict) else {"name": str(c)} for c in card.get("classes") or []),
                         key=lambda c: names.get(c.get("key", ""), c.get("name") or "").casefold())
        self.table = QTableWidget(len(classes), 4)
        self.table.setHorizontalHeaderLabels(["Landmark", "Country", "Latitude", "Longitude"])
        for r, c in enumerate(classes):
            if not isinstance(c, dict):
                c = {"name": str(c)}
            vals = [names.get(c.get("key", ""), c.get("name") or c.get("key", "")), c.get("country") or "",
                    "" if c.get("latitude") is None else f"{c['latitude']:.4f}",
                    "" if c.get("longitude") is None else f"{c['longitude']:.4f}"]
            for col, v in enumerate(vals):
                it = QTableWidgetItem(v)
                it.setFlags(it.flags() & ~Qt.ItemFlag.ItemIsEditable)
                self.table.setItem(r, col, it)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        tabs.addTab(self.table, f"Landmarks ({len(classes)})")
        metrics = card.get("metrics") or card.get("training") or {}
        mt = QTextBrowser()
        if metrics:
            mt.setHtml("<table cellspacing=4>" + "".join(
                f"<tr><td><b>{k}</b></td><td>{_fmt(v)}</td></tr>" for k, v in metrics.items()) + "</table>")
        else:
            mt.setPlainText("This model bundle carries no evaluation metrics.")
        tabs.addTab(mt, "Metrics")
        other = {k: v for k, v in card.items() if k not in ("classes", "metrics", "training")}
        ot = QTextBrowser()
        ot.setHtml("<table cellspacing=4>" + "".join(
            f"<tr><td valign=top><b>{k}</b></td><td><pre style='margin:0'>{_fmt(v)}</pre></td></tr>"
            for k, v in other.items()) + "</table>")
        tabs.addTab(ot, "Details")
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        box.rejected.connect(self.reject)
        box.accepted.connect(self.accept)
        lay.addWidget(box)
