"""The window's commands: ``QAction`` s with their shortcuts, the menus, the toolbar and the grid's
context menu.

``WindowActions`` creates the actions and puts them in the menu bar and the toolbar of a
``QMainWindow``; the window connects their ``triggered`` signals to what they do. Shortcuts:
Ctrl+O add a folder, F5 scan now, Ctrl+, settings, Ctrl+Q quit, Ctrl+Z undo, Ctrl+Shift+Z (and Ctrl+Y)
redo, Y confirm ✓, X reject ✗, L change label, N not a landmark, S similar photos, M find more like this,
P review proposals, Ctrl+H history, Ctrl+F find. The one-letter keys act on the selected photos; typing in
a text field never triggers them. Space (and double-click, Enter) on the grid opens the full-size viewer
(``desktop.viewer``, which has its own keys); the grid's context menu also has View Full Size and Open in
System Viewer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QPoint, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QWidget

from core.photos.pathnames import display_path


def _action(
    parent: QObject, text: str, shortcut: QKeySequence | QKeySequence.StandardKey | str | None = None
) -> QAction:
    action = QAction(text, parent)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    return action


def redo_shortcuts() -> list[QKeySequence]:
    """The platform's Redo keys plus Ctrl+Shift+Z and Ctrl+Y (each once)."""
    out: list[QKeySequence] = []
    for seq in [
        *QKeySequence.keyBindings(QKeySequence.StandardKey.Redo),
        QKeySequence("Ctrl+Shift+Z"),
        QKeySequence("Ctrl+Y"),
    ]:
        if not seq.isEmpty() and seq not in out:
            out.append(seq)
    return out


class WindowActions(QObject):
    """Every command of the main window.

    Args:
        window: the window whose menu bar and toolbar get the actions.
        folders: gives the library folders listed in File → Remove Folder (read when the menu opens).

    Attributes:
        add_folder_action, rescan_action, retry_failed_action, check_library_action, settings_action,
            quit_action: the File menu.
        remove_folder_menu: File → Remove Folder (one entry per library folder).
        undo_action, redo_action, confirm_action, reject_action, relabel_action, not_landmark_action,
        similar_action, more_like_action, proposals_action, history_action, find_action: the Edit menu.
        about_model_action, about_app_action: the Help menu.

    Signals:
        removeFolderRequested(str): a folder was picked in File → Remove Folder (its exact path).
        showInFolderRequested(): "Show in Folder" in the grid's context menu.
        viewRequested(): "View Full Size" in the grid's context menu (Space, double-click and Enter do it too).
        openExternallyRequested(): "Open in System Viewer" in the grid's context menu.
    """

    removeFolderRequested = Signal(object)  # object, not str: Qt would drop the undecodable bytes of a file name
    showInFolderRequested = Signal()
    viewRequested = Signal()
    openExternallyRequested = Signal()

    def __init__(self, window: QMainWindow, folders: Callable[[], list[Path]]):
        super().__init__(window)
        self._folders = folders
        self.add_folder_action = _action(window, "&Add Photo Folder…", QKeySequence.StandardKey.Open)
        self.remove_folder_menu = QMenu("&Remove Folder", window)
        self.remove_folder_menu.aboutToShow.connect(self._fill_remove_menu)
        self.rescan_action = _action(window, "Scan Folders &Now", "F5")
        self.retry_failed_action = _action(window, "&Retry Failed Photos")
        self.retry_failed_action.setToolTip("Tag the photos in the Failed album again (all, or the selected ones)")
        self.check_library_action = _action(window, "&Check Library…")
        self.check_library_action.setToolTip("Check the library database for damage")
        self.settings_action = _action(window, "&Settings…", "Ctrl+,")
        self.settings_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        self.quit_action = _action(window, "&Quit", QKeySequence.StandardKey.Quit)

        self.undo_action = _action(window, "&Undo", QKeySequence.StandardKey.Undo)
        self.redo_action = _action(window, "&Redo")
        self.redo_action.setShortcuts(redo_shortcuts())
        self.confirm_action = _action(window, "✓ &Confirm Label", "Y")
        self.confirm_action.setIconText("✓ Confirm")
        self.confirm_action.setToolTip("The label is right: make it yours and lock it (Y)")
        self.reject_action = _action(window, "✗ Re&ject Label", "X")
        self.reject_action.setIconText("✗ Reject")
        self.reject_action.setToolTip("The label is wrong: the photo takes the model's next guess (X)")
        self.relabel_action = _action(window, "&Change Label…", "L")
        self.not_landmark_action = _action(window, "&Not a Landmark", "N")
        self.similar_action = _action(window, "Show &Similar Photos", "S")
        self.more_like_action = _action(window, "Find &More Like This", "M")
        self.more_like_action.setToolTip(
            "Propose this photo's landmark for photos that look like it (nothing changes until you accept) (M)"
        )
        self.proposals_action = _action(window, "Review &Proposals…", "P")
        self.history_action = _action(window, "&History…", "Ctrl+H")
        self.find_action = _action(window, "&Find", QKeySequence.StandardKey.Find)
        self.about_model_action = _action(window, "About the &Model…")
        self.about_app_action = _action(window, "&About Landmark Tagger")
        self.set_undo("")
        self.set_redo(False, "")
        self.set_proposals(0)
        self.set_selection(0, library_open=False)
        self._build_menus(window)
        self._build_toolbar(window)

    def _build_menus(self, window: QMainWindow) -> None:
        mb = window.menuBar()
        file_menu = mb.addMenu("&File")
        file_menu.addAction(self.add_folder_action)
        file_menu.addMenu(self.remove_folder_menu)
        file_menu.addAction(self.rescan_action)
        file_menu.addAction(self.retry_failed_action)
        file_menu.addSeparator()
        file_menu.addAction(self.settings_action)
        file_menu.addAction(self.check_library_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        edit_menu = mb.addMenu("&Edit")
        edit_menu.addAction(self.undo_action)
        edit_menu.addAction(self.redo_action)
        edit_menu.addAction(self.history_action)
        edit_menu.addSeparator()
        for a in (self.confirm_action, self.reject_action, self.relabel_action, self.not_landmark_action):
            edit_menu.addAction(a)
        edit_menu.addSeparator()
        for a in (self.similar_action, self.more_like_action, self.proposals_action):
            edit_menu.addAction(a)
        edit_menu.addSeparator()
        edit_menu.addAction(self.find_action)

        help_menu = mb.addMenu("&Help")
        help_menu.addAction(self.about_model_action)
        help_menu.addAction(self.about_app_action)

    def _build_toolbar(self, window: QMainWindow) -> None:
        tb = window.addToolBar("Main")
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for group in (
            (self.add_folder_action, self.rescan_action),
            (self.confirm_action, self.reject_action, self.relabel_action, self.not_landmark_action),
            (self.undo_action, self.redo_action, self.proposals_action, self.history_action),
            (self.settings_action, self.about_model_action),
        ):
            if tb.actions():
                tb.addSeparator()
            for a in group:
                tb.addAction(a)

    # ------------------------------------------------------------------------------------------
    def set_selection(self, count: int, *, library_open: bool = True) -> None:
        """Enable the photo commands for ``count`` selected photos (similar photos: exactly one)."""
        has = count > 0 and library_open
        for a in (
            self.confirm_action,
            self.reject_action,
            self.relabel_action,
            self.not_landmark_action,
            self.more_like_action,
        ):
            a.setEnabled(has)
        self.similar_action.setEnabled(count == 1)

    def set_undo(self, description: str) -> None:
        """Name the change Ctrl+Z undoes ('' = nothing to undo: the action is disabled)."""
        self.undo_action.setEnabled(bool(description))
        self.undo_action.setText(f"&Undo: {description}" if description else "&Undo")
        self.undo_action.setIconText("Undo")
        self.undo_action.setToolTip(f"Undo: {description} (Ctrl+Z)" if description else "Nothing to undo")

    def set_redo(self, enabled: bool, description: str) -> None:
        """Name the change Ctrl+Shift+Z re-applies (``description`` '' = it cannot be named)."""
        self.redo_action.setEnabled(enabled)
        self.redo_action.setText(f"&Redo: {description}" if enabled and description else "&Redo")
        self.redo_action.setIconText("Redo")
        tip = f"Redo: {description}" if description else "Redo the change undone last"
        self.redo_action.setToolTip(f"{tip} (Ctrl+Shift+Z)" if enabled else "Nothing to redo")

    def set_proposals(self, count: int) -> None:
        """Show how many proposals are open (Review Proposals names the count)."""
        self.proposals_action.setText(f"Review &Proposals ({count})…" if count else "Review &Proposals…")
        self.proposals_action.setIconText(f"Proposals ({count})" if count else "Proposals")
        self.proposals_action.setToolTip(
            f"{count} photo labels proposed from your corrections wait for you (P)"
            if count
            else "No proposals wait for you (P)"
        )

    def grid_menu(self, parent: QWidget, *, one_photo: bool, failed: bool = False) -> QMenu:
        """The context menu of selected photos (Show in Folder only for ``one_photo``; Retry Failed Photos when
        ``failed``: the Failed album is shown)."""
        menu = QMenu(parent)
        if failed:
            menu.addAction(self.retry_failed_action)
            menu.addSeparator()

        menu.addAction(self.confirm_action)
        menu.addAction(self.reject_action)
        menu.addAction(self.relabel_action)
        menu.addAction(self.not_landmark_action)
        menu.addSeparator()
        menu.addAction(self.more_like_action)
        menu.addAction(self.similar_action)
        menu.addSeparator()
        view = menu.addAction("View Full Size\tSpace")
        view.triggered.connect(self.viewRequested)
        view.setEnabled(one_photo)
        show = menu.addAction("Show in Folder")
        show.triggered.connect(self.showInFolderRequested)
        show.setEnabled(one_photo)
        external = menu.addAction("Open in System Viewer")
        external.triggered.connect(self.openExternallyRequested)
        external.setEnabled(one_photo)
        return menu

    def exec_grid_menu(self, parent: QWidget, at: QPoint, *, one_photo: bool, failed: bool = False) -> None:
        """Show the grid's context menu at ``at`` (global position) and wait until it closes."""
        self.grid_menu(parent, one_photo=one_photo, failed=failed).exec(at)

    def _fill_remove_menu(self) -> None:
        self.remove_folder_menu.clear()
        folders = self._folders()
        if not folders:
            self.remove_folder_menu.addAction("No folders").setEnabled(False)
        for f in folders:
            self.remove_folder_menu.addAction(display_path(f)).triggered.connect(
                lambda _checked=False, f=f: self.removeFolderRequested.emit(str(f))
            )
