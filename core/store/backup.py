"""Backup copies of the library database, taken before every schema migration."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

__all__ = ["backup_database"]


def backup_database(db_path: str | Path, revision: str | None) -> Path:
    """Copy ``db_path`` to ``<db>.bak-<revision>-<UTC timestamp>`` with SQLite's online backup API.

    The backup API (https://sqlite.org/backup.html) copies a consistent snapshot even while other
    connections use the database, WAL content included (a plain file copy would miss it).

    Args:
        db_path: the live database file.
        revision: its current Alembic revision (``"none"`` when unknown), put into the name.
    Returns:
        the backup file's path.
    Raises:
        sqlite3.Error / OSError: the copy failed (the caller must not migrate then).
    """
    db_path = Path(db_path)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    target = db_path.with_name(f"{db_path.name}.bak-{revision or 'none'}-{stamp}")
    src = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
    return target
