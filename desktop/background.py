"""Bridges from core's worker threads to the GUI thread.

Core calls its progress/change callbacks from its own threads. Widgets may only be touched from the
GUI thread, so every callback here does nothing but emit a Qt signal; signals emitted from another
thread reach their GUI-thread slots through a queued connection (Qt's thread-safe event queue).
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal

from core.domain import LibraryError


class TaggingBridge(QObject):
    """Starts ``Library.start_tagging`` / ``start_watching`` and re-emits their callbacks as signals.

    Signals (all delivered in the GUI thread):
        progress(object): a ``core`` ``Progress`` snapshot of the tagging job.
        watchProgress(object): a ``Progress`` of the watcher's reconciliation/batch tagging.
        finished(object): the final ``Progress`` (state ``done``, ``cancelled`` or ``failed``).
        changed(object): a watcher change notification (whatever ``on_change`` received).
        folders(object): the folders' states (``list[FolderInfo]``) after one went missing or came back.
        error(str): a one-line message when starting the job failed.
    """

    progress = Signal(object)
    watchProgress = Signal(object)
    finished = Signal(object)
    changed = Signal(object)
    folders = Signal(object)
    error = Signal(str)

    _TERMINAL = ("done", "cancelled", "failed")

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.job: Any = None  # the running core ``TaggingJob`` (pause/resume/cancel/wait), or None
        self._finished_sent = False
        self._lock = threading.Lock()

    # callbacks: worker threads --------------------------------------------------------------------
    def _on_progress(self, p: Any) -> None:
        self.progress.emit(p)
        if getattr(p, "state", None) in self._TERMINAL:
            with self._lock:
                if self._finished_sent:
                    return
                self._finished_sent = True
            self.finished.emit(p)

    def _on_change(self, change: Any) -> None:
        self.changed.emit(change)

    def _on_folders(self, infos: Any) -> None:
        self.folders.emit(infos)

    # GUI thread -----------------------------------------------------------------------------------
    def start_tagging(self, library) -> bool:
        """Start a tagging job on ``library`` unless one is running; ``False`` if it could not start."""
        if self.running():
            return False
        self._finished_sent = False
        try:
            self.job = library.start_tagging(on_progress=self._on_progress)
        except (LibraryError, RuntimeError) as exc:  # closed library; no thread could be started
            self.job = None
            self.error.emit(str(exc) or type(exc).__name__)
            return False
        return True

    def start_watching(self, library) -> bool:
        """Start watching the library's folders; ``False`` (and ``error``) if the watcher failed."""
        try:
            library.start_watching(
                on_progress=self._on_progress_watch, on_change=self._on_change, on_folders=self._on_folders
            )
        except (LibraryError, OSError, RuntimeError) as exc:  # missing folder, no watch handles, no thread
            self.error.emit(f"Could not watch the folders: {exc}")
            return False
        return True

    def _on_progress_watch(self, p: Any) -> None:
        self.watchProgress.emit(p)

    def running(self) -> bool:
        """Whether a tagging job is active (not done, cancelled or failed)."""
        job = self.job
        if job is None:
            return False
        state = getattr(getattr(job, "progress", None), "state", "done")
        return state not in self._TERMINAL and not self._finished_sent

    def pause(self) -> None:
        """Pause the job after the batch in flight (nothing when no job ran)."""
        if self.job is not None:
            self.job.pause()

    def resume(self) -> None:
        """Continue a paused job."""
        if self.job is not None:
            self.job.resume()

    def cancel(self) -> None:
        """Ask the job to stop soon (its committed results stay)."""
        if self.job is not None:
            self.job.cancel()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Cancel the job and wait up to ``timeout_s`` seconds for its thread to end."""
        if self.job is not None:
            self.job.cancel()
            self.job.wait(timeout_s)


class _CallSignals(QObject):
    done = Signal(object)
    failed = Signal(object)


class _Call(QRunnable):
    def __init__(self, fn: Callable[[], Any], signals: _CallSignals):
        super().__init__()
        self.fn, self.signals = fn, signals

    def run(self) -> None:
        try:
            result = self.fn()
        except Exception as exc:  # noqa: BLE001 - a worker must never die: every failure goes to on_error
            exc.__traceback_text__ = traceback.format_exc()  # type: ignore[attr-defined]
            self.signals.failed.emit(exc)
        else:
            self.signals.done.emit(result)


_KEEP: set[_CallSignals] = set()


def run_in_background(
    fn: Callable[[], Any],
    on_done: Callable[[Any], None],
    on_error: Callable[[Exception], None] | None = None,
    pool: QThreadPool | None = None,
    owner: QObject | None = None,
    on_orphan: Callable[[Any], None] | None = None,
) -> None:
    """Run ``fn()`` in a thread pool; call ``on_done(result)`` or ``on_error(exc)`` in the GUI thread.

    When ``owner`` (a widget) has been deleted by the time the result arrives, neither is called;
    ``on_orphan(result_or_exception)`` is, to release what ``fn`` made (e.g. close a library nobody
    shows).
    """
    from shiboken6 import isValid

    signals = _CallSignals()
    _KEEP.add(signals)

    def finish_ok(result):
        _KEEP.discard(signals)
        if owner is not None and not isValid(owner):
            if on_orphan is not None:
                on_orphan(result)
            return
        on_done(result)

    def finish_err(exc):
        _KEEP.discard(signals)
        if owner is not None and not isValid(owner):
            if on_orphan is not None:
                on_orphan(exc)
            return
        if on_error is not None:
            on_error(exc)
        else:
            raise exc

    signals.done.connect(finish_ok, Qt.ConnectionType.QueuedConnection)
    signals.failed.connect(finish_err, Qt.ConnectionType.QueuedConnection)
    (pool or QThreadPool.globalInstance()).start(_Call(fn, signals))
