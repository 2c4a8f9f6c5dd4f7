"""GUI tests (pytest-qt, ``QT_QPA_PLATFORM=offscreen``) on the real ``Library`` and real photos.

Every test runs on its own temporary database, settings INI and thumbnail cache. The photos are ~20
real landmark photos from ``../shared/data/landmarks/test`` and 2 GPS photos from
``../shared/data/exif-samples``, copied into a temporary folder. The model is the shipped bundle when
it exists, else the tiny random bundle of ``conftest.py`` (labels then are arbitrary, which these
tests never depend on: they compare what the window shows with what the database holds).
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from desktop.settings import AppSettings, configure_application
from tests.helpers import REPO_ROOT as REPO

pytestmark = pytest.mark.shared


SHIPPED_MODEL = REPO / "resources" / "models" / "landmarks-mobilenet_v2.safetensors"
LANDMARK_CLASSES = ("Colosseum", "Petra", "Taj_Mahal", "Machu_Picchu")
PER_CLASS = 5
GPS_PHOTOS = ("jpg/gps/DSCN0010.jpg", "jpg/gps/DSCN0021.jpg")
TAG_TIMEOUT_MS = 240_000


# ------------------------------------------------------------------------------------------ fixtures
@pytest.fixture()
def model_path(tmp_path) -> Path:
    """The shipped bundle if it exists, else a freshly written tiny bundle."""
    if SHIPPED_MODEL.is_file():
        return SHIPPED_MODEL
    from core.recognition.bundle import save_bundle
    from tests.helpers import make_tiny_bundle

    return save_bundle(make_tiny_bundle(), tmp_path / "tiny.safetensors")


def copy_photos(shared_data: Path, dest: Path) -> Path:
    """Copy 4 × 5 landmark photos and 2 GPS photos into ``dest``; returns ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for cls in LANDMARK_CLASSES:
        files = sorted((shared_data / "landmarks" / "test" / cls).glob("*.jpg"))[:PER_CLASS]
        assert files, f"no photos for {cls}"
        for i, f in enumerate(files):
            shutil.copy2(f, dest / f"{cls}_{i:02d}.jpg")
    for rel in GPS_PHOTOS:
        shutil.copy2(shared_data / "exif-samples" / rel, dest / Path(rel).name)
    return dest


@pytest.fixture()
def photo_folder(shared_data, tmp_path) -> Path:
    return copy_photos(shared_data, tmp_path / "Photos")


@pytest.fixture(scope="module")
def tagged_library(shared_data, tmp_path_factory):
    """A database already holding the photo folder, tagged once per module with the library directly.

    Returns ``(db_file, photo_folder, model_path)``; tests copy the database before using it.
    """
    from core.library import Library

    root = tmp_path_factory.mktemp("tagged")
    folder = copy_photos(shared_data, root / "Photos")
    if SHIPPED_MODEL.is_file():
        model = SHIPPED_MODEL
    else:
        from core.recognition.bundle import save_bundle
        from tests.helpers import make_tiny_bundle

        model = save_bundle(make_tiny_bundle(), root / "tiny.safetensors")
    db = root / "library.sqlite3"
    lib = Library.open(db, model, "cpu")
    try:
        lib.add_folder(folder)
        final = lib.tag()
        assert final.state == "done", final
    finally:
        lib.close()
    return db, folder, model


@pytest.fixture()
def env(tmp_path, monkeypatch):
    """Isolated settings INI, data folder and cache; returns a small namespace."""
    monkeypatch.setenv("LANDMARK_TAGGER_HOME", str(tmp_path / "home"))
    configure_application()

    class Env:
        settings = tmp_path / "settings.ini"
        db = tmp_path / "library.sqlite3"
        cache = tmp_path / "cache"

    return Env


def write_settings(env, model: Path, folders=(), **kw) -> None:
    AppSettings(folders=[str(f) for f in folders], model_path=str(model), device="cpu", **kw).save(env.settings)


def copy_db(src: Path, dst: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        s = Path(str(src) + suffix)
        if s.exists():
            shutil.copy2(s, str(dst) + suffix)


def make_window(qtbot, env, *, auto_tag=True, watch=False, wait_ready=True):
    from desktop.main_window import MainWindow

    win = MainWindow(env.settings, db_path=env.db, cache_dir=env.cache, auto_tag=auto_tag, watch=watch)
    qtbot.addWidget(win)
    win.show()
    if wait_ready:
        qtbot.waitUntil(lambda: win.library is not None, timeout=120_000)
    return win


def wait_tagging_done(qtbot, win) -> None:
    qtbot.waitUntil(
        lambda: (
            win.last_progress is not None
            and win.last_progress.state in ("done", "cancelled", "failed")
            and not win.bridge.running()
        ),
        timeout=TAG_TIMEOUT_MS,
    )
    assert win.last_progress.state == "done", win.last_progress


def db_album_counts(library) -> dict:
    return {a.ref: a.count for a in library.albums() if not (a.ref.kind == "pending" and a.count == 0)}


def grid_ids(win) -> list[int]:
    m = win.grid_model
    return [m.photo_at(r).id for r in range(m.rowCount())]


def select_rows(qtbot, win, rows) -> None:
    from PySide6.QtCore import QItemSelection, QItemSelectionModel

    sel = QItemSelection()
    for r in rows:
        idx = win.grid_model.index(r)
        sel.select(idx, idx)
    win.grid.selectionModel().select(sel, QItemSelectionModel.SelectionFlag.ClearAndSelect)
    win.grid.setCurrentIndex(win.grid_model.index(rows[0]))
    win.grid.selectionModel().select(sel, QItemSelectionModel.SelectionFlag.ClearAndSelect)


def close_dialogs(win) -> None:
    dlg = win.suggestions_dialog
    if dlg is not None and dlg.isVisible():
        dlg.reject()


# ------------------------------------------------------------------------------------------ tests
def test_first_run_shows_welcome_panel(qtbot, env, model_path):
    write_settings(env, model_path)
    win = make_window(qtbot, env)
    assert win.stack.currentWidget() is win.welcome
    assert win.welcome.isVisible()
    assert "Add a photo folder" in win.welcome.button.text()
    names = [n for _, n in win.library.landmark_names()]
    assert names, "the model knows no landmarks?"
    assert f"knows {len(names)} landmarks" in win.welcome.known.text()
    assert names[0] in win.welcome.known.text()


def test_add_folder_tags_in_background_and_albums_match_database(qtbot, env, model_path, photo_folder):
    write_settings(env, model_path)
    win = make_window(qtbot, env)
    assert win.stack.currentWidget() is win.welcome
    seen_states = []
    win.bridge.progress.connect(lambda p: seen_states.append(p.state))
    assert win.add_folder(photo_folder)
    wait_tagging_done(qtbot, win)
    qtbot.waitUntil(lambda: win.stack.currentWidget() is win.browser, timeout=5000)
    assert "tagging" in seen_states or "scanning" in seen_states
    lib = win.library
    expected = db_album_counts(lib)
    assert win.sidebar.shown_counts() == expected
    n_photos = PER_CLASS * len(LANDMARK_CLASSES) + len(GPS_PHOTOS)
    assert lib.count() == n_photos
    assert win.sidebar.all_item.data(0, Qt.ItemDataRole.UserRole + 11) == n_photos
    from core.library import AlbumRef

    assert win.sidebar.count_of(AlbumRef("has_gps")) == len(GPS_PHOTOS)
    # the grid shows every photo of the selected album (All photos), straight from the database
    assert win.grid_model.rowCount() == n_photos
    assert sorted(grid_ids(win)) == sorted(p.id for p in lib.photos())
    # choosing a landmark album shows exactly its photos
    landmark_albums = [a for a in lib.albums() if a.ref.kind == "landmark" and a.count]
    if landmark_albums:
        album = landmark_albums[0]
        win.sidebar.select(album.ref)
        assert win.grid_model.rowCount() == album.count
        assert sorted(grid_ids(win)) == sorted(p.id for p in lib.photos(album=album.ref))
    assert str(photo_folder) in AppSettings.load(env.settings).folders


def test_details_pane_shows_prediction_and_location(qtbot, env, tagged_library, monkeypatch):
    db, folder, model = tagged_library
    copy_db(db, env.db)
    write_settings(env, model, [folder])
    win = make_window(qtbot, env, auto_tag=False)
    lib = win.library
    tagged = [p for p in lib.photos() if p.status in ("tagged", "no_landmark")]
    assert tagged
    row = grid_ids(win).index(tagged[0].id)
    select_rows(qtbot, win, [row])
    d = lib.photo(tagged[0].id)
    assert win.details.details is not None and win.details.details.id == d.id
    shown = win.details.topk_shown()
    assert [name for name, _ in shown] == [name for _, name, _ in d.top_k]
    assert shown[0][1] == f"{d.top_k[0][2] * 100:.1f}%"
    assert "Labelled by the model" in win.details.source.text()
    assert str(d.path) in win.details.path_label.text()
    # a GPS photo shows its coordinates from EXIF
    gps = [p for p in lib.photos() if p.status == "gps"]
    assert len(gps) == len(GPS_PHOTOS)
    select_rows(qtbot, win, [grid_ids(win).index(gps[0].id)])
    text = win.details.info.text()
    assert "GPS" in text and f"{abs(gps[0].latitude):.4f}" in text
    # preview arrives from the worker pool
    qtbot.waitUntil(
        lambda: win.details.preview.pixmap() is not None and not win.details.preview.pixmap().isNull(), timeout=20_000
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
    win.details.show_folder_button.click()
    assert opened == [str(Path(gps[0].path).parent)]


def test_relabel_updates_database_and_albums_and_undo_restores(qtbot, env, tagged_library):
    from core.library import AlbumRef

    db, folder, model = tagged_library
    copy_db(db, env.db)
    write_settings(env, model, [folder])
    win = make_window(qtbot, env, auto_tag=False)
    lib = win.library
    before_counts = db_album_counts(lib)
    candidates = [p for p in lib.photos() if p.status in ("tagged", "no_landmark")]
    keys = [k for k, _ in lib.landmark_names()]
    photo_a, photo_b = candidates[0], candidates[1]
    target = next(k for k in keys if k not in (photo_a.label, photo_b.label))
    target_name = dict(lib.landmark_names())[target]
    before_target = lib.count(album=AlbumRef("landmark", target))

    # multi-selection → relabel dialog → type the name (completer over the catalog) → Apply
    ids = grid_ids(win)
    select_rows(qtbot, win, [ids.index(photo_a.id), ids.index(photo_b.id)])
    assert sorted(win.selected_ids()) == sorted([photo_a.id, photo_b.id])
    win.relabel_action.trigger()
    dlg = win.relabel_dialog
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
    assert win.sidebar.count_of(AlbumRef("landmark", target)) == after
    assert win.sidebar.shown_counts() == db_album_counts(lib)
    # the album of the target now shows both photos
    win.sidebar.select(AlbumRef("landmark", target))
    assert {photo_a.id, photo_b.id} <= set(grid_ids(win))

    # Ctrl+Z restores labels and albums
    assert win.undo_action.isEnabled()
    from PySide6.QtGui import QKeySequence

    assert win.undo_action.shortcut() == QKeySequence(QKeySequence.StandardKey.Undo)
    win.undo_action.trigger()
    for p in (photo_a, photo_b):
        d = lib.photo(p.id)
        assert (d.label, d.label_source) == (p.label, p.label_source)
    assert db_album_counts(lib) == before_counts
    assert win.sidebar.shown_counts() == before_counts
    assert not win.undo_action.isEnabled()


def test_relabel_new_name_and_not_a_landmark(qtbot, env, tagged_library):
    from core.library import AlbumRef

    db, folder, model = tagged_library
    copy_db(db, env.db)
    write_settings(env, model, [folder])
    win = make_window(qtbot, env, auto_tag=False)
    lib = win.library
    candidates = [p for p in lib.photos() if p.status in ("tagged", "no_landmark")]
    ids = grid_ids(win)
    # a new landmark name creates a new album at once
    select_rows(qtbot, win, [ids.index(candidates[0].id)])
    win.relabel_selected()
    dlg = win.relabel_dialog
    dlg.set_text("Grandma's Garden Gate")
    assert dlg.apply_button.text().startswith("Create")
    dlg.apply_button.click()
    close_dialogs(win)
    d = lib.photo(candidates[0].id)
    assert d.label_source == "manual" and d.label_name == "Grandma's Garden Gate"
    titles = [a.title for a in win.sidebar.albums if a.ref.kind == "landmark"]
    assert "Grandma's Garden Gate" in titles
    # (re-scoring may move look-alike photos into it too: the count shown is the database's)
    new_count = lib.count(album=AlbumRef("landmark", d.label))
    assert new_count >= 1 and win.sidebar.count_of(AlbumRef("landmark", d.label)) == new_count
    # "Not a landmark" moves the photo to Unrecognized
    before_unrec = lib.count(album=AlbumRef("unrecognized"))
    win.sidebar.select(None)
    select_rows(qtbot, win, [grid_ids(win).index(candidates[1].id)])
    win.relabel_selected()
    win.relabel_dialog.not_landmark_button.click()
    close_dialogs(win)
    d = lib.photo(candidates[1].id)
    assert d.label is None and d.label_source == "manual"
    assert win.sidebar.count_of(AlbumRef("unrecognized")) == lib.count(album=AlbumRef("unrecognized"))
    assert lib.count(album=AlbumRef("unrecognized")) >= before_unrec + (candidates[1].status != "no_landmark")
    win.undo()
    assert lib.photo(candidates[1].id).label_source == candidates[1].label_source


def test_suggestions_offered_after_correction_can_be_accepted(qtbot, env, tagged_library):
    db, folder, model = tagged_library
    copy_db(db, env.db)
    write_settings(env, model, [folder])
    win = make_window(qtbot, env, auto_tag=False)
    lib = win.library
    # label every photo of one source folder class as a new landmark except one: the library's
    # re-scoring may then suggest photos that look alike; whatever it suggests, the dialog offers
    # exactly those and accepting labels them
    photos = [p for p in lib.photos() if p.status in ("tagged", "no_landmark")]
    by_class = [p for p in photos if Path(p.path).name.startswith("Petra_")]
    ids = grid_ids(win)
    select_rows(qtbot, win, [ids.index(p.id) for p in by_class[:3]])
    from desktop.relabel import RelabelChoice

    change = win.apply_relabel(win.selected_ids(), RelabelChoice(new_name="Petra (my trip)"))
    assert change is not None
    expected = [p.id for p in lib.suggestions(change) if p.id not in change.photo_ids]
    dlg = win.suggestions_dialog
    if not expected:
        assert dlg is None or not dlg.isVisible()
        return
    assert dlg is not None and dlg.isVisible()
    assert sorted(dlg.accepted_ids()) == sorted(expected)
    dlg.accept()
    for pid in expected:
        assert lib.photo(pid).label == change.landmark


def test_similar_photos_fill_the_grid(qtbot, env, tagged_library):
    db, folder, model = tagged_library
    copy_db(db, env.db)
    write_settings(env, model, [folder])
    win = make_window(qtbot, env, auto_tag=False)
    lib = win.library
    p = next(p for p in lib.photos() if lib.photo(p.id).has_embedding)
    select_rows(qtbot, win, [grid_ids(win).index(p.id)])
    assert win.similar_action.isEnabled()
    win.similar_action.trigger()
    assert win.similar_to == p.id and win.back_button.isVisible()
    assert grid_ids(win) == [s.id for s, _ in lib.similar(p.id, limit=60)]
    win.back_button.click()
    assert win.similar_to is None and win.grid_model.rowCount() == lib.count()


def test_search_and_filters_narrow_the_grid(qtbot, env, tagged_library):
    from core.library import SearchQuery

    db, folder, model = tagged_library
    copy_db(db, env.db)
    write_settings(env, model, [folder])
    win = make_window(qtbot, env, auto_tag=False)
    lib = win.library
    total = win.grid_model.rowCount()
    assert total == lib.count()
    labelled = [a for a in lib.albums() if a.ref.kind == "landmark" and a.count]
    assert labelled, "no photo got a landmark label"
    album = min(labelled, key=lambda a: a.count)
    qtbot.keyClicks(win.search, album.title)
    qtbot.waitUntil(lambda: win.grid_model.query is not None and win.grid_model.query.text == album.title, timeout=5000)
    n = win.grid_model.rowCount()
    assert 0 < n < total
    assert n == lib.count(query=SearchQuery(text=album.title))
    assert all(win.grid_model.photo_at(r).label == album.ref.key for r in range(n)) or album.ref.key in {
        win.grid_model.photo_at(r).label for r in range(n)
    }
    assert "Search" in win.grid_title.text()
    # the completer offers landmark names
    comp = win.search.completer()
    comp.setCompletionPrefix(album.title[:3])
    assert comp.completionCount() >= 1
    # a name that matches nothing empties the grid and says so
    win.search.setText("zzzz-no-such-landmark")
    win.apply_filters()
    assert win.grid_model.rowCount() == 0 and win.grid_empty.isVisible()
    win.search.clear()
    win.apply_filters()
    assert win.grid_model.rowCount() == total
    # the label-source filter: nothing was corrected, so "Labelled by you" is empty
    win.source_filter.setCurrentIndex(2)
    assert win.grid_model.rowCount() == lib.count(query=SearchQuery(label_source="manual")) == 0
    win.source_filter.setCurrentIndex(1)
    assert win.grid_model.rowCount() == lib.count(query=SearchQuery(label_source="model")) > 0
    win.source_filter.setCurrentIndex(0)
    win.confidence_filter.setCurrentIndex(1)
    assert win.grid_model.rowCount() == lib.count(query=SearchQuery(min_confidence=0.8))


def test_settings_persist_across_restart(qtbot, env, tagged_library):
    db, folder, model = tagged_library
    copy_db(db, env.db)
    write_settings(env, model, [folder])
    win = make_window(qtbot, env, auto_tag=False)
    win.open_settings()
    dlg = win.settings_dialog
    assert [dlg.folders.item(i).text() for i in range(dlg.folders.count())] == [str(folder)]
    assert dlg.model_edit.text() == str(model)
    dlg.threshold.setValue(70)
    dlg.thumb.setCurrentIndex(dlg.thumb.findData(128))
    dlg.device.setCurrentIndex(dlg.device.findData("cpu"))
    dlg.accept()
    assert win.grid.edge == 128
    qtbot.waitUntil(lambda: win.library is not None, timeout=120_000)  # reopened with the new threshold
    win.close()

    s = AppSettings.load(env.settings)
    assert (s.review_threshold, s.thumb_size, s.device, s.model_path) == (0.7, 128, "cpu", str(model))
    assert s.folders == [str(folder)]
    win2 = make_window(qtbot, env, auto_tag=False)
    assert win2.settings.review_threshold == pytest.approx(0.7)
    assert win2.grid.edge == 128 and win2.grid_model.edge == 128
    assert [str(f) for f in win2.library.folders()] == [str(folder)]
    assert win2.stack.currentWidget() is win2.browser
    win2.close()


def test_missing_folder_is_reported(qtbot, env, model_path, tmp_path, photo_folder):
    write_settings(env, model_path)
    win = make_window(qtbot, env, auto_tag=False)
    assert not win.add_folder(tmp_path / "does-not-exist")
    assert win.banner.isVisible() and "does not exist" in win.banner.message()
    assert win.library.folders() == []
    # a folder that disappears between runs (unplugged drive) is reported on start, not dropped
    assert win.add_folder(photo_folder)
    win.close()
    photo_folder.rename(photo_folder.with_name("Photos-moved"))
    win2 = make_window(qtbot, env, auto_tag=False)
    assert win2.banner.isVisible() and "cannot be found" in win2.banner.message()
    assert [str(f) for f in win2.library.folders()] == [str(photo_folder)]
    win2.close()


def test_unreadable_model_is_reported(qtbot, env, tmp_path):
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"this is not a model bundle" * 10)
    write_settings(env, bad)
    win = make_window(qtbot, env, wait_ready=False)
    qtbot.waitUntil(lambda: win.banner.isVisible(), timeout=60_000)
    assert win.library is None
    msg = win.banner.message()
    assert msg.startswith("The model could not be loaded")
    assert "Traceback" not in msg and len(msg.splitlines()) == 1
    assert win.banner.action_button.isVisible()


def test_locked_database_is_reported(qtbot, env, tagged_library):
    db, folder, model = tagged_library
    copy_db(db, env.db)
    write_settings(env, model, [folder])
    win = make_window(qtbot, env, auto_tag=False)
    lib = win.library
    photo = next(p for p in lib.photos() if p.status in ("tagged", "no_landmark"))
    select_rows(qtbot, win, [grid_ids(win).index(photo.id)])
    # another program holds the write lock
    other = sqlite3.connect(env.db, timeout=0.1)
    other.execute("BEGIN EXCLUSIVE")
    try:
        from desktop.relabel import RelabelChoice

        assert win.apply_relabel([photo.id], RelabelChoice(not_landmark=True)) is None
    finally:
        other.rollback()
        other.close()
    msg = win.banner.message()
    assert msg.startswith("Could not change the label") and "Traceback" not in msg
    assert lib.photo(photo.id).label_source == photo.label_source


def test_drop_folder_onto_window_adds_it(qtbot, env, model_path, photo_folder):
    write_settings(env, model_path)
    win = make_window(qtbot, env, auto_tag=False)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(photo_folder))])
    ev = QDropEvent(
        QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier
    )
    win.dropEvent(ev)
    assert [str(f) for f in win.library.folders()] == [str(photo_folder)]
    assert win.stack.currentWidget() is win.browser


def test_uncaught_exception_shows_a_dialog_not_a_traceback(qtbot, capsys):
    from desktop import errors

    errors.install_excepthook()
    import sys

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


def test_thumbnails_are_cached_on_disk_by_content_hash(qtbot, tmp_path, shared_data):
    import hashlib

    from desktop.thumbnails import ThumbnailLoader

    src = sorted((shared_data / "landmarks" / "test" / "Colosseum").glob("*.jpg"))[0]
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    loader = ThumbnailLoader(tmp_path / "cache")
    with qtbot.waitSignal(loader.thumbnailReady, timeout=20_000) as blocker:
        loader.request("k1", src, 128, digest)
    assert blocker.args == ["k1"]
    pm = loader.pixmap("k1")
    assert pm is not None and max(pm.width(), pm.height()) == 128
    files = list((tmp_path / "cache").rglob("*.jpg"))
    assert [f.name for f in files] == [f"{digest}-128.jpg"]
    assert loader.decoded == 1
    # a second loader (next run) reads the disk cache instead of decoding the photo
    loader2 = ThumbnailLoader(tmp_path / "cache")
    with qtbot.waitSignal(loader2.thumbnailReady, timeout=20_000):
        loader2.request("k1", src, 128, digest)
    assert loader2.decoded == 0
    # an unreadable file reports a failure instead of raising
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    with qtbot.waitSignal(loader2.thumbnailFailed, timeout=20_000):
        loader2.request("k2", bad, 128)
    assert loader2.failure("k2")


def test_tagging_status_shows_progress_rate_eta_and_buttons(qtbot):
    from core.library import Progress
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


def test_pause_resume_cancel_reach_the_tagging_job(qtbot, env, model_path, photo_folder):
    write_settings(env, model_path)
    win = make_window(qtbot, env, auto_tag=False)
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

    win.start_tagging()
    assert win.bridge.job is not None
    win.bridge.job = SpyJob(win.bridge.job)
    win.tagging_status.pauseClicked.emit()
    win.tagging_status.resumeClicked.emit()
    win.tagging_status.cancelClicked.emit()
    qtbot.waitUntil(lambda: not win.bridge.running(), timeout=TAG_TIMEOUT_MS)
    assert calls == ["pause", "resume", "cancel"]
    assert win.last_progress.state in ("cancelled", "done")


def test_watched_folder_new_photo_appears_without_rescan(qtbot, env, model_path, photo_folder, shared_data):
    write_settings(env, model_path)
    win = make_window(qtbot, env, watch=True)
    assert win.add_folder(photo_folder)
    wait_tagging_done(qtbot, win)
    qtbot.waitUntil(lambda: win.watching, timeout=10_000)
    before = win.library.count()
    new = sorted((shared_data / "landmarks" / "test" / "Petra").glob("*.jpg"))[-1]
    shutil.copy2(new, photo_folder / "new_from_phone.jpg")
    # the watcher settles the file, tags it in core's thread, and the window refreshes by itself
    # (up to one polling interval, 30 s, where the watcher has to fall back to polling)
    qtbot.waitUntil(lambda: win.sidebar.all_item.data(0, Qt.ItemDataRole.UserRole + 11) == before + 1, timeout=120_000)
    assert win.library.count() == before + 1
    assert win.sidebar.shown_counts() == db_album_counts(win.library)
    win.close()


def test_thousands_of_signals_do_not_wear_down_singletons(qtbot):
    """Thousands of signals and paints must not wear down None/True/False (PySide6 6.12.0 did, and
    aborted Python 3.11; pyproject excludes that release)."""
    import sys

    from PySide6.QtCore import QObject, Signal
    from PySide6.QtGui import QFont

    class Emitter(QObject):
        sig = Signal(str)

    e = Emitter()
    seen = []
    e.sig.connect(seen.append)
    font = QFont()
    for i in range(5000):
        e.sig.emit("x")
        font.setPointSizeF(9.0 + (i % 3))
    assert len(seen) == 5000
    assert sys.getrefcount(None) > 10_000 and sys.getrefcount(True) > 1_000


def test_about_model_dialog_shows_card(qtbot, env, model_path):
    write_settings(env, model_path)
    win = make_window(qtbot, env, auto_tag=False)
    win.about_model_action.trigger()
    dlg = win.about_dialog
    assert dlg.isVisible()
    card = win.library.model_card()
    assert card["model_version"] in dlg.header.text()
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


def test_exception_in_a_worker_thread_is_shown_in_the_gui_thread(qtbot):
    import sys
    import threading

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
