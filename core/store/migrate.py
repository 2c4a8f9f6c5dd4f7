"""Schema migrations with Alembic, run programmatically at start-up (no alembic.ini needed).

``upgrade_to_head`` reads the database's revision (table ``alembic_version``), refuses a database
from a newer app, takes a backup copy of an existing database before changing its schema
(``core.store.backup.backup_database``, in ``<db>.backups/``), then runs
``alembic.command.upgrade(config, "head")`` on one connection.

Opening a library that is already at head never imports Alembic: importing it (with Mako and Pygments) and
letting it compile every revision script cost ~0.3 s of the 0.5 s a ``landmark-tagger albums`` may take.
``shipped_head`` reads the head revision from the revision files' ``revision = "…"`` / ``down_revision = "…"``
lines instead (``tests/core/store/test_store.py`` checks it equals Alembic's own ``head_revision``).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text

from core.domain import NewerSchemaError, NotALibraryError
from core.store.backup import backup_database
from core.store.engine import Database

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "MIGRATIONS_DIR",
    "alembic_config",
    "head_revision",
    "shipped_head",
    "known_revisions",
    "current_revision",
    "upgrade_to_head",
    "upgrade_to",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


_REVISION_LINE = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(None|[\"']([^\"']+)[\"'])\s*$", re.M)


@functools.lru_cache(maxsize=1)
def shipped_head() -> str | None:
    """The newest revision id of ``migrations/versions/`` read from the files' text (no Alembic import), or
    ``None`` when it cannot be told that way (a merge revision, a tuple of down revisions, unreadable files):
    the caller then asks Alembic (``head_revision``)."""
    revisions: dict[str, str | None] = {}
    try:
        files = sorted((MIGRATIONS_DIR / "versions").glob("[0-9]*.py"))
        for f in files:
            found = dict((m.group(1), m.group(3)) for m in _REVISION_LINE.finditer(f.read_text(encoding="utf-8")))
            if "revision" not in found or found["revision"] is None or "down_revision" not in found:
                return None
            revisions[found["revision"]] = found["down_revision"]
    except OSError:
        return None
    heads = set(revisions) - {down for down in revisions.values() if down is not None}
    return heads.pop() if len(heads) == 1 else None


def alembic_config() -> Config:
    """An Alembic ``Config`` whose ``script_location`` is ``core/store/migrations``."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str:
    """The newest revision id this app knows (e.g. ``"0003"``), as Alembic reads it."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the app ships its revisions
        raise RuntimeError(f"no Alembic revisions in {MIGRATIONS_DIR / 'versions'}")
    return head


def known_revisions() -> set[str]:
    """All revision ids of this app."""
    from alembic.script import ScriptDirectory

    return {rev.revision for rev in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def current_revision(db: Database) -> tuple[str | None, bool]:
    """``(revision, has_other_tables)`` of the database: revision ``None`` for a fresh database."""
    with db.read() as conn:
        names = set(inspect(conn).get_table_names())
        rev = None
        if "alembic_version" in names:
            rev = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return rev, bool(names - {"alembic_version"})


def upgrade_to(db: Database, revision: str) -> None:
    """Run Alembic up to ``revision`` (tests use it to build old-revision databases)."""
    from alembic import command

    cfg = alembic_config()
    with db.writer.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        conn.commit()


def upgrade_to_head(db: Database, *, backup: bool = True) -> Path | None:
    """Bring the schema to head.

    Args:
        db: the database. backup: take a backup copy before migrating an existing database (``False`` for the
            scratch copies a rebuild migrates).
    Returns:
        the backup file written before migrating an existing database, else ``None``.
    Raises:
        LibraryError: the database comes from a newer app version, or holds tables but no Alembic
            revision (not a Landmark Tagger library).
        sqlalchemy.exc.DBAPIError / sqlite3.Error / OSError: SQLite failed (the caller translates it).
    """
    rev, has_tables = current_revision(db)
    if rev is not None and rev == shipped_head():  # the usual open: no Alembic import at all
        return None
    head = head_revision()
    if rev == head:
        return None
    if rev is not None and rev not in known_revisions():
        raise NewerSchemaError(
            f"the library database {db.path} was written by a newer version of Landmark Tagger "
            f"(schema revision {rev}, this app knows up to {head}); update the app"
        )
    if rev is None and has_tables:
        raise NotALibraryError(f"{db.path} is an SQLite database but not a Landmark Tagger library")
    copy = backup_database(db.path, rev) if rev is not None and backup else None
    upgrade_to(db, "head")
    return copy
