"""Helpers of the GUI tests (not collected: no ``test_`` prefix); the fixtures are in ``conftest.py``.

Photos: 4 landmark classes × 5 real photos from ``../shared/data/landmarks/test`` and 2 GPS photos
from ``../shared/data/exif-samples``. The model is the shipped bundle when it exists, else a tiny
random bundle (labels are then arbitrary, which the GUI tests never depend on: they compare what the
window shows with what the database holds).
"""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QItemSelection, QItemSelectionModel

from desktop.settings import AppSettings
from tests.helpers import REPO_ROOT

SHIPPED_MODEL = REPO_ROOT / "resources" / "models" / "landmarks-mobilenet_v2.safetensors"
LANDMARK_CLASSES = ("Colosseum", "Petra", "Taj_Mahal", "Machu_Picchu")
PER_CLASS = 5
GPS_PHOTOS = ("jpg/gps/DSCN0010.jpg", "jpg/gps/DSCN0021.jpg")
#: Photos in ``copy_photos``' folder.
N_PHOTOS = PER_CLASS * len(LANDMARK_CLASSES) + len(GPS_PHOTOS)
#: Milliseconds a tagging pass over the photo folder may take (slow shared CPUs included).
TAG_TIMEOUT_MS = 240_000
#: Milliseconds opening a library (torch import, model load) may take.
OPEN_TIMEOUT_MS = 120_000


def model_or_tiny(folder: Path) -> Path:
    """The shipped bundle if it exists, else a tiny bundle written into ``folder``."""
    if SHIPPED_MODEL.is_file():
        return SHIPPED_MODEL
    from core.recognition.bundle import save_bundle
    from tests.helpers import make_tiny_bundle

    return save_bundle(make_tiny_bundle(), folder / "tiny.safetensors")


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


#: Photos of ``copy_trust_photos``: (class, folder under ``../shared/data``, how many). The shipped model knows
#: the first three; it never saw the Petronas Towers (64 px photos of landmarks-eecs445: every landmark of
#: ``landmarks/`` is one of its 56 classes); teaching it makes proposals for the other Petronas photos.
TRUST_CLASSES = (
    ("Great_Wall_of_China", "landmarks/test/Great_Wall_of_China", 6),
    ("Machu_Picchu", "landmarks/test/Machu_Picchu", 6),
    ("Chichen_Itza", "landmarks/test/Chichen_Itza", 6),
    ("Petronas_Towers", "landmarks-eecs445-64px/train/petronas_towers", 10),
)


def copy_trust_photos(shared_data: Path, dest: Path) -> tuple[Path, dict[str, str]]:
    """Copy the ``TRUST_CLASSES`` photos into ``dest`` as ``<class>_<nn>.jpg``.

    Returns:
        ``(dest, {file name: class})``.
    """
    dest.mkdir(parents=True, exist_ok=True)
    truth = {}
    for cls, folder, n in TRUST_CLASSES:
        files = sorted((shared_data / folder).glob("*.jpg"))[:n]
        assert len(files) == n, f"not enough photos of {cls}"
        for i, f in enumerate(files):
            name = f"{cls}_{i:02d}.jpg"
            shutil.copy2(f, dest / name)
            truth[name] = cls
    return dest, truth


#: Photos of ``copy_places_photos`` without a date in their EXIF, and the file time each gets (local time):
#: ``{file name: datetime}``; real landmark photos (the model locates them at their landmark: estimated), a real
#: photo stored sideways with EXIF orientation 6, a real HEIF from a phone (GPS) and a large JPEG (6000 × 4000,
#: a real photo enlarged) for the viewer.
PLACES_FILE_TIMES = {
    "Colosseum_00.jpg": datetime(2024, 3, 14, 10, 0),
    "Colosseum_01.jpg": datetime(2024, 3, 2, 9, 30),
    "Petra_00.jpg": datetime(2024, 1, 20, 15, 0),
    "Petra_01.jpg": datetime(2024, 1, 5, 8, 0),
    "Taj_Mahal_00.jpg": datetime(2023, 11, 28, 7, 45),
    "Taj_Mahal_01.jpg": datetime(2023, 11, 3, 17, 0),
    "Machu_Picchu_00.jpg": datetime(2023, 11, 1, 12, 0),
    "portrait_6.jpg": datetime(2022, 6, 9, 18, 20),
    "HMD_Nokia_8.3_5G.heif": datetime(2021, 8, 15, 11, 0),
    "large.jpg": datetime(2024, 5, 1, 12, 0),
}
#: Photos of ``copy_places_photos`` with an EXIF date (and EXIF GPS): ``{file name: path under exif-samples}``.
PLACES_EXIF_PHOTOS = {
    "DSCN0010.jpg": "jpg/gps/DSCN0010.jpg",
    "DSCN0021.jpg": "jpg/gps/DSCN0021.jpg",
    "iphone_hdr_YES.jpg": "jpg/hdr/iphone_hdr_YES.jpg",
}
#: Size of ``copy_places_photos``' large photo, pixels.
LARGE_SIZE = (6000, 4000)


def copy_places_photos(shared_data: Path, dest: Path) -> Path:
    """The photos of the map, timeline and viewer tests in ``dest`` (``PLACES_FILE_TIMES``, ``PLACES_EXIF_PHOTOS``):
    the files without an EXIF date get their ``PLACES_FILE_TIMES`` modification time. Returns ``dest``."""
    import os

    from PIL import Image

    dest.mkdir(parents=True, exist_ok=True)
    samples = shared_data / "exif-samples"
    for name in PLACES_FILE_TIMES:
        if name == "large.jpg":
            src = sorted((shared_data / "landmarks" / "test" / "Colosseum").glob("*.jpg"))[5]
            with Image.open(src) as im:
                im.convert("RGB").resize(LARGE_SIZE, Image.Resampling.BICUBIC).save(dest / name, quality=88)
        elif name == "portrait_6.jpg":
            shutil.copy2(samples / "jpg" / "orientation" / name, dest / name)
        elif name.endswith(".heif"):
            shutil.copy2(samples / "heic" / "mobile" / name, dest / name)
        else:
            cls, i = name.rsplit("_", 1)
            src = sorted((shared_data / "landmarks" / "test" / cls).glob("*.jpg"))[int(i[:2])]
            shutil.copy2(src, dest / name)
    for name, rel in PLACES_EXIF_PHOTOS.items():
        shutil.copy2(samples / rel, dest / name)
    for name, when in PLACES_FILE_TIMES.items():
        t = when.timestamp()
        os.utime(dest / name, (t, t))
    return dest


def write_settings(settings_file: Path, model: Path, folders=(), **kw) -> None:
    """An INI with ``model`` on the CPU and ``folders`` (plus any other ``AppSettings`` field)."""
    AppSettings(folders=[str(f) for f in folders], model_path=str(model), device="cpu", **kw).save(settings_file)


def copy_db(src: Path, dst: Path) -> None:
    """Copy an SQLite database with its WAL files."""
    for suffix in ("", "-wal", "-shm"):
        s = Path(str(src) + suffix)
        if s.exists():
            shutil.copy2(s, str(dst) + suffix)


def db_album_counts(library) -> dict:
    """``{AlbumRef: count}`` as the sidebar lists them (an empty Pending album is not listed)."""
    return {a.ref: a.count for a in library.albums() if not (a.ref.kind == "pending" and a.count == 0)}


def grid_ids(win) -> list[int]:
    """Photo ids of every grid row, top to bottom."""
    m = win.browser.grid_model
    return [m.photo_at(r).id for r in range(m.rowCount())]


def select_rows(win, rows) -> None:
    """Select the grid ``rows`` (the first becomes the current one)."""
    grid, model = win.browser.grid, win.browser.grid_model
    sel = QItemSelection()
    for r in rows:
        idx = model.index(r)
        sel.select(idx, idx)
    grid.selectionModel().select(sel, QItemSelectionModel.SelectionFlag.ClearAndSelect)
    grid.setCurrentIndex(model.index(rows[0]))
    grid.selectionModel().select(sel, QItemSelectionModel.SelectionFlag.ClearAndSelect)


#: Milliseconds a correction (relabel, confirm, accept, undo …) may take in the worker.
CORRECTION_TIMEOUT_MS = 30_000


def wait_corrections(qtbot, win) -> None:
    """Wait until the corrections controller has no library call running or waiting (results shown)."""
    qtbot.waitUntil(lambda: not win.corrections.busy, timeout=CORRECTION_TIMEOUT_MS)


def close_dialogs(win) -> None:
    """Close the proposals dialog and hide the proposals offer a correction may have shown."""
    dlg = win.corrections.proposals_dialog
    if dlg is not None and dlg.isVisible():
        dlg.reject()
    win.offer.dismiss()


def snapshot(library) -> dict:
    """``{photo id: (status, label, label source, confidence)}`` of every photo."""
    return {p.id: (p.status, p.label, p.label_source, p.confidence) for p in library.photos()}


def changed_ids(before: dict, after: dict) -> set:
    """Ids whose ``snapshot`` entry differs."""
    return {i for i in before.keys() | after.keys() if before.get(i) != after.get(i)}
