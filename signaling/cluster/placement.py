"""Where a new room goes: the least-loaded ``active`` node under its admission limit.

The nodes are known by their registry views (``NodeEntry.view``, the ``GET /api/nodes`` shape),
which ``NodeViews`` keeps fresh from the registry on a timer of its own. A view carries a
node's load (rooms, tracks, loop lag, CPU), not its limit: every node of a cluster runs with
the same configuration, so the centre judges each node by its own ``AdmissionLimit``. Rooms
placed since the node's last heartbeat count too (the heartbeat is up to a second old).

The centre's own node carries media only when no other node can: it also does the dispatching.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from media.clock import Clock
from sfu import AdmissionLimit, Refusal
from signaling.state.nodes import NodeState

logger = logging.getLogger(__name__)

View = Mapping[str, Any]
Place = Callable[[int], "str | None"]  # pending rooms → the node for the next room, or None


def refusal_of(view: View, limit: AdmissionLimit, rooms: int, pending: int = 0) -> Refusal | None:
    """What would keep ``view``'s node from opening one more room (``rooms`` it carries,
    ``pending`` promised), judged by ``limit``; None when it admits one."""
    if view.get("state") != NodeState.ACTIVE:
        return Refusal.DRAINING
    load = view.get("load") or {}
    if limit.max_calls and rooms + pending >= limit.max_calls:
        return Refusal.CALLS
    if limit.max_tracks and int(load.get("tracks") or 0) >= limit.max_tracks:
        return Refusal.TRACKS
    if limit.max_loop_lag_ms and float(load.get("loop_lag_ms") or 0.0) >= limit.max_loop_lag_ms:
        return Refusal.LOOP_LAG
    if limit.max_cpu_pct and float(load.get("cpu_pct") or 0.0) >= limit.max_cpu_pct:
        return Refusal.CPU
    return None


class LeastLoaded:
    """The default placement over a list of node views (see the module docstring)."""

    def __init__(self, views: Callable[[], Iterable[View]], limit: AdmissionLimit, own_node: str,
                 placed: Callable[[], Mapping[str, str]] = dict,
                 avoid: Callable[[], set[str]] = set) -> None:
        self.views = views
        self.limit = limit
        self.own_node = own_node
        self.placed = placed  # room id → node id, the rooms this centre placed
        self.avoid = avoid  # nodes that refused a room just now, whatever their last view says

    def rooms_of(self, view: View) -> int:
        node_id = view.get("node_id")
        known = set(view.get("rooms") or [])
        known.update(room for room, node in self.placed().items() if node == node_id)
        return max(len(known), int((view.get("load") or {}).get("rooms") or 0))

    def _refusal(self, view: View, pending: int = 0) -> Refusal | None:
        if view.get("node_id") in self.avoid():
            return Refusal.CALLS  # it said so itself, after its last heartbeat
        return refusal_of(view, self.limit, self.rooms_of(view), pending)

    def admitting(self, pending: int = 0) -> list[View]:
        return [v for v in self.views() if self._refusal(v, pending) is None]

    def __call__(self, pending: int = 0) -> str | None:
        candidates = self.admitting()
        others = [v for v in candidates if v.get("node_id") != self.own_node]
        chosen = others or candidates
        if not chosen:
            return None
        best = min(chosen, key=lambda v: (self.rooms_of(v), int((v.get("load") or {}).get("tracks") or 0),
                                          float((v.get("load") or {}).get("cpu_pct") or 0.0),
                                          str(v.get("node_id"))))
        return str(best["node_id"])

    def refusal(self, pending: int = 0) -> Refusal | None:
        """The cluster at capacity: None while the free rooms of the admitting nodes exceed
        ``pending``; else why the first node says no (every active node must be full)."""
        views = list(self.views())
        free = 0
        reasons: list[Refusal] = []
        for view in views:
            rooms = self.rooms_of(view)
            reason = self._refusal(view)
            if reason is not None:
                reasons.append(reason)
                continue
            free += (self.limit.max_calls - rooms) if self.limit.max_calls else pending + 1
        if free > pending:
            return None
        active = [r for r in reasons if r is not Refusal.DRAINING]
        return active[0] if active else (Refusal.CALLS if free else Refusal.DRAINING)


class NodeViews:
    """The registry's node views, read every ``interval`` seconds by one owned task; the last
    good answer stays while the registry is away (placement keeps working on what it knew)."""

    def __init__(self, read: Callable[[float], Awaitable[list[dict[str, Any]]]], clock: Clock,
                 interval: float = 1.0) -> None:
        self.read = read  # e.g. NodeRegistry.nodes
        self.clock = clock
        self.interval = interval
        self.views: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def __call__(self) -> list[dict[str, Any]]:
        return self.views

    async def refresh(self) -> None:
        try:
            self.views = list(await self.read(self.clock.now()))
            self._failing = False
        except Exception as exc:  # noqa: BLE001 - any registry failure: keep the last views
            if not self._failing:
                logger.warning("node views not refreshed: %s: %s", type(exc).__name__, exc)
            self._failing = True

    async def start(self) -> None:
        await self.refresh()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="node views")

    async def _run(self) -> None:
        while True:
            await self.clock.sleep(self.interval)
            await self.refresh()

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
