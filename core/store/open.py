"""``open_database``: checks, engine, migrations — every failure as one ``LibraryError`` line.

Before the engine opens the file, ``core.store.health`` decides whether the file must be checked (it changed since
the last clean close, or the caller asks): a file that fails ``PRAGMA quick_check`` raises ``DatabaseDamagedError``,
so no command works on — or reports success from — a damaged library.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

from sqlalchemy import exc as sa_exc

from core.domain import (
    DatabaseDamagedError,
    DatabaseReadOnlyError,
    DatabaseUnavailableError,
    LibraryError,
    NotALibraryError,
)
from core.store.engine import Database
from core.store.errors import damaged_message, translate_db_error
from core.store.health import check_database, forget_clean_close, needs_check
from core.store.migrate import upgrade_to_head

__all__ = ["open_database", "verify_database", "SQLITE_HEADER"]

#: First 16 bytes of every SQLite 3 database file (https://sqlite.org/fileformat.html#the_database_header).
SQLITE_HEADER = b"SQLite format 3\x00"


def _check_file(path: Path) -> None:
    """Raise LibraryError for a read-only file/folder or a file that is not SQLite."""
    folder = path.parent
    if not folder.is_dir():
        raise DatabaseUnavailableError(f"cannot create the library database {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DatabaseReadOnlyError(
            f"the folder of the library database {folder} is read-only "
            "(SQLite needs to write its -wal and -shm files there)"
        )
    if not path.exists():
        return
    if path.is_dir():
        raise NotALibraryError(f"{path} is a folder, not a library database file")
    st = path.stat()
    # A file without any write bit is treated as read-only even for root (the user marked it so).
    if not os.access(path, os.W_OK) or not (st.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)):
        raise DatabaseReadOnlyError(f"the library database {path} is read-only; make it writable (or open a copy)")
    if st.st_size == 0:
        return
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise DatabaseUnavailableError(f"cannot read the library database {path}: {exc.strerror or exc}") from None
    if head != SQLITE_HEADER:
        raise NotALibraryError(f"{path} is not a Landmark Tagger library database (not an SQLite file)")


def verify_database(path: Path, *, always: bool = False) -> bool:
    """Run ``quick_check`` on ``path`` when ``core.store.health.needs_check`` says so (or ``always``).

    Returns:
        whether a check ran.
    Raises:
        DatabaseDamagedError: the check found damage. LibraryError: the file cannot be read (locked, permissions).
    """
    if not (always or needs_check(path)):
        return False
    try:
        result = check_database(path)
    except (sqlite3.Error, OSError) as exc:
        raise translate_db_error(exc, path) from None
    if not result.ok:
        forget_clean_close(path)
        raise DatabaseDamagedError(damaged_message(path, result.problems[0]), path)
    return True


def open_database(
    path: str | Path, busy_timeout_s: float = 5.0, *, check: bool | None = None
) -> tuple[Database, Path | None]:
    """Open (create) the library database, check it when needed, and migrate it to the newest schema.

    Args:
        path: database file; its folder must exist.
        busy_timeout_s: seconds to wait for another program's lock (SQLite busy timeout).
        check: ``None`` = ``quick_check`` when the file changed since its last clean close
            (``core.store.health``); ``True`` = always; ``False`` = never (repair tools).
    Returns:
        ``(database, backup_path)``; ``backup_path`` is the copy taken before a migration, else ``None``.
        ``database.checked_at_open`` tells whether a check ran.
    Raises:
        DatabaseDamagedError: the file fails ``quick_check``.
        LibraryError: read-only file or folder, not a database, newer schema, locked beyond the timeout.
    """
    path = Path(path).expanduser().absolute()
    _check_file(path)
    checked = verify_database(path, always=bool(check)) if check is not False else False
    forget_clean_close(path)  # open now: a crash before the clean close means "check next time"
    db = Database(path, busy_timeout_s)
    db.checked_at_open = checked
    try:
        backup = upgrade_to_head(db)
    except LibraryError:
        db.dispose()
        raise
    except (sa_exc.DBAPIError, sqlite3.Error) as exc:
        db.dispose()
        raise translate_db_error(exc, path) from None
    return db, backup
