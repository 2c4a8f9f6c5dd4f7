"""Showing errors to the user: an in-window banner and a last-resort exception hook.

No traceback is ever the message: the banner and dialogs show one readable line; an unexpected
exception's traceback is available behind the dialog's "Show Details…" button and in the log.
"""

from __future__ import annotations

import enum
import logging
import sys
import threading
import traceback
from types import TracebackType

from PySide6.QtCore import QObject, Qt, QThread, Signal
from PySide6.QtWidgets import QApplication, QFrame, QHBoxLayout, QLabel, QMessageBox, QPushButton, QWidget

from core.domain import DatabaseDamagedError, DatabaseLockedError, ModelError

log = logging.getLogger("landmark_tagger.desktop")


class BannerAction(enum.Enum):
    """What the banner's button does (the window carries it out)."""

    RETRY = "retry"  #: open the library again
    SETTINGS = "settings"  #: open the Settings dialog (e.g. to choose another model)
    RETAG = "retag"  #: scan the folders and tag again
    REMOVE_MISSING = "remove-missing"  #: remove the folder reported missing from the library
    REPAIR = "repair"  #: the database is damaged: Restore from backup / Rebuild from photos (``desktop.repair``)


class ErrorBanner(QFrame):
    """A dismissable coloured strip at the top of the window with a message and an optional action.

    Attributes:
        level: ``"error"``, ``"warning"`` or ``"info"`` of the message shown last.

    Signals:
        actionTriggered(BannerAction): the action button was clicked; carries the action given to ``show_message``.
    """

    actionTriggered = Signal(object)

    STYLES = {
        "error": "background:#fee2e2; color:#7f1d1d; border:1px solid #fca5a5;",
        "warning": "background:#fef3c7; color:#78350f; border:1px solid #fcd34d;",
        "info": "background:#dbeafe; color:#1e3a8a; border:1px solid #93c5fd;",
    }

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("errorBanner")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 6, 6, 6)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.action_button = QPushButton()
        self.close_button = QPushButton("Dismiss")
        self.close_button.setFlat(True)
        lay.addWidget(self.label, 1)
        lay.addWidget(self.action_button)
        lay.addWidget(self.close_button)
        self._action: BannerAction | None = None
        self.level = "info"
        self.action_button.clicked.connect(self._on_action)
        self.close_button.clicked.connect(self.hide)
        self.hide()

    def show_message(
        self, text: str, level: str = "error", action: BannerAction | None = None, action_text: str = ""
    ) -> None:
        """Show ``text`` (one line, user words) with an optional button labelled ``action_text`` that emits ``action``.

        ``level`` is ``"error"``, ``"warning"`` or ``"info"`` (the colour).
        """
        self.setStyleSheet(f"QFrame#errorBanner {{{self.STYLES.get(level, self.STYLES['error'])} border-radius:4px;}}")
        self.label.setText(text)
        self._action = action
        self.action_button.setText(action_text)
        self.action_button.setVisible(action is not None)
        self.level = level
        self.show()

    def _on_action(self) -> None:
        if self._action is not None:
            self.actionTriggered.emit(self._action)

    def message(self) -> str:
        """The text shown now ('' when hidden)."""
        return self.label.text() if self.isVisible() else ""

    def showing_error(self) -> bool:
        """Whether an error (not a warning or a note) is shown now."""
        return self.isVisible() and self.level == "error"


def friendly_message(exc: BaseException) -> str:
    """One line a user can act on for ``exc`` (the exception's own message when it has one)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, FileNotFoundError):
        return f"File or folder not found: {exc.filename or text}"
    if isinstance(exc, PermissionError):
        return f"Permission denied: {exc.filename or text}"
    if isinstance(exc, MemoryError):
        return "The app ran out of memory."
    return text or type(exc).__name__


#: Openings of ``ModelError`` messages that repeat what the banner says before them.
_MODEL_PREFIXES = ("cannot use the model: ", "cannot load the model: ")


def describe_open_failure(exc: BaseException) -> tuple[str, BannerAction, str]:
    """``(banner text, action, button text)`` for a library that could not be opened, by the error's class.

    ``ModelError`` offers Settings (choose another model); a damaged database offers to repair it (restore a
    backup or rebuild from the photos); a locked database and every other failure offer to try again.
    """
    if isinstance(exc, ModelError):
        return describe_model_failure(exc)
    msg = friendly_message(exc)
    if isinstance(exc, DatabaseDamagedError):
        return (
            f"The library database is damaged: {msg}. Your photos are safe.",
            BannerAction.REPAIR,
            "Restore or Rebuild…",
        )
    if isinstance(exc, DatabaseLockedError):
        return f"The library database is busy: {msg}", BannerAction.RETRY, "Try Again"
    return f"The library could not be opened: {msg}", BannerAction.RETRY, "Try Again"


def describe_model_failure(exc: BaseException) -> tuple[str, BannerAction, str]:
    """``(banner text, action, button text)`` for a model that cannot be loaded (the library may be open).

    The "cannot use/load the model:" opening of a ``ModelError`` message is left out: the banner says it.
    """
    msg = friendly_message(exc)
    for prefix in _MODEL_PREFIXES:
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
            break
    return f"The model could not be loaded: {msg}", BannerAction.SETTINGS, "Choose Another Model…"


_installed_dialogs: list[QMessageBox] = []


def show_unexpected_error(exc: BaseException, tb_text: str = "") -> QMessageBox | None:
    """Show a non-modal dialog for an unexpected exception (traceback only under Show Details…)."""
    app = QApplication.instance()
    if app is None:
        return None
    box = QMessageBox(
        QMessageBox.Icon.Critical,
        "Something went wrong",
        f"Landmark Tagger hit an unexpected problem:\n\n{friendly_message(exc)}\n\n"
        "Your photos and labels are safe. You can keep working; if it happens again, "
        "please report it with the details below.",
        QMessageBox.StandardButton.Ok,
        QApplication.activeWindow(),
    )
    if tb_text:
        box.setDetailedText(tb_text)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setWindowModality(Qt.WindowModality.NonModal)
    _installed_dialogs.append(box)
    box.finished.connect(lambda *_: _installed_dialogs.remove(box) if box in _installed_dialogs else None)
    box.show()
    return box


class _Relay(QObject):
    """Lives in the GUI thread; carries an exception from any thread to the dialog."""

    show = Signal(object, str)


_relay: _Relay | None = None


def _excepthook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    tb_text = "".join(traceback.format_exception(exc_type, exc, tb))
    log.error("unexpected error\n%s", tb_text)
    try:
        app = QApplication.instance()
        if _relay is None or app is None:
            return
        if QThread.currentThread() is app.thread():
            show_unexpected_error(exc, tb_text)
        else:  # widgets only in the GUI thread: queue it there
            _relay.show.emit(exc, tb_text)
    except Exception:  # noqa: BLE001 - never recurse from the hook
        pass


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit or args.exc_value is None:
        return
    _excepthook(args.exc_type, args.exc_value, args.exc_traceback)


def install_excepthook() -> None:
    """Route uncaught exceptions — in Qt slots, in the GUI thread or in any worker thread — to a
    (GUI-thread) error dialog, and to the log. Call from the GUI thread after the QApplication exists."""
    global _relay
    if _relay is None:
        _relay = _Relay()
        _relay.show.connect(show_unexpected_error, Qt.ConnectionType.QueuedConnection)
    sys.excepthook = _excepthook
    threading.excepthook = _thread_excepthook
