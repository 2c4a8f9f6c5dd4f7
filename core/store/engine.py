"""SQLAlchemy engine on an SQLite file: WAL, busy timeout, foreign keys, explicit transactions.

Every new DBAPI connection runs (https://sqlite.org/pragma.html, https://sqlite.org/wal.html):

* ``PRAGMA journal_mode=WAL`` — readers never block the writer and vice versa;
* ``PRAGMA busy_timeout=<ms>`` — wait this long for another writer's lock before failing;
* ``PRAGMA foreign_keys=ON`` — ``ON DELETE CASCADE`` of predictions/embeddings;
* ``PRAGMA synchronous=NORMAL`` — durable across application crashes in WAL mode (a power loss may
  lose the last commits, never corrupts);
* ``PRAGMA wal_autocheckpoint=0`` — no checkpoint inside a commit: ``Database.write`` runs a passive checkpoint
  itself once the write-ahead log holds ``CHECKPOINT_WAL_BYTES`` (SQLite's default threshold, 1 000 pages of
  4 KiB), after its transaction and its turn (below) are over. A checkpoint copies the log into the database and
  syncs both (tens to hundreds of milliseconds on a busy disk); inside the commit it would lengthen the turn the
  app's other writers wait for. A passive checkpoint never waits for readers or writers.

pysqlite's own implicit transaction handling is switched off (``isolation_level=None``) and the
``begin`` event emits ``BEGIN`` — or ``BEGIN IMMEDIATE`` on connections of ``Database.writer``,
which takes the write lock up front so a read-then-write transaction can never fail with
SQLITE_BUSY half way (SQLAlchemy's documented recipe for SQLite transactions).

Writers of one process take turns first come, first served (``Database.write`` queues them on a FIFO lock before
``BEGIN IMMEDIATE``). SQLite's own busy handler is not fair: a waiting connection sleeps 1, 2, 5 … up to 100 ms
between tries, so a writer that commits every 40 ms and begins again at once (a long relabel in short transactions,
``core.tagging.relabel``) could keep the GUI's write waiting for seconds. With the queue, a waiting writer of the
process gets the lock at the next commit.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy import exc as sa_exc

# ``Connection`` (``sqlalchemy.Connection``) is re-exported: the tagging code annotates the connections it
# passes to the store's functions without importing SQLAlchemy itself.
__all__ = ["Database", "Connection", "CHECKPOINT_WAL_BYTES"]

#: ``Database.write`` checkpoints the write-ahead log once it is this large (bytes; SQLite's default autocheckpoint
#: is 1 000 pages, 4 MB at the default 4 KiB page size).
CHECKPOINT_WAL_BYTES = 4 * 1024 * 1024


class _FairLock:
    """A lock handed over first come, first served (a queue of waiting threads), re-entrant per thread."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._owner: int | None = None
        self._depth = 0
        self._waiting: deque[tuple[int, threading.Event]] = deque()

    def acquire(self, timeout: float) -> None:
        """Wait (at most ``timeout`` seconds) for the turn of the calling thread.

        Raises:
            sqlite3.OperationalError: "database is locked" when the turn did not come in time (as SQLite's busy
                timeout would).
        """
        me = threading.get_ident()
        with self._mutex:
            if self._owner == me:
                self._depth += 1
                return
            if self._owner is None and not self._waiting:
                self._owner, self._depth = me, 1
                return
            turn = (me, threading.Event())
            self._waiting.append(turn)
        if turn[1].wait(timeout):
            return
        with self._mutex:
            if turn[1].is_set():  # handed over just as the wait timed out
                return
            self._waiting.remove(turn)
        raise sqlite3.OperationalError("database is locked")

    def release(self) -> None:
        """End the calling thread's turn (the innermost one); the next waiting thread's begins."""
        with self._mutex:
            self._depth -= 1
            if self._depth > 0:
                return
            if self._waiting:
                nxt, event = self._waiting.popleft()
                self._owner, self._depth = nxt, 1
                event.set()
            else:
                self._owner = None


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
            cur.execute("PRAGMA wal_autocheckpoint=0")
            cur.close()

        @event.listens_for(self.engine, "begin")
        def _on_begin(conn: Connection) -> None:
            immediate = conn.get_execution_options().get("sqlite_immediate", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        self.writer: Engine = self.engine.execution_options(sqlite_immediate=True)
        self._turns = _FairLock()
        self._wal = f"{self.path}-wal"

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection inside a deferred (read) transaction, rolled back at the end."""
        with self.engine.connect() as conn:
            with conn.begin():
                yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A connection inside a ``BEGIN IMMEDIATE`` transaction, committed when the block succeeds. The process's
        writers take turns in the order they asked (see the module docstring).

        Raises:
            sqlite3.OperationalError: "database is locked" when another writer of this process kept the lock longer
                than the busy timeout (SQLite raises the same for another program's writer).
        """
        self._turns.acquire(self.busy_timeout_s)
        try:
            with self.writer.begin() as conn:
                yield conn
        finally:
            self._turns.release()
        self._checkpoint_if_due()

    def _checkpoint_if_due(self) -> None:
        """A passive checkpoint when the write-ahead log holds ``CHECKPOINT_WAL_BYTES`` or more (see the module
        docstring); a failure is left for the next one (SQLite also checkpoints when the last connection closes)."""
        try:
            if os.stat(self._wal).st_size < CHECKPOINT_WAL_BYTES:
                return
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").all()
        except (OSError, sa_exc.DBAPIError):
            pass

    def dispose(self) -> None:
        """Close all pooled connections."""
        self.engine.dispose()
