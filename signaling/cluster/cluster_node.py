"""ClusterNode: this node's place in the cluster — who decides, where media goes, who died.

It owns one task that, every ``interval``, reads the node registry (every node needs it: the
holder's internal URL for forwarding) and, on the node holding the centre lease, watches the
nodes that carry media: the calls of a node whose heartbeat expired move to a live node
(``node_lost``), those of a draining node move when its drain deadline passes
(``node_drain``), and a room that a node still carries for a call the centre placed elsewhere
— the node came back after being declared dead — is closed there (fenced).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from media.clock import Clock
from signaling.centre.call import CallState
from signaling.centre.calls import CallService
from signaling.cluster.centre_role import CentreRole
from signaling.cluster.forward import Forwarder
from signaling.cluster.lease import Holder
from signaling.cluster.placement import NodeViews
from signaling.cluster.rebuild import rebuild
from signaling.errors import SignalingError
from signaling.state.nodes import NodeState

logger = logging.getLogger(__name__)

HOLDER_WAIT_S = 3.0  # a forwarded request waits this long for an election before it is refused
DEAD_RECOVER_S = 30.0  # a dead node's open recordings are repaired after this long
FENCE_AGAIN_S = 3.0  # a stale room is closed again if the node still lists it after this long


class ClusterNode:
    def __init__(self, node_id: str, calls: CallService, node_views: NodeViews, role: CentreRole,
                 clock: Clock, *, interval: float, close_sessions: Callable[[], Awaitable[None]],
                 fence: Callable[[int | None], None] | None = None,
                 recover: Callable[[list[str]], Awaitable[object]] | None = None) -> None:
        self.node_id = node_id
        self.calls = calls
        self.node_views = node_views  # the registry as last read (placement reads the same)
        self.role = role
        self.clock = clock
        self.interval = interval
        self.close_sessions = close_sessions
        self.fence = fence
        self.recover = recover  # repairs the recordings a dead node left open (given the live ids)
        self._recovered: set[str] = set()  # dead nodes whose recordings were repaired
        self.forwarder: Forwarder | None = None
        self._fenced: dict[tuple[str, str], float] = {}  # (node, room) → when we last closed it there
        self.moving: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        if hasattr(calls.sfu, "lost"):
            calls.sfu.lost = lambda call_id: self.move(call_id, "node_lost")

    # ---- the lease's callbacks -----------------------------------------------------
    async def elected(self, holding: Holder) -> None:
        if self.fence is not None:
            self.fence(holding.epoch)
        await self.refresh()
        await self.calls.start()
        adopt = getattr(self.calls.sfu, "adopt", None)
        carriers: dict[str, str] = {}  # room → the first live node listing it
        for view in self.node_views():
            if view.get("state") != NodeState.DEAD:
                for room in view.get("rooms") or []:
                    carriers.setdefault(room, view["node_id"])
        for call in await rebuild(self.calls):
            carrier = carriers.get(call.call_id)
            if carrier is not None and adopt is not None:
                adopt(call.call_id, carrier)  # so that the move closes it there before it opens anew
                adopt_tracks = getattr(getattr(self.calls.recording, "recorder", None), "adopt", None)
                if adopt_tracks is not None:
                    adopt_tracks(call.call_id, carrier)  # its tracks there are finished at the end
            self.move(call.call_id, "centre_lost")

    async def deposed(self, why: str) -> None:
        # the fence keeps the old epoch: whatever this node still writes for the centre is refused
        await self.calls.step_down()
        self.moving.clear()
        await self.close_sessions()  # the clients come back, through any node, to the new holder

    # ---- what the rest of the node asks --------------------------------------------
    def is_centre(self) -> bool:
        return self.role.is_centre

    async def centre_url(self) -> str | None:
        holder = self.role.current or await self.role.wait_for_holder(HOLDER_WAIT_S)
        if holder is None or holder.node_id == self.node_id:
            return None
        view = self.views.get(holder.node_id)
        if view is None or not view.get("url"):
            await self.refresh()
            view = self.views.get(holder.node_id)
        return str(view["url"]).rstrip("/") if view and view.get("url") else None

    # ---- the task --------------------------------------------------------------------
    async def open(self) -> None:
        """Join: try the lease once now (a lone node decides from its first request on), then
        keep both going. The node views are read already (``ClusterMedia.open`` starts them)."""
        await self.role.lease.open()
        await self.role.tick()
        self.role.start()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="cluster watch")

    async def close(self) -> None:
        await self.role.resign()
        await self.role.close()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self.forwarder is not None:
            await self.forwarder.close()
        await self.role.lease.close()

    async def _run(self) -> None:
        while True:
            try:
                if self.role.is_centre:
                    await self.watch()
            except SignalingError:
                pass  # Redis away: media keeps flowing; look again next tick
            except Exception:  # noqa: BLE001 - the watch must go on
                logger.exception("cluster watch failed")
            await self.clock.sleep(self.interval)

    @property
    def views(self) -> dict[str, dict[str, Any]]:
        return {str(v["node_id"]): v for v in self.node_views()}

    async def refresh(self) -> None:
        await self.node_views.refresh()

    async def watch(self) -> None:
        """Move the calls of dead and drained nodes; fence rooms left on nodes that came back."""
        sfu = self.calls.sfu
        node_of = getattr(sfu, "node_of", None)
        if node_of is None:
            return
        now = self.clock.now()
        views = self.views  # one snapshot per tick (the property builds the dict)
        for call in list(self.calls.calls.values()):
            if call.state not in (CallState.CONNECTING, CallState.CONNECTED):
                continue
            node = node_of(call.call_id)
            if node is None or node == self.node_id:
                continue
            view = views.get(node)
            if view is None or view.get("state") == NodeState.DEAD:
                self.move(call.call_id, "node_lost")
            elif view.get("state") == NodeState.DRAINING and view.get("drain_until") and now >= view["drain_until"]:
                self.move(call.call_id, "node_drain")
        self._recover_dead(views)
        fence_room = getattr(sfu, "fence_room", None)
        if fence_room is None:
            return
        for node_id, view in views.items():
            if view.get("state") == NodeState.DEAD:
                continue
            for room in view.get("rooms") or []:
                if room in self.moving or node_of(room) == node_id:
                    continue
                if self.clock.monotonic() - self._fenced.get((node_id, room), -FENCE_AGAIN_S) < FENCE_AGAIN_S:
                    continue  # asked already; its next heartbeat will say
                self._fenced[(node_id, room)] = self.clock.monotonic()
                logger.warning("node %s still carries room %s, placed elsewhere: closing it there", node_id, room)
                fence_room(node_id, room)
        horizon = self.clock.monotonic() - 10 * FENCE_AGAIN_S
        self._fenced = {key: at for key, at in self._fenced.items() if at > horizon}

    def _recover_dead(self, views: dict[str, dict[str, Any]]) -> None:
        """The recordings a node was writing when it died are marked interrupted (and stay
        playable) once it has been dead for ``DEAD_RECOVER_S``: long enough that a node which
        was only frozen has come back — or been fenced — rather than be repaired under its feet."""
        dead = {node for node, view in views.items() if view.get("state") == NodeState.DEAD
                and float(view.get("heartbeat_age_s") or 0.0) >= DEAD_RECOVER_S}
        if self.recover is None or not dead - self._recovered:
            return
        self._recovered |= dead
        alive = [node for node, view in views.items() if view.get("state") != NodeState.DEAD]
        logger.info("repairing the recordings left open by dead nodes %s", ", ".join(sorted(dead)))
        self.calls.spawn(self.recover(alive))

    def move(self, call_id: str, reason: str) -> None:
        """Move a call's media (once at a time per call), as a task the CallService owns."""
        if call_id in self.moving:
            return
        self.moving.add(call_id)

        async def moved() -> None:
            try:
                await self.calls.migration.move(call_id, reason)
            except SignalingError as exc:
                logger.warning("call %s: moving its media failed: %s", call_id, exc.message,
                               extra={"call_id": call_id})
            finally:
                self.moving.discard(call_id)

        self.calls.spawn(moved())
