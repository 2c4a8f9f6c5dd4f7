"""The progress stream of a tagging job: done/total, photos per second, ETA.

One ``ProgressTracker`` per job; scanning and tagging (``core.tagging.scan``, ``core.tagging.tag``) call
``start_phase``/``advance``/``finish`` and every registered callback gets an immutable ``core.domain.Progress``
(from the calling worker thread — the GUI must hand it to its own thread, e.g. with a Qt signal). The CLI's
progress bar and the GUI read the same stream.

Throughput is measured over a sliding window (default 10 s) of ``(time, done)`` samples, so it follows
the current speed rather than the average since the start; the ETA is ``(total - done) / rate``.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from core.domain import Progress

__all__ = ["ProgressTracker", "ProgressCallback"]

ProgressCallback = Callable[[Progress], None]


class ProgressTracker:
    """Thread-safe progress state with rate/ETA and listeners.

    Args:
        callbacks: called with each new ``Progress``; exceptions they raise are swallowed (a broken
            progress bar must not stop tagging).
        window_s: length of the throughput window, seconds.
        min_interval_s: at most one emitted update per this many seconds from ``advance`` (state
            changes, ``force=True`` and the update that completes a phase always emit).
        clock: time source in seconds (``time.monotonic``; tests can pass a fake).
    """

    def __init__(
        self,
        callbacks: list[ProgressCallback] | None = None,
        *,
        window_s: float = 10.0,
        min_interval_s: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._callbacks = [c for c in (callbacks or []) if c is not None]
        self._window_s = window_s
        self._min_interval_s = min_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._samples: deque[tuple[float, int]] = deque()
        self._state = "scanning"
        self._done = 0
        self._total = 0
        self._message = ""
        self._counts: dict = {}
        self._last_emit = float("-inf")
        self._current = Progress(state="scanning", done=0, total=0)

    @property
    def current(self) -> Progress:
        """The latest ``Progress``."""
        return self._current

    def add_callback(self, callback: ProgressCallback | None) -> None:
        """Also send updates to ``callback`` (``None`` is ignored)."""
        if callback is not None:
            with self._lock:
                self._callbacks.append(callback)

    def start_phase(self, state: str, total: int, message: str = "") -> Progress:
        """Enter ``state`` ("scanning"/"tagging") with ``total`` items to do; resets done and the rate."""
        with self._lock:
            self._state, self._total, self._done, self._message = state, max(0, int(total)), 0, message
            self._samples.clear()
            self._samples.append((self._clock(), 0))
        return self._emit(force=True)

    def set_total(self, total: int) -> None:
        """Change the number of items of the current phase (work was added or removed)."""
        with self._lock:
            self._total = max(0, int(total))
        self._emit(force=False)

    def advance(
        self, n: int = 1, *, message: str | None = None, counts: dict | None = None, force: bool = False
    ) -> Progress:
        """``n`` more items done."""
        with self._lock:
            self._done += n
            now = self._clock()
            self._samples.append((now, self._done))
            while len(self._samples) > 2 and now - self._samples[0][0] > self._window_s:
                self._samples.popleft()
            if message is not None:
                self._message = message
            if counts is not None:
                self._counts = dict(counts)
            # the update that completes the phase is never throttled away: a bar must reach 100 %
            finished = self._total > 0 and self._done >= self._total
        return self._emit(force=force or finished)

    def set_state(self, state: str, message: str | None = None, counts: dict | None = None) -> Progress:
        """Switch state (``"paused"``, ``"done"``, ``"cancelled"``, ``"failed"``, back to ``"tagging"``)."""
        with self._lock:
            self._state = state
            if message is not None:
                self._message = message
            if counts is not None:
                self._counts = dict(counts)
            if state == "tagging":  # resuming: the pause must not count as slow throughput
                self._samples.clear()
                self._samples.append((self._clock(), self._done))
        return self._emit(force=True)

    def set_message(self, message: str) -> Progress:
        """Replace the message line (e.g. the watcher's polling fallback reason)."""
        with self._lock:
            self._message = message
        return self._emit(force=True)

    def _rate(self) -> float:
        if len(self._samples) < 2:
            return 0.0
        (t0, d0), (t1, d1) = self._samples[0], self._samples[-1]
        return (d1 - d0) / (t1 - t0) if t1 > t0 else 0.0

    def _emit(self, force: bool) -> Progress:
        with self._lock:
            rate = self._rate()
            remaining = max(0, self._total - self._done)
            eta = (remaining / rate) if rate > 0 else (0.0 if remaining == 0 and self._total else None)
            if self._state in ("done", "cancelled", "failed", "paused"):
                eta = None if self._state != "done" else 0.0
            prog = Progress(
                state=self._state,
                done=self._done,
                total=self._total,
                photos_per_second=rate,
                eta_seconds=eta,
                message=self._message,
                counts=dict(self._counts),
            )
            self._current = prog
            now = self._clock()
            if not force and now - self._last_emit < self._min_interval_s:
                return prog
            self._last_emit = now
            callbacks = list(self._callbacks)
        for cb in callbacks:
            try:
                cb(prog)
            except Exception:  # noqa: BLE001 - a broken listener must not stop tagging
                pass
        return prog
