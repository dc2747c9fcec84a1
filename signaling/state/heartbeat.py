"""NodeHeartbeat: this node's entry in the NodeRegistry, written every ``interval`` seconds.

The heartbeat owns one task (``close`` cancels and awaits it). A beat that fails (Redis
away) is logged and tried again on the next tick: the node keeps carrying its calls, and the
cluster sees it as dead only if the outage outlasts the TTL. Time comes from the injected
Clock. Closing does not remove the entry: it expires, and the node is reported ``dead``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from media.clock import Clock
from signaling.state.nodes import NodeEntry, NodeRegistry

logger = logging.getLogger(__name__)


class NodeHeartbeat:
    def __init__(self, registry: NodeRegistry, describe: Callable[[], NodeEntry], clock: Clock,
                 interval: float = 1.0, ttl: float = 5.0) -> None:
        if not 0 < interval < ttl:
            raise ValueError("the heartbeat must beat more often than its entry lives")
        self.registry = registry
        self.describe = describe
        self.clock = clock
        self.interval = interval
        self.ttl = ttl
        self.beats = 0
        self._failing = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="node heartbeat")

    async def beat(self) -> None:
        """Write the entry now (also used when the node's state changes, e.g. to draining)."""
        try:
            await self.registry.beat(self.describe(), self.ttl)
        except Exception as exc:  # noqa: BLE001 - any registry failure: try again next tick
            if not self._failing:
                logger.warning("node heartbeat failed: %s: %s", type(exc).__name__, exc)
            self._failing = True
            return
        if self._failing:
            logger.info("node heartbeat written again")
        self._failing = False
        self.beats += 1

    async def _run(self) -> None:
        while True:
            await self.beat()
            await self.clock.sleep(self.interval)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
