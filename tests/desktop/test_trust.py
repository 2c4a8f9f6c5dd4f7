"""Labels a person can trust (issue 10) in the window, on real photos with the shipped model.

The library (``trust_window``) holds Great Wall, Machu Picchu and Chichén Itzá photos the model knows and
Petronas Towers photos it never saw. After any sequence of corrections made through the window, no photo outside
the selection changes its label unless a proposal was accepted; proposals start unticked and Enter accepts
nothing; confirm ✓ / reject ✗ work by key, context menu and details pane on a multi-selection; the change-label
dialog opens on the current label with the model's top guesses; albums hold confident labels (a toggle shows
the unsure ones); undo, redo and revert work through the window and survive a restart.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from core.domain import NO_LANDMARK, ProposalState
from core.library import AlbumKind, AlbumRef, PhotoOrder
from desktop.relabel import RelabelChoice
from tests.desktop.helpers import (
    changed_ids,
    close_dialogs,
    grid_ids,
    select_rows,
    snapshot,
    wait_corrections,
    write_settings,
)

pytestmark = pytest.mark.shared


def by_name(lib, prefix: str) -> list:
    """Photos whose file name starts with ``prefix`` (the class: ``Great_Wall_of_China_``), by name."""
    return sorted((p for p in lib.photos() if p.path.name.startswith(prefix)), key=lambda p: p.path.name)


def select_ids(win, ids) -> None:
    """Select the photos ``ids`` in the grid (All photos)."""
    win.browser.sidebar.select(None)
    rows = grid_ids(win)
    select_rows(win, [rows.index(i) for i in ids])
    assert sorted(win.browser.selected_ids()) == sorted(ids)


def press(qtbot, win, key) -> None:
    """Press ``key`` in the grid (the window's one-letter shortcuts act on the selection)."""
    win.activateWindow()
    win.browser.grid.setFocus()
    qtbot.keyClick(win.browser.grid, key)


def test_great_wall_correction_and_not_now_change_only_the_selection(qtbot, trust_window):
    """The issue's GUI scenario: correcting one Great Wall photo and "Not now" on the proposals used to turn
    seven right Machu Picchu and Chichén Itzá photos into Great Wall; now only the selected photo changes."""
    win = trust_window
    lib = win.library
    names = dict(lib.landmark_names())
    start = snapshot(lib)

    # teaching an unknown landmark makes proposals: "Not now" on the offer changes nothing
    petronas = [p.id for p in by_name(lib, "Petronas_Towers_")]
    select_ids(win, petronas[:4])
    assert win.corrections.apply(petronas[:4], RelabelChoice(new_name="Petronas Towers"))
    wait_corrections(qtbot, win)
    taught = lib.history()[0]
    assert taught.proposals >= 3
    assert win.statusBar().currentMessage() == (
        f"4 photos → Petronas Towers; {taught.proposals} proposals to review. Press Ctrl+Z to undo."
    )
    assert win.offer.isVisible() and "Petronas Towers" in win.offer.label.text()
    win.offer.not_now_button.click()
    assert not win.offer.isVisible()
    after_teach = snapshot(lib)
    assert changed_ids(start, after_teach) == set(petronas[:4])

    # the least sure labelled Great Wall photo corrected through the dialog's top guesses
    # (a photo the model gave a landmark: one it called "no landmark" opens on an empty field)
    wall = min((p for p in by_name(lib, "Great_Wall_of_China_") if p.label), key=lambda p: p.confidence or 0)
    select_ids(win, [wall.id])
    win.menu_actions.relabel_action.trigger()
    dlg = win.corrections.relabel_dialog
    assert dlg.edit.text() == wall.label_name and dlg.edit.selectedText() == wall.label_name
    if "Great_Wall_of_China" in dlg.top_keys:
        dlg.top_buttons[dlg.top_keys.index("Great_Wall_of_China")].click()
    else:
        dlg.set_text(names["Great_Wall_of_China"])
        dlg.apply_button.click()
    wait_corrections(qtbot, win)
    change = lib.history()[0]
    n = change.proposals
    more = f"; {n} proposal{'s' if n != 1 else ''} to review" if n else ""
    assert win.statusBar().currentMessage() == f"1 photo → {names['Great_Wall_of_China']}{more}. Press Ctrl+Z to undo."
    after_wall = snapshot(lib)
    assert changed_ids(after_teach, after_wall) == {wall.id}
    assert after_wall[wall.id][1:3] == ("Great_Wall_of_China", "manual")
    win.offer.not_now_button.click()

    # every open proposal, reviewed and left with Enter (the default button is "Not now"): nothing changes
    win.menu_actions.proposals_action.trigger()
    wait_corrections(qtbot, win)
    review = win.corrections.proposals_dialog
    assert review is not None and review.isVisible()
    assert review.accepted_ids() == [] and not review.accept_button.isEnabled()
    review.table.setFocus()
    qtbot.keyClick(review.table, Qt.Key.Key_Return)
    assert not review.isVisible()
    wait_corrections(qtbot, win)
    assert snapshot(lib) == after_wall
    assert all(p.state == ProposalState.OPEN for p in lib.proposals())
    # Machu Picchu and Chichén Itzá photos never changed, and none is proposed away: the model is sure of them
    for p in by_name(lib, "Machu_Picchu_") + by_name(lib, "Chichen_Itza_"):
        assert after_wall[p.id] == start[p.id]
    assert {p.photo.id for p in lib.proposals()}.isdisjoint(
        {p.id for p in by_name(lib, "Machu_Picchu_") + by_name(lib, "Chichen_Itza_")}
    )


def test_proposals_start_unticked_and_accept_then_undo_restores_exactly(qtbot, trust_window):
    win = trust_window
    lib = win.library
    petronas = [p.id for p in by_name(lib, "Petronas_Towers_")]
    assert win.corrections.apply(petronas[:4], RelabelChoice(new_name="Petronas Towers"))
    wait_corrections(qtbot, win)
    taught = snapshot(lib)
    win.offer.review_button.click()
    wait_corrections(qtbot, win)
    dlg = win.corrections.proposals_dialog
    props = lib.proposals()
    assert dlg.isVisible() and len(dlg.proposals) == len(props) >= 3
    # thumbnail row: old → new label and similarity; nothing ticked; Enter on the dialog accepts nothing
    row0 = dlg.proposals[0]
    assert dlg.table.item(0, 2).text() == "→ Petronas Towers"
    assert dlg.table.item(0, 3).text() == f"{row0.similarity:.2f}"
    assert dlg.table.item(0, 1).text().startswith(row0.photo.label_name or "No landmark")
    assert dlg.accepted_proposal_ids() == [] and dlg.not_now_button.isDefault()
    qtbot.keyClick(dlg, Qt.Key.Key_Enter)
    assert not dlg.isVisible()
    assert snapshot(lib) == taught and len(lib.proposals()) == len(props)

    # tick two, accept: exactly their photos change, as one undoable change
    win.corrections.review_proposals()
    wait_corrections(qtbot, win)
    dlg = win.corrections.proposals_dialog
    dlg.set_ticked(0)
    dlg.set_ticked(2)
    assert dlg.accept_button.isEnabled() and dlg.accept_button.text() == "Accept ticked (2)"
    chosen = [dlg.proposals[0], dlg.proposals[2]]
    dlg.accept_button.click()
    wait_corrections(qtbot, win)
    accepted = snapshot(lib)
    assert changed_ids(taught, accepted) == {p.photo.id for p in chosen}
    assert win.statusBar().currentMessage() == "2 photos → Petronas Towers (accepted proposals). Press Ctrl+Z to undo."
    assert win.menu_actions.undo_action.text() == "&Undo: 2 photos → Petronas Towers (accepted proposals)"
    assert win.menu_actions.proposals_action.text() == f"Review &Proposals ({len(props) - 2})…"

    # Ctrl+Z restores every label and confidence exactly; the proposals are open again; redo re-applies
    win.menu_actions.undo_action.trigger()
    wait_corrections(qtbot, win)
    assert snapshot(lib) == taught
    assert len(lib.proposals()) == len(props)
    redo = win.menu_actions.redo_action
    assert redo.isEnabled() and redo.text() == "&Redo: 2 photos → Petronas Towers (accepted proposals)"
    redo.trigger()
    wait_corrections(qtbot, win)
    assert snapshot(lib) == accepted
    # undo twice: back to the model's labels, the new landmark is gone
    win.menu_actions.undo_action.trigger()
    win.menu_actions.undo_action.trigger()
    wait_corrections(qtbot, win)
    assert all(not k.startswith("user:") for k, _ in lib.landmark_names())
    assert "Petronas Towers" not in [a.title for a in win.browser.sidebar.albums]


def test_undoing_a_correction_withdraws_its_offer_and_proposals(qtbot, trust_window):
    win = trust_window
    lib = win.library
    start = snapshot(lib)
    petronas = [p.id for p in by_name(lib, "Petronas_Towers_")]
    win.corrections.apply(petronas[:4], RelabelChoice(new_name="Petronas Towers"))
    wait_corrections(qtbot, win)
    assert win.offer.isVisible() and lib.proposals()
    win.menu_actions.undo_action.trigger()
    wait_corrections(qtbot, win)
    assert not win.offer.isVisible() and lib.proposals() == []
    assert snapshot(lib) == start
    assert win.menu_actions.proposals_action.text() == "Review &Proposals…"


def test_accepting_a_proposal_of_a_deleted_photo_is_reported(qtbot, trust_window):
    win = trust_window
    lib = win.library
    petronas = [p.id for p in by_name(lib, "Petronas_Towers_")]
    win.corrections.apply(petronas[:4], RelabelChoice(new_name="Petronas Towers"))
    wait_corrections(qtbot, win)
    win.offer.review_button.click()
    wait_corrections(qtbot, win)
    dlg = win.corrections.proposals_dialog
    gone = dlg.proposals[0].photo
    gone.path.unlink()
    lib.tag()  # the rescan notices the deleted file
    dlg.set_all_ticked(True)
    dlg.accept_button.click()
    wait_corrections(qtbot, win)
    n = len(dlg.proposals) - 1
    assert win.statusBar().currentMessage().startswith(f"{n} photo{'s' if n != 1 else ''} → Petronas Towers")
    assert "1 skipped: the photo was deleted" in win.banner.message() and win.banner.level == "warning"


def test_confirm_and_reject_by_key_context_menu_and_details_on_several_photos(qtbot, trust_window):
    win = trust_window
    lib, a, details = win.library, win.menu_actions, win.browser.details
    assert (a.confirm_action.shortcut().toString(), a.reject_action.shortcut().toString()) == ("Y", "X")
    mp = by_name(lib, "Machu_Picchu_")
    before = snapshot(lib)

    # Y confirms the selection: the labels become the person's, locked; nothing else changes
    select_ids(win, [mp[0].id, mp[1].id])
    assert "2 photos selected" in details.empty_label.text() and details.confirm_button.isVisible()
    press(qtbot, win, Qt.Key.Key_Y)
    wait_corrections(qtbot, win)
    after = snapshot(lib)
    assert changed_ids(before, after) == {mp[0].id, mp[1].id}
    assert all(after[i][1:3] == ("Machu_Picchu", "manual") for i in (mp[0].id, mp[1].id))
    assert win.statusBar().currentMessage().startswith("2 photos confirmed as Machu Picchu")
    select_ids(win, [mp[0].id])
    assert "Confirmed by you" in details.source.text() and not details.confirm_button.isEnabled()
    row = grid_ids(win).index(mp[0].id)
    assert win.browser.grid_model.index(row).data().startswith("✓ ")

    # the context menu's Reject on two Chichén Itzá photos: each takes the model's next guess
    ci = by_name(lib, "Chichen_Itza_")
    select_ids(win, [ci[0].id, ci[1].id])
    menu = a.grid_menu(win, one_photo=False)
    texts = [x.text() for x in menu.actions() if x.text()]
    assert texts[:4] == ["✓ &Confirm Label", "✗ Re&ject Label", "&Change Label…", "&Not a Landmark"]
    assert "Find &More Like This" in texts
    next(x for x in menu.actions() if x is a.reject_action).trigger()
    wait_corrections(qtbot, win)
    after2 = snapshot(lib)
    assert changed_ids(after, after2) == {ci[0].id, ci[1].id}
    for p in ci[:2]:
        d = lib.photo(p.id)
        assert d.label != "Chichen_Itza" and "Chichen_Itza" in d.rejected
    # X on one photo, then the details pane's ✓ on another
    wall = by_name(lib, "Great_Wall_of_China_")
    sure = max(wall, key=lambda p: p.confidence or 0)
    select_ids(win, [sure.id])
    press(qtbot, win, Qt.Key.Key_X)
    wait_corrections(qtbot, win)
    assert changed_ids(after2, snapshot(lib)) == {sure.id}
    other = next(p for p in wall if p.id != sure.id and p.label_source == "model" and p.status == "tagged")
    select_ids(win, [other.id])
    before3 = snapshot(lib)
    details.confirm_button.click()
    wait_corrections(qtbot, win)
    assert changed_ids(before3, snapshot(lib)) == {other.id}
    assert lib.photo(other.id).label_source == "manual"


def test_change_label_opens_on_current_label_with_top5_and_keeping_it_changes_only_the_photo(qtbot, trust_window):
    win = trust_window
    lib = win.library
    # (a photo the model gave a landmark: one it called "no landmark" opens on an empty field)
    wall = min((p for p in by_name(lib, "Great_Wall_of_China_") if p.label), key=lambda p: p.confidence or 0)
    d = lib.photo(wall.id)
    select_ids(win, [wall.id])
    win.menu_actions.relabel_action.trigger()
    dlg = win.corrections.relabel_dialog
    assert dlg.isVisible() and dlg.edit.text() == d.label_name
    assert f"{d.confidence * 100:.0f}% sure" in dlg.current_label.text()
    # the whole catalog stays listed, the current label selected; typing filters it
    listed = [dlg.list.item(i) for i in range(dlg.list.count())]
    assert not any(it.isHidden() for it in listed) and dlg.list.currentItem().text() == d.label_name
    want = [(k, n, c) for k, n, c in d.top_k if k != NO_LANDMARK][:5]
    assert dlg.top_keys == [k for k, _, _ in want] and len(dlg.top_buttons) == len(want) >= 2
    for b, (_k, name, conf) in zip(dlg.top_buttons, want):
        assert b.text().startswith(f"{name}  {conf * 100:.0f}%")
    # retyping (keeping) the same name: "Keep", and only this photo changes (it becomes the person's)
    assert dlg.apply_button.text() == f"Keep “{d.label_name}”" and "only the selected photos" in dlg.hint.text()
    before = snapshot(lib)
    dlg.apply_button.click()
    wait_corrections(qtbot, win)
    after = snapshot(lib)
    assert changed_ids(before, after) == {wall.id}
    assert after[wall.id][1:3] == (d.label, "manual")
    close_dialogs(win)
    # a one-click choice applies at once
    win.menu_actions.relabel_action.trigger()
    dlg = win.corrections.relabel_dialog
    assert "your label" in dlg.current_label.text()
    pick = next(i for i, k in enumerate(dlg.top_keys) if k != d.label)
    dlg.top_buttons[pick].click()
    wait_corrections(qtbot, win)
    assert changed_ids(after, snapshot(lib)) == {wall.id}
    assert lib.photo(wall.id).label == dlg.top_keys[pick]


def test_albums_hold_confident_labels_toggle_shows_unsure_and_needs_review_is_least_sure_first(
    qtbot, make_window, env, trust_library
):
    import sqlite3
    from collections import defaultdict

    from tests.desktop.helpers import copy_db

    db, folder, model, _truth = trust_library
    copy_db(db, env.db)
    # a review threshold that splits the biggest landmark album: its 3 surest labels stay, the rest are unsure
    by_label = defaultdict(list)
    with sqlite3.connect(env.db) as conn:
        for label, conf in conn.execute("SELECT label, confidence FROM photos WHERE label_source = 'model'"):
            if label is not None and conf is not None:
                by_label[label].append(conf)
    confs = sorted(max(by_label.values(), key=len), reverse=True)
    assert len(confs) >= 5
    threshold = confs[2]
    write_settings(env.settings, model, [folder], review_threshold=threshold)
    win = make_window(None, auto_tag=False)
    lib, browser = win.library, win.browser
    assert lib.review_threshold == pytest.approx(threshold)
    album = max((a for a in lib.albums() if a.ref.kind == AlbumKind.LANDMARK), key=lambda a: a.unsure)
    assert album.unsure >= 2
    browser.sidebar.select(album.ref)
    confident = [p.id for p in lib.photos(album.ref, order=PhotoOrder.NEWEST)]  # the grid is a timeline
    assert grid_ids(win) == confident and len(confident) == album.count
    assert all(p.confidence >= threshold for p in lib.photos(album.ref))
    toggle = browser.unsure_toggle
    assert toggle.isVisible() and toggle.text() == f"Show unsure ({album.unsure})" and not toggle.isChecked()
    toggle.setChecked(True)
    assert grid_ids(win) == [p.id for p in lib.photos(album.ref, include_unsure=True, order=PhotoOrder.NEWEST)]
    assert len(grid_ids(win)) == album.count + album.unsure
    assert f"{album.unsure} unsure" in browser.grid_title.text()
    toggle.setChecked(False)
    assert grid_ids(win) == confident
    # another album opens on its confident labels
    toggle.setChecked(True)
    browser.sidebar.select(AlbumRef(AlbumKind.NEEDS_REVIEW))
    assert not toggle.isChecked() and not toggle.isVisible()

    # Needs review: least sure first, each with the model's best guess; batch confirm / reject of a selection
    review = lib.photos(AlbumRef(AlbumKind.NEEDS_REVIEW))
    assert grid_ids(win) == [p.id for p in review] and len(review) >= 4
    assert [p.confidence for p in review] == sorted(p.confidence for p in review)
    assert browser.grid_hint.isVisible() and "least sure first" in browser.grid_hint.text()
    first = review[0]
    assert browser.grid_model.index(0).data() == f"{first.confidence * 100:.0f}% · {first.label_name}"
    before = snapshot(lib)
    select_rows(win, [0, 1])
    press(qtbot, win, Qt.Key.Key_Y)
    wait_corrections(qtbot, win)
    assert changed_ids(before, snapshot(lib)) == {review[0].id, review[1].id}
    assert grid_ids(win) == [p.id for p in review[2:]]
    assert browser.sidebar.count_of(AlbumRef(AlbumKind.NEEDS_REVIEW)) == len(review) - 2
    before = snapshot(lib)
    select_rows(win, [0, 1])
    press(qtbot, win, Qt.Key.Key_X)
    wait_corrections(qtbot, win)
    assert changed_ids(before, snapshot(lib)) == {review[2].id, review[3].id}


def test_undo_redo_and_revert_through_the_window_survive_a_restart(qtbot, trust_window, make_window):
    win = trust_window
    lib, a = win.library, win.menu_actions
    start = snapshot(lib)
    mp, ci = by_name(lib, "Machu_Picchu_"), by_name(lib, "Chichen_Itza_")
    win.corrections.confirm([mp[0].id])
    win.corrections.apply([ci[0].id], RelabelChoice(landmark="Petra"))  # queued behind the confirm
    wait_corrections(qtbot, win)
    first, second = lib.history()[1], lib.history()[0]
    assert a.undo_action.text() == f"&Undo: {second.description}" and second.description == "1 photo → Petra"
    assert not a.redo_action.isEnabled()
    a.undo_action.trigger()
    wait_corrections(qtbot, win)
    assert lib.photo(ci[0].id).label == "Chichen_Itza"
    assert a.redo_action.isEnabled() and a.redo_action.text() == "&Redo: 1 photo → Petra"
    assert a.undo_action.text() == f"&Undo: {first.description}"
    a.redo_action.trigger()
    wait_corrections(qtbot, win)
    assert lib.photo(ci[0].id).label == "Petra" and not a.redo_action.isEnabled()

    # History: every change; Revert the older one, the newer one stays
    a.history_action.trigger()
    wait_corrections(qtbot, win)
    hist = win.corrections.history_dialog
    assert hist.isVisible()
    assert [hist.tree.topLevelItem(i).text(1) for i in range(hist.tree.topLevelItemCount())] == [
        second.description,
        first.description,
    ]
    assert hist.tree.topLevelItem(0).text(2) == "1" and hist.tree.topLevelItem(0).text(4) == "applied"
    hist.select_change(first.id)
    assert hist.revert_button.isEnabled()
    hist.revert_button.click()
    wait_corrections(qtbot, win)
    after = snapshot(lib)
    assert after[mp[0].id] == start[mp[0].id] and lib.photo(ci[0].id).label == "Petra"
    assert hist.tree.topLevelItem(1).text(4) == "undone (Redo possible)"
    assert not hist.revert_button.isEnabled()  # the selected entry is undone now
    assert win.statusBar().currentMessage() == f"Reverted: {first.description}."
    hist.close()
    win.close()

    # after a restart: the same history, Ctrl+Z undoes the newest change, redo re-applies the reverted one
    win2 = make_window(None, auto_tag=False)
    assert snapshot(win2.library) == after
    a2 = win2.menu_actions
    assert a2.undo_action.text() == "&Undo: 1 photo → Petra"
    assert a2.redo_action.isEnabled() and a2.redo_action.text() == f"&Redo: {first.description}"
    a2.undo_action.trigger()
    wait_corrections(qtbot, win2)
    assert snapshot(win2.library) == start
    win2.close()


def test_find_more_like_this_proposes_even_sure_photos_and_changes_nothing(qtbot, trust_window):
    win = trust_window
    lib = win.library
    # the person names two Petronas photos the model called Angkor Wat; the proposals that makes are dismissed
    petronas = by_name(lib, "Petronas_Towers_")
    named = [p.id for p in petronas if p.label == "Angkor_Wat"][:2] or [p.id for p in petronas[:2]]
    assert win.corrections.apply(named, RelabelChoice(new_name="Petronas Towers"))
    wait_corrections(qtbot, win)
    key = lib.photo(named[0]).label
    lib.dismiss_proposals([p.id for p in lib.proposals()])
    if win.corrections.proposals_dialog is not None:
        win.corrections.proposals_dialog.close()
    before = snapshot(lib)
    select_ids(win, [named[0]])
    menu = win.menu_actions.grid_menu(win, one_photo=True)
    more = next(x for x in menu.actions() if x is win.menu_actions.more_like_action)
    assert more.isEnabled() and more.shortcut().toString() == "M"
    more.trigger()
    wait_corrections(qtbot, win)
    props = lib.proposals()
    assert props and all(p.request == "more_like" and p.new_label == key for p in props)
    dlg = win.corrections.proposals_dialog
    assert dlg.isVisible() and [p.id for p in dlg.proposals] == [p.id for p in props]
    assert dlg.accepted_ids() == []
    # photos the model is sure about are proposed too when the person asks
    assert any((p.old_confidence or 0) >= 0.9 for p in props)
    # dismissing them changes no label and leaves nothing open
    dlg.set_all_ticked(True)
    dlg.dismiss_button.click()
    wait_corrections(qtbot, win)
    assert snapshot(lib) == before and lib.proposals() == []
    assert win.statusBar().currentMessage().startswith(f"Dismissed {len(props)} proposal")
