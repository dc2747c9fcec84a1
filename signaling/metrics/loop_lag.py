"""LoopLagProbe: how late the event loop wakes a task that asked to sleep a fixed interval.

A loop that wakes us late is a loop that forwards media late: the lag is what an operator
watches before a node is overloaded. Time comes from the injected Clock (media/clock.py).
The probe owns one task; ``close`` cancels and awaits it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from media.clock import Clock

logger = logging.getLogger(__name__)


class LoopLagProbe:
    def __init__(self, clock: Clock, interval: float, on_tick: Callable[[float], None]) -> None:
        if interval <= 0:
            raise ValueError("the probe interval must be positive")
        self.clock = clock
        self.interval = interval
        self.on_tick = on_tick
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="loop-lag probe")

    async def _run(self) -> None:
        while True:
            before = self.clock.monotonic()
            await self.clock.sleep(self.interval)
            lag = max(0.0, self.clock.monotonic() - before - self.interval)
            self.ticks += 1
            try:
                self.on_tick(lag)
            except Exception:  # a bad sample must not stop the probe
                logger.exception("loop-lag probe: tick failed")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
