"""The History dialog: every correction (what, when, how many photos, undone or not), and Revert on any entry.

The history is kept in the library database (``Library.history``), so it survives restarts. The dialog never
calls the library: "Revert" emits ``revertRequested`` and ``corrections_controller`` reverts the change off
the GUI thread, then gives the dialog the new history (``set_changes``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
)

from core.domain import Change, ChangeKind

#: Columns of the history list.
COLUMNS = ("When", "Change", "Photos", "Open proposals", "State")
#: Short names of the change kinds (the "Change" column's tooltip).
KIND_NAMES = {
    ChangeKind.SET_LANDMARK: "Label set",
    ChangeKind.NEW_LANDMARK: "New landmark",
    ChangeKind.NOT_LANDMARK: "Not a landmark",
    ChangeKind.REJECT: "Rejected ✗",
    ChangeKind.CONFIRM: "Confirmed ✓",
    ChangeKind.ACCEPT: "Proposals accepted",
}


def local_time(when: datetime | None) -> str:
    """``"2 Dec 2026, 16:09"`` in local time for a UTC ``datetime`` (naive ones are taken as UTC)."""
    if when is None:
        return "unknown"
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone().strftime("%d %b %Y, %H:%M")


def state_text(change: Change) -> str:
    """``"applied"``, ``"undone"`` or ``"undone (redo possible)"``."""
    if not change.undone:
        return "applied"
    return "undone (Redo possible)" if change.redoable else "undone"


class HistoryDialog(QDialog):
    """Every change, newest first; "Revert" undoes the selected one (even when later changes exist).

    Attributes:
        changes: the ``Change`` s shown, newest first. tree: the list. revert_button, close_button: buttons.

    Signals:
        revertRequested(int): the id of the change to revert.
    """

    revertRequested = Signal(int)

    def __init__(self, changes: Sequence[Change], parent=None):
        super().__init__(parent)
        self.setWindowTitle("History")
        self.resize(760, 380)
        lay = QVBoxLayout(self)
        note = QLabel(
            "Every correction you made, newest first. Revert undoes one of them, even an old one; the "
            "changes after it stay. Ctrl+Z and Ctrl+Shift+Z undo and redo the latest ones."
        )
        note.setWordWrap(True)
        lay.addWidget(note)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        head = self.tree.header()
        head.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for c in (0, 2, 3, 4):
            head.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        head.setStretchLastSection(False)
        lay.addWidget(self.tree, 1)
        self.empty_label = QLabel("No corrections yet.")
        self.empty_label.setStyleSheet("color:#6b7280;")
        lay.addWidget(self.empty_label)
        row = QHBoxLayout()
        self.revert_button = QPushButton("Revert")
        self.revert_button.setToolTip("Undo the selected change (its photos get back the labels they had)")
        self.revert_button.setAutoDefault(False)
        self.close_button = QPushButton("Close")
        self.close_button.setDefault(True)
        row.addStretch(1)
        row.addWidget(self.revert_button)
        row.addWidget(self.close_button)
        lay.addLayout(row)
        self.revert_button.clicked.connect(self._on_revert)
        self.close_button.clicked.connect(self.accept)
        self.tree.itemSelectionChanged.connect(self._update_buttons)
        self.changes: list[Change] = []
        self.set_changes(changes)

    def set_changes(self, changes: Sequence[Change]) -> None:
        """Show ``changes`` (newest first), keeping the selected entry selected."""
        keep = self.selected_change()
        self.changes = list(changes)
        self.tree.clear()
        grey = QColor("#9ca3af")
        for c in self.changes:
            item = QTreeWidgetItem(
                [
                    local_time(c.created_at),
                    c.description,
                    str(c.photo_count or len(c.photo_ids)),
                    str(c.proposals) if c.proposals else "",
                    state_text(c),
                ]
            )
            item.setData(0, Qt.ItemDataRole.UserRole, c.id)
            item.setToolTip(1, KIND_NAMES.get(c.kind, c.kind))
            for col in (2, 3):
                item.setTextAlignment(col, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if c.undone:
                for col in range(len(COLUMNS)):
                    item.setForeground(col, grey)
            self.tree.addTopLevelItem(item)
            if keep is not None and c.id == keep.id:
                self.tree.setCurrentItem(item)
        self.empty_label.setVisible(not self.changes)
        self._update_buttons()

    def selected_change(self) -> Change | None:
        """The selected entry's ``Change``, or ``None``."""
        item = self.tree.currentItem()
        if item is None or not item.isSelected():
            return None
        cid = item.data(0, Qt.ItemDataRole.UserRole)
        return next((c for c in self.changes if c.id == cid), None)

    def select_change(self, change_id: int) -> None:
        """Select the entry of change ``change_id``."""
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item is not None and item.data(0, Qt.ItemDataRole.UserRole) == change_id:
                self.tree.setCurrentItem(item)
                return

    def _update_buttons(self) -> None:
        c = self.selected_change()
        self.revert_button.setEnabled(c is not None and not c.undone)

    def _on_revert(self) -> None:
        c = self.selected_change()
        if c is not None and not c.undone:
            self.revertRequested.emit(c.id)
