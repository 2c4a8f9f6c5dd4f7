"""Stress run of watching (issue 12, "Nothing lost, nothing stuck"): prints figures, asserts the end state.

Not a timed test. Run from the repository root::

    .venv/bin/python bench/bench_watch_stress.py [--files 1000] [--model PATH | --tiny] [--keep]

What it does, with the real CLI (``python -m cli.entry watch``) in a child process on a fresh library:

1. two watched folders: ``A`` (empty) and ``B`` (``--b-files`` photos, tagged beforehand);
2. ``landmark-tagger watch`` starts; ``--files`` distinct real photos (copies of ``../shared/data/landmarks`` with
   distinct bytes appended after the JPEG end marker) are renamed into ``A`` at once, and folder ``B`` vanishes
   (renamed away, like an unplugged drive);
3. while the photos are being tagged, 10 % of them are renamed inside ``A`` and 10 % deleted;
4. when about half of them are tagged, the watcher is killed with ``kill -9``;
5. more renames happen while nothing watches; then the watcher starts again (its reconciliation scan finds the
   changes it missed), ``B`` comes back with ``--b-new`` new photos in it, and the run waits until the library
   settles.

It then requires that the database equals the disk — the same set of paths (``B``'s photos were kept, offline,
while it was away), nothing pending or failed — and that no photo was tagged twice (``inference_count`` is 1 for
every tagged photo: results are committed exactly once, across the kill). Exit status 1 when that does not hold.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("LANDMARK_SHARED", REPO.parent / "shared")).resolve()

from core.photos.pathnames import text_to_path  # noqa: E402 - after the sys.path line above
from core.photos.scanner import iter_photo_files  # noqa: E402


def distinct_photos(dest: Path, n: int, prefix: str) -> list[Path]:
    """``n`` real landmark photos with distinct bytes (a counter after the JPEG end marker: still decodable)."""
    srcs = sorted((SHARED / "data" / "landmarks").glob("*/*/*.jpg"))
    if not srcs:
        raise SystemExit(f"no photos under {SHARED / 'data' / 'landmarks'}")
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        q = dest / f"{prefix}{i:05d}.jpg"
        q.write_bytes(srcs[i % len(srcs)].read_bytes() + f"stress {prefix} {i}".encode())
        out.append(q)
    return out


def tiny_model(work: Path) -> Path:
    """A small random-weight bundle (the tests' ``make_tiny_bundle``): the plumbing at full speed."""
    from core.recognition.bundle import save_bundle
    from tests.helpers import make_tiny_bundle

    return save_bundle(make_tiny_bundle(), work / "tiny.safetensors")


def db_rows(db: Path) -> list[tuple[str, str, int]]:
    """``(path, status, inference_count)`` of every photo row (read-only; waits for a writer's lock)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        rows = conn.execute("SELECT path, status, inference_count FROM photos").fetchall()
    finally:
        conn.close()
    return [(text_to_path(p), s, int(n)) for p, s, n in rows]


def disk_photos(*roots: Path) -> set[str]:
    out: set[str] = set()
    for r in roots:
        if r.is_dir():
            out |= {str(p) for p in iter_photo_files(r)}
    return out


class Watcher:
    """``landmark-tagger watch`` in a child process."""

    def __init__(self, db: Path, model: Path, env: dict[str, str], log: Path) -> None:
        self.log = open(log, "ab")
        args = ["--db", str(db), "--model", str(model), "--device", "cpu", "watch", "--settle", "0.5"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cli.entry", *args], cwd=REPO, env=env, stdout=self.log, stderr=self.log
        )

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self.log.close()

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)  # like Ctrl-C: a clean stop
        try:
            code = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(30)
        self.log.close()
        return code


def wait(cond, timeout: float, step: float = 0.2) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if cond():
                return True
        except sqlite3.Error:
            pass  # the writer holds the lock for a moment
        time.sleep(step)
    return cond()


def run_stress(
    work: Path, model: Path, n_files: int = 1000, b_files: int = 40, b_new: int = 10, timeout: float = 900.0
) -> dict:
    """The stress run (module docstring) in ``work``; returns the figures (``ok`` says whether it held)."""
    from core.library import Library

    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(REPO), LANDMARK_TAGGER_HOME=str(work / "home"), PYTHONWARNINGS="default")
    a, b, b_away = work / "watched" / "A", work / "watched" / "B", work / "watched" / "B-unplugged"
    a.mkdir(parents=True)
    distinct_photos(b, b_files, "b")
    db = work / "lib.db"
    lib = Library.open(db, model, "cpu", threads=1)
    try:
        lib.add_folder(a)
        lib.add_folder(b)
        lib.tag()
    finally:
        lib.close()
    staged = distinct_photos(work / "staging", n_files, "a")
    fig: dict = {"files": n_files, "b_files": b_files, "b_new": b_new}
    log = work / "watch.log"

    w = Watcher(db, model, env, log)
    time.sleep(3.0)  # the watcher is up (its reconciliation of the empty changes is quick)
    t0 = time.monotonic()
    dropped = []
    for p in staged:  # "at once": renames on one file system
        dst = a / p.name
        os.replace(p, dst)
        dropped.append(dst)
    fig["drop_s"] = time.monotonic() - t0
    b.rename(b_away)  # the USB stick is pulled out

    # Churn while tagging runs: 10 % renamed, 10 % deleted.
    k = max(1, n_files // 10)
    time.sleep(1.0)
    for p in dropped[:k]:
        p.rename(p.with_name("renamed-" + p.name))
    for p in dropped[k : 2 * k]:
        p.unlink()

    def tagged_in_a() -> int:
        return sum(
            1 for path, s, _ in db_rows(db) if s in ("tagged", "no_landmark") and path.startswith(f"{a}{os.sep}")
        )

    wait(lambda: tagged_in_a() >= (n_files - k) // 2, timeout)
    fig["to_half_s"] = time.monotonic() - t0
    w.kill9()
    fig["tagged_at_kill"] = tagged_in_a()
    b_rows_at_kill = sum(1 for path, _, _ in db_rows(db) if path.startswith(str(b) + os.sep))

    # Changes nobody watches: more renames in A, new photos on the unplugged drive.
    for p in dropped[2 * k : 3 * k]:
        p.rename(p.with_name("moved-while-down-" + p.name))
    distinct_photos(b_away, b_new, "b-new")

    t1 = time.monotonic()
    w = Watcher(db, model, env, log)
    wait(lambda: False, 4.0)
    b_rows_offline = sum(1 for path, _, _ in db_rows(db) if path.startswith(str(b) + os.sep))
    b_away.rename(b)  # plugged in again
    expected = disk_photos(a, b)

    def settled() -> bool:
        rows = db_rows(db)
        return {p for p, _, _ in rows} == expected and all(s not in ("pending", "failed") for _, s, _ in rows)

    ok_settled = wait(settled, timeout)
    fig["settle_after_restart_s"] = time.monotonic() - t1
    fig["total_s"] = time.monotonic() - t0
    code = w.stop()
    rows = db_rows(db)
    paths = {p for p, _, _ in rows}
    counts = Counter(n for _, s, n in rows if s in ("tagged", "no_landmark"))
    statuses = Counter(s for _, s, _ in rows)
    fig.update(
        rows=len(rows),
        disk=len(expected),
        missing_in_db=len(expected - paths),
        extra_in_db=len(paths - expected),
        statuses=dict(statuses),
        inference_counts=dict(counts),
        b_rows_at_kill=b_rows_at_kill,
        b_rows_while_offline=b_rows_offline,
        watch_exit=code,
        photos_per_s=len(rows) / max(fig["total_s"], 1e-9),
    )
    fig["ok"] = bool(
        ok_settled
        and paths == expected
        and set(counts) == {1}
        and b_rows_offline == b_files
        and code == 0
        and statuses.get("pending", 0) == statuses.get("failed", 0) == 0
    )
    return fig


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=1000, help="photos dropped into the watched folder at once")
    ap.add_argument("--b-files", type=int, default=40, help="photos on the folder that vanishes")
    ap.add_argument("--b-new", type=int, default=10, help="photos added to it while it is away")
    ap.add_argument("--model", type=Path, default=None, help="model bundle (default: the shipped one)")
    ap.add_argument("--tiny", action="store_true", help="a tiny random model (the plumbing only, fast)")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds each wait may take")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="watch-stress-"))
    try:
        from core.paths import default_model_path

        model = tiny_model(work) if args.tiny else (args.model or default_model_path())
        fig = run_stress(work / "run", model, args.files, args.b_files, args.b_new, args.timeout)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(
        f"[watch stress] {fig['files']} photos dropped at once in {fig['drop_s']:.2f} s; 10 % renamed and 10 % "
        f"deleted while tagging; kill -9 after {fig['to_half_s']:.1f} s with {fig['tagged_at_kill']} tagged; "
        f"10 % renamed while down"
    )
    print(
        f"[watch stress] vanishing folder: {fig['b_rows_at_kill']} of {fig['b_files']} photos kept while away "
        f"({fig['b_rows_while_offline']} after the restart), back with {fig['b_new']} new ones"
    )
    print(
        f"[watch stress] settled {fig['settle_after_restart_s']:.1f} s after the restart ({fig['total_s']:.1f} s in "
        f"all, {fig['photos_per_s']:.1f} photos/s): {fig['rows']} rows for {fig['disk']} files on disk, "
        f"{fig['missing_in_db']} missing, {fig['extra_in_db']} extra; statuses {fig['statuses']}; "
        f"inference_count of tagged photos {fig['inference_counts']}; watch exit {fig['watch_exit']}"
    )
    print(f"[watch stress] {'OK: the database equals the disk, no photo tagged twice' if fig['ok'] else 'FAILED'}")
    return 0 if fig["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
