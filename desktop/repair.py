"""The "Restore or Rebuild" dialog, offered when the library database is damaged.

It lists the backups of the database with their dates (``core.library.library_backups``: one per day for the last
7 days, the copies taken before schema upgrades, databases a repair replaced) and offers two ways back:

* *Restore Selected Backup* — the library as it was then (later corrections are lost);
* *Rebuild from Photos* — a new database: the photos are found and tagged again, the folders, the landmarks the
  person created and the corrections are kept from the newest undamaged backup.

The dialog only asks; the window (``MainWindow.repair_library``) closes the library, carries the choice out in a
worker thread and opens the library again. The damaged database is never deleted: it is moved into the backups
folder.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
)

from core.domain import BackupInfo, display_text

BackupRole = Qt.ItemDataRole.UserRole + 20

#: How each kind of backup reads in the list.
KIND_TEXT = {
    "daily": "daily copy",
    "migration": "before an upgrade",
    "replaced": "replaced by a repair",
}


def backup_label(b: BackupInfo) -> str:
    """One line for a backup: local date and time, what kind of copy, size."""
    when = b.created_at.astimezone().strftime("%d %B %Y, %H:%M")
    size = f"{b.size / 1e6:.1f} MB" if b.size >= 1e5 else f"{b.size / 1e3:.0f} KB"
    return f"{when} — {KIND_TEXT.get(b.kind, b.kind)} — {size}"


class RepairDialog(QDialog):
    """Choose *Restore from backup* (a backup from the list) or *Rebuild from photos*.

    Args:
        backups: the backups, newest first (``core.library.library_backups``).
        message: why the dialog is shown (the damage found), one line.

    Attributes:
        backups_list: one entry per backup (``BackupRole`` holds its ``BackupInfo``).
        restore_button, rebuild_button: the two choices.

    Signals:
        restoreRequested(object): the ``BackupInfo`` to restore.
        rebuildRequested(): rebuild the library from the photos.
    """

    restoreRequested = Signal(object)
    rebuildRequested = Signal()

    def __init__(self, backups: list[BackupInfo], message: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Repair the library")
        self.setMinimumWidth(520)
        lay = QVBoxLayout(self)
        intro = QLabel(
            f"{display_text(message)}\n\nYour photos are safe: nothing on disk is changed. Choose a backup to "
            "restore, or rebuild the library from your photos (your folders, your landmarks and your corrections "
            "are kept from the newest backup). The damaged database is kept in the backups folder."
        )
        intro.setWordWrap(True)
        lay.addWidget(intro)
        self.backups_list = QListWidget()
        for b in backups:
            item = QListWidgetItem(backup_label(b))
            item.setData(BackupRole, b)
            item.setToolTip(display_text(str(b.path)))
            if b.kind == "replaced":
                item.setForeground(Qt.GlobalColor.gray)
            self.backups_list.addItem(item)
        if not backups:
            empty = QListWidgetItem("No backups yet (one is taken each day the library changes).")
            empty.setFlags(Qt.ItemFlag.NoItemFlags)
            self.backups_list.addItem(empty)
        lay.addWidget(self.backups_list, 1)
        box = QDialogButtonBox()
        self.restore_button = QPushButton("Restore Selected Backup")
        self.rebuild_button = QPushButton("Rebuild from Photos")
        box.addButton(self.restore_button, QDialogButtonBox.ButtonRole.AcceptRole)
        box.addButton(self.rebuild_button, QDialogButtonBox.ButtonRole.AcceptRole)
        box.addButton(QDialogButtonBox.StandardButton.Cancel)
        box.rejected.connect(self.reject)
        lay.addWidget(box)
        self.restore_button.setEnabled(False)
        self.backups_list.currentItemChanged.connect(self._on_current)
        self.backups_list.itemDoubleClicked.connect(lambda _item: self._restore())
        self.restore_button.clicked.connect(self._restore)
        self.rebuild_button.clicked.connect(self._rebuild)
        first = self.backups_list.item(0)
        if backups and first is not None:
            self.backups_list.setCurrentItem(first)

    def selected_backup(self) -> BackupInfo | None:
        """The backup selected in the list, or ``None``."""
        item = self.backups_list.currentItem()
        return item.data(BackupRole) if item is not None else None

    def _on_current(self, *_args) -> None:
        self.restore_button.setEnabled(self.selected_backup() is not None)

    def _restore(self) -> None:
        backup = self.selected_backup()
        if backup is None:
            return
        self.accept()
        self.restoreRequested.emit(backup)

    def _rebuild(self) -> None:
        self.accept()
        self.rebuildRequested.emit()
