"""Measuring GUI-thread responsiveness: a ``QTimer`` heartbeat that records the longest gap.

If the GUI thread is blocked (a long database read, image decode, or a busy GIL), timer events
arrive late; ``max_stall_ms`` is the longest delay beyond the nominal interval, in milliseconds.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, QTimer


class StallMeter(QObject):
    """Heartbeat every ``interval_ms`` milliseconds on the thread that owns it (the GUI thread)."""

    def __init__(self, interval_ms: int = 10, parent: QObject | None = None):
        super().__init__(parent)
        self.interval_ms = interval_ms
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._beat)
        self.reset()

    def reset(self) -> None:
        self.max_stall_ms = 0.0
        self.beats = 0
        self.stalls: list[float] = []
        self._last = None

    def start(self) -> None:
        self.reset()
        self._last = time.perf_counter()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def _beat(self) -> None:
        now = time.perf_counter()
        if self._last is not None:
            stall = (now - self._last) * 1000.0 - self.interval_ms
            if stall > self.max_stall_ms:
                self.max_stall_ms = stall
            if stall > 50:
                self.stalls.append(stall)
        self._last = now
        self.beats += 1
