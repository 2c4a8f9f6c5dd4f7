"""Is the library database damaged? ``PRAGMA quick_check`` / ``integrity_check``, and when to run them.

``check_database(path, full)`` runs SQLite's own consistency checks (https://sqlite.org/pragma.html#pragma_quick_check):
``quick_check`` verifies every b-tree page, the free list and record formats — it finds a page overwritten with
garbage — in O(N); ``integrity_check`` also checks that every index matches its table (O(N log N)). On a
100 000-photo library (423 MB, mostly embeddings) they take about 0.5 s and 1.9 s warm (``bench/bench_db_check.py``).

0.5 s on every open would blow the budget of a ``landmark-tagger albums`` (0.5 s in all), so the open check is
conditional (``needs_check``): the database is checked at open unless it is byte-for-byte the file the last
clean close left (same size, modification time, inode change time and inode, recorded in ``<db>.clean`` by
``record_clean_close``). The record is removed when a library opens (``forget_clean_close``), so after a crash,
another program's write, a copy from a backup or a sync tool, or garbage written into the file (which changes
the inode change time even when the modification time is put back), the next open runs ``quick_check`` before
any command reports anything. A process that finds damage never records a clean close. Damage that bypasses the
file system (a failing disk sector) is found by the daily backup's ``quick_check``, by SQLite itself when it
reads the page (``SQLITE_CORRUPT`` → ``DatabaseDamagedError``), and by Settings → Check library
(``integrity_check``).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from pathlib import Path

from core.domain import CheckResult

__all__ = ["check_database", "needs_check", "record_clean_close", "forget_clean_close", "clean_record_path"]

#: SQLite reports at most this many problems (``PRAGMA quick_check(N)``).
MAX_PROBLEMS = 20


def clean_record_path(db_path: str | os.PathLike[str]) -> Path:
    """``<db>.clean``: the signature of the database file at its last clean close."""
    p = Path(db_path)
    return p.with_name(p.name + ".clean")


def _signature(db_path: Path) -> dict[str, int] | None:
    try:
        st = os.stat(db_path)
    except OSError:
        return None
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns, "ino": st.st_ino}


def needs_check(db_path: str | os.PathLike[str]) -> bool:
    """True unless ``db_path`` is exactly as its last clean close left it (see the module docstring).

    A missing or empty file needs no check (a new library). Frames in the ``-wal`` file do not count: SQLite
    checksums every frame and ignores torn or overwritten ones, and any checkpoint into the database file changes
    its signature.
    """
    db_path = Path(db_path)
    sig = _signature(db_path)
    if sig is None or sig["size"] == 0:
        return False
    try:
        recorded = json.loads(clean_record_path(db_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True
    return recorded != sig


def record_clean_close(db_path: str | os.PathLike[str]) -> None:
    """Remember the database file as the clean close left it (call after every connection is closed)."""
    db_path = Path(db_path)
    sig = _signature(db_path)
    if sig is None:
        return
    target = clean_record_path(db_path)
    tmp = target.with_name(target.name + ".tmp")
    try:
        tmp.write_text(json.dumps(sig), encoding="utf-8")
        os.replace(tmp, target)
    except OSError:  # a read-only folder: the next open simply checks
        with contextlib.suppress(OSError):
            tmp.unlink()


def forget_clean_close(db_path: str | os.PathLike[str]) -> None:
    """Drop the clean-close record (a library is open now, or the database was found damaged)."""
    with contextlib.suppress(OSError):
        clean_record_path(db_path).unlink()


def check_database(db_path: str | os.PathLike[str], *, full: bool = False) -> CheckResult:
    """Run ``PRAGMA quick_check`` (or ``integrity_check`` when ``full``) on the database file.

    Opens its own connection (read-only; WAL content is seen). A file SQLite cannot read as a database at all
    (``SQLITE_NOTADB`` / ``SQLITE_CORRUPT`` while preparing) is reported as damaged too.

    Returns:
        ``CheckResult`` (``problems``: SQLite's first ``MAX_PROBLEMS`` messages).
    Raises:
        sqlite3.OperationalError: the file cannot be opened or is locked (not a verdict on its content).
    """
    pragma = "integrity_check" if full else "quick_check"
    t0 = time.perf_counter()
    conn = sqlite3.connect(f"file:{Path(db_path).as_posix()}?mode=ro", uri=True, timeout=5.0)
    try:
        try:
            rows = [str(r[0]) for r in conn.execute(f"PRAGMA {pragma}({MAX_PROBLEMS})")]
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "malformed" not in str(exc).lower():
                raise
            rows = [str(exc)]
    finally:
        conn.close()
    ok = rows == ["ok"]
    return CheckResult(
        ok=ok, full=full, problems=() if ok else tuple(rows[:MAX_PROBLEMS]), seconds=time.perf_counter() - t0
    )
