"""One tagging process per library: a lock file beside the database (``<db>.tagging.lock``).

Two ``landmark-tagger tag`` runs (or the app and a ``tag``) on one library used to decode and run the model on
every photo twice. A scan + tag job now holds an exclusive lock on ``<db>.tagging.lock`` (``filelock.FileLock``:
``fcntl.flock`` on POSIX, ``msvcrt.locking`` on Windows; the operating system drops it when the process dies, so
``kill -9`` leaves no stale lock) for as long as it scans and tags. A second job waits until the lock is free —
telling the person so — or, when it may not wait, fails with ``TaggingBusyError``. Jobs of one ``Library`` are
serialised by the library itself; two ``Library`` objects in one process exclude each other like two processes.

``filelock`` (which imports ``asyncio``, ~40 ms) is imported when a job first takes the lock, not when a library
opens: read-only commands never need it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.domain import TaggingBusyError

__all__ = ["TaggingLock", "lock_path", "POLL_S"]

#: Seconds between attempts while waiting for another process's lock (pause/cancel are honoured between them).
POLL_S = 0.25

BUSY_MESSAGE = "another Landmark Tagger process is tagging this library"


def lock_path(db_path: str | os.PathLike[str]) -> Path:
    """The lock file of the library database ``db_path``."""
    p = Path(db_path)
    return p.with_name(p.name + ".tagging.lock")


class TaggingLock:
    """The cross-process tagging lock of one library database.

    Args:
        db_path: the library database file (the lock file is created beside it).
    """

    def __init__(self, db_path: str | os.PathLike[str]) -> None:
        self.path = lock_path(db_path)
        self._file_lock: Any = None  # filelock.FileLock, made on first use

    def _lock(self) -> Any:
        if self._file_lock is None:
            from filelock import FileLock

            self._file_lock = FileLock(str(self.path), thread_local=False)
        return self._file_lock

    @property
    def held(self) -> bool:
        """This object holds the lock now."""
        return self._file_lock is not None and bool(self._file_lock.is_locked)

    @contextmanager
    def hold(
        self,
        *,
        wait: bool = True,
        checkpoint: Callable[[], None] | None = None,
        on_wait: Callable[[str], object] | None = None,
    ) -> Iterator[None]:
        """Hold the lock for the ``with`` block.

        Args:
            wait: wait while another process holds it (``False``: raise at once).
            checkpoint: called between attempts while waiting (may raise, e.g. ``core.tagging.jobs.Cancelled``).
            on_wait: called once with a readable line when the job has to wait.
        Raises:
            TaggingBusyError: another process holds the lock and ``wait`` is False.
            OSError: the lock file cannot be created (read-only folder).
        """
        from filelock import Timeout

        lock = self._lock()
        told = False
        while True:
            try:
                lock.acquire(timeout=POLL_S if wait else 0)
                break
            except Timeout:
                if not wait:
                    raise TaggingBusyError(f"{BUSY_MESSAGE}; try again when it has finished") from None
                if not told and on_wait is not None:
                    on_wait(f"waiting: {BUSY_MESSAGE}")
                    told = True
                if checkpoint is not None:
                    checkpoint()
        try:
            yield
        finally:
            lock.release()
