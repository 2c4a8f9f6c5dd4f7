"""Places (issue 13) in the window, on real photos: the map, the timeline and the full-size viewer.

The library (``places_window``): landmark photos without an EXIF date (the model locates them at their landmark:
estimated locations; their files carry known dates), GPS photos with EXIF dates, a photo stored sideways with
EXIF orientation 6, a HEIF from a phone (GPS) and a 6000 × 4000 JPEG (``helpers.copy_places_photos``).
"""

from __future__ import annotations

import threading
import time
from datetime import datetime

import pytest
from PySide6.QtCore import QDate, QElapsedTimer, QPoint, QPointF, Qt, QTimer
from PySide6.QtGui import QColor, QWheelEvent

from core.library import AlbumKind, AlbumRef, PhotoOrder, SearchQuery
from desktop.map_clusters import Clusters
from desktop.map_view import GPS_COLOR, marker_radius
from desktop.photo_grid import month_name
from desktop.viewer import label_line
from tests.desktop.helpers import LARGE_SIZE, PLACES_FILE_TIMES, grid_ids, select_rows, wait_corrections

pytestmark = pytest.mark.shared

#: Milliseconds a decode or a read in a worker thread may take on slow shared CPUs.
WORKER_TIMEOUT_MS = 30_000


def open_map(qtbot, win):
    """Select *Map* in the sidebar and wait for its markers."""
    b = win.browser
    b.sidebar.select_map()
    qtbot.waitUntil(lambda: b.showing_map and b.map.clusters_ready, timeout=WORKER_TIMEOUT_MS)
    return b.map


def wait_clusters(qtbot, view) -> Clusters:
    qtbot.waitUntil(lambda: view.clusters_ready, timeout=WORKER_TIMEOUT_MS)
    clusters = view.clusters
    assert clusters is not None
    return clusters


def timeline_key(p):
    return (p.timeline_at, p.id)


# ------------------------------------------------------------------------------------------------- the map
def test_map_shows_every_located_photo_in_clusters_gps_and_estimated_apart(qtbot, places_window):
    win = places_window
    lib = win.library
    points = lib.map_points()
    gps = sum(1 for *_, s in points if s == "gps")
    assert gps >= 4 and len(points) - gps >= 5  # 4 GPS photos; the landmark photos are estimated
    view = open_map(qtbot, win)
    clusters = wait_clusters(qtbot, view)
    every = [clusters[i] for i in range(len(clusters))]
    assert sum(c.count for c in every) == len(points)
    assert sum(c.gps for c in every) == gps and sum(c.estimated for c in every) == len(points) - gps
    assert {c.kind for c in every} >= {"gps", "estimated"}
    assert f"{len(points)} photos with a location · {gps} GPS" in win.browser.map_title.text()

    # drawn differently: a GPS marker is a filled blue disc, an estimated one a white disc in a dashed ring
    shot = view.grab().toImage()
    ratio = shot.devicePixelRatio()

    def inside(c) -> QColor:
        pos = view.marker_position(c)
        r = marker_radius(c.count)
        return shot.pixelColor(round((pos.x() - r * 0.55) * ratio), round(pos.y() * ratio))

    gps_marker = next(c for c in every if c.kind == "gps")
    estimated_marker = next(c for c in every if c.kind == "estimated")
    blue = inside(gps_marker)
    assert abs(blue.blue() - GPS_COLOR.blue()) < 40 and blue.red() < 120
    white = inside(estimated_marker)
    assert min(white.red(), white.green(), white.blue()) > 220

    # the legend shows one kind or the other
    view.gps_check.setChecked(False)
    only_estimated = wait_clusters(qtbot, view)
    assert only_estimated.total == len(points) - gps and int(only_estimated.gps.sum()) == 0
    view.gps_check.setChecked(True)
    view.estimated_check.setChecked(False)
    only_gps = wait_clusters(qtbot, view)
    assert only_gps.total == gps == int(only_gps.gps.sum())
    assert view.location_filter() == "gps"


def test_clicking_a_marker_shows_its_photos_in_the_grid(qtbot, places_window):
    win = places_window
    b, lib = win.browser, win.library
    view = open_map(qtbot, win)
    located = {i: (la, lo) for i, la, lo, _ in lib.map_points()}
    for _ in range(2):  # the biggest marker, then (back on the map) a marker of one landmark's photos
        clusters = [c for c in view.visible_clusters()]
        target = max(clusters, key=lambda c: c.count) if _ == 0 else min(clusters, key=lambda c: c.count)
        qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=view.marker_position(target))
        qtbot.waitUntil(lambda: not b.showing_map, timeout=5000)
        s, w, n, e = target.bbox
        expected = {i for i, (la, lo) in located.items() if s <= la <= n and w <= lo <= e}
        assert len(expected) == target.count
        assert set(grid_ids(win)) == expected
        assert b.grid_title.text().startswith("Map · around") and b.back_button.text() == "← Back to the map"
        assert b.sidebar.map_selected()
        # newest first there too
        shown = [b.grid_model.photo_at(r) for r in range(b.grid_model.rowCount())]
        assert shown == sorted(shown, key=timeline_key, reverse=True)
        b.back_button.click()
        qtbot.waitUntil(lambda: b.showing_map and view.clusters_ready, timeout=WORKER_TIMEOUT_MS)
    # choosing an album leaves the map's photos
    b.sidebar.select(None)
    assert not b.showing_map and b.map_cluster is None and b.grid_model.rowCount() == lib.count()


def test_map_pans_and_zooms_with_keys_and_mouse(qtbot, places_window):
    win = places_window
    view = open_map(qtbot, win)
    view.setFocus()
    view.zoom_by(4.0)  # room to pan in every direction
    scale, center = view.scale, QPointF(view.center)
    qtbot.keyClick(view, Qt.Key.Key_Plus)
    assert view.scale == pytest.approx(scale * 2)
    qtbot.keyClick(view, Qt.Key.Key_Minus)
    assert view.scale == pytest.approx(scale)
    qtbot.keyClick(view, Qt.Key.Key_Right)
    assert view.center.x() > center.x() and view.center.y() == pytest.approx(center.y())
    qtbot.keyClick(view, Qt.Key.Key_Down)
    assert view.center.y() > center.y()
    qtbot.keyClick(view, Qt.Key.Key_Left)
    qtbot.keyClick(view, Qt.Key.Key_Up)
    assert (view.center.x(), view.center.y()) == pytest.approx((center.x(), center.y()))

    # the wheel zooms around the pointer: the world point under it stays there
    at = QPointF(view.width() * 0.3, view.height() * 0.6)
    under = view.to_world(at)
    wheel = QWheelEvent(
        at,
        view.mapToGlobal(at),
        QPoint(0, 0),
        QPoint(0, 240),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    view.wheelEvent(wheel)
    assert view.scale == pytest.approx(scale * 2)
    after = view.to_world(at)
    assert (after.x(), after.y()) == pytest.approx((under.x(), under.y()), abs=1e-9)

    # dragging pans; a zoom level with its own clusters is computed off the GUI thread
    before = QPointF(view.center)
    start = QPoint(view.width() // 2, view.height() // 2)
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(view, start + QPoint(-80, 0))
    qtbot.mouseMove(view, start + QPoint(-120, -40))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=start + QPoint(-120, -40))
    assert view.center.x() == pytest.approx(before.x() + 120 / view.scale)
    assert view.center.y() == pytest.approx(before.y() + 40 / view.scale)
    assert not win.browser.map_cluster  # a drag is not a click
    wait_clusters(qtbot, view)
    qtbot.keyClick(view, Qt.Key.Key_0)  # every located photo in view
    for c in view.visible_clusters():
        assert 0 <= view.marker_position(c).x() <= view.width()
    assert sum(c.count for c in view.visible_clusters()) == len(win.library.map_points())


# ------------------------------------------------------------------------------------------------ timeline
def test_timeline_newest_first_with_month_headers_in_every_album(qtbot, places_window):
    win = places_window
    b, lib = win.browser, win.library
    by_name = {p.path.name: p for p in lib.photos()}
    # photos without an EXIF date are dated by their file, the others by the EXIF date
    for name, when in PLACES_FILE_TIMES.items():
        assert by_name[name].taken_at is None and by_name[name].timeline_at == when
    assert by_name["DSCN0010.jpg"].timeline_at == by_name["DSCN0010.jpg"].taken_at == datetime(2008, 10, 22, 16, 28, 39)
    b.sidebar.select(None)
    shown = [b.grid_model.photo_at(r) for r in range(b.grid_model.rowCount())]
    assert [p.id for p in shown] == [p.id for p in sorted(lib.photos(), key=timeline_key, reverse=True)]
    assert shown[0].path.name == "large.jpg" and shown[-1].path.name == "DSCN0010.jpg"

    # a month header on the first photo of each month, and only there
    model = b.grid_model
    assert model.timeline
    months = [(p.timeline_at.year, p.timeline_at.month) for p in shown]
    starts = [r for r in range(len(shown)) if model.starts_month(r)]
    assert starts == [r for r in range(len(shown)) if r == 0 or months[r] != months[r - 1]]
    assert model.month_of(starts[1]) == (2024, 3) and month_name(2024, 3) == "March 2024"
    # the months on screen above the grid (the whole library fits the window)
    qtbot.waitUntil(lambda: b.months_label.text() == "May 2024 – October 2008", timeout=5000)
    assert b.months_label.isVisible()

    # in a landmark album too
    album = next(a for a in lib.albums() if a.ref.kind == AlbumKind.LANDMARK and a.count >= 2)
    b.sidebar.select(album.ref)
    rows = [model.photo_at(r) for r in range(model.rowCount())]
    assert len(rows) == album.count and rows == sorted(rows, key=timeline_key, reverse=True)
    assert model.starts_month(0)
    # Needs review keeps least sure first: no timeline there
    b.sidebar.select(AlbumRef(AlbumKind.NEEDS_REVIEW))
    assert not model.timeline and not b.months_label.isVisible()
    assert grid_ids(win) == [p.id for p in lib.photos(AlbumRef(AlbumKind.NEEDS_REVIEW))]


def test_date_range_filter_covers_photos_without_exif_dates(qtbot, places_window):
    win = places_window
    b, lib = win.browser, win.library
    b.sidebar.select(None)
    bar = b.search_bar
    bar.date_from.setDate(QDate(2023, 11, 1))
    bar.date_to.setDate(QDate(2024, 1, 31))
    bar.date_check.setChecked(True)
    names = {b.grid_model.photo_at(r).path.name for r in range(b.grid_model.rowCount())}
    expected = {n for n, t in PLACES_FILE_TIMES.items() if datetime(2023, 11, 1) <= t <= datetime(2024, 1, 31, 23, 59)}
    assert (
        names
        == expected
        == {"Taj_Mahal_00.jpg", "Taj_Mahal_01.jpg", "Machu_Picchu_00.jpg", "Petra_00.jpg", "Petra_01.jpg"}
    )
    assert "(filtered)" in b.grid_title.text()
    # EXIF dates count the same way; the order stays newest first
    bar.date_from.setDate(QDate(2008, 1, 1))
    bar.date_to.setDate(QDate(2015, 12, 31))
    shown = [b.grid_model.photo_at(r) for r in range(b.grid_model.rowCount())]
    assert {p.path.name for p in shown} == {"DSCN0010.jpg", "DSCN0021.jpg", "iphone_hdr_YES.jpg"}
    assert [p.path.name for p in shown][0] == "iphone_hdr_YES.jpg"
    assert lib.count(query=SearchQuery(date_from=datetime(2008, 1, 1), date_to=datetime(2015, 12, 31))) == 3
    bar.date_check.setChecked(False)
    assert b.grid_model.rowCount() == lib.count()


# -------------------------------------------------------------------------------------------------- viewer
def row_of(win, name: str) -> int:
    m = win.browser.grid_model
    return next(r for r in range(m.rowCount()) if m.photo_at(r).path.name == name)


def wait_picture(qtbot, win):
    v = win.viewer
    qtbot.waitUntil(lambda: v.canvas.image is not None, timeout=WORKER_TIMEOUT_MS)
    return v.canvas


def test_viewer_opens_on_space_and_double_click_and_arrows_move_through_the_grid(qtbot, places_window):
    win = places_window
    b, v = win.browser, win.viewer
    b.sidebar.select(None)
    select_rows(win, [2])
    b.grid.setFocus()
    qtbot.keyClick(b.grid, Qt.Key.Key_Space)
    assert win.stack.currentWidget() is v and v.row == 2
    wait_picture(qtbot, win)
    first = b.grid_model.photo_at(2)
    assert v.photo.id == first.id and v.position_label.text() == f"3 / {b.grid_model.rowCount()}"
    assert v.name_label.text() == first.path.name and v.label_label.text() == label_line(first)
    qtbot.keyClick(v, Qt.Key.Key_Right)
    assert v.row == 3 and b.selected_ids() == [b.grid_model.photo_at(3).id]  # the grid follows
    qtbot.keyClick(v, Qt.Key.Key_Left)
    qtbot.keyClick(v, Qt.Key.Key_Left)
    assert v.row == 1 and b.selected_ids() == [b.grid_model.photo_at(1).id]
    qtbot.keyClick(v, Qt.Key.Key_End)
    assert v.row == b.grid_model.rowCount() - 1 and not v.next_button.isEnabled()
    qtbot.keyClick(v, Qt.Key.Key_Right)  # stays on the last photo
    assert v.row == b.grid_model.rowCount() - 1
    qtbot.keyClick(v, Qt.Key.Key_Escape)
    assert win.stack.currentWidget() is b

    # double-click on a thumbnail opens it too
    rect = b.grid.visualRect(b.grid_model.index(4))
    qtbot.mouseClick(b.grid.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # a double-click's first press
    qtbot.mouseDClick(b.grid.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: win.stack.currentWidget() is v, timeout=5000)
    assert v.row == 4
    qtbot.keyClick(v, Qt.Key.Key_Space)  # Space closes it again
    assert win.stack.currentWidget() is b


def test_viewer_confirm_and_reject_act_on_the_photo_shown(qtbot, places_window):
    win = places_window
    b, v, lib = win.browser, win.viewer, win.library
    b.sidebar.select(None)
    row = next(r for r in range(b.grid_model.rowCount()) if b.grid_model.photo_at(r).label_source == "model")
    photo = b.grid_model.photo_at(row)
    win.open_viewer(row)
    assert v.confirm_button.isEnabled()
    assert v.label_label.text() == f"{photo.label_name} · {photo.confidence * 100:.0f} %"
    v.confirm_button.click()
    wait_corrections(qtbot, win)
    assert lib.photo(photo.id).label_source == "manual"
    qtbot.waitUntil(lambda: v.label_label.text() == f"✓ {photo.label_name} — confirmed by you", timeout=5000)
    assert not v.confirm_button.isEnabled() and win.stack.currentWidget() is v and v.photo.id == photo.id

    # Y on the next model-labelled photo, through the window's shortcut
    nxt = next(r for r in range(b.grid_model.rowCount()) if b.grid_model.photo_at(r).label_source == "model")
    v.show_row(nxt)
    target = b.grid_model.photo_at(nxt)
    win.activateWindow()
    v.setFocus()
    qtbot.keyClick(v, Qt.Key.Key_Y)
    wait_corrections(qtbot, win)
    assert lib.photo(target.id).label_source == "manual"
    # ✗ rejects the shown photo's label: it takes the model's next guess
    v.show_row(row)
    v.reject_button.click()
    wait_corrections(qtbot, win)
    assert photo.label in lib.photo(photo.id).rejected


def test_viewer_respects_exif_orientation_and_opens_heif(qtbot, places_window, shared_data):
    from PIL import Image

    win = places_window
    b, v = win.browser, win.viewer
    b.sidebar.select(None)
    with Image.open(shared_data / "exif-samples" / "jpg" / "orientation" / "portrait_6.jpg") as raw:
        stored = raw.size
        assert raw.getexif()[0x0112] == 6 and stored[0] > stored[1]  # stored sideways (landscape)
    win.open_viewer(row_of(win, "portrait_6.jpg"))
    canvas = wait_picture(qtbot, win)
    assert canvas.full_size == (stored[1], stored[0])  # shown upright: portrait
    assert canvas.image.height() > canvas.image.width()

    qtbot.keyClick(v, Qt.Key.Key_Escape)
    win.open_viewer(row_of(win, "HMD_Nokia_8.3_5G.heif"))
    canvas = wait_picture(qtbot, win)
    assert canvas.full_size == (3456, 4608) and not canvas.image.isNull()
    assert canvas.image.height() < 4608 / 2  # decoded at screen size, not 16 MP
    assert v.label_label.text() == "Has GPS — not sent to the model"


def test_viewer_decodes_off_the_gui_thread_and_zooms_to_full_resolution(qtbot, places_window):
    win = places_window
    b, v = win.browser, win.viewer
    b.sidebar.select(None)
    row = row_of(win, "large.jpg")
    v.images.clear()
    # a heartbeat on the GUI thread: the longest gap between two beats while the viewer decodes
    gaps, last = [0.0], [time.perf_counter()]

    def beat() -> None:
        now = time.perf_counter()
        gaps[0] = max(gaps[0], now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(beat)
    clock = QElapsedTimer()
    clock.start()
    win.open_viewer(row)
    opened_ms = clock.elapsed()
    assert v.canvas.image is None and v.canvas.message == "Loading…"  # nothing decoded on the GUI thread yet
    timer.start()
    canvas = wait_picture(qtbot, win)
    assert canvas.full_size == LARGE_SIZE
    assert canvas.image.width() < LARGE_SIZE[0]  # screen size first
    assert canvas.fitting and v.zoom_label.text().startswith("Fit")

    # 100 %: the full-resolution picture is decoded, also in a worker thread
    qtbot.keyClick(v, Qt.Key.Key_1)
    assert canvas.scale == pytest.approx(1.0)
    assert "loading full resolution" in v.zoom_label.text()
    qtbot.waitUntil(lambda: canvas.image.width() == LARGE_SIZE[0], timeout=WORKER_TIMEOUT_MS)
    timer.stop()
    assert canvas.scale == pytest.approx(1.0) and v.zoom_label.text() == "100 %"
    gui = threading.get_ident()
    assert v.images.decode_threads and gui not in v.images.decode_threads
    assert opened_ms < 1000 and gaps[0] < 1.5, (opened_ms, gaps[0])  # loose: shared CPUs
    qtbot.keyClick(v, Qt.Key.Key_Plus)
    assert canvas.scale == pytest.approx(1.25)
    qtbot.keyClick(v, Qt.Key.Key_0)
    assert canvas.fitting and canvas.scale == pytest.approx(canvas.fit_scale())
    # the neighbours were decoded ahead
    for r in (row - 1, row + 1):
        if 0 <= r < b.grid_model.rowCount():
            qtbot.waitUntil(
                lambda r=r: v.images.get(b.grid_model.photo_at(r).id, 0) is not None, timeout=WORKER_TIMEOUT_MS
            )


def test_grid_order_is_the_timeline_through_the_library(places_window):
    """The grid reads pages in the timeline order (``PhotoOrder.NEWEST``), the same as the library gives."""
    win = places_window
    lib = win.library
    win.browser.sidebar.select(None)
    assert grid_ids(win) == [p.id for p in lib.photos(order=PhotoOrder.NEWEST)]


def test_selection_and_viewer_follow_their_photo_when_newer_photos_arrive(qtbot, places_window, shared_data):
    """Photos tagged while the person looks go above older ones on the timeline; the grid's selection and the viewer
    stay on their photo, so Y confirms the photo chosen, not the one that slid into its old row."""
    import shutil

    from tests.desktop.helpers import TAG_TIMEOUT_MS

    win = places_window
    b, v, lib = win.browser, win.viewer, win.library
    folder = lib.folders()[0]
    sources = sorted((shared_data / "landmarks" / "test" / "Taj_Mahal").glob("*.jpg"))[2:4]
    new = [folder / f"new_{i}.jpg" for i in range(2)]
    finished: list = []
    win.taggingFinished.connect(finished.append)

    def arrive(i: int) -> None:
        shutil.copyfile(sources[i], new[i])  # dated now: the newest photo
        finished.clear()
        win.start_tagging()
        qtbot.waitUntil(lambda: bool(finished), timeout=TAG_TIMEOUT_MS)
        wait_corrections(qtbot, win)
        assert b.grid_model.photo_at(0).path.name == new[i].name

    try:
        # the grid: the selected photo stays selected one row down
        b.sidebar.select(None)
        row = row_of(win, "Petra_01.jpg")
        photo = b.grid_model.photo_at(row)
        select_rows(win, [row])
        arrive(0)
        assert b.selected_ids() == [photo.id] and b.selected_rows() == [row + 1]
        assert b.details.details is not None and b.details.details.id == photo.id

        # the viewer: it stays on its photo, and Y confirms that one
        row = row_of(win, "Colosseum_01.jpg")
        photo = b.grid_model.photo_at(row)
        win.open_viewer(row)
        wait_picture(qtbot, win)
        arrive(1)
        assert win.stack.currentWidget() is v
        assert v.photo.id == photo.id and v.row == row + 1 and b.selected_ids() == [photo.id]
        slid_in = b.grid_model.photo_at(row)
        before = (lib.photo(slid_in.id).label, lib.photo(slid_in.id).label_source)
        win.activateWindow()
        v.setFocus()
        qtbot.keyClick(v, Qt.Key.Key_Y)
        wait_corrections(qtbot, win)
        assert lib.photo(photo.id).label_source == "manual"
        assert (lib.photo(slid_in.id).label, lib.photo(slid_in.id).label_source) == before
    finally:
        for f in new:
            f.unlink(missing_ok=True)


def test_viewer_in_needs_review_moves_on_when_a_confirmed_photo_leaves(qtbot, make_window, env, places_library):
    """*Needs review*, least sure first: ✓ in the viewer confirms the photo, which leaves the album; the viewer then
    shows the photo that took its place (the next least sure one)."""
    from tests.desktop.helpers import copy_db, write_settings

    db, folder, model = places_library
    copy_db(db, env.db)
    write_settings(env.settings, model, [folder], review_threshold=0.999)
    win = make_window(None, auto_tag=False)
    b, v, lib = win.browser, win.viewer, win.library
    b.sidebar.select(AlbumRef(AlbumKind.NEEDS_REVIEW))
    review = lib.photos(AlbumRef(AlbumKind.NEEDS_REVIEW))
    assert len(review) >= 3 and grid_ids(win) == [p.id for p in review]
    win.open_viewer(0)
    assert v.photo.id == review[0].id and v.label_label.text().endswith("· unsure")
    v.confirm_button.click()
    wait_corrections(qtbot, win)
    assert lib.photo(review[0].id).label_source == "manual"
    qtbot.waitUntil(lambda: v.photo is not None and v.photo.id == review[1].id, timeout=5000)
    assert v.row == 0 and v.position_label.text() == f"1 / {len(review) - 1}"
    assert b.selected_ids() == [review[1].id]


def test_commands_that_change_the_grid_close_the_viewer(qtbot, places_window):
    win = places_window
    b, v = win.browser, win.viewer
    b.sidebar.select(None)
    win.open_viewer(row_of(win, "Colosseum_00.jpg"))
    win.menu_actions.find_action.trigger()  # Ctrl+F
    assert win.stack.currentWidget() is b and b.search_bar.field.hasFocus()
    win.open_viewer(row_of(win, "Colosseum_00.jpg"))
    photo = v.photo
    win.menu_actions.similar_action.trigger()  # S
    assert win.stack.currentWidget() is b and b.similar_to == photo.id
