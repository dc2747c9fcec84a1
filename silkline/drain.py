"""Drain: what SIGTERM does to a node before it stops.

The node says it takes no new calls (``/readyz`` 503 ``draining``, the registry entry
``draining``, the admission limit refuses every new room, so new shoppers wait in the queue),
and the calls whose media it carries go on until they end or ``timeout`` passes. Then the
app's shutdown ends what is left with ``node_drain`` and the process exits 0. A second
signal cuts the wait short.

In a cluster the node first gives up the centre lease (another node decides within a tick and
rebuilds the live calls), and its registry entry says until when its calls may stay
(``drain_until``): then the centre moves them to other nodes (``migrated``), and the node
waits a little longer for those moves before it ends what is left.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from silkline.app import CLOCK, CLUSTER, HEALTH, HEARTBEAT, SFU

logger = logging.getLogger(__name__)

POLL_S = 0.2
MOVE_WAIT_S = 20.0  # cluster: how long past the deadline the centre has to move the last calls


async def drain(app: web.Application, timeout: float, hurry: asyncio.Event | None = None) -> bool:
    """Start draining and wait for the live rooms to close. True when they all ended in time."""
    clock, sfu = app[CLOCK], app[SFU]
    app[HEALTH].start_draining()
    cluster = app.get(CLUSTER)
    if cluster is not None:
        await cluster.role.resign()
        sfu.admission.drain_until = clock.now() + timeout
        timeout += MOVE_WAIT_S
    await app[HEARTBEAT].beat()  # the cluster sees "draining" now, not a heartbeat later
    deadline = clock.monotonic() + timeout
    logger.info("draining: %d live calls may go on for up to %.0f s", len(sfu.rooms), timeout)
    while sfu.rooms and clock.monotonic() < deadline and not (hurry is not None and hurry.is_set()):
        await clock.sleep(POLL_S)
    if sfu.rooms:
        logger.warning("drain over: %d calls still live end with node_drain", len(sfu.rooms))
        return False
    logger.info("drained: no live call left")
    return True
