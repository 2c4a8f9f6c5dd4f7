"""What the database safety of issue 12 costs on a large library: prints figures (not a test).

Run from the repository root::

    .venv/bin/python bench/bench_db_check.py [--photos 100000]

On a synthetic ``--photos`` library (``bench_library.build_search_db``: 43 landmarks, 1280-d float16 embeddings —
about 420 MB for 100 000 photos) it measures, warm page cache, median of ``--repeats``:

* ``PRAGMA quick_check`` and ``PRAGMA integrity_check`` (``core.store.health.check_database``);
* ``landmark-tagger albums`` end to end (a new process: Python start, imports, open, query) when the file is as
  its last clean close left it (no check) and when it changed since (``quick_check`` at open) — the budget a
  later issue sets is 0.5 s;
* the daily backup (``quick_check`` + online backup API copy).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))


def median_s(fn, repeats: int) -> float:
    fn()  # warm-up (page cache)
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)

    from bench_library import build_search_db

    from core.library import Library
    from core.store.backup import daily_backup
    from core.store.health import check_database

    work = Path(tempfile.mkdtemp(prefix="db-check-"))
    db = work / "library.sqlite3"
    t0 = time.perf_counter()
    lib = Library.open(db, device="cpu")
    build_search_db(lib, args.photos, 1280)
    lib.close()
    print(
        f"[db check] {args.photos} photos, {db.stat().st_size / 1e6:.0f} MB, built in {time.perf_counter() - t0:.0f} s"
    )

    quick = median_s(lambda: check_database(db), args.repeats)
    full = median_s(lambda: check_database(db, full=True), max(1, args.repeats // 2))
    print(f"[db check] quick_check {quick * 1000:.0f} ms, integrity_check {full * 1000:.0f} ms")

    env = dict(os.environ, PYTHONPATH=str(REPO), LANDMARK_TAGGER_HOME=str(work / "home"))
    cmd = [sys.executable, "-m", "cli.entry", "--db", str(db), "albums"]

    def albums() -> None:
        subprocess.run(cmd, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)

    clean = median_s(albums, args.repeats)

    def albums_after_a_change() -> None:
        os.utime(db)  # another program touched the file since the last clean close: the open checks it
        albums()

    changed = median_s(albums_after_a_change, args.repeats)
    print(
        f"[db check] 'landmark-tagger albums': {clean * 1000:.0f} ms when unchanged since the last clean close "
        f"(no check), {changed * 1000:.0f} ms when the file changed (quick_check at open); budget 500 ms"
    )

    def backup() -> None:
        check_database(db)
        daily_backup(db, force=True)

    print(f"[db check] daily backup (quick_check + online backup copy): {median_s(backup, 2) * 1000:.0f} ms")
    for p in sorted(work.rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    work.rmdir()


if __name__ == "__main__":
    main()
