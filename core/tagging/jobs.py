"""Job control: ``JobControl`` (pause / resume / cancel flags shared by a job's threads), ``Cancelled``,
and ``TaggingJob`` (a scan + tag run on a background thread that feeds one
``core.tagging.progress.ProgressTracker`` stream)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from core.domain import Progress
from core.tagging.progress import ProgressTracker

__all__ = ["JobControl", "Cancelled", "TaggingJob"]


class Cancelled(Exception):
    """Raised inside a job when ``JobControl.cancel`` was called."""


class JobControl:
    """Pause / resume / cancel flags shared by a job's threads (all methods thread-safe, non-blocking
    except ``checkpoint``)."""

    def __init__(self) -> None:
        self._run = threading.Event()
        self._run.set()
        self._cancel = threading.Event()
        self._blocked = threading.Event()

    def pause(self) -> None:
        """Workers block at their next ``checkpoint`` (the batch in flight still commits)."""
        self._run.clear()

    def resume(self) -> None:
        """Let paused workers go on."""
        self._run.set()

    def cancel(self) -> None:
        """Workers raise ``Cancelled`` at their next ``checkpoint`` (a paused job wakes up to stop)."""
        self._cancel.set()
        self._run.set()

    @property
    def cancelled(self) -> bool:
        """``cancel`` was called."""
        return self._cancel.is_set()

    @property
    def paused(self) -> bool:
        """Paused and not cancelled."""
        return not self._run.is_set()

    @property
    def blocked(self) -> bool:
        """A worker is waiting in ``checkpoint`` (paused, with everything before it committed)."""
        return self._blocked.is_set()

    def checkpoint(
        self, on_pause: Callable[[], None] | None = None, on_resume: Callable[[], None] | None = None
    ) -> None:
        """Block while paused; raise ``Cancelled`` when cancelled."""
        if self._cancel.is_set():
            raise Cancelled()
        if not self._run.is_set():
            if on_pause:
                on_pause()
            self._blocked.set()
            try:
                self._run.wait()
            finally:
                self._blocked.clear()
            if self._cancel.is_set():
                raise Cancelled()
            if on_resume:
                on_resume()


class TaggingJob:
    """A scan + tag job on a background thread (``Library.start_tagging``).

    Attributes:
        progress: the latest ``Progress`` (also sent to the callbacks).
        error: the ``LibraryError`` (or other exception) that ended the job, else ``None``.
    Methods:
        pause(), resume(), cancel(): control the job (thread-safe, return at once).
        wait(timeout=None) -> Progress: block until the job ends (or ``timeout`` seconds pass).
    """

    def __init__(
        self,
        run: Callable[[ProgressTracker, JobControl], Progress],
        tracker: ProgressTracker,
        name: str = "tagging-job",
    ) -> None:
        self._tracker = tracker
        self.control = JobControl()
        self.error: BaseException | None = None
        self._final: Progress | None = None

        def main() -> None:
            try:
                self._final = run(tracker, self.control)
            except Cancelled:
                self._final = tracker.set_state("cancelled", "cancelled")
            except BaseException as exc:  # noqa: BLE001 - reported through progress and wait()
                self.error = exc
                self._final = tracker.set_state("failed", str(exc).splitlines()[0] if str(exc) else repr(exc))

        self._thread = threading.Thread(target=main, name=name, daemon=True)
        self._thread.start()

    @property
    def progress(self) -> Progress:
        """The latest ``Progress`` (the final one once the job ended)."""
        return self._final or self._tracker.current

    def pause(self) -> None:
        """Pause after the batch in flight (its results are committed); state becomes ``"paused"``."""
        self.control.pause()
        self._tracker.set_state("paused", "paused")

    def resume(self) -> None:
        """Continue a paused job."""
        if self.control.paused:
            self.control.resume()
            self._tracker.set_state("tagging", "tagging")

    def cancel(self) -> None:
        """Stop soon; committed results stay, the rest stays pending for the next run."""
        self.control.cancel()

    def is_alive(self) -> bool:
        """True while the job's thread runs."""
        return self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> Progress:
        """Block until the job ends or ``timeout`` seconds pass; returns ``progress``."""
        self._thread.join(timeout)
        return self.progress
