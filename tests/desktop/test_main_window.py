"""The main window: first run, folders, start-up problems, settings and the model card."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from desktop.errors import BannerAction
from desktop.settings import AppSettings

pytestmark = pytest.mark.shared


def test_first_run_shows_welcome_panel(make_window, model_path):
    win = make_window(model_path)
    assert win.stack.currentWidget() is win.welcome
    assert win.welcome.isVisible()
    assert "Add a photo folder" in win.welcome.button.text()
    names = [n for _, n in win.library.landmark_names()]
    assert names, "the model knows no landmarks?"
    assert f"knows {len(names)} landmarks" in win.welcome.known.text()
    assert names[0] in win.welcome.known.text()


def test_settings_persist_across_restart(qtbot, make_window, env, tagged_library, tagged_window):
    _db, folder, model = tagged_library
    win = tagged_window
    win.open_settings()
    dlg = win.settings_dialog
    assert [dlg.folders.item(i).text() for i in range(dlg.folders.count())] == [str(folder)]
    assert dlg.model_edit.text() == str(model)
    dlg.threshold.setValue(70)
    dlg.thumb.setCurrentIndex(dlg.thumb.findData(128))
    dlg.device.setCurrentIndex(dlg.device.findData("cpu"))
    assert dlg.verify.isChecked()  # on by default
    dlg.verify.setChecked(False)
    dlg.accept()
    assert win.browser.grid.edge == 128
    qtbot.waitUntil(lambda: win.library is not None, timeout=120_000)  # reopened with the new threshold
    win.close()

    s = AppSettings.load(env.settings)
    assert (s.review_threshold, s.thumb_size, s.device, s.model_path) == (0.7, 128, "cpu", str(model))
    assert s.verify is False
    assert s.folders == [str(folder)]
    win2 = make_window(auto_tag=False)
    assert win2.settings.review_threshold == pytest.approx(0.7)
    assert win2.library.verify is False
    assert win2.browser.grid.edge == 128 and win2.browser.grid_model.edge == 128
    assert [str(f) for f in win2.library.folders()] == [str(folder)]
    assert win2.stack.currentWidget() is win2.browser
    win2.close()


def test_missing_folder_is_reported(make_window, env, model_path, tmp_path, photo_folder):
    win = make_window(model_path, auto_tag=False)
    assert not win.add_folder(tmp_path / "does-not-exist")
    assert win.banner.isVisible() and "does not exist" in win.banner.message()
    assert win.library.folders() == []
    # a folder that disappears between runs (unplugged drive) is reported on start, not dropped
    assert win.add_folder(photo_folder)
    win.close()
    photo_folder.rename(photo_folder.with_name("Photos-moved"))
    win2 = make_window(auto_tag=False)
    assert win2.banner.isVisible() and "cannot be found" in win2.banner.message()
    assert [str(f) for f in win2.library.folders()] == [str(photo_folder)]
    # the banner's button removes the missing folder from the library
    assert win2.banner.action_button.isVisible()
    win2.banner.action_button.click()
    assert win2.library.folders() == []
    assert AppSettings.load(env.settings).folders == []
    win2.close()


def test_unreadable_model_is_reported(qtbot, make_window, tmp_path):
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"this is not a model bundle" * 10)
    win = make_window(bad, wait_ready=False)
    qtbot.waitUntil(lambda: win.banner.isVisible(), timeout=60_000)
    assert win.library is None
    msg = win.banner.message()
    assert msg.startswith("The model could not be loaded")
    assert "Traceback" not in msg and len(msg.splitlines()) == 1
    assert win.banner.action_button.isVisible()
    # the button offers another model: it opens the settings
    with qtbot.waitSignal(win.banner.actionTriggered) as blocker:
        win.banner.action_button.click()
    assert blocker.args == [BannerAction.SETTINGS]
    assert win.settings_dialog.isVisible()
    win.settings_dialog.reject()


def test_drop_folder_onto_window_adds_it(make_window, model_path, photo_folder):
    win = make_window(model_path, auto_tag=False)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(photo_folder))])
    ev = QDropEvent(
        QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier
    )
    win.dropEvent(ev)
    assert [str(f) for f in win.library.folders()] == [str(photo_folder)]
    assert win.stack.currentWidget() is win.browser


def test_about_model_dialog_shows_card(make_window, model_path):
    win = make_window(model_path, auto_tag=False)
    win.menu_actions.about_model_action.trigger()
    dlg = win.about_dialog
    assert dlg.isVisible()
    card = win.library.model_card()
    assert card["model_version"] in dlg.header.text()
    if card["verification"] == "unavailable: no verification features":  # no features file beside the bundle
        assert "no verification features" in dlg.header.text()
    else:
        assert f"geometric verification {card['verification']}" in dlg.header.text()
    assert dlg.table.rowCount() == len(card["classes"])
    names = dict(win.library.landmark_names())
    by_name = {dlg.table.item(r, 0).text(): r for r in range(dlg.table.rowCount())}
    for c in card["classes"]:
        r = by_name[names.get(c["key"], c["name"])]
        if c.get("latitude") is not None:
            assert dlg.table.item(r, 2).text() == f"{c['latitude']:.4f}"
            assert dlg.table.item(r, 3).text() == f"{c['longitude']:.4f}"
    assert [dlg.tabs.tabText(i) for i in range(dlg.tabs.count())][:2] == [
        f"Landmarks ({len(card['classes'])})",
        "Metrics",
    ]
    dlg.close()


def test_menus_hold_every_command_with_its_shortcut(make_window, model_path):
    from PySide6.QtGui import QKeySequence

    win = make_window(model_path, auto_tag=False)
    a = win.menu_actions
    menus = {m.text(): [x.text() for x in m.menu().actions() if x.text()] for m in win.menuBar().actions()}
    assert menus["&File"][:3] == ["&Add Photo Folder…", "&Remove Folder", "Scan Folders &Now"]
    assert "&Undo" in menus["&Edit"] and "&Find" in menus["&Edit"]
    assert a.undo_action.shortcut() == QKeySequence(QKeySequence.StandardKey.Undo)
    assert (a.relabel_action.shortcut(), a.not_landmark_action.shortcut(), a.rescan_action.shortcut()) == (
        QKeySequence("L"),
        QKeySequence("N"),
        QKeySequence("F5"),
    )
    # nothing selected: the photo commands are off
    assert not (a.relabel_action.isEnabled() or a.not_landmark_action.isEnabled() or a.undo_action.isEnabled())
