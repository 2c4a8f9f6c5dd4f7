"""Benchmark of opening: the read-only CLI commands and the window on an already-tagged library, and their memory.

Not a test: prints figures. Run from the repository root::

    .venv/bin/python bench/bench_open.py [--photos 10000] [--runs 5] [--workdir DIR]

It builds a library of ``--photos`` real photos (the 64 px photos of ``../shared/data/landmarks-eecs445-64px``,
each made distinct by a trailing comment), already tagged for the shipped model (they are tagged by a tiny
random network that carries the shipped bundle's classes and model version, so nothing is left to tag when the
app opens it with the shipped model), then measures in fresh processes, median of ``--runs``:

* ``landmark-tagger albums`` / ``stats`` / ``search`` / ``export-corrections``: wall-clock and CPU seconds
  (``os.wait4``), peak RSS, and whether ``torch`` was imported; once after a clean close (the normal case)
  and once when the database file changed since its last clean close (the open runs ``quick_check``).
  Targets: ``albums`` and ``stats`` < 0.5 s; torch never imported.
* the window (``desktop.main_window.MainWindow`` with the app's defaults: tag and watch after opening),
  offscreen: launch → window on screen, launch → usable window (albums and the first grid page shown:
  ``MainWindow.libraryReady`` + one event-loop turn) and → the first page's thumbnails shown (from the
  disk cache, warmed by the first run); target usable < 1.5 s. Then its RSS when idle (the start-up scan
  found nothing to tag, folders watched; 3 s later), whether torch was imported; target < 300 MB.

The machine may be shared: CPU seconds are printed beside wall-clock seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
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
SHARED = Path(os.environ.get("LANDMARK_SHARED", REPO.parent / "shared")).resolve()

CLI = (
    "import sys; sys.path.insert(0, {repo!r}); from cli.entry import main; rc = main(sys.argv[1:]); "
    "hwm = [int(ln.split()[1]) for ln in open('/proc/self/status') if ln.startswith('VmHWM:')][0]; "
    "sys.stderr.write('BENCH torch=%d hwm=%d\\n' % ('torch' in sys.modules, hwm)); sys.exit(rc)"
)

GUI = r"""
import os, sys, time
sys.path.insert(0, {repo!r})
t_enter = time.time()
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from desktop.app import create_application
app = create_application(["bench"])
from desktop.main_window import MainWindow
win = MainWindow({settings!r}, cache_dir={cache!r})
win.show()
app.processEvents()
t_shown = time.time()
state = {{}}

def status():
    out = {{}}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1]) / 1024.0
    return out

def thumbs_done():
    if win.loader.pending() == 0 and win.browser.grid_model.rowCount() > 0:
        state["t_thumbs"] = time.time()
    else:
        QTimer.singleShot(5, thumbs_done)

def idle():
    state["idle"] = status()
    state["torch"] = "torch" in sys.modules
    state["msg"] = win.statusBar().currentMessage()
    win.close()
    app.quit()

def ready():
    app.processEvents()
    state["t_ready"] = time.time()
    state["rows"] = win.browser.grid_model.rowCount()
    state["ready"] = status()
    state["torch_at_ready"] = "torch" in sys.modules
    thumbs_done()

def finished(p):
    state["tag_state"] = p.state
    QTimer.singleShot(3000, idle)

from PySide6.QtCore import QTimer
win.libraryReady.connect(ready)
win.taggingFinished.connect(finished)
QTimer.singleShot(120000, idle)
app.exec()
print("BENCH", __import__("json").dumps(dict(state, t_enter=t_enter, t_shown=t_shown)), flush=True)
"""


def run_child(args: list[str], env: dict, cwd: Path | None = None) -> tuple[int, str, str, float, float]:
    """Run a process; ``(status, stdout, stderr, wall s, CPU s)`` (CPU from ``os.wait4``). Its peak RSS is not
    taken from ``os.wait4``: Linux counts the forked copy of this process before ``exec`` in it; the children
    report their own ``VmHWM``."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(args, stdout=out, stderr=err, env=env, cwd=cwd)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return (
            p.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            wall,
            ru.ru_utime + ru.ru_stime,
        )


def build_library(work: Path, n: int) -> tuple[Path, Path, Path]:
    """An ``n``-photo library tagged for the shipped model; returns ``(db, photos folder, shipped model)``."""
    sys.path.insert(0, str(REPO))
    from core.library import Library
    from core.paths import default_model_path
    from core.recognition.bundle import read_bundle_info, save_bundle
    from tests.helpers import make_tiny_bundle

    shipped = default_model_path()
    info = read_bundle_info(shipped)
    keys = tuple(c["key"] for c in info["classes"])
    tiny = dataclasses.replace(make_tiny_bundle(keys, gallery_per_class=0), model_version=info["model_version"])
    tiny_path = save_bundle(tiny, work / "tiny-as-shipped.safetensors")
    src = sorted((SHARED / "data" / "landmarks-eecs445-64px").rglob("*.jpg"))
    if not src:
        raise SystemExit(f"bench_open: no photos under {SHARED / 'data' / 'landmarks-eecs445-64px'}")
    folder = work / "Photos"
    for i in range(n):
        d = folder / f"{i // 1000:03d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"IMG_{i:06d}.jpg").write_bytes(src[i % len(src)].read_bytes() + f"copy {i}".encode())
    db = work / "library.sqlite3"
    with Library.open(db, tiny_path, "cpu") as lib:
        lib.add_folder(folder)
        lib.tag()
        # a few corrections, so that export-corrections has rows
        some = [p.id for p in lib.photos(limit=20)]
        lib.relabel(some[:10], landmark=keys[0])
    return db, folder, shipped


def bench_cli(db: Path, work: Path, env: dict, runs: int) -> dict:
    from core.store.health import forget_clean_close

    cmds = {
        "albums": ["albums"],
        "stats": ["stats"],
        "search": ["search", "tower"],
        "export-corrections": ["export-corrections", str(work / "corrections.csv"), "--force"],
    }
    out: dict = {}
    for case in ("clean", "changed"):
        for name, argv in cmds.items():
            rows = []
            for _ in range(runs):
                if case == "changed":
                    forget_clean_close(db)  # as after a crash or another program's write: the open checks
                rc, _o, err, wall, cpu = run_child(
                    [sys.executable, "-c", CLI.format(repo=str(REPO)), "--db", str(db), *argv], env
                )
                if rc != 0:
                    raise RuntimeError(f"{name} failed ({rc}): {err[-2000:]}")
                hwm = [ln for ln in err.splitlines() if ln.startswith("BENCH ")][-1].split("hwm=")[1]
                rows.append((wall, cpu, int(hwm) / 1024.0, "BENCH torch=1" in err))
            out[(case, name)] = {
                "wall": statistics.median(r[0] for r in rows),
                "cpu": statistics.median(r[1] for r in rows),
                "rss": max(r[2] for r in rows),
                "torch": any(r[3] for r in rows),
            }
    return out


def bench_gui(db: Path, folder: Path, work: Path, env: dict, runs: int) -> list[dict]:
    from PySide6.QtCore import QSettings

    settings = work / "settings.ini"
    qs = QSettings(str(settings), QSettings.Format.IniFormat)
    qs.setValue("library/folders", [str(folder)])
    qs.setValue("library/db_path", str(db))
    qs.setValue("model/device", "cpu")
    qs.sync()
    out = []
    for i in range(runs + 1):  # the first run warms the thumbnail cache and the OS file cache
        code = GUI.format(repo=str(REPO), settings=str(settings), cache=str(work / "cache"))
        t0 = time.time()
        rc, stdout, err, wall, cpu = run_child([sys.executable, "-c", code], env)
        line = [ln for ln in stdout.splitlines() if ln.startswith("BENCH ")]
        if rc != 0 or not line:
            raise RuntimeError(f"GUI run {i} failed ({rc}):\n{err[-3000:]}")
        r = json.loads(line[0][6:])
        r.update(start=t0, wall=wall, cpu=cpu, peak=r.get("idle", {}).get("VmHWM", float("nan")))
        if i > 0:
            out.append(r)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--skip", nargs="*", default=[], choices=["cli", "gui"])
    ap.add_argument("--workdir", type=Path, default=None, help="keep (and reuse) the library here")
    args = ap.parse_args(argv)
    if not (SHARED / "data").is_dir():
        print(f"bench_open: needs {SHARED / 'data'}; skipped")
        return 0
    work = args.workdir or Path(tempfile.mkdtemp(prefix="lt-bench-open-"))
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, LANDMARK_TAGGER_HOME=str(work / "home"), QT_QPA_PLATFORM="offscreen")
    os.environ["LANDMARK_TAGGER_HOME"] = env["LANDMARK_TAGGER_HOME"]
    try:
        db = work / "library.sqlite3"
        t0 = time.perf_counter()
        if db.is_file():
            folder = work / "Photos"
            from core.paths import default_model_path

            shipped = default_model_path()
            built = "reused"
        else:
            db, folder, shipped = build_library(work, args.photos)
            built = f"built in {time.perf_counter() - t0:.0f} s"
        print(
            f"bench_open: {args.photos:,}-photo library tagged for {shipped.name} ({built}), {os.cpu_count()} CPU "
            f"cores, median of {args.runs} fresh processes; wall-clock s / CPU s"
        )
        if "cli" not in args.skip:
            r = bench_cli(db, work, env, args.runs)
            for case, title in (("clean", "after a clean close"), ("changed", "file changed since (quick_check)")):
                print(f"  CLI, {title}:")
                for (c, name), v in r.items():
                    if c != case:
                        continue
                    target = " [target < 0.5 s]" if name in ("albums", "stats") and case == "clean" else ""
                    print(
                        f"    {name:<20} {v['wall']:.2f} s / {v['cpu']:.2f} s CPU, peak RSS {v['rss']:.0f} MiB, "
                        f"torch imported: {'yes' if v['torch'] else 'no'}{target}"
                    )
        if "gui" not in args.skip:
            g = bench_gui(db, folder, work, env, args.runs)
            shown = statistics.median(x["t_shown"] - x["start"] for x in g)
            ready = statistics.median(x["t_ready"] - x["start"] for x in g)
            thumbs = [x["t_thumbs"] - x["start"] for x in g if "t_thumbs" in x]
            each = ", ".join(f"{x['t_ready'] - x['start']:.2f}" for x in g)
            idle = [x["idle"]["VmRSS"] for x in g if "idle" in x]
            print(
                f"  window: launch → on screen {shown:.2f} s; → usable (albums + first grid page of "
                f"{g[0]['rows']} rows) {ready:.2f} s [target < 1.5 s] (runs: "
                f"{each}); → first page's thumbnails "
                f"{statistics.median(thumbs) if thumbs else float('nan'):.2f} s"
            )
            print(
                f"  window: RSS when usable {statistics.median(x['ready']['VmRSS'] for x in g):.0f} MiB; idle "
                f"(start-up scan done: {g[0].get('tag_state')}, watching, 3 s later) "
                f"{statistics.median(idle) if idle else float('nan'):.0f} MiB, peak "
                f"{statistics.median(x['peak'] for x in g):.0f} MiB [target idle < 300 MB]; torch imported: "
                f"{'yes' if any(x.get('torch') for x in g) else 'no'}; whole run {statistics.median(x['cpu'] for x in g):.1f} s CPU"
            )
        return 0
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
