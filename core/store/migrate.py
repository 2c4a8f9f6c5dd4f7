"""Schema migrations with Alembic, run programmatically at start-up (no alembic.ini needed).

``upgrade_to_head`` reads the database's revision (table ``alembic_version``), refuses a database
from a newer app, takes a backup copy of an existing database before changing its schema
(``core.store.backup.backup_database``, in ``<db>.backups/``), then runs
``alembic.command.upgrade(config, "head")`` on one connection.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from core.domain import NewerSchemaError, NotALibraryError
from core.store.backup import backup_database
from core.store.engine import Database

__all__ = [
    "MIGRATIONS_DIR",
    "alembic_config",
    "head_revision",
    "known_revisions",
    "current_revision",
    "upgrade_to_head",
    "upgrade_to",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    """An Alembic ``Config`` whose ``script_location`` is ``core/store/migrations``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str:
    """The newest revision id this app knows (e.g. ``"0003"``)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the app ships its revisions
        raise RuntimeError(f"no Alembic revisions in {MIGRATIONS_DIR / 'versions'}")
    return head


def known_revisions() -> set[str]:
    """All revision ids of this app."""
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
    head = head_revision()
    rev, has_tables = current_revision(db)
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
