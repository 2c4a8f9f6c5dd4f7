"""Backup copies of the library database: before every schema migration, and a rolling daily copy.

All copies are taken with SQLite's online backup API (https://sqlite.org/backup.html, Python's
``sqlite3.Connection.backup``): it copies a consistent snapshot while other connections use the database, WAL
content included (a plain file copy would miss it or tear it). They live in ``<db>.backups/`` beside the
database (``backups_dir``):

* ``<db>.bak-<revision>-<UTC stamp>`` — taken before a migration (``backup_database``; older versions put
  them beside the database itself, where ``list_backups`` finds them too);
* ``<db>.daily-<UTC stamp>`` — one per day (UTC) for the last ``KEEP_DAILY`` days (``daily_backup``), taken
  when a session that changed the library closes and the newest copy is ``REFRESH_INTERVAL`` old: the copy of
  today is replaced by a fresher one, so a restore loses at most about an hour of work, and the copies of the
  six days before stay. The caller copies only a database that passes ``PRAGMA quick_check`` (a damaged
  database must never push a good copy out);
* ``<db>.replaced-<UTC stamp>`` — the database a restore or rebuild replaced (kept, never deleted by the app).
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

from core.domain import BackupInfo

__all__ = [
    "KEEP_DAILY",
    "REFRESH_INTERVAL",
    "backups_dir",
    "utc_stamp",
    "backup_database",
    "copy_database",
    "daily_backup",
    "daily_backup_due",
    "list_backups",
]

#: Days with a daily backup that are kept (the newest copy of each day; older days are deleted).
KEEP_DAILY = 7
#: A daily backup is taken (today's replaced) when the newest one is at least this old.
REFRESH_INTERVAL = timedelta(hours=1)

_STAMP = "%Y%m%dT%H%M%S%fZ"
_NAME = re.compile(r"\.(?:(bak)-(?P<rev>[^-]+)|(?P<kind>daily|replaced))-(?P<stamp>\d{8}T\d{6}\d*Z)$")


def backups_dir(db_path: str | os.PathLike[str]) -> Path:
    """The folder of the backups of ``db_path``: ``<db>.backups`` beside it (not created here)."""
    p = Path(db_path)
    return p.with_name(p.name + ".backups")


def utc_stamp(now: datetime | None = None) -> str:
    """The UTC time stamp in backup names (``20260101T120000123456Z``)."""
    return (now or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime(_STAMP)


def copy_database(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> Path:
    """Copy the database ``source`` to the new file ``target`` with the online backup API.

    The copy is written to ``target`` + ``.part`` and renamed when complete, so a failure never leaves a
    half-written backup under a backup's name.
    Returns:
        ``target``.
    Raises:
        sqlite3.Error / OSError: the copy failed (nothing is left at ``target``).
    """
    target = Path(target)
    part = target.with_name(target.name + ".part")
    with contextlib.suppress(FileNotFoundError):
        part.unlink()
    src = sqlite3.connect(f"file:{Path(source).as_posix()}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(part)
        try:
            src.backup(dst)
        finally:
            dst.close()
        os.replace(part, target)
    except BaseException:
        with contextlib.suppress(OSError):
            part.unlink()
        raise
    finally:
        src.close()
    return target


def backup_database(db_path: str | os.PathLike[str], revision: str | None) -> Path:
    """Copy ``db_path`` to ``<db>.backups/<db>.bak-<revision>-<UTC timestamp>`` (before a migration).

    Args:
        db_path: the live database file.
        revision: its current Alembic revision (``"none"`` when unknown), put into the name.
    Returns:
        the backup file's path.
    Raises:
        sqlite3.Error / OSError: the copy failed (the caller must not migrate then).
    """
    db_path = Path(db_path)
    folder = backups_dir(db_path)
    folder.mkdir(exist_ok=True)
    return copy_database(db_path, folder / f"{db_path.name}.bak-{revision or 'none'}-{utc_stamp()}")


def _parse(path: Path, db_name: str) -> BackupInfo | None:
    if not path.name.startswith(db_name + "."):
        return None
    m = _NAME.search(path.name[len(db_name) :])
    if m is None:
        return None
    try:
        st = path.stat()
    except OSError:
        return None
    stamp = m.group("stamp")
    try:
        when = datetime.strptime(stamp, _STAMP if len(stamp) > 16 else "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        when = datetime.fromtimestamp(st.st_mtime, timezone.utc)
    if m.group("rev") is not None:
        kind, rev = "migration", (None if m.group("rev") == "none" else m.group("rev"))
    else:
        kind, rev = m.group("kind"), None
    return BackupInfo(path=path, created_at=when, kind=kind, size=st.st_size, revision=rev)


def list_backups(db_path: str | os.PathLike[str]) -> list[BackupInfo]:
    """Every backup of ``db_path`` (daily, before migrations — also those beside the database from older
    versions — and replaced databases), newest first."""
    db_path = Path(db_path)
    out: list[BackupInfo] = []
    for folder in (backups_dir(db_path), db_path.parent):
        try:
            names = list(folder.iterdir())
        except OSError:
            continue
        for p in names:
            info = _parse(p, db_path.name)
            if info is not None and p.is_file():
                out.append(info)
    out.sort(key=lambda b: b.created_at, reverse=True)
    return out


def daily_backup_due(db_path: str | os.PathLike[str], now: datetime | None = None) -> bool:
    """True when no daily backup of ``db_path`` is younger than ``REFRESH_INTERVAL``."""
    now = now or datetime.now(timezone.utc)
    daily = [b for b in list_backups(db_path) if b.kind == "daily"]
    return not daily or now - daily[0].created_at >= REFRESH_INTERVAL


def daily_backup(
    db_path: str | os.PathLike[str], *, keep: int = KEEP_DAILY, now: datetime | None = None, force: bool = False
) -> BackupInfo | None:
    """Take the daily backup when one is due (or ``force``), then keep only the newest copy of each of the last
    ``keep`` days (UTC).

    The caller checks the database first (``core.store.health``): only an undamaged database is copied.
    Returns:
        the new backup, or ``None`` when none was due.
    Raises:
        sqlite3.Error / OSError: the copy failed.
    """
    db_path = Path(db_path)
    if not force and not daily_backup_due(db_path, now):
        return None
    folder = backups_dir(db_path)
    folder.mkdir(exist_ok=True)
    target = copy_database(db_path, folder / f"{db_path.name}.daily-{utc_stamp(now)}")
    days: set[object] = set()
    for b in [b for b in list_backups(db_path) if b.kind == "daily"]:  # newest first
        day = b.created_at.date()
        if day in days or len(days) >= keep:
            with contextlib.suppress(OSError):
                b.path.unlink()
            continue
        days.add(day)
    return _parse(target, db_path.name)
