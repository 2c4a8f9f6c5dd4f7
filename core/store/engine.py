"""SQLAlchemy engine on an SQLite file: WAL, busy timeout, foreign keys, explicit transactions.

Every new DBAPI connection runs (https://sqlite.org/pragma.html, https://sqlite.org/wal.html):

* ``PRAGMA journal_mode=WAL`` — readers never block the writer and vice versa;
* ``PRAGMA busy_timeout=<ms>`` — wait this long for another writer's lock before failing;
* ``PRAGMA foreign_keys=ON`` — ``ON DELETE CASCADE`` of predictions/embeddings;
* ``PRAGMA synchronous=NORMAL`` — durable across application crashes in WAL mode (a power loss may
  lose the last commits, never corrupts).

pysqlite's own implicit transaction handling is switched off (``isolation_level=None``) and the
``begin`` event emits ``BEGIN`` — or ``BEGIN IMMEDIATE`` on connections of ``Database.writer``,
which takes the write lock up front so a read-then-write transaction can never fail with
SQLITE_BUSY half way (SQLAlchemy's documented recipe for SQLite transactions).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event

# ``Connection`` (``sqlalchemy.Connection``) is re-exported: the tagging code annotates the connections it
# passes to the store's functions without importing SQLAlchemy itself.
__all__ = ["Database", "Connection"]


class Database:
    """One SQLite library file.

    Attributes:
        path: the database file.
        engine: for reads (``BEGIN`` deferred).
        writer: the same pool, transactions start with ``BEGIN IMMEDIATE``.
        checked_at_open: ``open_database`` ran ``quick_check`` on the file before opening it.
    Args:
        path: database file (created when missing).
        busy_timeout_s: seconds to wait for another connection's lock (SQLite busy timeout).
    """

    def __init__(self, path: str | Path, busy_timeout_s: float = 5.0) -> None:
        self.path = Path(path)
        self.busy_timeout_s = float(busy_timeout_s)
        self.checked_at_open = False  # set by core.store.open.open_database
        self.engine: Engine = create_engine(
            f"sqlite:///{self.path}",
            connect_args={"timeout": self.busy_timeout_s, "check_same_thread": False},
            pool_size=8,
            max_overflow=8,
        )
        busy_ms = int(self.busy_timeout_s * 1000)

        @event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_conn, _record) -> None:
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout={busy_ms}")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(self.engine, "begin")
        def _on_begin(conn: Connection) -> None:
            immediate = conn.get_execution_options().get("sqlite_immediate", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        self.writer: Engine = self.engine.execution_options(sqlite_immediate=True)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection inside a deferred (read) transaction, rolled back at the end."""
        with self.engine.connect() as conn:
            with conn.begin():
                yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A connection inside a ``BEGIN IMMEDIATE`` transaction, committed when the block succeeds."""
        with self.writer.begin() as conn:
            yield conn

    def dispose(self) -> None:
        """Close all pooled connections."""
        self.engine.dispose()
