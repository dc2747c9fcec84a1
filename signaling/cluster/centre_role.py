"""CentreRole: this node's part in the centre lease — take it when free, keep it, give it up.

One task (owned here) ticks every ``interval``: the holder renews, everybody else tries to take
the lease, and everybody reads who holds it (for forwarding). A holder whose lease expired
takes it again if nobody else did (a Redis outage outlasted the TTL) and steps down at once
when another node holds it: its calls are rebuilt there, its sockets closed so they come back.
While Redis is away nobody can take the lease, and a holder cut off from Redis can change
nothing shared (every write goes through Redis and fails), so it keeps its live calls.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from media.clock import Clock
from signaling.cluster.lease import CentreLease, Holder
from signaling.errors import SignalingError

logger = logging.getLogger(__name__)


class CentreRole:
    def __init__(self, lease: CentreLease, clock: Clock, *, interval: float,
                 elected: Callable[[Holder], Awaitable[None]],
                 deposed: Callable[[str], Awaitable[None]],
                 refenced: Callable[[Holder], None] | None = None,
                 handing_over: Callable[[], Awaitable[None]] | None = None) -> None:
        self.lease = lease
        self.clock = clock
        self.interval = interval
        self.ttl = lease.ttl_ms / 1000.0
        self._elected = elected
        self._deposed = deposed
        self._refenced = refenced
        self._handing_over = handing_over  # what only the holder can still write, before it resigns
        self.holding: Holder | None = None
        self.current: Holder | None = None  # who holds it, as last read
        self.eligible = True  # a draining node takes no lease
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    @property
    def is_centre(self) -> bool:
        return self.holding is not None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="centre lease")

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # noqa: BLE001 - a bug in a callback must not stop the lease
                logger.exception("centre lease tick failed")
            await self.clock.sleep(self.interval)

    async def tick(self) -> None:
        try:
            if self.holding is not None:
                if not await self.lease.renew(self.holding):
                    await self._renew_lost()
            elif self.eligible:
                won = await self.lease.acquire()
                if won is not None:
                    await self._take(won)
            self._set_current(await self.lease.holder())
        except SignalingError:
            # Redis away: nobody can take the lease meanwhile (every write goes through Redis,
            # so a holder cut off from it can change nothing shared); decide again on return
            pass

    async def _take(self, won: Holder) -> None:
        """Decide from now on — once the live calls are rebuilt: until ``elected`` returns this
        node is not the centre (relayed requests meet a 503 and try again), and if it fails the
        lease is given back so that a later tick (here or elsewhere) tries again."""
        try:
            await self._elected(won)
        except BaseException:
            logger.exception("taking over the contact centre failed; giving the lease back")
            try:
                await self.lease.release(won)
            finally:
                await self._deposed("taking over failed")
            raise
        self.holding = won
        logger.info("this node now decides for the contact centre (epoch %d)", won.epoch)

    async def _renew_lost(self) -> None:
        """The lease expired under us (a Redis outage outlasted it) or another node holds it."""
        holding = self.holding
        assert holding is not None
        won = await self.lease.acquire()
        if won is not None and won.epoch == holding.epoch + 1:  # nobody held it meanwhile
            logger.info("the centre lease is ours again after an interruption (epoch %d)", won.epoch)
            self.holding = won
            if self._refenced is not None:
                self._refenced(won)
            return
        await self._step_down("the lease went to another node")
        if won is not None:  # another node decided in between: what it did is in the records
            await self._take(won)

    def _set_current(self, holder: Holder | None) -> None:
        if holder != self.current:
            self.current = holder
            self._changed.set()
            self._changed = asyncio.Event()

    async def _step_down(self, why: str) -> None:
        holding, self.holding = self.holding, None
        logger.warning("this node no longer decides for the contact centre: %s", why)
        if holding is not None:
            await self._deposed(why)

    async def wait_for_holder(self, timeout: float) -> Holder | None:
        """Who holds the lease, waiting up to ``timeout`` while nobody does (an election)."""
        deadline = self.clock.monotonic() + timeout
        while self.current is None and self.clock.monotonic() < deadline:
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), max(0.0, min(self.interval, deadline - self.clock.monotonic())))
            except TimeoutError:
                pass
        return self.current

    async def resign(self) -> None:
        """Give the lease up now (SIGTERM): another node takes it within one tick, not a TTL."""
        self.eligible = False
        holding = self.holding
        if holding is None:
            return
        if self._handing_over is not None:
            try:
                await self._handing_over()
            except Exception:  # noqa: BLE001 - the lease is given up all the same
                logger.exception("handing the centre over failed")
        try:
            await self.lease.release(holding)
        except SignalingError:
            pass  # Redis away: the lease expires on its own
        await self._step_down("this node is draining")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
