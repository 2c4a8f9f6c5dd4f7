"""Browsing a tagged library: the details pane, similar photos, search and filters, live refreshes."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.desktop.helpers import GPS_PHOTOS, db_album_counts, grid_ids, select_rows

pytestmark = pytest.mark.shared


def test_details_pane_shows_prediction_and_location(qtbot, tagged_window, monkeypatch):
    win = tagged_window
    lib, details = win.library, win.browser.details
    tagged = [p for p in lib.photos() if p.status in ("tagged", "no_landmark")]
    assert tagged
    row = grid_ids(win).index(tagged[0].id)
    select_rows(win, [row])
    d = lib.photo(tagged[0].id)
    assert details.details is not None and details.details.id == d.id
    shown = details.topk_shown()
    assert [name for name, _ in shown] == [name for _, name, _ in d.top_k]
    assert shown[0][1] == f"{d.top_k[0][2] * 100:.1f}%"
    assert "Labelled by the model" in details.source.text()
    assert str(d.path) in details.path_label.text()
    # a GPS photo shows its coordinates from EXIF
    gps = [p for p in lib.photos() if p.status == "gps"]
    assert len(gps) == len(GPS_PHOTOS)
    select_rows(win, [grid_ids(win).index(gps[0].id)])
    text = details.info.text()
    assert "GPS" in text and f"{abs(gps[0].latitude):.4f}" in text
    # preview arrives from the worker pool
    qtbot.waitUntil(
        lambda: details.preview.pixmap() is not None and not details.preview.pixmap().isNull(), timeout=20_000
    )
    # "Show in folder" asks the desktop to open the photo's folder
    import desktop.details

    opened = []

    class FakeDesktop:
        @staticmethod
        def openUrl(url):
            opened.append(url.toLocalFile())
            return True

    monkeypatch.setattr(desktop.details, "QDesktopServices", FakeDesktop)
    details.show_folder_button.click()
    assert opened == [str(Path(gps[0].path).parent)]


def test_similar_photos_fill_the_grid(tagged_window):
    win = tagged_window
    lib, browser = win.library, win.browser
    p = next(p for p in lib.photos() if lib.photo(p.id).has_embedding)
    select_rows(win, [grid_ids(win).index(p.id)])
    assert win.menu_actions.similar_action.isEnabled()
    win.menu_actions.similar_action.trigger()
    assert browser.similar_to == p.id and browser.back_button.isVisible()
    assert grid_ids(win) == [s.id for s, _ in lib.similar(p.id, limit=60)]
    assert "Similar to" in browser.grid_title.text()
    browser.back_button.click()
    assert browser.similar_to is None and browser.grid_model.rowCount() == lib.count()


def test_search_and_filters_narrow_the_grid(qtbot, tagged_window):
    from core.library import SearchQuery

    win = tagged_window
    lib, browser = win.library, win.browser
    bar, model = browser.search_bar, browser.grid_model
    total = model.rowCount()
    assert total == lib.count()
    labelled = [a for a in lib.albums() if a.ref.kind == "landmark" and a.count]
    assert labelled, "no photo got a landmark label"
    album = min(labelled, key=lambda a: a.count)
    qtbot.keyClicks(bar.field, album.title)
    qtbot.waitUntil(lambda: model.query is not None and model.query.text == album.title, timeout=5000)
    n = model.rowCount()
    assert 0 < n < total
    assert n == lib.count(query=SearchQuery(text=album.title))
    assert all(model.photo_at(r).label == album.ref.key for r in range(n)) or album.ref.key in {
        model.photo_at(r).label for r in range(n)
    }
    assert "Search" in browser.grid_title.text()
    # the completer offers landmark names
    comp = bar.field.completer()
    comp.setCompletionPrefix(album.title[:3])
    assert comp.completionCount() >= 1
    # a name that matches nothing empties the grid and says so
    bar.field.setText("zzzz-no-such-landmark")
    browser.apply_filters()
    assert model.rowCount() == 0 and browser.grid_empty.isVisible()
    bar.field.clear()
    browser.apply_filters()
    assert model.rowCount() == total
    # the label-source filter: nothing was corrected, so "Labelled by you" is empty
    bar.source_filter.setCurrentIndex(2)
    assert model.rowCount() == lib.count(query=SearchQuery(label_source="manual")) == 0
    bar.source_filter.setCurrentIndex(1)
    assert model.rowCount() == lib.count(query=SearchQuery(label_source="model")) > 0
    bar.source_filter.setCurrentIndex(0)
    bar.confidence_filter.setCurrentIndex(1)
    assert model.rowCount() == lib.count(query=SearchQuery(min_confidence=0.8))
    assert "(filtered)" in browser.grid_title.text()
    # "Unsure" stays below the review threshold of the settings
    bar.confidence_filter.setCurrentIndex(3)
    threshold = win.settings.review_threshold
    assert bar.query().max_confidence == pytest.approx(threshold) and bar.query().max_confidence < threshold
    assert model.rowCount() == lib.count(query=SearchQuery(max_confidence=threshold - 1e-9))


def test_live_refresh_older_than_a_full_refresh_is_dropped(qtbot, tagged_window, monkeypatch):
    """A live refresh that read the albums before a full refresh must not show its older counts after it."""
    win = tagged_window
    lib, browser = win.library, win.browser
    expected = db_album_counts(lib)
    assert browser.sidebar.shown_counts() == expected
    real_albums = lib.albums
    read = threading.Event()

    def stale_albums():  # what a read taken before the last commits of a tagging job saw
        read.set()
        return [a for a in real_albums() if a.ref.kind != "landmark"]

    monkeypatch.setattr(lib, "albums", stale_albums)
    browser.refresh_live()
    assert read.wait(20)
    monkeypatch.setattr(lib, "albums", real_albums)
    browser.refresh_albums()  # the full refresh that follows the end of tagging
    qtbot.waitUntil(lambda: not browser.live_refresh_running, timeout=20_000)
    assert browser.sidebar.shown_counts() == expected
    # a live refresh with nothing newer in between is shown
    monkeypatch.setattr(lib, "albums", stale_albums)
    browser.refresh_live()
    qtbot.waitUntil(lambda: not browser.live_refresh_running, timeout=20_000)
    assert all(ref.kind != "landmark" for ref in browser.sidebar.shown_counts())
