"""GUI benchmark: time from launch to a usable window, and the GUI thread's longest stall while tagging.

Usage (repository root; needs ``../shared/data``)::

    .venv/bin/python bench/bench_gui.py [--photos 2000] [--model PATH]

1. **Launch → usable window**: a fresh Python process (``QT_QPA_PLATFORM=offscreen``) imports the app,
   opens the main window on a library that already holds the photos, and reports when the library is
   open, the album sidebar filled and the first grid page shown (``MainWindow.libraryReady`` + one
   event-loop turn). Measured from just before the process is spawned (includes interpreter start and
   the PySide6 imports; torch is not imported to show a tagged library), median of 3 runs.
   ``bench/bench_open.py`` measures the same on a 10 000-photo library, with memory.
2. **GUI-thread stall while tagging**: in this process a window adds a folder of ``--photos`` real
   photos (``landmarks/`` train+test, topped up with ``landmarks-eecs445-64px``) and tags them with
   the model in core's worker threads, while a ``QTimer`` heartbeat every 10 ms records the longest
   delay of the GUI thread (``bench/gui_stall.py`` ``StallMeter``) and the grid is scrolled every 250 ms (page
   reads and thumbnail decoding as a user would cause them).

Prints both figures; exit status 0. Figures, not asserts: speed belongs here, never in unit tests.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

CHILD = r"""
import os, sys, time
sys.path.insert(0, {repo!r})
os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ["LANDMARK_TAGGER_HOME"] = {home!r}
from desktop.app import create_application
app = create_application(["bench"])
from desktop.main_window import MainWindow
win = MainWindow({settings!r}, db_path={db!r}, cache_dir={cache!r}, auto_tag=False, watch=False)
win.show()
app.processEvents()
t_shown = time.time()
state = {{}}
def ready():
    app.processEvents()
    state["t"] = time.time()
    state["rows"] = win.browser.grid_model.rowCount()
    win.close()  # closes the library and waits for the thumbnail threads
    app.quit()
win.libraryReady.connect(ready)
app.exec()
print("READY", state["t"], state["rows"], t_shown, flush=True)
"""


def gather_photos(shared: Path, dest: Path, n: int) -> int:
    """Copy up to ``n`` real photos into ``dest`` (ImageFolder layout kept); returns how many."""
    srcs = sorted((shared / "landmarks").glob("*/*/*.jpg"))
    srcs += sorted((shared / "landmarks-eecs445-64px").rglob("*.jpg"))
    srcs = srcs[:n]
    for i, f in enumerate(srcs):
        d = dest / f.parent.name
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, d / f"{i:05d}_{f.name}")
    return len(srcs)


def pick_model(work: Path, explicit: str | None) -> tuple[Path, str]:
    if explicit:
        return Path(explicit), "given"
    from core.paths import default_model_path

    shipped = default_model_path()
    if shipped.is_file():
        return shipped, "shipped mobilenet_v2 bundle"
    from core.recognition.bundle import save_bundle
    from tests.helpers import make_tiny_bundle

    return save_bundle(
        make_tiny_bundle(), work / "tiny.safetensors"
    ), "tiny random simple_cnn bundle (shipped model absent)"


def bench_stall(work: Path, photos: Path, model: Path, db: Path, settings: Path) -> dict:
    from gui_stall import StallMeter
    from PySide6.QtCore import QTimer

    from desktop.app import create_application
    from desktop.main_window import MainWindow
    from desktop.settings import AppSettings

    AppSettings(model_path=str(model), device="cpu").save(settings)
    app = create_application(["bench"])
    meter = StallMeter(10)
    meter.start()
    t_open = time.perf_counter()
    win = MainWindow(settings, db_path=db, cache_dir=work / "cache", auto_tag=True, watch=False)
    grid, grid_model = win.browser.grid, win.browser.grid_model
    finished = []
    win.taggingFinished.connect(finished.append)
    win.resize(1280, 800)
    win.show()
    while win.library is None:
        app.processEvents()
        time.sleep(0.002)
    open_s = time.perf_counter() - t_open
    open_stall = meter.max_stall_ms
    meter.stop()
    scroller = QTimer()
    scroller.setInterval(250)
    step = {"dir": 1}

    def scroll():
        bar = grid.verticalScrollBar()
        if bar.value() >= bar.maximum():
            step["dir"] = -1
        elif bar.value() <= 0:
            step["dir"] = 1
        bar.setValue(bar.value() + step["dir"] * 400)

    scroller.timeout.connect(scroll)
    t0 = time.perf_counter()
    meter.start()
    scroller.start()
    win.add_folder(photos)
    while not finished:  # the window handled the end of the job (final refresh included)
        app.processEvents()
        time.sleep(0.002)
    elapsed = time.perf_counter() - t0
    meter.stop()
    scroller.stop()
    p = finished[-1]
    tag_stall, tag_stalls, tag_beats = meter.max_stall_ms, len(meter.stalls), meter.beats
    # scroll the whole grid top → bottom, one screen every 16 ms (a fast fling), memory cache cold
    win.loader.clear_memory()
    grid.scrollToTop()
    bar = grid.verticalScrollBar()
    app.processEvents()
    meter.start()
    t_scroll = time.perf_counter()
    while bar.value() < bar.maximum():
        bar.setValue(bar.value() + grid.viewport().height())
        end = time.perf_counter() + 0.016
        while time.perf_counter() < end:
            app.processEvents()
    scroll_s = time.perf_counter() - t_scroll
    meter.stop()
    scroll_stall = meter.max_stall_ms
    out = {
        "scroll_seconds": scroll_s,
        "scroll_max_stall_ms": scroll_stall,
        "rows": grid_model.rowCount(),
        "open_seconds": open_s,
        "open_max_stall_ms": open_stall,
        "state": p.state,
        "photos": win.library.count(),
        "done": p.done,
        "seconds": elapsed,
        "max_stall_ms": tag_stall,
        "stalls_over_50ms": tag_stalls,
        "beats": tag_beats,
        "grid_page_reads": grid_model.queries,
        "thumbnails_decoded": win.loader.decoded,
    }
    win.close()
    app.processEvents()
    return out


def bench_launch(work: Path, db: Path, settings: Path, runs: int = 3) -> tuple[list[float], list[float]]:
    times, shown = [], []
    for i in range(runs):
        code = CHILD.format(
            repo=str(REPO), home=str(work / "home"), settings=str(settings), db=str(db), cache=str(work / "cache")
        )
        t0 = time.time()
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        line = [ln for ln in res.stdout.splitlines() if ln.startswith("READY")]
        if not line:
            raise RuntimeError(f"launch run {i} failed:\n{res.stderr[-2000:]}")
        _, t_ready, rows, t_shown = line[0].split()
        times.append(float(t_ready) - t0)
        shown.append(float(t_shown) - t0)
    return times, shown


def bench_big_scroll(work: Path, shared: Path, n: int) -> dict:
    """Build an ``n``-photo library (64 px photos, each made unique by a trailing comment byte string,
    tagged with the tiny bundle outside the GUI), open it in a window and fling through the grid."""
    from core.library import Library

    src = sorted((shared / "landmarks-eecs445-64px").rglob("*.jpg"))
    folder = work / "Big"
    for i in range(n):
        f = src[i % len(src)]
        d = folder / f"{i // 1000:03d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{i:06d}.jpg").write_bytes(f.read_bytes() + f"copy {i}".encode())
    from core.recognition.bundle import save_bundle
    from tests.helpers import make_tiny_bundle

    model = save_bundle(make_tiny_bundle(), work / "tiny-big.safetensors")
    db = work / "big.sqlite3"
    t0 = time.perf_counter()
    with Library.open(db, model, "cpu") as lib:
        lib.add_folder(folder)
        lib.tag()
        count = lib.count()
    build_s = time.perf_counter() - t0

    from gui_stall import StallMeter

    from desktop.app import create_application
    from desktop.main_window import MainWindow
    from desktop.settings import AppSettings

    settings = work / "big.ini"
    AppSettings(model_path=str(model), device="cpu").save(settings)
    app = create_application(["bench"])
    win = MainWindow(settings, db_path=db, cache_dir=work / "cache-big", auto_tag=False, watch=False)
    grid, grid_model = win.browser.grid, win.browser.grid_model
    win.resize(1280, 800)
    win.show()
    while win.library is None:
        app.processEvents()
        time.sleep(0.002)
    app.processEvents()
    bar = grid.verticalScrollBar()
    # the grid lays 20 000 items out in batches (QListView.Batched): wait until it is complete
    # (the scroll range has not grown for half a second)
    last, since = -1, time.perf_counter()
    while time.perf_counter() - since < 0.5:
        app.processEvents()
        if bar.maximum() != last:
            last, since = bar.maximum(), time.perf_counter()
        time.sleep(0.002)
    rows_laid_out = bar.maximum()
    meter = StallMeter(10)
    meter.start()
    t1 = time.perf_counter()
    steps = 0
    while bar.value() < bar.maximum():
        bar.setValue(bar.value() + 3 * grid.viewport().height())  # a fast fling: 3 screens per frame
        steps += 1
        end = time.perf_counter() + 0.016
        while time.perf_counter() < end:
            app.processEvents()
    fling_s = time.perf_counter() - t1
    # then drag the scroll bar to 20 random places and wait for each screen to fill in
    import random

    rng = random.Random(0)
    fills = []
    for _ in range(20):
        bar.setValue(rng.randrange(bar.maximum() + 1))
        t2 = time.perf_counter()
        while True:
            app.processEvents()
            first = grid.indexAt(grid.viewport().rect().topLeft() + grid.rect().topLeft())
            row = max(0, first.row())
            if row in range(grid_model.rowCount()) and grid_model.peek(row) is not None and win.loader.pending() == 0:
                break
            if time.perf_counter() - t2 > 10:
                break
            time.sleep(0.002)
        fills.append(time.perf_counter() - t2)
    meter.stop()
    out = {
        "scroll_range_px": rows_laid_out,
        "photos": count,
        "build_seconds": build_s,
        "fling_seconds": fling_s,
        "fling_steps": steps,
        "max_stall_ms": meter.max_stall_ms,
        "fill_median_s": statistics.median(fills),
        "fill_max_s": max(fills),
        "page_reads": grid_model.queries,
    }
    win.close()
    app.processEvents()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="GUI launch time and GUI-thread stall while tagging")
    ap.add_argument("--photos", type=int, default=2000)
    ap.add_argument("--model", default=None)
    ap.add_argument(
        "--scroll-library",
        type=int,
        default=0,
        metavar="N",
        help="also build an N-photo library (tiny model) and measure flinging through its grid",
    )
    ap.add_argument("--shared", default=os.environ.get("LANDMARK_SHARED", str(REPO.parent / "shared")))
    args = ap.parse_args(argv)
    shared = Path(args.shared) / "data"
    if not shared.is_dir():
        print(f"bench_gui: needs {shared}; skipped")
        return 0
    work = Path(tempfile.mkdtemp(prefix="lt-bench-gui-"))
    os.environ["LANDMARK_TAGGER_HOME"] = str(work / "home")
    try:
        model, model_desc = pick_model(work, args.model)
        photos = work / "Photos"
        n = gather_photos(shared, photos, args.photos)
        db, settings = work / "library.sqlite3", work / "settings.ini"
        print(f"bench_gui: {n} real photos, model: {model_desc}, {os.cpu_count()} CPU cores")
        r = bench_stall(work, photos, model, db, settings)
        print(
            f"  tagging {r['photos']} photos through the GUI: {r['state']} in {r['seconds']:.1f} s "
            f"({r['photos'] / r['seconds']:.1f} photos/s incl. scan)"
        )
        print(
            f"  GUI-thread stall while tagging (10 ms heartbeat, grid scrolled every 250 ms): "
            f"max {r['max_stall_ms']:.0f} ms, {r['stalls_over_50ms']} stalls > 50 ms over {r['beats']} beats "
            f"(target < 100 ms); {r['grid_page_reads']} grid page reads, {r['thumbnails_decoded']} thumbnails made"
        )
        print(
            f"  scrolling the grid through all {r['rows']} photos, one screen per 16 ms, thumbnails not in memory: "
            f"{r['scroll_seconds']:.1f} s, GUI-thread max stall {r['scroll_max_stall_ms']:.0f} ms"
        )
        print(
            f"  while the library opens (the database only, in a worker; the model loads when the first job has "
            f"photos to tag): {r['open_seconds']:.1f} s, GUI-thread max stall {r['open_max_stall_ms']:.0f} ms"
        )
        if args.scroll_library:
            b = bench_big_scroll(work, shared, args.scroll_library)
            print(
                f"  {b['photos']:,}-photo library (built in {b['build_seconds']:.0f} s): fling through the whole grid "
                f"(3 screens per 16 ms frame, {b['fling_steps']} frames) in {b['fling_seconds']:.1f} s, then 20 jumps "
                f"of the scroll bar: GUI-thread max stall {b['max_stall_ms']:.0f} ms; a jumped-to screen is "
                f"filled (rows + thumbnails) in median {b['fill_median_s'] * 1000:.0f} ms, max "
                f"{b['fill_max_s'] * 1000:.0f} ms; {b['page_reads']} page reads"
            )
        times, shown = bench_launch(work, db, settings)
        print(
            f"  launch → window on screen ('Opening your library…'), fresh process: "
            f"median {statistics.median(shown):.2f} s"
        )
        print(
            f"  launch → usable window (library open, albums and first grid page shown; "
            f"{r['photos']} photos in the library): median {statistics.median(times):.2f} s "
            f"(runs: {', '.join(f'{t:.2f}' for t in times)})"
        )
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
