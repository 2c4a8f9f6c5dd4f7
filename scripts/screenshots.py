"""Take the README/docs screenshots of the desktop app on a folder of real photos.

Usage (from the repository root; needs ``../shared/data``)::

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/screenshots.py [--out docs/screenshots]

Without ``xvfb-run`` the script starts ``Xvfb`` itself when it is installed, else falls back to Qt's
offscreen platform. It copies ~60 real landmark photos, 9 GPS photos (JPEG and HEIF) and one corrupt file into
a temporary folder (the landmark photos get file dates spread over five years, one "trip" per landmark, so the
timeline has months to show), opens the app on a temporary database and settings file with the shipped model
(``--model`` to use another bundle), and saves:

* ``welcome.png`` — first run, no folders;
* ``tagging.png`` — tagging in progress (status bar: progress, photos/s, ETA, pause/cancel);
* ``albums.png`` — albums sidebar with covers and counts, a landmark album with its "Show unsure (N)"
  toggle on, details of an unsure photo (top-k predictions, ✓ Confirm / ✗ Reject);
* ``relabel.png`` — the change-label dialog, opened on the current label with the model's top-5 guesses;
* ``proposals.png`` — the proposals a correction made (thumbnails, old → new label, similarity), two ticked;
* ``history.png`` — the History dialog (one change undone, Revert);
* ``search.png`` — a search narrowing the grid;
* ``timeline.png`` — All photos as a timeline: newest first by the date taken (else the file's date), month
  headers, the months on screen named above the grid;
* ``map.png`` — the map: every located photo in clustered markers with counts over the offline basemap;
* ``map-detail.png`` — the map zoomed in on Italy: GPS (filled blue) and estimated (dashed orange) markers;
* ``viewer.png`` — the full-size viewer with the label and ✓ / ✗ on it;
* ``about-model.png`` — the model card dialog.

PNG files are palette-quantised to stay well under 300 KB each.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CLASSES = (
    "Colosseum",
    "Taj_Mahal",
    "Petra",
    "Machu_Picchu",
    "Eiffel_Tower",
    "Hagia_Sophia",
    "Angkor_Wat",
    "Great_Wall_of_China",
    "Christ_the_Redeemer",
    "Forbidden_City",
    "Pyramids_of_Giza",
    "Alhambra",
)
PER_CLASS = 6
#: extra photos (train split) so that tagging runs long enough to be photographed
EXTRA_PER_CLASS = 20


def ensure_display() -> subprocess.Popen | None:
    """Start ``Xvfb :87`` when there is no display; ``None`` if a display exists or Xvfb is absent."""
    if os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM"):
        return None
    xvfb = shutil.which("Xvfb")
    if not xvfb:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        return None
    proc = subprocess.Popen(
        [xvfb, ":87", "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    os.environ["DISPLAY"] = ":87"
    return proc


#: GPS photos (EXIF GPS; all but the HEIF with an EXIF date) under ``exif-samples``.
GPS_PHOTOS = (
    "jpg/gps/DSCN0010.jpg",
    "jpg/gps/DSCN0021.jpg",
    "jpg/gps/DSCN0025.jpg",
    "jpg/gps/DSCN0027.jpg",
    "jpg/gps/DSCN0029.jpg",
    "jpg/gps/DSCN0038.jpg",
    "jpg/gps/DSCN0040.jpg",
    "jpg/hdr/iphone_hdr_YES.jpg",
    "heic/mobile/HMD_Nokia_8.3_5G.heif",
)


def _set_date(path: Path, when: datetime) -> None:
    t = when.timestamp()
    os.utime(path, (t, t))


def copy_photos(shared: Path, dest: Path) -> None:
    dest.mkdir(parents=True)
    root = shared / "landmarks" / "test"
    for k, cls in enumerate(CLASSES):
        trip = datetime(2019, 3, 9, 10, 0) + timedelta(days=151 * k)  # one trip per landmark, every ~5 months
        d = root / cls
        for i, f in enumerate(sorted(d.glob("*.jpg"))[:PER_CLASS] if d.is_dir() else []):
            shutil.copy2(f, dest / f"IMG_{cls[:4].upper()}_{i:03d}.jpg")
            _set_date(dest / f"IMG_{cls[:4].upper()}_{i:03d}.jpg", trip + timedelta(hours=5 * i))
        extra = shared / "landmarks" / "train" / cls
        for i, f in enumerate(sorted(extra.glob("*.jpg"))[:EXTRA_PER_CLASS]):
            (dest / "More").mkdir(exist_ok=True)
            shutil.copy2(f, dest / "More" / f"IMG_{cls[:4].upper()}_{100 + i:03d}.jpg")
            # the months after the trip, four photos a month
            later = trip + timedelta(days=31 * (i // 4 + 1) + 2 * (i % 4), hours=i)
            _set_date(dest / "More" / f"IMG_{cls[:4].upper()}_{100 + i:03d}.jpg", later)
    for rel in GPS_PHOTOS:
        shutil.copy2(shared / "exif-samples" / rel, dest / Path(rel).name)
    _set_date(dest / "HMD_Nokia_8.3_5G.heif", datetime(2021, 8, 15, 11, 0))
    (dest / "broken-download.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")


def save_png(image, path: Path, max_bytes: int = 300_000) -> None:
    """Save a ``QImage`` as a palette PNG (Pillow quantisation), shrinking it until under ``max_bytes``."""
    from PIL import Image

    tmp = path.with_suffix(".raw.png")
    image.save(str(tmp), "PNG")
    img = Image.open(tmp).convert("RGB")
    tmp.unlink()
    scale = 1.0
    while True:
        im = img if scale == 1.0 else img.resize((int(img.width * scale), int(img.height * scale)), Image.LANCZOS)
        im.quantize(colors=192, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)
        if path.stat().st_size <= max_bytes or scale < 0.5:
            break
        scale *= 0.85
    print(f"  {path.name}: {im.width}×{im.height}, {path.stat().st_size // 1024} KB")


def compose(window, dialog):
    """The window's image with ``dialog`` painted centred over it (no window manager under Xvfb)."""
    from PySide6.QtGui import QColor, QPainter

    base = window.grab().toImage()
    dimg = dialog.grab().toImage()
    p = QPainter(base)
    p.fillRect(base.rect(), QColor(0, 0, 0, 70))
    x, y = (base.width() - dimg.width()) // 2, (base.height() - dimg.height()) // 3
    p.fillRect(x + 4, y + 6, dimg.width(), dimg.height(), QColor(0, 0, 0, 60))
    p.drawImage(x, y, dimg)
    p.setPen(QColor("#9ca3af"))
    p.drawRect(x, y, dimg.width() - 1, dimg.height() - 1)
    p.end()
    return base


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "docs" / "screenshots"))
    ap.add_argument("--shared", default=os.environ.get("LANDMARK_SHARED", str(REPO.parent / "shared")))
    ap.add_argument("--model", default=None, help="model bundle (default: the shipped one)")
    args = ap.parse_args(argv)
    shared = Path(args.shared) / "data"
    if not shared.is_dir():
        print(f"needs {shared}", file=sys.stderr)
        return 2
    xvfb = ensure_display()
    work = Path(tempfile.mkdtemp(prefix="lt-shots-"))
    os.environ["LANDMARK_TAGGER_HOME"] = str(work / "home")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        from PySide6.QtWidgets import QApplication

        from core.paths import default_model_path
        from desktop.app import create_application
        from desktop.main_window import MainWindow
        from desktop.settings import AppSettings

        model = Path(args.model) if args.model else default_model_path()
        if not model.is_file():
            print(f"model bundle not found: {model}", file=sys.stderr)
            return 2
        photos = work / "Pictures" / "Holidays"
        copy_photos(shared, photos)
        settings = work / "settings.ini"
        AppSettings(model_path=str(model) if args.model else None, device="cpu").save(settings)
        app = create_application(["landmark-tagger"])
        app.setStyle("Fusion")

        def spin(seconds: float, until=lambda: False) -> bool:
            end = time.time() + seconds
            while time.time() < end:
                app.processEvents()
                if until():
                    return True
                time.sleep(0.01)
            return until()

        win = MainWindow(settings, cache_dir=work / "cache", watch=False)
        browser, session = win.browser, win.session
        grid, grid_model, sidebar = browser.grid, browser.grid_model, browser.sidebar
        finished: list = []
        win.taggingFinished.connect(finished.append)  # after the window showed the final results
        win.resize(1440, 880)
        win.show()
        spin(120, lambda: win.library is not None)
        spin(0.5)
        print("screenshots →", out)
        save_png(win.grab().toImage(), out / "welcome.png")

        win.add_folder(photos)
        shot_taken = spin(
            300,
            lambda: (
                session.last_progress is not None
                and session.last_progress.state == "tagging"
                and session.last_progress.done >= max(4, session.last_progress.total // 3)
            ),
        )
        if shot_taken:
            browser.refresh_live()
            spin(0.6)
            save_png(win.grab().toImage(), out / "tagging.png")
        spin(600, lambda: bool(finished))
        spin(1.0)

        lib = win.library
        from PySide6.QtCore import QItemSelection, QItemSelectionModel

        from core.library import AlbumRef
        from desktop.relabel import RelabelChoice

        def select_rows(rows) -> None:
            sel = QItemSelection()
            for r in rows:
                sel.select(grid_model.index(r), grid_model.index(r))
            grid.setCurrentIndex(grid_model.index(rows[0]))
            grid.selectionModel().select(sel, QItemSelectionModel.SelectionFlag.ClearAndSelect)

        def settle() -> None:
            spin(60, lambda: not win.corrections.busy)
            spin(3, lambda: win.loader.pending() == 0)
            spin(0.8)

        # a landmark album with unsure photos, the toggle on, the least sure one in the details pane
        albums = [a for a in lib.albums() if a.ref.kind == "landmark" and a.count]
        album = max(albums, key=lambda a: (a.unsure > 0, a.count)) if albums else None
        if album is not None:
            sidebar.select(album.ref)
            spin(0.3)
            if album.unsure:
                browser.unsure_toggle.setChecked(True)
        spin(0.5)
        rows = range(grid_model.rowCount())
        worst = min(rows, key=lambda r: grid_model.photo_at(r).confidence or 0.0)
        select_rows([worst])
        settle()
        save_png(win.grab().toImage(), out / "albums.png")

        # the change-label dialog on an unsure guess of Needs review: current label, top-5 one-click choices
        sidebar.select(AlbumRef("needs_review"))
        spin(0.5)
        if grid_model.rowCount():
            select_rows([0])
            settle()
            win.relabel_selected()
            dlg = win.corrections.relabel_dialog
            spin(0.5)
            save_png(compose(win, dlg), out / "relabel.png")
            dlg.reject()

        # teach a landmark the model never saw: the proposals it makes, two of the right ones ticked
        sidebar.select(None)
        spin(0.3)
        eiffel = [r for r in range(grid_model.rowCount()) if grid_model.photo_at(r).path.name.startswith("IMG_EIFF")]
        if len(eiffel) >= 6:
            win.corrections.apply(grid_model.photo_ids(eiffel[:4]), RelabelChoice(new_name="Eiffel Tower"))
            settle()
            if win.offer.isVisible():
                win.offer.review_button.click()
                settle()
                pdlg = win.corrections.proposals_dialog
                right = [i for i, p in enumerate(pdlg.proposals) if p.photo.path.name.startswith("IMG_EIFF")]
                for i in right[:2]:
                    pdlg.set_ticked(i)
                spin(3, lambda: win.loader.pending() == 0)
                spin(0.5)
                save_png(compose(win, pdlg), out / "proposals.png")
                pdlg.accept_button.click()
                settle()
        # two confirmations, the last one undone: the History dialog
        for prefix in ("IMG_COLO", "IMG_TAJ_"):
            rows = [r for r in range(grid_model.rowCount()) if grid_model.photo_at(r).path.name.startswith(prefix)]
            if rows:
                select_rows(rows[:3])
                win.confirm_selected()
                settle()
        win.corrections.undo()
        settle()
        win.corrections.show_history()
        settle()
        if win.corrections.history_dialog is not None:
            hist = win.corrections.history_dialog
            applied = [c for c in hist.changes if not c.undone]
            if applied:
                hist.select_change(applied[0].id)  # an applied entry: Revert is enabled
            spin(0.3)
            save_png(compose(win, win.corrections.history_dialog), out / "history.png")
            win.corrections.history_dialog.reject()
        win.corrections.redo()
        settle()

        win.offer.dismiss()
        sidebar.select(None)
        spin(0.3)
        browser.search_bar.field.setText("taj")
        browser.apply_filters()
        spin(0.6)
        grid.setCurrentIndex(grid_model.index(min(3, grid_model.rowCount() - 1)))
        spin(3, lambda: win.loader.pending() == 0)
        spin(0.8)
        save_png(win.grab().toImage(), out / "search.png")

        # the timeline: All photos newest first, month headers, the months on screen above the grid
        browser.search_bar.field.setText("")
        browser.apply_filters()
        sidebar.select(None)
        spin(0.5)
        middle = min(grid_model.rowCount() - 1, 40)
        grid.scrollTo(grid_model.index(middle), grid.ScrollHint.PositionAtTop)
        select_rows([middle + 2])
        spin(3, lambda: win.loader.pending() == 0)
        spin(0.8)
        save_png(win.grab().toImage(), out / "timeline.png")

        # the map: every located photo, fitted; then around Italy, where GPS photos (Tuscany) and estimated ones
        # (Rome, Marseille) have markers of their own
        grid.clearSelection()
        sidebar.select_map()
        spin(30, lambda: browser.map.clusters_ready)
        spin(0.8)
        save_png(win.grab().toImage(), out / "map.png")
        from PySide6.QtCore import QPointF

        from desktop.map_clusters import project

        mx, my = project(43.0, 8.5)
        browser.map.center = QPointF(float(mx), float(my))
        browser.map.zoom_by(16.0)
        spin(30, lambda: browser.map.clusters_ready)
        spin(0.8)
        save_png(win.grab().toImage(), out / "map-detail.png")

        # the viewer on a landmark photo the model labelled
        sidebar.select(None)
        spin(0.5)
        from core.photos.image_io import image_size

        def wide(r: int) -> bool:
            w, h = image_size(grid_model.photo_at(r).path)
            return w > 1.3 * h

        labelled = [
            r
            for r in range(grid_model.rowCount())
            if grid_model.photo_at(r).label_source == "model"
            and grid_model.photo_at(r).path.name.startswith("IMG_COLO")
        ]
        labelled = [r for r in labelled if wide(r)] or labelled
        if labelled:
            win.open_viewer(labelled[0])
            spin(30, lambda: win.viewer.canvas.image is not None)
            spin(0.8)
            save_png(win.grab().toImage(), out / "viewer.png")
            win.viewer.close_viewer()
            spin(0.3)

        win.show_model_card()
        spin(0.5)
        save_png(compose(win, win.about_dialog), out / "about-model.png")
        win.about_dialog.reject()
        win.close()
        QApplication.processEvents()
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if xvfb is not None:
            xvfb.terminate()


if __name__ == "__main__":
    sys.exit(main())
