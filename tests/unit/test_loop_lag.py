"""The loop-lag probe on a VirtualClock: it ticks as time moves, reports the lateness of
its wake-up, and its owner cancels and awaits it (no timer left behind)."""

from __future__ import annotations

import asyncio

import pytest

from media.clock import VirtualClock
from signaling.metrics.loop_lag import LoopLagProbe


class LateClock(VirtualClock):
    """Wakes sleepers on time but reports ``late`` seconds more when asked right after."""

    def __init__(self, late: float) -> None:
        super().__init__()
        self.late = late
        self.woken = False

    def monotonic(self) -> float:
        value = super().monotonic()
        if self.woken:
            self.woken = False
            return value + self.late
        return value

    async def sleep(self, delay: float) -> None:
        await super().sleep(delay)
        self.woken = True


async def test_probe_ticks_with_the_clock_and_closes_cleanly():
    clock = VirtualClock()
    lags: list[float] = []
    probe = LoopLagProbe(clock, 0.5, lags.append)
    probe.start()
    await clock.advance(0.0)
    assert lags == []
    await clock.advance(2.0)
    assert lags == [0.0, 0.0, 0.0, 0.0]
    await probe.close()
    assert clock.pending() == 0
    await clock.advance(2.0)
    assert len(lags) == 4


async def test_probe_reports_a_late_wake_up():
    clock = LateClock(late=0.3)
    lags: list[float] = []
    probe = LoopLagProbe(clock, 0.25, lags.append)
    probe.start()
    await clock.advance(0.25)
    await probe.close()
    assert lags == [pytest.approx(0.3)]


async def test_a_failing_tick_does_not_stop_the_probe():
    clock = VirtualClock()
    calls: list[float] = []

    def tick(lag: float) -> None:
        calls.append(lag)
        raise RuntimeError("bad sample")

    probe = LoopLagProbe(clock, 1.0, tick)
    probe.start()
    await clock.advance(3.0)
    await probe.close()
    assert len(calls) == 3
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "loop-lag probe"]
