"""Corrections in the window: the relabel dialog, new landmarks, "not a landmark", suggestions, undo."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence

from core.library import AlbumRef
from desktop.relabel import RelabelChoice
from tests.desktop.helpers import close_dialogs, db_album_counts, grid_ids, select_rows

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
    qtbot.keyClicks(dlg.edit, target_name)
    assert dlg.apply_button.text() == "Apply"
    qtbot.mouseClick(dlg.apply_button, Qt.MouseButton.LeftButton)
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
    assert actions.undo_action.shortcut() == QKeySequence(QKeySequence.StandardKey.Undo)
    actions.undo_action.trigger()
    for p in (photo_a, photo_b):
        d = lib.photo(p.id)
        assert (d.label, d.label_source) == (p.label, p.label_source)
    assert db_album_counts(lib) == before_counts
    assert sidebar.shown_counts() == before_counts
    assert not actions.undo_action.isEnabled()


def test_relabel_new_name_and_not_a_landmark(tagged_window):
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
    close_dialogs(win)
    d = lib.photo(candidates[0].id)
    assert d.label_source == "manual" and d.label_name == "Grandma's Garden Gate"
    titles = [a.title for a in sidebar.albums if a.ref.kind == "landmark"]
    assert "Grandma's Garden Gate" in titles
    # (re-scoring may move look-alike photos into it too: the count shown is the database's)
    new_count = lib.count(album=AlbumRef("landmark", d.label))
    assert new_count >= 1 and sidebar.count_of(AlbumRef("landmark", d.label)) == new_count
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
    close_dialogs(win)
    d = lib.photo(candidates[1].id)
    assert d.label is None and d.label_source == "manual"
    assert sidebar.count_of(AlbumRef("unrecognized")) == lib.count(album=AlbumRef("unrecognized"))
    assert lib.count(album=AlbumRef("unrecognized")) >= before_unrec + (candidates[1].status != "no_landmark")
    win.corrections.undo()
    assert lib.photo(candidates[1].id).label_source == candidates[1].label_source


def test_suggestions_offered_after_correction_start_unticked_and_apply_only_when_accepted(tagged_window):
    win = tagged_window
    lib = win.library
    # label photos of one source folder class as a new landmark: teaching may then *propose* it for photos
    # that look alike; the dialog offers exactly those, unticked, and nothing changes until accepted
    photos = [p for p in lib.photos() if p.status in ("tagged", "no_landmark")]
    by_class = [p for p in photos if Path(p.path).name.startswith("Petra_")]
    ids = grid_ids(win)
    before = {p.id: (p.label, p.confidence) for p in lib.photos()}
    select_rows(win, [ids.index(p.id) for p in by_class[:3]])
    change = win.corrections.apply(win.browser.selected_ids(), RelabelChoice(new_name="Petra (my trip)"))
    assert change is not None
    after = {p.id: (p.label, p.confidence) for p in lib.photos()}
    assert {i for i in before if before[i] != after[i]} <= set(change.photo_ids)
    expected = [p.photo.id for p in lib.proposals(change) if p.photo.id not in change.photo_ids]
    dlg = win.corrections.suggestions_dialog
    if not expected:
        assert dlg is None or not dlg.isVisible()
        return
    assert dlg is not None and dlg.isVisible()
    assert dlg.accepted_ids() == [] and dlg.not_now_button.isDefault()
    assert sorted(p.id for p in dlg.photos) == sorted(expected)
    dlg.set_all_ticked(True)
    dlg.accept()
    for pid in expected:
        assert lib.photo(pid).label == change.landmark
    # the accepted proposals are one more step to undo
    assert len(win.corrections.undo_stack) == 2


def test_locked_database_is_reported(tagged_window, env):
    win = tagged_window
    lib = win.library
    photo = next(p for p in lib.photos() if p.status in ("tagged", "no_landmark"))
    select_rows(win, [grid_ids(win).index(photo.id)])
    # another program holds the write lock
    other = sqlite3.connect(env.db, timeout=0.1)
    other.execute("BEGIN EXCLUSIVE")
    try:
        assert win.corrections.apply([photo.id], RelabelChoice(not_landmark=True)) is None
    finally:
        other.rollback()
        other.close()
    msg = win.banner.message()
    assert msg.startswith("Could not change the label") and "Traceback" not in msg
    assert lib.photo(photo.id).label_source == photo.label_source
    assert not win.corrections.undo_stack and not win.menu_actions.undo_action.isEnabled()
