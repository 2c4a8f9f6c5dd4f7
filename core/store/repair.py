"""Getting a damaged library back: *Restore from backup* and *Rebuild from photos*.

Both write the new database beside the old one, move the old database (with its ``-wal``) into the backups folder
as ``<db>.replaced-<UTC stamp>`` — nothing is deleted — and rename the new file into place. The caller makes sure
no other process uses the library (``core.library`` holds the tagging lock; the GUI closes its own library first).

* ``restore_backup(db, backup)`` — the backup (``core.store.backup.list_backups``) must pass ``quick_check``; it is
  copied with the online backup API. An older schema is migrated when the library is opened.
* ``rebuild_database(db, source)`` — a new, empty library at the head schema that keeps what the person made,
  taken from ``source`` (normally the newest backup that passes ``quick_check``; without one, whatever can still be
  read from the damaged file): every table except the ones the app derives from the photo files (``DERIVED_TABLES``:
  photos, predictions, embeddings, the counters) — the library folders, the landmarks the person created, the
  corrections and their changes — and the photos' identities (``id``, folder, path: the corrections are keyed by the
  photo id), as rows the next scan reads again (``pending``, no fingerprint, size and mtime -1: every file is read,
  at its ends only, and keeps its row). The scan then tags them; the model's labels come back, the person's
  corrections win as before. A photo whose file is gone by then leaves the library with its corrections.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from core.domain import DatabaseDamagedError, RebuildReport
from core.store.backup import backups_dir, copy_database, utc_stamp
from core.store.engine import Database
from core.store.health import check_database, forget_clean_close
from core.store.migrate import upgrade_to_head
from core.store.models import ALEMBIC_ONLY

__all__ = ["DERIVED_TABLES", "restore_backup", "rebuild_database", "move_aside"]

#: Tables the app derives from the photo files and the model; a rebuild leaves them empty (the scan and the tagger
#: fill them again). Every other table holds what the person made and is copied.
DERIVED_TABLES = frozenset({"photos", "predictions", "embeddings", "status_counts", "label_counts", "alembic_version"})


def move_aside(db_path: Path) -> Path | None:
    """Move ``db_path`` and its ``-wal`` into the backups folder as ``<db>.replaced-<stamp>``; drop its ``-shm``.

    Returns:
        the new place of the database, or ``None`` when there was no database file.
    """
    if not db_path.exists():
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                db_path.with_name(db_path.name + suffix).unlink()
        return None
    folder = backups_dir(db_path)
    folder.mkdir(exist_ok=True)
    target = folder / f"{db_path.name}.replaced-{utc_stamp()}"
    wal = db_path.with_name(db_path.name + "-wal")
    if wal.exists():
        os.replace(wal, target.with_name(target.name + "-wal"))
    with contextlib.suppress(FileNotFoundError):
        db_path.with_name(db_path.name + "-shm").unlink()
    os.replace(db_path, target)
    forget_clean_close(db_path)
    return target


def restore_backup(db_path: str | os.PathLike[str], backup: str | os.PathLike[str]) -> Path | None:
    """Replace the library database with a copy of ``backup``.

    Returns:
        where the replaced database was moved (``None`` when there was none).
    Raises:
        DatabaseDamagedError: the backup fails ``quick_check``.
        sqlite3.Error / OSError: the copy failed (the library is left as it was).
    """
    db_path, backup = Path(db_path), Path(backup)
    result = check_database(backup)
    if not result.ok:
        raise DatabaseDamagedError(f"the backup {backup.name} is damaged too ({result.problems[0]})", backup)
    tmp = db_path.with_name(db_path.name + ".restoring")
    copy_database(backup, tmp)
    try:
        replaced = move_aside(db_path)
        os.replace(tmp, db_path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return replaced


def _columns(conn: sqlite3.Connection, schema: str, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f'PRAGMA {schema}.table_info("{table}")')]


def _user_tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute("SELECT name FROM main.sqlite_master WHERE type = 'table' ORDER BY rowid").fetchall()
    return [
        r[0]
        for r in rows
        if r[0] not in DERIVED_TABLES and not r[0].startswith(ALEMBIC_ONLY) and not r[0].startswith("sqlite_")
    ]


def _migrated_copy(source: Path, target: Path) -> None:
    """``source`` copied to ``target`` and brought to the head schema (so its columns match a new library)."""
    copy_database(source, target)
    db = Database(target)
    try:
        upgrade_to_head(db, backup=False)
    finally:
        db.dispose()


def rebuild_database(db_path: str | os.PathLike[str], source: str | os.PathLike[str] | None) -> RebuildReport:
    """Replace the library database with a new one that keeps the person's tables from ``source``.

    Args:
        db_path: the (damaged) library database.
        source: where the kept rows come from: a backup file; ``None`` = try the damaged database itself.
    Returns:
        a ``RebuildReport``; the caller scans the folders and tags the photos again.
    Raises:
        sqlite3.Error / OSError: the new database could not be written (the library is left as it was).
    """
    db_path = Path(db_path)
    rows: dict[str, int] = {}
    lost: list[str] = []
    used: Path | None = None
    replaced: Path | None = None
    new = db_path.with_name(db_path.name + ".rebuilding")
    src_copy = db_path.with_name(db_path.name + ".rebuild-source")
    for leftover in (new, src_copy):
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                leftover.with_name(leftover.name + suffix).unlink()
    db = Database(new)
    try:
        upgrade_to_head(db, backup=False)
    finally:
        db.dispose()
    src = Path(source) if source is not None else (db_path if db_path.exists() else None)
    have_source = False
    if src is not None:
        try:
            _migrated_copy(src, src_copy)
            have_source = True
            used = src
        except Exception:  # noqa: BLE001 - an unreadable or foreign source: rebuild without it
            lost.append("(everything: the source could not be read)")
    try:
        if have_source:
            _copy_user_tables(new, src_copy, rows, lost)
        replaced = move_aside(db_path)
        os.replace(new, db_path)
    finally:
        for leftover in (new, src_copy):
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    leftover.with_name(leftover.name + suffix).unlink()
    return RebuildReport(source=used, rows=rows, lost=tuple(lost), replaced=replaced)


def _copy_user_tables(new: Path, src_copy: Path, rows: dict[str, int], lost: list[str]) -> None:
    conn = sqlite3.connect(new, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.execute("ATTACH DATABASE ? AS src", (str(src_copy),))
        src_tables = {r[0] for r in conn.execute("SELECT name FROM src.sqlite_master WHERE type = 'table'")}
        for table in _user_tables(conn):
            if table not in src_tables:
                continue
            cols = [c for c in _columns(conn, "main", table) if c in set(_columns(conn, "src", table))]
            if not cols:
                continue
            names = ", ".join(f'"{c}"' for c in cols)
            try:
                conn.execute("BEGIN")
                cur = conn.execute(f'INSERT OR IGNORE INTO main."{table}" ({names}) SELECT {names} FROM src."{table}"')
                conn.execute("COMMIT")
                rows[table] = max(0, cur.rowcount)
            except sqlite3.DatabaseError:
                conn.execute("ROLLBACK")
                lost.append(table)
        if "photos" in src_tables:
            _copy_photo_identities(conn, rows, lost)
        # Rows pointing at a derived table (or a lost one) cannot be kept meaningfully.
        for table, rowid, _parent, _fk in conn.execute("PRAGMA main.foreign_key_check").fetchall():
            conn.execute(f'DELETE FROM main."{table}" WHERE rowid = ?', (rowid,))
        conn.execute("DETACH DATABASE src")
    finally:
        conn.close()


def _copy_photo_identities(conn: sqlite3.Connection, rows: dict[str, int], lost: list[str]) -> None:
    """Copy each photo's identity (id, folder, path) from ``src`` as a row the next scan reads again (see the module
    docstring): ``content_hash`` empty and ``fingerprint`` NULL, ``size`` and ``mtime_ns`` -1, status ``pending``."""
    try:
        conn.execute("BEGIN")
        cur = conn.execute(
            "INSERT OR IGNORE INTO main.photos (id, folder_id, path, content_hash, size, mtime_ns, status) "
            "SELECT id, folder_id, path, '', -1, -1, 'pending' FROM src.photos"
        )
        conn.execute("COMMIT")
        rows["photos"] = max(0, cur.rowcount)
    except sqlite3.DatabaseError:
        conn.execute("ROLLBACK")
        lost.append("photos")
