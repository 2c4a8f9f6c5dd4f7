"""The progress stream: done/total, photos per second over a sliding window, ETA, states."""

from __future__ import annotations

import pytest

from core.tagging.progress import ProgressTracker


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_rate_eta_and_states():
    clock = FakeClock()
    seen = []
    tr = ProgressTracker([seen.append, lambda p: 1 / 0], window_s=10.0, min_interval_s=0.0, clock=clock)
    tr.start_phase("tagging", 100)
    for _ in range(10):  # 5 photos/s for 2 s
        clock.t += 0.2
        tr.advance(1)
    p = tr.current
    assert (p.state, p.done, p.total) == ("tagging", 10, 100)
    assert p.photos_per_second == pytest.approx(5.0)
    assert p.eta_seconds == pytest.approx(90 / 5.0)
    # the window forgets old speed: 20 s later at 1 photo/s
    for _ in range(20):
        clock.t += 1.0
        tr.advance(1)
    assert tr.current.photos_per_second == pytest.approx(1.0)
    tr.set_state("paused")
    assert tr.current.state == "paused" and tr.current.eta_seconds is None
    clock.t += 500  # a long pause must not count as slow throughput
    tr.set_state("tagging")
    clock.t += 1.0
    tr.advance(2)
    assert tr.current.photos_per_second == pytest.approx(2.0)
    done = tr.set_state("done", "all done", counts={"tagged": 32})
    assert (done.state, done.eta_seconds, done.message, done.counts) == ("done", 0.0, "all done", {"tagged": 32})
    # every update reached the working callback despite the broken one
    assert seen[-1] == done and len(seen) >= 30


def test_updates_are_throttled_but_state_changes_always_sent():
    clock = FakeClock()
    seen = []
    tr = ProgressTracker([seen.append], min_interval_s=1.0, clock=clock)
    tr.start_phase("scanning", 1000)
    for _ in range(100):
        clock.t += 0.009
        tr.advance(1)
    assert len(seen) == 1  # only the phase start; the 100 advances fell within 0.9 s
    clock.t += 0.2
    tr.advance(1)
    assert len(seen) == 2 and seen[-1].done == 101
    tr.set_state("cancelled")
    assert seen[-1].state == "cancelled" and tr.current.done == 101


def test_the_update_that_completes_a_phase_is_always_sent():
    clock = FakeClock()
    seen = []
    tr = ProgressTracker([seen.append], min_interval_s=1.0, clock=clock)
    tr.start_phase("tagging", 16)
    for _ in range(16):  # all within the throttle interval
        clock.t += 0.001
        tr.advance(1)
    assert [(p.done, p.total) for p in seen] == [(0, 16), (16, 16)]
    assert seen[-1].state == "tagging"
