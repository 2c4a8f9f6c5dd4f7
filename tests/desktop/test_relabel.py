"""Corrections in the window: the relabel dialog, new landmarks, "not a landmark", proposals, undo.

Corrections run in the controller's worker thread: tests wait for them (``wait_corrections``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence

from core.domain import DatabaseLockedError
from core.library import AlbumRef
from desktop.relabel import RelabelChoice
from tests.desktop.helpers import (
    changed_ids,
    close_dialogs,
    db_album_counts,
    grid_ids,
    select_rows,
    snapshot,
    wait_corrections,
)

pytestmark = pytest.mark.shared


def test_relabel_updates_database_and_albums_and_undo_restores(qtbot, tagged_window):
    win = tagged_window
    lib, sidebar, actions = win.library, win.browser.sidebar, win.menu_actions
    before_counts = db_album_counts(lib)
    candidates = [p for p in lib.photos() if p.status in ("tagged", "no_landmark")]
    keys = [k for k, _ in lib.landmark_names()]
    photo_a, photo_b = candidates[0], candidates[1]
    target = next(k for k in keys if k not in (photo_a.label, photo_b.label))
    target_name = dict(lib.landmark_names())[target]
    before_target = lib.count(album=AlbumRef("landmark", target))

    # multi-selection → relabel dialog → type the name (completer over the catalog) → Apply
    ids = grid_ids(win)
    select_rows(win, [ids.index(photo_a.id), ids.index(photo_b.id)])
    assert sorted(win.browser.selected_ids()) == sorted([photo_a.id, photo_b.id])
    actions.relabel_action.trigger()
    dlg = win.corrections.relabel_dialog
    assert dlg is not None and dlg.isVisible()
    completer = dlg.edit.completer()
    completer.setCompletionPrefix(target_name[:3])
    assert target_name in [
        completer.completionModel().index(i, 0).data() for i in range(completer.completionModel().rowCount())
    ]
    dlg.edit.clear()
    qtbot.keyClicks(dlg.edit, target_name)
    assert dlg.apply_button.text() == "Apply"
    qtbot.mouseClick(dlg.apply_button, Qt.MouseButton.LeftButton)
    wait_corrections(qtbot, win)
    close_dialogs(win)

    for pid in (photo_a.id, photo_b.id):
        d = lib.photo(pid)
        assert d.label == target and d.label_source == "manual"
    after = lib.count(album=AlbumRef("landmark", target))
    assert after >= before_target + 2
    assert sidebar.count_of(AlbumRef("landmark", target)) == after
    assert sidebar.shown_counts() == db_album_counts(lib)
    # the album of the target now shows both photos
    sidebar.select(AlbumRef("landmark", target))
    assert {photo_a.id, photo_b.id} <= set(grid_ids(win))

    # Ctrl+Z restores labels and albums
    assert actions.undo_action.isEnabled()
    assert actions.undo_action.text() == f"&Undo: 2 photos → {target_name}"
    assert actions.undo_action.shortcut() == QKeySequence(QKeySequence.StandardKey.Undo)
    actions.undo_action.trigger()
    wait_corrections(qtbot, win)
    for p in (photo_a, photo_b):
        d = lib.photo(p.id)
        assert (d.label, d.label_source) == (p.label, p.label_source)
    assert db_album_counts(lib) == before_counts
    assert sidebar.shown_counts() == before_counts
    assert not actions.undo_action.isEnabled()


def test_relabel_new_name_and_not_a_landmark(qtbot, tagged_window):
    win = tagged_window
    lib, sidebar = win.library, win.browser.sidebar
    candidates = [p for p in lib.photos() if p.status in ("tagged", "no_landmark")]
    ids = grid_ids(win)
    # a new landmark name creates a new album at once
    select_rows(win, [ids.index(candidates[0].id)])
    win.relabel_selected()
    dlg = win.corrections.relabel_dialog
    dlg.set_text("Grandma's Garden Gate")
    assert dlg.apply_button.text().startswith("Create")
    dlg.apply_button.click()
    wait_corrections(qtbot, win)
    close_dialogs(win)
    d = lib.photo(candidates[0].id)
    assert d.label_source == "manual" and d.label_name == "Grandma's Garden Gate"
    titles = [a.title for a in sidebar.albums if a.ref.kind == "landmark"]
    assert "Grandma's Garden Gate" in titles
    # only the corrected photo is in it (look-alikes are proposed, not moved)
    new_count = lib.count(album=AlbumRef("landmark", d.label))
    assert new_count == 1 and sidebar.count_of(AlbumRef("landmark", d.label)) == new_count
    # the new name is offered by the search field's completer
    comp = win.browser.search_bar.field.completer()
    comp.setCompletionPrefix("Grandma")
    assert comp.completionCount() == 1
    # "Not a landmark" moves the photo to Unrecognized
    before_unrec = lib.count(album=AlbumRef("unrecognized"))
    sidebar.select(None)
    select_rows(win, [grid_ids(win).index(candidates[1].id)])
    win.relabel_selected()
    win.corrections.relabel_dialog.not_landmark_button.click()
    wait_corrections(qtbot, win)
    close_dialogs(win)
    d = lib.photo(candidates[1].id)
    assert d.label is None and d.label_source == "manual"
    assert sidebar.count_of(AlbumRef("unrecognized")) == lib.count(album=AlbumRef("unrecognized"))
    assert lib.count(album=AlbumRef("unrecognized")) >= before_unrec + (candidates[1].status != "no_landmark")
    win.corrections.undo()
    wait_corrections(qtbot, win)
    assert lib.photo(candidates[1].id).label_source == candidates[1].label_source


def test_proposals_offered_after_correction_start_unticked_and_apply_only_when_accepted(qtbot, tagged_window):
    win = tagged_window
    lib = win.library
    # label photos of one source folder class as a new landmark: teaching may then *propose* it for photos
    # that look alike; the offer leads to exactly those, unticked, and nothing changes until accepted
    photos = [p for p in lib.photos() if p.status in ("tagged", "no_landmark")]
    by_class = [p for p in photos if Path(p.path).name.startswith("Petra_")]
    ids = grid_ids(win)
    before = snapshot(lib)
    select_rows(win, [ids.index(p.id) for p in by_class[:3]])
    with qtbot.waitSignal(win.corrections.finished, timeout=30_000) as blocker:
        assert win.corrections.apply(win.browser.selected_ids(), RelabelChoice(new_name="Petra (my trip)"))
    change = blocker.args[0]
    assert change.photo_count == 3
    after = snapshot(lib)
    assert changed_ids(before, after) <= set(change.photo_ids)
    expected = [p.photo.id for p in lib.proposals(change)]
    status = win.statusBar().currentMessage()
    assert status.startswith("3 photos → Petra (my trip)")
    if not expected:
        assert not win.offer.isVisible() and "to review" not in status
        return
    n = len(expected)
    assert f"; {n} proposal{'s' if n != 1 else ''} to review" in status
    assert win.offer.isVisible() and win.offer.change_id == change.id
    assert "Petra (my trip)" in win.offer.label.text()
    win.offer.review_button.click()
    wait_corrections(qtbot, win)
    dlg = win.corrections.proposals_dialog
    assert dlg is not None and dlg.isVisible() and not win.offer.isVisible()
    assert dlg.accepted_ids() == [] and dlg.not_now_button.isDefault()
    assert not dlg.accept_button.isEnabled() and not dlg.accept_button.autoDefault()
    assert sorted(p.id for p in dlg.photos) == sorted(expected)
    assert snapshot(lib) == after
    dlg.set_all_ticked(True)
    dlg.accept_button.click()
    wait_corrections(qtbot, win)
    for pid in expected:
        assert lib.photo(pid).label == change.landmark
    # the accepted proposals are one more change in the history, the one Ctrl+Z undoes
    assert len(lib.history()) == 2
    assert win.menu_actions.undo_action.text().startswith(f"&Undo: {n} photo")


def test_locked_database_is_reported(qtbot, tagged_window, env):
    win = tagged_window
    lib = win.library
    photo = next(p for p in lib.photos() if p.status in ("tagged", "no_landmark"))
    select_rows(win, [grid_ids(win).index(photo.id)])
    # another program holds the write lock
    other = sqlite3.connect(env.db, timeout=0.1)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with qtbot.waitSignal(win.corrections.finished, timeout=30_000) as blocker:
            assert win.corrections.apply([photo.id], RelabelChoice(not_landmark=True))
        assert isinstance(blocker.args[0], DatabaseLockedError)
    finally:
        other.rollback()
        other.close()
    msg = win.banner.message()
    assert msg.startswith("Could not change the label") and "Traceback" not in msg
    assert win.banner.level == "error"
    assert lib.photo(photo.id).label_source == photo.label_source
    assert lib.last_change() is None and not win.menu_actions.undo_action.isEnabled()
