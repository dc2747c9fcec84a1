"""One clock for the whole server, so tests can move time instead of sleeping.

Every timer (ring, grace, wrap-up, watchdogs, retention) and every timestamp (call records,
tokens, reservations, QA links) asks a :class:`Clock`. Production uses :class:`SystemClock`;
tests hand a :class:`VirtualClock` to the app factory and call :meth:`VirtualClock.advance`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Any, Protocol


class Timer(Protocol):
    """What ``call_later`` returns: something that can be cancelled (as ``asyncio.TimerHandle``)."""

    def cancel(self) -> None: ...

    def cancelled(self) -> bool: ...


class Clock(Protocol):
    def now(self) -> float:
        """Wall-clock seconds since the epoch: for records, tokens, anything a person reads."""
        ...

    def monotonic(self) -> float:
        """Seconds that never go backwards: for intervals and deadlines."""
        ...

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Timer:
        """Run ``callback(*args)`` on the event loop after ``delay`` seconds."""
        ...

    async def sleep(self, delay: float) -> None:
        """Wait ``delay`` seconds (a periodic task's pause)."""
        ...


class SystemClock:
    """The real clock: time.time / time.monotonic and the running loop's timers."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Timer:
        return asyncio.get_running_loop().call_later(max(0.0, delay), callback, *args)

    async def sleep(self, delay: float) -> None:
        await asyncio.sleep(delay)


class _VirtualTimer:
    def __init__(self, clock: VirtualClock, when: float, callback: Callable[..., Any],
                 args: tuple[Any, ...]) -> None:
        self.when = when
        self.callback = callback
        self.args = args
        self._cancelled = False
        self._clock = clock

    def cancel(self) -> None:
        self._cancelled = True

    def cancelled(self) -> bool:
        return self._cancelled


class VirtualClock:
    """A clock that moves only when a test says so.

    ``advance(seconds)`` runs every timer that falls due, in time order, and wakes the
    sleepers; between steps it yields to the event loop so the woken code runs as it would.
    """

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._start = start
        self._timers: list[tuple[float, int, _VirtualTimer]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._now - self._start

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Timer:
        timer = _VirtualTimer(self, self._now + max(0.0, delay), callback, args)
        heapq.heappush(self._timers, (timer.when, next(self._order), timer))
        return timer

    async def sleep(self, delay: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not future.done():
                future.set_result(None)

        timer = self.call_later(delay, wake)
        try:
            await future
        finally:
            timer.cancel()

    def pending(self) -> int:
        """Timers not yet run nor cancelled."""
        return sum(1 for _, _, t in self._timers if not t.cancelled())

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, running what falls due on the way."""
        target = self._now + seconds
        await _settle()
        while self._timers and self._timers[0][0] <= target:
            when, _, timer = heapq.heappop(self._timers)
            if timer.cancelled():
                continue
            self._now = max(self._now, when)
            timer.callback(*timer.args)
            await _settle()
        self._now = target
        await _settle()


async def _settle(rounds: int = 5) -> None:
    """Let callbacks and the tasks they woke run a few steps."""
    for _ in range(rounds):
        await asyncio.sleep(0)
