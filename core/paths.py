"""Where things live on disk: bundled resources, the default database, the cache folder.

Per-user folders come from platformdirs (``user_data_dir`` / ``user_cache_dir`` for app name
``LandmarkTagger``), e.g. ``~/.local/share/LandmarkTagger`` on Linux,
``%LOCALAPPDATA%\\LandmarkTagger`` on Windows, ``~/Library/Application Support/LandmarkTagger`` on macOS.
The environment variable ``LANDMARK_TAGGER_HOME`` overrides the data folder (tests, portable installs).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = [
    "APP_NAME",
    "resources_dir",
    "basemap_path",
    "default_model_path",
    "default_catalog_path",
    "user_data_dir",
    "default_db_path",
    "cache_dir",
    "app_folders",
]

APP_NAME = "LandmarkTagger"
DB_FILE_NAME = "library.sqlite3"


def resources_dir() -> Path:
    """The ``resources/`` folder: beside ``core/`` in a checkout, under ``sys._MEIPASS`` when frozen."""
    base = getattr(sys, "_MEIPASS", None)
    if base:
        return Path(base) / "resources"
    return Path(__file__).resolve().parents[1] / "resources"


def default_model_path() -> Path:
    """The shipped model bundle ``resources/models/landmarks-mobilenet_v2.safetensors``."""
    return resources_dir() / "models" / "landmarks-mobilenet_v2.safetensors"


def default_catalog_path() -> Path:
    """The landmark catalog ``resources/landmarks.json``."""
    return resources_dir() / "landmarks.json"


def basemap_path() -> Path:
    """The map view's basemap ``resources/basemap/ne_110m_countries.json`` (Natural Earth countries, public domain;
    made by ``scripts/make_basemap.py``)."""
    return resources_dir() / "basemap" / "ne_110m_countries.json"


def user_data_dir() -> Path:
    """Per-user data folder (created on first use); ``LANDMARK_TAGGER_HOME`` overrides it."""
    override = os.environ.get("LANDMARK_TAGGER_HOME")
    if override:
        path = Path(override).expanduser()
    else:
        import platformdirs

        path = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_db_path() -> Path:
    """The library database used when no ``--db PATH`` is given: ``<user data dir>/library.sqlite3``."""
    return user_data_dir() / DB_FILE_NAME


def cache_dir() -> Path:
    """Per-user cache folder (thumbnails etc.; safe to delete), created on first use."""
    override = os.environ.get("LANDMARK_TAGGER_HOME")
    if override:
        path = Path(override).expanduser() / "cache"
    else:
        import platformdirs

        path = Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def app_folders() -> list[Path]:
    """The app's own folders (per-user data and cache, as ``user_data_dir`` / ``cache_dir`` would give them; not
    created here). The scanner and the watcher never index photos inside them — the thumbnail cache is full of
    JPEGs — and they cannot be added as library folders."""
    override = os.environ.get("LANDMARK_TAGGER_HOME")
    if override:
        home = Path(override).expanduser()
        return [home.absolute(), (home / "cache").absolute()]
    import platformdirs

    return [
        Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)).absolute(),
        Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)).absolute(),
    ]
