"""Correcting labels: the relabel dialog ("Change label…"), opening on the current label with the model's
top guesses as one-click choices."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import QStringListModel, Qt
from PySide6.QtWidgets import (
    QCompleter,
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
)

from core.domain import NO_LANDMARK

#: One-click choices the relabel dialog offers (the model's best guesses).
TOP_CHOICES = 5


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


@dataclass(frozen=True)
class CurrentLabel:
    """The label the selected photos have now (what the relabel dialog opens on).

    Attributes:
        key: the landmark key all selected photos share, or ``None`` (no landmark, or different labels).
        name: its display name ("" when ``key`` is ``None``).
        confidence: the model's confidence in [0, 1] (single model-labelled photo), else ``None``.
        mine: the label is the person's (set or confirmed), not the model's.
        mixed: the selected photos have different labels.
    """

    key: str | None = None
    name: str = ""
    confidence: float | None = None
    mine: bool = False
    mixed: bool = False


def make_completer(names: list[str], parent) -> QCompleter:
    """Case-insensitive, match-anywhere completer over landmark display names."""
    comp = QCompleter(QStringListModel(sorted(names, key=str.casefold), parent), parent)
    comp.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
    comp.setFilterMode(Qt.MatchFlag.MatchContains)
    comp.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
    return comp


class RelabelDialog(QDialog):
    """Pick a landmark: one click on one of the model's top guesses, the catalog (completer + list), "Not a
    landmark", or a new name. It opens on the current label, selected, so typing replaces it; applying the
    current label keeps it and makes it the person's (only the selected photos change).

    Args:
        names: ``Library.landmark_names()`` — ``[(key, display name)]``.
        count: number of photos being relabelled (for the title).
        current: display name of the current label, or a ``CurrentLabel`` (pre-filled and shown).
        top: the model's best guesses ``[(key, display name, confidence in [0, 1])]``, best first; the first
            ``TOP_CHOICES`` landmarks become one-click buttons (a ``NO_LANDMARK`` entry puts its confidence on
            the "Not a landmark" button).

    Attributes:
        choice: the ``RelabelChoice`` once the dialog was accepted, else ``None``.
        top_buttons: the one-click buttons, in ``top`` order (``top_keys`` their landmark keys).
        edit, list, hint, apply_button, create_button, not_landmark_button: the widgets (tests drive them).
    """

    def __init__(
        self,
        names: list[tuple[str, str]],
        count: int,
        current: str | CurrentLabel | None = None,
        parent=None,
        *,
        top: Sequence[tuple[str, str, float]] = (),
    ):
        super().__init__(parent)
        self.setWindowTitle("Change label")
        self.setMinimumWidth(560)
        self.names = list(names)
        self._by_name = {n.casefold(): k for k, n in self.names}
        self._by_name.update({k.casefold(): k for k, _ in self.names})
        if isinstance(current, str):
            current = CurrentLabel(key=self._by_name.get(current.casefold()), name=current)
        self.current = current or CurrentLabel()
        self.choice: RelabelChoice | None = None
        lay = QVBoxLayout(self)
        what = "this photo" if count == 1 else f"these {count} photos"
        head = QLabel(f"<b>Which landmark is in {what}?</b>")
        lay.addWidget(head)
        self.current_label = QLabel(self._describe_current())
        self.current_label.setWordWrap(True)
        lay.addWidget(self.current_label)

        self.top_keys: list[str] = []
        self.top_buttons: list[QPushButton] = []
        no_landmark_guess = [t for t in top if t[0] == NO_LANDMARK]
        top = [t for t in top if t[0] and t[0] != NO_LANDMARK][:TOP_CHOICES]
        if top:
            lay.addWidget(QLabel("The model's best guesses (one click applies):"))
            grid = QGridLayout()
            grid.setHorizontalSpacing(6)
            grid.setVerticalSpacing(4)
            for i, (key, name, conf) in enumerate(top):
                now = " (now)" if key == self.current.key else ""
                b = QPushButton(f"{name or key}  {conf * 100:.0f}%{now}")
                b.setAutoDefault(False)
                b.setToolTip(f"Label {what} “{name or key}”")
                b.clicked.connect(lambda _c=False, k=key: self.choose_landmark(k))
                grid.addWidget(b, i // 2, i % 2)
                self.top_keys.append(key)
                self.top_buttons.append(b)
            lay.addLayout(grid)

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
        no_landmark = next((conf for key, _n, conf in no_landmark_guess if key == NO_LANDMARK), None)
        self.not_landmark_button = QPushButton(
            "Not a landmark" if no_landmark is None else f"Not a landmark  {no_landmark * 100:.0f}%"
        )
        self.not_landmark_button.setAutoDefault(False)
        self.not_landmark_button.setToolTip("There is no landmark in this photo")
        self.create_button = QPushButton()
        self.create_button.setAutoDefault(False)
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
        cancel.setAutoDefault(False)
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
        self.edit.setText(self.current.name if self.current.key else "")
        self._on_text(self.edit.text())
        self.edit.selectAll()
        self.edit.setFocus()

    def _describe_current(self) -> str:
        c = self.current
        if c.mixed:
            return "Now: <i>different labels</i>"
        if c.key is None:
            return f"Now: <i>{_esc(c.name or 'no landmark')}</i>"
        if c.mine:
            return f"Now: <b>{_esc(c.name)}</b> — ✓ your label"
        conf = f", {c.confidence * 100:.0f}% sure" if c.confidence is not None else ""
        return f"Now: <b>{_esc(c.name)}</b> — the model's guess{conf}"

    def _apply_item(self, item: QListWidgetItem) -> None:
        self.edit.setText(item.text())
        self.apply()

    def _on_text(self, text: str) -> None:
        t = text.strip()
        needle = t.casefold()
        # the current label, as the dialog opens on it: the whole catalog stays listed, the label selected
        is_current = self.current.key is not None and needle == self.current.name.casefold()
        matches = []
        for i in range(self.list.count()):
            it = self.list.item(i)
            hidden = bool(needle) and not is_current and needle not in it.text().casefold()
            it.setHidden(hidden)
            if not hidden:
                matches.append(it)
            if is_current and it.data(Qt.ItemDataRole.UserRole) == self.current.key:
                self.list.setCurrentItem(it)
                self.list.scrollToItem(it, QListWidget.ScrollHint.PositionAtCenter)
        self._match = None
        self.create_button.hide()
        if not t:
            self.apply_button.setEnabled(False)
            self.apply_button.setText("Apply")
            self.hint.setText("Pick a landmark from the list, or type a new name to create one.")
        elif needle in self._by_name:
            self.apply_button.setEnabled(True)
            if self.current.key is not None and self._by_name[needle] == self.current.key:
                self.apply_button.setText(f"Keep “{self.current.name}”")
                self.hint.setText(
                    f"“{self.current.name}” is the current label. Keeping it makes it yours (✓ confirmed); "
                    "only the selected photos change."
                )
            else:
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
                f"“{t}” is not a known landmark: it becomes a new album. Photos that look like these are "
                "proposed to you; none changes unless you accept it."
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

    def choose_landmark(self, key: str) -> None:
        """Apply the landmark ``key`` (a one-click choice)."""
        self.choice = RelabelChoice(landmark=key)
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


def _esc(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
