"""Tagging from the window: background tagging of a new folder, the status strip and its buttons,
and watching a folder."""

from __future__ import annotations

import shutil

import pytest
from PySide6.QtCore import Qt

from core.library import AlbumRef, Progress
from desktop.settings import AppSettings
from desktop.sidebar import CountRole
from tests.desktop.helpers import GPS_PHOTOS, N_PHOTOS, TAG_TIMEOUT_MS, copy_db, db_album_counts, grid_ids

pytestmark = pytest.mark.shared


def add_folder_and_wait(qtbot, win, folder) -> Progress:
    """Add ``folder`` and wait until the window has handled the end of the tagging job it starts.

    The window emits ``taggingFinished`` after it refreshed the albums and the grid with the final
    results; waiting for the job's own end instead raced with that refresh.
    """
    with qtbot.waitSignal(win.taggingFinished, timeout=TAG_TIMEOUT_MS) as blocker:
        assert win.add_folder(folder)
    final = blocker.args[0]
    assert final.state == "done", final
    assert win.session.last_progress is final and not win.session.tagging()
    return final


def test_add_folder_tags_in_background_and_albums_match_database(qtbot, make_window, env, model_path, photo_folder):
    win = make_window(model_path)
    assert win.stack.currentWidget() is win.welcome
    seen_states = []
    win.session.progress.connect(lambda p: seen_states.append(p.state))
    add_folder_and_wait(qtbot, win, photo_folder)
    assert win.stack.currentWidget() is win.browser
    assert "tagging" in seen_states or "scanning" in seen_states
    lib, sidebar, model = win.library, win.browser.sidebar, win.browser.grid_model
    expected = db_album_counts(lib)
    assert sidebar.shown_counts() == expected
    assert lib.count() == N_PHOTOS
    assert sidebar.all_item.data(0, CountRole) == N_PHOTOS
    assert sidebar.count_of(AlbumRef("has_gps")) == len(GPS_PHOTOS)
    # the grid shows every photo of the selected album (All photos), straight from the database
    assert model.rowCount() == N_PHOTOS
    assert sorted(grid_ids(win)) == sorted(p.id for p in lib.photos())
    # choosing a landmark album shows exactly its photos
    landmark_albums = [a for a in lib.albums() if a.ref.kind == "landmark" and a.count]
    if landmark_albums:
        album = landmark_albums[0]
        sidebar.select(album.ref)
        assert model.rowCount() == album.count
        assert sorted(grid_ids(win)) == sorted(p.id for p in lib.photos(album=album.ref))
    assert str(photo_folder) in AppSettings.load(env.settings).folders


def test_tagging_status_shows_progress_rate_eta_and_buttons(qtbot):
    from desktop.status import TaggingStatus, format_eta

    w = TaggingStatus()
    qtbot.addWidget(w)
    w.update_progress(Progress("scanning", 120, 0))
    assert w.isVisible() and "120 found" in w.label.text() and w.bar.maximum() == 0
    w.update_progress(Progress("tagging", 500, 2000, photos_per_second=25.0, eta_seconds=60.0))
    assert w.label.text() == "Tagging 500 / 2,000 · 25.0 photos/s · about 1 min left"
    assert (w.bar.value(), w.bar.maximum()) == (500, 2000)
    with qtbot.waitSignal(w.pauseClicked):
        w.pause_button.click()
    w.update_progress(Progress("paused", 500, 2000))
    assert w.pause_button.text() == "Resume" and w.label.text().startswith("Paused 500 / 2,000")
    with qtbot.waitSignal(w.resumeClicked):
        w.pause_button.click()
    with qtbot.waitSignal(w.cancelClicked):
        w.cancel_button.click()
    w.update_progress(Progress("cancelled", 500, 2000))
    assert not w.isVisible()
    assert format_eta(None) == "" and format_eta(30) == "about 30 s left" and format_eta(7200) == "about 2.0 h left"


def test_pause_resume_cancel_reach_the_tagging_job(qtbot, make_window, model_path, photo_folder):
    win = make_window(model_path, auto_tag=False)
    win.library.add_folder(photo_folder)
    calls = []

    class SpyJob:
        """Wraps the real TaggingJob to record what the buttons call."""

        def __init__(self, job):
            self.job = job

        def __getattr__(self, name):
            return getattr(self.job, name)

        def pause(self):
            calls.append("pause")
            self.job.pause()

        def resume(self):
            calls.append("resume")
            self.job.resume()

        def cancel(self):
            calls.append("cancel")
            self.job.cancel()

    bridge = win.session.bridge
    win.start_tagging()
    assert bridge.job is not None
    bridge.job = SpyJob(bridge.job)
    win.tagging_status.pauseClicked.emit()
    win.tagging_status.resumeClicked.emit()
    win.tagging_status.cancelClicked.emit()
    qtbot.waitUntil(lambda: not bridge.running(), timeout=TAG_TIMEOUT_MS)
    assert calls == ["pause", "resume", "cancel"]
    assert win.session.last_progress.state in ("cancelled", "done")


def test_watched_folder_new_photo_appears_without_rescan(qtbot, make_window, model_path, photo_folder, shared_data):
    win = make_window(model_path, watch=True)
    add_folder_and_wait(qtbot, win, photo_folder)
    qtbot.waitUntil(lambda: win.session.watching, timeout=10_000)
    before = win.library.count()
    new = sorted((shared_data / "landmarks" / "test" / "Petra").glob("*.jpg"))[-1]
    shutil.copy2(new, photo_folder / "new_from_phone.jpg")
    # the watcher settles the file, tags it in core's thread, and the window refreshes by itself
    # (up to one polling interval, 30 s, where the watcher has to fall back to polling)
    all_item = win.browser.sidebar.all_item
    qtbot.waitUntil(lambda: all_item.data(0, Qt.ItemDataRole.UserRole + 11) == before + 1, timeout=120_000)
    assert win.library.count() == before + 1
    assert win.browser.sidebar.shown_counts() == db_album_counts(win.library)
    win.close()


def test_watching_by_polling_is_reported(qtbot, make_window, env, tagged_library, monkeypatch):
    import core.photos.watcher

    # the folder is on a network drive: file events do not reach this computer, the watcher polls
    monkeypatch.setattr(core.photos.watcher, "network_filesystem", lambda folder: "nfs")
    db, folder, model = tagged_library
    copy_db(db, env.db)
    win = make_window(model, [folder], watch=True)  # tags (nothing new), then watches
    qtbot.waitUntil(lambda: win.session.watching, timeout=TAG_TIMEOUT_MS)
    qtbot.waitUntil(lambda: "Watching by polling" in win.banner.message(), timeout=20_000)
    assert "network file system (nfs)" in win.banner.message()
    assert win.banner.level == "info" and win.banner.action_button.isHidden()
    assert win.library.stats()["watch_mode"] == "polling"
    win.close()
