"""Correcting labels: the relabel dialog and the "these photos look the same" suggestions dialog."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QSize, QStringListModel, Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
)

from desktop.thumbnails import ThumbnailLoader, placeholder_pixmap


@dataclass(frozen=True)
class RelabelChoice:
    """What the user chose: exactly one of a catalog/known ``landmark`` key, a ``new_name``, or ``not_landmark``."""

    landmark: str | None = None
    new_name: str | None = None
    not_landmark: bool = False

    def kwargs(self) -> dict:
        """Keyword arguments for ``Library.relabel``."""
        if self.not_landmark:
            return {"not_landmark": True}
        if self.landmark:
            return {"landmark": self.landmark}
        return {"new_name": self.new_name}


def make_completer(names: list[str], parent) -> QCompleter:
    """Case-insensitive, match-anywhere completer over landmark display names."""
    comp = QCompleter(QStringListModel(sorted(names, key=str.casefold), parent), parent)
    comp.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
    comp.setFilterMode(Qt.MatchFlag.MatchContains)
    comp.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
    return comp


class RelabelDialog(QDialog):
    """Pick a landmark (completer + list over the catalog), "Not a landmark", or type a new name.

    Args:
        names: ``Library.landmark_names()`` — ``[(key, display name)]``.
        count: number of photos being relabelled (for the title).
        current: display name of the current label (pre-filled hint).
    """

    def __init__(self, names: list[tuple[str, str]], count: int, current: str | None = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Change label")
        self.setMinimumWidth(520)
        self.names = list(names)
        self._by_name = {n.casefold(): k for k, n in self.names}
        self._by_name.update({k.casefold(): k for k, _ in self.names})
        self.choice: RelabelChoice | None = None
        lay = QVBoxLayout(self)
        what = "this photo" if count == 1 else f"these {count} photos"
        head = QLabel(f"<b>Which landmark is in {what}?</b>")
        lay.addWidget(head)
        if current:
            lay.addWidget(QLabel(f"Now labelled: {current}"))
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("Type a landmark name, e.g. Colosseum")
        self.edit.setClearButtonEnabled(True)
        self.edit.setCompleter(make_completer([n for _, n in self.names], self))
        lay.addWidget(self.edit)
        self.list = QListWidget()
        for key, name in sorted(self.names, key=lambda kn: kn[1].casefold()):
            it = QListWidgetItem(name)
            it.setData(Qt.ItemDataRole.UserRole, key)
            self.list.addItem(it)
        lay.addWidget(self.list, 1)
        self.hint = QLabel()
        self.hint.setStyleSheet("color:#6b7280;")
        self.hint.setWordWrap(True)
        self._match: QListWidgetItem | None = None
        lay.addWidget(self.hint)
        row1 = QHBoxLayout()
        self.not_landmark_button = QPushButton("Not a landmark")
        self.not_landmark_button.setToolTip("There is no landmark in this photo")
        self.create_button = QPushButton()
        self.create_button.setToolTip("Add the typed name as a new landmark instead of the match")
        self.create_button.hide()
        self.create_button.clicked.connect(self.create_new)
        row1.addWidget(self.not_landmark_button)
        row1.addStretch(1)
        row1.addWidget(self.create_button)
        lay.addLayout(row1)
        row2 = QHBoxLayout()
        self.apply_button = QPushButton("Apply")
        self.apply_button.setDefault(True)
        cancel = QPushButton("Cancel")
        row2.addStretch(1)
        row2.addWidget(cancel)
        row2.addWidget(self.apply_button)
        lay.addLayout(row2)
        cancel.clicked.connect(self.reject)
        self.not_landmark_button.clicked.connect(self.choose_not_landmark)
        self.apply_button.clicked.connect(self.apply)
        self.edit.textChanged.connect(self._on_text)
        self.list.itemClicked.connect(lambda it: self.edit.setText(it.text()))
        self.list.itemDoubleClicked.connect(self._apply_item)
        self._on_text("")

    def _apply_item(self, item: QListWidgetItem) -> None:
        self.edit.setText(item.text())
        self.apply()

    def _on_text(self, text: str) -> None:
        t = text.strip()
        needle = t.casefold()
        matches = []
        for i in range(self.list.count()):
            it = self.list.item(i)
            hidden = bool(needle) and needle not in it.text().casefold()
            it.setHidden(hidden)
            if not hidden:
                matches.append(it)
        self._match = None
        self.create_button.hide()
        if not t:
            self.apply_button.setEnabled(False)
            self.apply_button.setText("Apply")
            self.hint.setText("Pick a landmark from the list, or type a new name to create one.")
        elif needle in self._by_name:
            self.apply_button.setEnabled(True)
            self.apply_button.setText("Apply")
            self.hint.setText("")
        elif matches:
            # a partial name: Apply takes the best match (first in the list); creating stays possible
            self._match = matches[0]
            self.list.setCurrentItem(matches[0])
            self.apply_button.setEnabled(True)
            self.apply_button.setText(f"Apply “{matches[0].text()}”")
            self.create_button.setText(f"New landmark “{t}”")
            self.create_button.show()
            self.hint.setText("")
        else:
            self.apply_button.setEnabled(True)
            self.apply_button.setText(f"Create “{t}”")
            self.hint.setText(
                f"“{t}” is not a known landmark: it becomes a new album, and the app learns it from these photos."
            )

    def set_text(self, text: str) -> None:
        self.edit.setText(text)

    def apply(self) -> None:
        """Apply the typed landmark (exact name/key), else the best list match, else create a new one."""
        t = self.edit.text().strip()
        if not t:
            return
        key = self._by_name.get(t.casefold())
        if key is None and self._match is not None:
            key = self._match.data(Qt.ItemDataRole.UserRole)
        self.choice = RelabelChoice(landmark=key) if key else RelabelChoice(new_name=t)
        self.accept()

    def create_new(self) -> None:
        """Create a new landmark with the typed name even though similar names exist."""
        t = self.edit.text().strip()
        if t:
            self.choice = RelabelChoice(new_name=t)
            self.accept()

    def choose_not_landmark(self) -> None:
        self.choice = RelabelChoice(not_landmark=True)
        self.accept()


class SuggestionsDialog(QDialog):
    """After a correction: the proposals it made ("N more photos may show …") with per-photo ticks.

    Every photo starts *unticked* and "Not now" is the default button, so nothing is applied without an
    explicit tick and click. ``accepted_ids()`` gives the ticked photo ids, ``accepted_proposal_ids()`` the
    ticked proposals (``core.domain.Proposal``).
    """

    EDGE = 112

    def __init__(self, proposals: list, target: str, loader: ThumbnailLoader, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Review suggestions")
        self.resize(640, 460)
        self.proposals = list(proposals)
        self.photos = [p.photo for p in self.proposals]
        self.loader = loader
        lay = QVBoxLayout(self)
        n = len(self.photos)
        self.header = QLabel(
            f"<b>{n} more photo{'s' if n != 1 else ''} may show “{target}”.</b><br>"
            "Nothing has changed. Tick the ones that are right, then accept."
        )
        self.header.setWordWrap(True)
        lay.addWidget(self.header)
        self.list = QListWidget()
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setIconSize(QSize(self.EDGE, self.EDGE))
        self.list.setGridSize(QSize(self.EDGE + 24, self.EDGE + 40))
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMovement(QListView.Movement.Static)
        self._items: dict[str, QListWidgetItem] = {}
        ph = QIcon(placeholder_pixmap(self.EDGE))
        for prop in self.proposals:
            p = prop.photo
            it = QListWidgetItem(ph, p.path.name if hasattr(p.path, "name") else str(p.path))
            it.setFlags(it.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            it.setCheckState(Qt.CheckState.Unchecked)
            it.setData(Qt.ItemDataRole.UserRole, p.id)
            it.setData(Qt.ItemDataRole.UserRole + 1, prop.id)
            conf = f" ({p.confidence * 100:.0f}%)" if p.confidence is not None else ""
            it.setToolTip(
                f"{p.path}\nnow: {p.label_name or 'no landmark'}{conf} → {prop.new_label_name}"
                f"\nsimilarity {prop.similarity:.2f}"
            )
            self.list.addItem(it)
            key = f"sugg-{p.id}-{self.EDGE}"
            pm = loader.pixmap(key)
            if pm is not None:
                it.setIcon(QIcon(pm))
            else:
                self._items[key] = it
                loader.request(key, p.path, self.EDGE)
        loader.thumbnailReady.connect(self._on_thumb)
        lay.addWidget(self.list, 1)
        box = QDialogButtonBox()
        self.accept_button = box.addButton(f"Label ticked photos as “{target}”", QDialogButtonBox.ButtonRole.AcceptRole)
        self.accept_button.setAutoDefault(False)
        self.not_now_button = box.addButton("Not now", QDialogButtonBox.ButtonRole.RejectRole)
        self.not_now_button.setDefault(True)
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        lay.addWidget(box)

    def _on_thumb(self, key: str) -> None:
        it = self._items.pop(key, None)
        if it is not None:
            pm = self.loader.pixmap(key)
            if pm is not None:
                it.setIcon(QIcon(pm))

    def accepted_ids(self) -> list[int]:
        """Photo ids of the ticked photos."""
        return [
            self.list.item(i).data(Qt.ItemDataRole.UserRole)
            for i in range(self.list.count())
            if self.list.item(i).checkState() == Qt.CheckState.Checked
        ]

    def accepted_proposal_ids(self) -> list[int]:
        """Proposal ids of the ticked photos."""
        return [
            self.list.item(i).data(Qt.ItemDataRole.UserRole + 1)
            for i in range(self.list.count())
            if self.list.item(i).checkState() == Qt.CheckState.Checked
        ]

    def set_all_ticked(self, ticked: bool) -> None:
        """Tick (or untick) every photo."""
        state = Qt.CheckState.Checked if ticked else Qt.CheckState.Unchecked
        for i in range(self.list.count()):
            self.list.item(i).setCheckState(state)
