"""Errors shown to the user: the banner (by error class, never by message text) and the exception hook."""

from __future__ import annotations

import sys
import threading

import pytest
from PySide6.QtWidgets import QApplication, QMessageBox

from core.library import (
    DatabaseLockedError,
    LibraryError,
    ModelError,
    NewerSchemaError,
    NotALibraryError,
)
from desktop.errors import BannerAction, ErrorBanner, describe_model_failure, describe_open_failure, friendly_message


@pytest.mark.parametrize(
    ("exc", "opening", "action"),
    [
        (
            ModelError("cannot use the model: not a bundle"),
            "The model could not be loaded: not a bundle",
            BannerAction.SETTINGS,
        ),
        (
            DatabaseLockedError("database is locked by another program"),
            "The library database is busy: ",
            BannerAction.RETRY,
        ),
        (
            NotALibraryError("the model says: not a Landmark Tagger library"),
            "The library could not be opened: ",
            BannerAction.RETRY,
        ),
        (
            NewerSchemaError("written by a newer version; its model is unknown"),
            "The library could not be opened: ",
            BannerAction.RETRY,
        ),
        (LibraryError("locked model bundle"), "The library could not be opened: ", BannerAction.RETRY),
        (
            PermissionError(13, "Permission denied", "/data/library.sqlite3"),
            "The library could not be opened: Permission denied: /data",
            BannerAction.RETRY,
        ),
    ],
)
def test_open_failures_are_told_apart_by_class_not_by_words(exc, opening, action):
    text, got_action, button = describe_open_failure(exc)
    assert text.startswith(opening)
    assert got_action is action
    assert button == ("Choose Another Model…" if action is BannerAction.SETTINGS else "Try Again")
    assert "\n" not in text


def test_model_failure_keeps_the_library_open_for_browsing():
    text, action, _button = describe_model_failure(OSError("libtorch_cpu.so: cannot open shared object file"))
    assert text == "The model could not be loaded: libtorch_cpu.so: cannot open shared object file"
    assert action is BannerAction.SETTINGS
    assert friendly_message(ModelError("cannot load the model: CUDA is not available")) == (
        "cannot load the model: CUDA is not available"
    )
    assert describe_model_failure(ModelError("cannot load the model: CUDA is not available"))[0] == (
        "The model could not be loaded: CUDA is not available"
    )


def test_banner_emits_its_action_and_hides_the_button_without_one(qtbot):
    banner = ErrorBanner()
    qtbot.addWidget(banner)
    banner.show_message("Tagging stopped: disk full", "error", BannerAction.RETAG, "Try Again")
    assert banner.isVisible() and banner.showing_error() and banner.action_button.text() == "Try Again"
    with qtbot.waitSignal(banner.actionTriggered) as blocker:
        banner.action_button.click()
    assert blocker.args == [BannerAction.RETAG]
    banner.show_message("Watching by polling: network drive", "info")
    assert banner.action_button.isHidden() and not banner.showing_error()
    assert banner.message() == "Watching by polling: network drive"
    banner.close_button.click()
    assert banner.message() == ""


def test_uncaught_exception_shows_a_dialog_not_a_traceback(qtbot, capsys):
    from desktop import errors

    errors.install_excepthook()
    try:
        raise ValueError("the thumbnail cache is full")
    except ValueError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    boxes = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]
    assert boxes
    box = boxes[-1]
    assert "the thumbnail cache is full" in box.text() and "Traceback" not in box.text()
    assert "Traceback" in box.detailedText()
    box.close()
    sys.excepthook = sys.__excepthook__


def test_exception_in_a_worker_thread_is_shown_in_the_gui_thread(qtbot):
    from desktop import errors

    errors.install_excepthook()
    try:
        t = threading.Thread(target=lambda: (_ for _ in ()).throw(RuntimeError("disk unplugged mid-scan")))
        t.start()
        t.join()
        qtbot.waitUntil(
            lambda: any(
                isinstance(w, QMessageBox) and w.isVisible() and "disk unplugged mid-scan" in w.text()
                for w in QApplication.topLevelWidgets()
            ),
            timeout=5000,
        )
    finally:
        for w in QApplication.topLevelWidgets():
            if isinstance(w, QMessageBox):
                w.close()
        sys.excepthook = sys.__excepthook__
        threading.excepthook = threading.__excepthook__
