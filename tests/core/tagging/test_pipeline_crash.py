"""Crash safety: tagging killed with SIGKILL mid-run; the next run finishes with every photo's
result committed exactly once and nothing lost."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import torch

from core.library import Library
from tests.helpers import REPO_ROOT as REPO
from tests.helpers import copy_photos, landmark_photos

torch.set_num_threads(1)


CHILD = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {repo!r})
    import torch
    torch.set_num_threads(1)
    from core.library import Library
    lib = Library.open({db!r}, {model!r}, threads=1, batch_size=4, decode_workers=1)
    rec = lib.recognizer()
    load = rec.load_image
    def slow(path):
        time.sleep(0.05)   # keep the run long enough to be killed in the middle
        return load(path)
    rec.load_image = slow
    lib.tag()
    print("finished")
""")


def _tagged(db: Path) -> int:
    con = sqlite3.connect(db, timeout=5)
    try:
        return con.execute("SELECT COUNT(*) FROM photos WHERE status = 'tagged'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


def test_kill_9_mid_run_then_resume_tags_every_photo_exactly_once(tmp_path, shared_data, tiny_bundle_path):
    n = 80
    srcs = [p for c in ("Alhambra", "Angkor_Wat") for p in landmark_photos(shared_data, c)[: n // 2]]
    copy_photos(srcs, tmp_path / "p")
    db = tmp_path / "lib.db"
    lib = Library.open(db, tiny_bundle_path)
    lib.add_folder(tmp_path / "p")
    lib.close()

    script = CHILD.format(repo=str(REPO), db=str(db), model=str(tiny_bundle_path))
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and _tagged(db) < 10 and child.poll() is None:
            time.sleep(0.05)
        assert child.poll() is None, child.stderr.read().decode()[-2000:]
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    killed_at = _tagged(db)
    assert 10 <= killed_at < n, "the run must be killed in the middle"

    lib = Library.open(db, tiny_bundle_path, threads=1)
    try:
        final = lib.tag()
        assert final.counts == {"pending": 0, "gps": 0, "tagged": n, "no_landmark": 0, "failed": 0}
        # the second run only did what the first had not committed
        assert final.total == n - killed_at
        con = sqlite3.connect(db)
        counts = con.execute("SELECT inference_count, COUNT(*) FROM photos GROUP BY inference_count").fetchall()
        preds = con.execute("SELECT COUNT(*), COUNT(DISTINCT photo_id) FROM predictions").fetchone()
        embs = con.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
        con.close()
        assert counts == [(1, n)]  # every photo's result committed exactly once
        assert preds == (3 * n, n)  # top-3 of the tiny 3-class model, no duplicates
        assert embs == n
    finally:
        lib.close()
