"""Turn SQLite / SQLAlchemy failures into one-line ``LibraryError`` messages for the user."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import exc as sa_exc

from core.domain import (
    DatabaseDamagedError,
    DatabaseError,
    DatabaseLockedError,
    DatabaseReadOnlyError,
    DatabaseUnavailableError,
    NotALibraryError,
)

__all__ = ["DB_ERRORS", "translate_db_error", "is_locked_error", "damaged_message"]

#: The exceptions SQLite / SQLAlchemy raise for a database problem (``translate_db_error`` turns them into
#: a ``DatabaseError``).
DB_ERRORS: tuple[type[BaseException], ...] = (sa_exc.DBAPIError, sqlite3.Error)


def _message(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig if orig is not None else exc).lower()


def is_locked_error(exc: BaseException) -> bool:
    """True for SQLITE_BUSY / SQLITE_LOCKED ("database is locked", "database table is locked")."""
    return "locked" in _message(exc) or "busy" in _message(exc)


def damaged_message(db_path: str | Path, detail: str | None = None) -> str:
    """The one line of a ``DatabaseDamagedError`` for ``db_path`` (``detail``: SQLite's first complaint)."""
    what = f" ({' '.join(detail.split())[:160]})" if detail else ""
    return f"the library database {db_path} is damaged{what}; restore it from a backup or rebuild it from your photos"


def translate_db_error(exc: BaseException, db_path: str | Path) -> DatabaseError:
    """A ``DatabaseError`` subclass naming the problem with ``db_path``.

    Args:
        exc: an ``sqlalchemy.exc.DBAPIError`` / ``sqlite3.Error`` (anything else gives a generic message).
        db_path: the database file, for the message.
    Returns:
        the error to raise (the caller raises it ``from None``).
    """
    msg = _message(exc)
    name = str(db_path)
    if is_locked_error(exc):
        return DatabaseLockedError(
            f"the library database {name} is locked by another program (another Landmark Tagger "
            "is writing to it); close it or try again later"
        )
    if "readonly" in msg or "read-only" in msg or "read only" in msg:
        return DatabaseReadOnlyError(f"the library database {name} is read-only; make the file and its folder writable")
    if "malformed" in msg or "corrupt" in msg:
        return DatabaseDamagedError(damaged_message(db_path), Path(db_path))
    if "not a database" in msg or "file is encrypted" in msg:
        return NotALibraryError(f"{name} is not a Landmark Tagger library database (not an SQLite file, or damaged)")
    if "unable to open" in msg:
        return DatabaseUnavailableError(f"cannot open the library database {name} (missing folder or no permission)")
    if "disk i/o" in msg or "database or disk is full" in msg:
        return DatabaseUnavailableError(f"cannot write the library database {name}: disk full or I/O error")
    if isinstance(exc, (sa_exc.DBAPIError, sqlite3.Error)):
        return DatabaseError(f"library database {name}: {str(getattr(exc, 'orig', exc)).splitlines()[0]}")
    return DatabaseError(f"library database {name}: {exc}")
