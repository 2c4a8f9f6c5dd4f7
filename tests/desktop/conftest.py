"""Fixtures of the GUI tests (pytest-qt, ``QT_QPA_PLATFORM=offscreen``) on the real ``Library`` and real photos.

Every window runs on its own temporary database, settings INI and thumbnail cache (``env``).

* ``make_window(model, folders, auto_tag=..., watch=..., wait_ready=...)`` — a shown ``MainWindow``
  (the settings are written first when ``model`` is given);
* ``tagged_window`` — a window over a copy of a library whose photo folder is already tagged;
* ``tagged_library`` — that library (tagged once per test session), ``photo_folder`` — fresh photos;
* ``trust_library`` / ``trust_window`` — the same for the issue-10 scenarios: Great Wall, Machu Picchu and
  Chichén Itzá photos the shipped model knows, and Petronas Towers photos it never saw (``helpers.TRUST_CLASSES``);
* ``places_library`` / ``places_window`` — the same for the map, timeline and viewer (issue 13): landmark photos
  dated by their files, GPS photos with EXIF dates, a sideways photo, a HEIF and a large JPEG
  (``helpers.copy_places_photos``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.settings import configure_application
from tests.desktop.helpers import (
    OPEN_TIMEOUT_MS,
    copy_db,
    copy_photos,
    copy_places_photos,
    copy_trust_photos,
    model_or_tiny,
    wait_corrections,
    write_settings,
)


@pytest.fixture()
def model_path(tmp_path) -> Path:
    """The shipped bundle if it exists, else a freshly written tiny bundle."""
    return model_or_tiny(tmp_path)


@pytest.fixture()
def photo_folder(shared_data, tmp_path) -> Path:
    """A fresh copy of the test photos (``helpers.copy_photos``)."""
    return copy_photos(shared_data, tmp_path / "Photos")


@pytest.fixture(scope="session")
def tagged_library(shared_data, tmp_path_factory):
    """A database already holding the photo folder, tagged once per session with the library directly.

    Returns ``(db_file, photo_folder, model_path)``; tests copy the database before using it.
    """
    from core.library import Library

    root = tmp_path_factory.mktemp("tagged")
    folder = copy_photos(shared_data, root / "Photos")
    model = model_or_tiny(root)
    db = root / "library.sqlite3"
    lib = Library.open(db, model, "cpu")
    try:
        lib.add_folder(folder)
        final = lib.tag()
        assert final.state == "done", final
    finally:
        lib.close()
    return db, folder, model


@pytest.fixture(scope="session")
def trust_library(shared_data, tmp_path_factory):
    """A database holding ``helpers.copy_trust_photos``' folder, tagged once per session (shipped model).

    Returns ``(db_file, photo_folder, model_path, truth)`` with ``truth = {file name: class}``.
    """
    from core.library import Library

    root = tmp_path_factory.mktemp("trust")
    folder, truth = copy_trust_photos(shared_data, root / "Photos")
    model = model_or_tiny(root)
    db = root / "library.sqlite3"
    lib = Library.open(db, model, "cpu")
    try:
        lib.add_folder(folder)
        final = lib.tag()
        assert final.state == "done", final
    finally:
        lib.close()
    return db, folder, model, truth


@pytest.fixture(scope="session")
def places_library(shared_data, tmp_path_factory):
    """A database holding ``helpers.copy_places_photos``' folder, tagged once per session.

    Returns ``(db_file, photo_folder, model_path)``.
    """
    from core.library import Library

    root = tmp_path_factory.mktemp("places")
    folder = copy_places_photos(shared_data, root / "Photos")
    model = model_or_tiny(root)
    db = root / "library.sqlite3"
    lib = Library.open(db, model, "cpu")
    try:
        lib.add_folder(folder)
        final = lib.tag()
        assert final.state == "done", final
    finally:
        lib.close()
    return db, folder, model


class Env:
    """Where one test's window keeps its files."""

    def __init__(self, root: Path):
        self.settings = root / "settings.ini"
        self.db = root / "library.sqlite3"
        self.cache = root / "cache"


@pytest.fixture()
def env(tmp_path, monkeypatch) -> Env:
    """Isolated settings INI, data folder (``LANDMARK_TAGGER_HOME``) and thumbnail cache."""
    monkeypatch.setenv("LANDMARK_TAGGER_HOME", str(tmp_path / "home"))
    configure_application()
    return Env(tmp_path)


@pytest.fixture()
def make_window(qtbot, env):
    """Factory of shown main windows on ``env``.

    ``make_window(model=None, folders=(), *, auto_tag=True, watch=False, wait_ready=True)``: writes the
    settings (``model`` on the CPU, ``folders``) unless ``model`` is ``None`` (the settings already
    written are used, e.g. after a restart), opens the window and, with ``wait_ready``, waits until its
    library is open.
    """
    from desktop.main_window import MainWindow

    def make(model: Path | None = None, folders=(), *, auto_tag=True, watch=False, wait_ready=True) -> MainWindow:
        if model is not None:
            write_settings(env.settings, model, folders)
        win = MainWindow(env.settings, db_path=env.db, cache_dir=env.cache, auto_tag=auto_tag, watch=watch)
        qtbot.addWidget(win)
        win.show()
        if wait_ready:
            qtbot.waitUntil(lambda: win.library is not None, timeout=OPEN_TIMEOUT_MS)
            wait_corrections(qtbot, win)  # the undo/redo/proposals state read at opening
        return win

    return make


@pytest.fixture()
def trust_window(make_window, env, trust_library):
    """A window (no auto-tagging, no watching) over a copy of ``trust_library``."""
    db, folder, model, _truth = trust_library
    copy_db(db, env.db)
    return make_window(model, [folder], auto_tag=False)


@pytest.fixture()
def tagged_window(make_window, env, tagged_library):
    """A window (no auto-tagging, no watching) over a copy of ``tagged_library``."""
    db, folder, model = tagged_library
    copy_db(db, env.db)
    return make_window(model, [folder], auto_tag=False)


@pytest.fixture()
def places_window(make_window, env, places_library):
    """A window (no auto-tagging, no watching) over a copy of ``places_library``."""
    db, folder, model = places_library
    copy_db(db, env.db)
    return make_window(model, [folder], auto_tag=False)
