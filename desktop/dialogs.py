"""The Settings dialog and the "About the model" dialog."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from core.photos.pathnames import display_path, path_key, text_to_path
from desktop.settings import (
    DEVICES,
    MAX_THUMB_CACHE_MB,
    MIN_THUMB_CACHE_MB,
    THUMB_SIZES,
    XMP_CONVENTION_TITLES,
    XMP_CONVENTIONS,
    AppSettings,
)

#: Item data of a folder entry in the Settings dialog: its exact path.
FolderPathRole = Qt.ItemDataRole.UserRole + 30

DEVICE_LABELS = {"auto": "Automatic (GPU when available)", "cpu": "CPU", "gpu": "GPU"}


class SettingsDialog(QDialog):
    """Edits a copy of ``AppSettings``; ``result_settings()`` gives the edited copy after ``accept``.

    Signals:
        checkRequested(): "Check Library…" was clicked (the window checks the database for damage).
    """

    checkRequested = Signal()

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
        for f in settings.folders:
            self._add_folder_item(f)
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
        self.model_edit.setPlaceholderText(
            f"built-in model ({Path(default_model).name})" if default_model else "built-in model"
        )
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

        self.verify = QCheckBox("Check uncertain photos against the model's gallery photos")
        self.verify.setChecked(settings.verify)
        self.verify.setToolTip(
            "Geometric verification: matches the local features of photos the model is unsure about with "
            "gallery photos of its top candidates. Needs a model with a verification features file."
        )
        form.addRow("Geometric verification", self.verify)

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

        self.thumb_cache = QSpinBox()
        self.thumb_cache.setRange(MIN_THUMB_CACHE_MB, MAX_THUMB_CACHE_MB)
        self.thumb_cache.setSingleStep(256)
        self.thumb_cache.setSuffix(" MB")
        self.thumb_cache.setValue(settings.thumb_cache_mb)
        self.thumb_cache.setToolTip(
            "Thumbnails are kept on disk so the grid fills at once. Beyond this size the least recently shown "
            "ones are deleted (they are made again when needed)."
        )
        form.addRow("Thumbnail cache", self.thumb_cache)

        self.follow_links = QCheckBox("Follow links that lead out of a watched folder")
        self.follow_links.setChecked(settings.follow_links)
        self.follow_links.setToolTip(
            "Off: a shortcut (symbolic link) inside a watched folder that points somewhere else is not followed, "
            "so only the folders you chose are indexed."
        )
        form.addRow("Links", self.follow_links)

        xmp_box = QWidget()
        xl = QHBoxLayout(xmp_box)
        xl.setContentsMargins(0, 0, 0, 0)
        self.xmp_sidecars = QCheckBox("Write XMP sidecars for")
        self.xmp_sidecars.setChecked(settings.xmp_sidecars)
        self.xmp_sidecars.setToolTip(
            "Write each labelled photo's landmark into an XMP sidecar beside it (never into the photo), where "
            "digiKam, darktable, Lightroom and Immich read it, and update it when you correct a label. Whatever "
            "else a sidecar holds is kept."
        )
        self.xmp_convention = QComboBox()
        for c in XMP_CONVENTIONS:
            self.xmp_convention.addItem(XMP_CONVENTION_TITLES[c], c)
        self.xmp_convention.setCurrentIndex(XMP_CONVENTIONS.index(settings.xmp_convention))
        self.xmp_convention.setEnabled(settings.xmp_sidecars)
        self.xmp_sidecars.toggled.connect(self.xmp_convention.setEnabled)
        xl.addWidget(self.xmp_sidecars)
        xl.addWidget(self.xmp_convention, 1)
        form.addRow("Other photo apps", xmp_box)

        self.check_button = QPushButton("Check Library…")
        self.check_button.setToolTip(
            "Read the whole library database and check it for damage (PRAGMA integrity_check). Takes a few "
            "seconds for a large library."
        )
        self.check_button.clicked.connect(self.checkRequested)
        form.addRow("Library database", self.check_button)

        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        lay.addWidget(box)

    def _add_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Add a photo folder")
        if path and path not in self.folder_paths():
            self._add_folder_item(path)

    def _add_folder_item(self, path: str) -> None:
        """One folder entry: shown safely (``display_path``), the exact path (bytes included) kept in its data."""
        item = QListWidgetItem(display_path(path))
        item.setData(FolderPathRole, path_key(path))  # a QString would drop the undecodable bytes
        self.folders.addItem(item)

    def folder_paths(self) -> list[str]:
        """The folders listed, exactly as the system gives them (a name that is not valid UTF-8 included)."""
        out = []
        for i in range(self.folders.count()):
            item = self.folders.item(i)
            if item is not None:
                out.append(text_to_path(str(item.data(FolderPathRole) or item.text())))
        return out

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
            folders=self.folder_paths(),
            model_path=self.model_edit.text().strip() or None,
            device=self.device.currentData(),
            review_threshold=self.threshold.value() / 100.0,
            thumb_size=int(self.thumb.currentData()),
            db_path=self.settings.db_path,
            follow_links=self.follow_links.isChecked(),
            verify=self.verify.isChecked(),
            xmp_sidecars=self.xmp_sidecars.isChecked(),
            xmp_convention=str(self.xmp_convention.currentData()),
            thumb_cache_mb=int(self.thumb_cache.value()),
        )


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, indent=1, default=str)
    return "" if value is None else str(value)


#: Friendly names of ``training.validation_metrics`` entries (others are shown by their key).
METRIC_NAMES = {
    "top1": "Top-1 accuracy",
    "top5": "Top-5 accuracy",
    "accuracy": "Accuracy",
    "accuracy_with_rejection": "Accuracy, counting \u201cno landmark\u201d answers as wrong",
    "gap": "GAP (global average precision)",
    "gap_with_non_landmark": "GAP with non-landmark photos",
    "ece": "ECE (calibration error)",
    "ece_before_temperature": "ECE before temperature scaling",
    "landmark_labelled_rate": "Landmark photos given a label",
    "non_landmark_labelled_rate": "Non-landmark photos wrongly given a label",
    "n": "Validation photos",
    "n_non_landmark": "Validation photos without a landmark",
}


def _is_rate(key: str, value) -> bool:
    return isinstance(value, float) and 0.0 <= value <= 1.0 and key != "n" and not key.startswith("n_")


class AboutModelDialog(QDialog):
    """Shows ``Library.model_card()``: the landmarks (with coordinates and per-landmark validation
    accuracy), the validation metrics, the model card text and the bundle's settings."""

    def __init__(self, card: dict[str, Any], names: dict[str, str] | None = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("About the model")
        self.resize(760, 580)
        names = names or {}
        self.card = card
        training: dict[str, Any] = card["training"] if isinstance(card.get("training"), dict) else {}
        metrics: dict[str, Any] = card.get("metrics") or training.get("validation_metrics") or {}
        per_class: dict[str, float] = (
            metrics["per_class_accuracy"] if isinstance(metrics.get("per_class_accuracy"), dict) else {}
        )
        lay = QVBoxLayout(self)
        version = card.get("model_version") or card.get("version") or "unknown"
        backbone = card.get("backbone", "")
        sub = []
        if backbone:
            sub.append(f"Backbone: {backbone}" + (f", input {card['input_size']} px" if card.get("input_size") else ""))
        if training.get("train_images"):
            sub.append(f"trained on {training['train_images']:,} photos")
        if training.get("created_utc"):
            sub.append(f"created {str(training['created_utc'])[:10]}")
        verification = str(card.get("verification") or "unavailable: no verification features")
        sub.append(
            "no verification features"
            if verification.startswith("unavailable")
            else f"geometric verification {verification}"
        )
        self.verification_text = sub[-1]
        head = QLabel(f"<h2>Landmark model {version}</h2><p>{' · '.join(sub)}</p>")
        head.setWordWrap(True)
        self.header = head
        lay.addWidget(head)
        tabs = QTabWidget()
        self.tabs = tabs
        lay.addWidget(tabs, 1)

        classes = sorted(
            (c if isinstance(c, dict) else {"name": str(c)} for c in card.get("classes") or []),
            key=lambda c: names.get(c.get("key", ""), c.get("name") or "").casefold(),
        )
        cols = ["Landmark", "Country", "Latitude", "Longitude"] + (["Validation accuracy"] if per_class else [])
        self.table = QTableWidget(len(classes), len(cols))
        self.table.setHorizontalHeaderLabels(cols)
        for r, c in enumerate(classes):
            key = c.get("key", "")
            vals = [
                names.get(key, c.get("name") or key),
                c.get("country") or "",
                "" if c.get("latitude") is None else f"{c['latitude']:.4f}",
                "" if c.get("longitude") is None else f"{c['longitude']:.4f}",
            ]
            if per_class:
                acc = per_class.get(key)
                vals.append("" if acc is None else f"{acc * 100:.0f}%")
            for col, v in enumerate(vals):
                it = QTableWidgetItem(v)
                it.setFlags(it.flags() & ~Qt.ItemFlag.ItemIsEditable)
                self.table.setItem(r, col, it)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        tabs.addTab(self.table, f"Landmarks ({len(classes)})")

        mt = QTextBrowser()
        rows = []
        for k, v in metrics.items():
            if isinstance(v, (dict, list)):
                continue
            shown = f"{v * 100:.1f}%" if _is_rate(k, v) else _fmt(v)
            rows.append(f"<tr><td>{METRIC_NAMES.get(k, k)}</td><td align=right><b>{shown}</b></td></tr>")
        facts = [
            ("Training photos", training.get("train_images")),
            ("Validation photos", training.get("val_images")),
            ("Training mode", training.get("mode")),
            ("Epochs", training.get("epochs_run")),
            ("Calibration temperature", card.get("temperature")),
            ("\u201cNo landmark\u201d below confidence", card.get("no_landmark_threshold")),
        ]
        fact_rows = "".join(f"<tr><td>{k}</td><td align=right>{_fmt(v)}</td></tr>" for k, v in facts if v is not None)
        if rows or fact_rows:
            mt.setHtml(
                "<h3>Validation</h3><table cellspacing=6>"
                + "".join(rows)
                + "</table>"
                + ("<h3>Training</h3><table cellspacing=6>" + fact_rows + "</table>" if fact_rows else "")
            )
        else:
            mt.setPlainText("This model bundle carries no evaluation metrics.")
        tabs.addTab(mt, "Metrics")

        card_path = card.get("card_path")
        if card_path and Path(card_path).is_file():
            md = QTextBrowser()
            md.setOpenExternalLinks(True)
            try:
                md.setMarkdown(Path(card_path).read_text(encoding="utf-8"))
            except OSError as exc:
                md.setPlainText(f"Cannot read {card_path}: {exc}")
            tabs.addTab(md, "Model card")

        other = {
            k: v
            for k, v in card.items()
            if k not in ("classes", "metrics", "training") and not isinstance(v, (dict, list))
        }
        ot = QTextBrowser()
        ot.setHtml(
            "<table cellspacing=4>"
            + "".join(f"<tr><td valign=top><b>{k}</b></td><td>{_fmt(v)}</td></tr>" for k, v in other.items())
            + "</table>"
        )
        tabs.addTab(ot, "Details")
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        box.rejected.connect(self.reject)
        box.accepted.connect(self.accept)
        lay.addWidget(box)
