"""The first-run panel: what the app does, which landmarks it knows, a big "Add a photo folder" button."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QPixmap
from PySide6.QtWidgets import QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget


class WelcomePanel(QWidget):
    """Shown while the library has no folders. ``addFolderClicked`` fires on the big button."""

    addFolderClicked = Signal()

    def __init__(self, icon_path: str | None = None, parent=None):
        super().__init__(parent)
        self.setObjectName("welcome")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(48, 32, 48, 32)
        lay.setSpacing(14)
        lay.addStretch(1)
        if icon_path:
            icon = QLabel()
            icon.setPixmap(
                QPixmap(icon_path).scaled(
                    96, 96, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
                )
            )
            icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
            lay.addWidget(icon)
        title = QLabel("Welcome to Landmark Tagger")
        f = QFont(self.font())
        f.setPointSizeF(f.pointSizeF() * 2.0)
        f.setBold(True)
        title.setFont(f)
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(title)
        self.intro = QLabel(
            "Point the app at your photo folders. It finds the landmark in every photo that has no GPS "
            "location — scans, old cameras, photos from messaging apps — and sorts them into albums such "
            "as <i>Colosseum</i> or <i>Taj Mahal</i>. Photos that already carry GPS coordinates are left "
            "as they are.<br><br>Everything runs on this computer: your photos are never uploaded and "
            "never modified. You can correct any label, and the app learns from your corrections."
        )
        self.intro.setWordWrap(True)
        self.intro.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.intro.setFixedWidth(640)
        lay.addWidget(self.intro, 0, Qt.AlignmentFlag.AlignHCenter)
        self.button = QPushButton("  Add a photo folder…  ")
        bf = QFont(self.font())
        bf.setPointSizeF(bf.pointSizeF() * 1.4)
        bf.setBold(True)
        self.button.setFont(bf)
        self.button.setMinimumHeight(56)
        self.button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.button.setStyleSheet(
            "QPushButton{background:#2563eb;color:white;border-radius:8px;padding:8px 24px;}"
            "QPushButton:hover{background:#1d4ed8;}"
        )
        self.button.clicked.connect(self.addFolderClicked)
        lay.addWidget(self.button, 0, Qt.AlignmentFlag.AlignHCenter)
        drop = QLabel("…or drag a folder onto this window.")
        drop.setAlignment(Qt.AlignmentFlag.AlignCenter)
        drop.setStyleSheet("color:#6b7280;")
        lay.addWidget(drop)
        self.known = QLabel()
        self.known.setWordWrap(True)
        self.known.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.known.setFixedWidth(700)
        self.known.setStyleSheet("color:#374151;")
        lay.addWidget(self.known, 0, Qt.AlignmentFlag.AlignHCenter)
        lay.addStretch(2)

    def set_landmarks(self, names: list[str]) -> None:
        """List the landmarks the model knows."""
        if not names:
            self.known.setText("")
            return
        self.known.setText(
            f"<b>The model knows {len(names)} landmarks:</b><br>" + " · ".join(sorted(names, key=str.casefold))
        )
        # a wrapped rich-text label does not always ask for its full height: reserve it
        self.known.setMinimumHeight(self.known.heightForWidth(self.known.width()) + 4)
