"""The virtual clock runs timers in order and wakes sleepers only when advanced."""

from __future__ import annotations

import asyncio

from media.clock import SystemClock, VirtualClock


async def test_virtual_clock_runs_due_timers_in_order() -> None:
    clock = VirtualClock()
    fired: list[str] = []
    clock.call_later(2.0, fired.append, "b")
    clock.call_later(1.0, fired.append, "a")
    cancelled = clock.call_later(1.5, fired.append, "never")
    cancelled.cancel()
    clock.call_later(5.0, fired.append, "late")
    start = clock.now()
    await clock.advance(2.0)
    assert fired == ["a", "b"]
    assert clock.now() == start + 2.0
    assert clock.pending() == 1
    await clock.advance(3.0)
    assert fired == ["a", "b", "late"]


async def test_virtual_sleep_wakes_only_when_time_moves() -> None:
    clock = VirtualClock()
    woke = asyncio.Event()

    async def sleeper() -> None:
        await clock.sleep(10)
        woke.set()

    task = asyncio.create_task(sleeper())
    await clock.advance(9.9)
    assert not woke.is_set()
    await clock.advance(0.2)
    await asyncio.wait_for(woke.wait(), 1)
    await task


async def test_system_clock_timer() -> None:
    clock = SystemClock()
    done = asyncio.Event()
    clock.call_later(0.01, done.set)
    await asyncio.wait_for(done.wait(), 5)
    assert clock.monotonic() > 0 and clock.now() > 1_600_000_000
