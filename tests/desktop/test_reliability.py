"""The window's side of issue 12: folder states in the sidebar and offline photos, Check Library, Restore or
Rebuild on a damaged database, Retry Failed Photos."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from core.library import AlbumRef, Library
from desktop.errors import BannerAction
from tests.desktop.helpers import N_PHOTOS, OPEN_TIMEOUT_MS, TAG_TIMEOUT_MS, copy_db
from tests.helpers import damage_database

pytestmark = pytest.mark.shared


def _folder_texts(win) -> list[str]:
    return [item.text(0) for item in win.browser.sidebar.folder_items()]


def test_sidebar_shows_each_folders_state_and_offline_photos_are_marked(qtbot, tagged_window, tagged_library):
    win = tagged_window
    _db, folder, _model = tagged_library
    qtbot.waitUntil(lambda: _folder_texts(win) == [f"{folder.name}  (available)"], timeout=10_000)
    moved = folder.with_name(folder.name + "-unplugged")
    folder.rename(moved)
    try:
        win.session.refresh_folders()
        qtbot.waitUntil(lambda: "missing" in " ".join(_folder_texts(win)), timeout=10_000)
        item = win.browser.sidebar.folder_items()[0]
        assert "photos stay in the library" in item.toolTip(0)
        assert win.banner.isVisible() and "shown as offline" in win.banner.message()
        win.refresh_all()
        model = win.browser.grid_model
        qtbot.waitUntil(lambda: model.rowCount() == N_PHOTOS and model.peek(0) is not None, timeout=10_000)
        captions = [model.data(model.index(r), Qt.ItemDataRole.DisplayRole) for r in range(model.rowCount())]
        assert all(c.startswith("Offline · ") for c in captions)
        assert win.library.count() == N_PHOTOS  # nothing left the library
    finally:
        moved.rename(folder)
    win.session.refresh_folders()
    qtbot.waitUntil(lambda: _folder_texts(win) == [f"{folder.name}  (available)"], timeout=10_000)


def test_check_library_says_no_damage_found(qtbot, tagged_window, monkeypatch):
    win = tagged_window
    shown = []
    monkeypatch.setattr(QMessageBox, "information", lambda parent, title, text: shown.append(text))
    win.open_settings()
    win.settings_dialog.check_button.click()  # Settings → Check Library…
    qtbot.waitUntil(lambda: bool(shown), timeout=60_000)
    assert shown[0].startswith("No damage found")
    win.settings_dialog.reject()


def _damaged_library_with_a_backup(env, tagged_library):
    db, folder, model = tagged_library
    copy_db(db, env.db)
    lib = Library.open(env.db, model)
    try:
        lib.relabel([lib.photos()[0].id], new_name="Kept by the backup")
        lib.backup_if_due(force=True)
    finally:
        lib.close()
    damage_database(env.db)
    return folder, model


@pytest.mark.parametrize("choice", ["restore", "rebuild"])
def test_a_damaged_database_offers_restore_from_backup_and_rebuild_from_photos(
    qtbot, make_window, env, tagged_library, choice
):
    folder, model = _damaged_library_with_a_backup(env, tagged_library)
    win = make_window(model, [folder], auto_tag=False, wait_ready=False)
    # before: the GUI offered only "Try Again"
    qtbot.waitUntil(lambda: win.banner.isVisible() and "damaged" in win.banner.message(), timeout=OPEN_TIMEOUT_MS)
    assert win.banner.action_button.text() == "Restore or Rebuild…"
    win.banner.action_button.click()
    dlg = win.repair_dialog
    assert dlg is not None and dlg.isVisible()
    labels = [dlg.backups_list.item(i).text() for i in range(dlg.backups_list.count())]
    assert labels and "daily copy" in labels[0]  # the list, with dates
    if choice == "restore":
        dlg.restore_button.click()
        qtbot.waitUntil(lambda: win.library is not None, timeout=OPEN_TIMEOUT_MS)
    else:
        with qtbot.waitSignal(win.taggingFinished, timeout=TAG_TIMEOUT_MS):
            dlg.rebuild_button.click()
    lib = win.library
    assert lib is not None and lib.count() == N_PHOTOS
    assert "Kept by the backup" in [p.label_name for p in lib.photos() if p.label_source == "manual"]
    assert not win.banner.showing_error()


def test_retry_failed_photos(qtbot, make_window, env, tagged_library):
    db, folder, model = tagged_library
    copy_db(db, env.db)
    broken = folder / "zz_broken.jpg"
    broken.write_bytes(b"")
    try:
        win = make_window(model, [folder], auto_tag=False)
        with qtbot.waitSignal(win.taggingFinished, timeout=TAG_TIMEOUT_MS):
            win.start_tagging()
        assert win.library.count(AlbumRef("failed")) == 1
        broken.write_bytes(next(folder.glob("Petra_*.jpg")).read_bytes() + b"x")
        win.browser.sidebar.select(AlbumRef("failed"))
        menu = win.menu_actions.grid_menu(win, one_photo=False, failed=win._showing_failed())
        assert win.menu_actions.retry_failed_action in menu.actions()
        with qtbot.waitSignal(win.taggingFinished, timeout=TAG_TIMEOUT_MS):
            win.menu_actions.retry_failed_action.trigger()
        assert win.library.count(AlbumRef("failed")) == 0
    finally:
        broken.unlink()


def test_settings_offer_following_links_and_reopen_the_library(qtbot, tagged_window):
    win = tagged_window
    win.open_settings()
    dlg = win.settings_dialog
    assert not dlg.follow_links.isChecked()
    dlg.follow_links.setChecked(True)
    dlg.accept()
    qtbot.waitUntil(lambda: win.library is not None and win.library.follow_links, timeout=OPEN_TIMEOUT_MS)
    assert win.settings.follow_links
    assert BannerAction.REPAIR.value == "repair"


def test_a_damaged_database_is_told_apart_by_its_class():
    from core.library import DatabaseDamagedError
    from desktop.errors import describe_open_failure

    text, action, button = describe_open_failure(DatabaseDamagedError("the library database x is damaged (page 7)"))
    assert action is BannerAction.REPAIR and button == "Restore or Rebuild…"
    assert text.startswith("The library database is damaged: ") and "Your photos are safe" in text


def test_a_folder_name_that_is_not_utf8_survives_the_settings_dialog_and_the_remove_menu(qtbot):
    import os

    from desktop.actions import WindowActions
    from desktop.dialogs import SettingsDialog
    from desktop.settings import AppSettings

    odd = os.fsdecode(b"/media/usb/caf\xe9")
    dlg = SettingsDialog(AppSettings(folders=[odd]))
    qtbot.addWidget(dlg)
    assert dlg.folders.item(0).text() == "/media/usb/caf\ufffd"  # shown safely
    assert dlg.result_settings().folders == [odd]  # pressing OK must not turn it into another folder
    from PySide6.QtWidgets import QMainWindow

    win = QMainWindow()
    qtbot.addWidget(win)
    actions = WindowActions(win, lambda: [odd])
    got = []
    actions.removeFolderRequested.connect(got.append)
    actions._fill_remove_menu()
    actions.remove_folder_menu.actions()[0].trigger()
    assert got == [odd]
