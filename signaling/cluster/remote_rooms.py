"""RemoteRooms: what the centre holds as ``CallService.sfu`` in cluster mode — the methods and
attributes it uses on ``SfuNode`` (``rooms``, ``room``, ``open_room``, ``admits``,
``admission``, ``close_room``, ``stats``, ``node_of``), for rooms placed on media nodes.

``open_room`` is synchronous, as the centre calls it: the node is chosen from the node views
(``placement.py``) at once, and the open command goes first in that node's ordered channel,
before the participants. Should the node refuse after all (it filled up since its last
heartbeat), the room is placed again on another node and its participants re-added there.
The media agent's events (``media_state``, ``publisher``) come back to this node's channel and
reach the centre-side observers through the mirrored ``RemoteParticipant``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from sfu import Admission, AdmissionRefused, CloseReason, MediaState, Refusal
from signaling.cluster.placement import LeastLoaded, Place
from signaling.cluster.remote_room import RemoteParticipant, RemoteRoom
from signaling.errors import ErrorCode, SignalingError
from signaling.state.channels import NodeChannels

logger = logging.getLogger(__name__)

OPEN_TIMEOUT_S = 5.0
REFUSAL_KEPT_S = 3.0  # a node that refused is passed over this long (a few heartbeats)
RESYNC_RETRIES_S = (0.5, 1.0, 2.0, 4.0)  # after an outage, while the media nodes resubscribe


class ClusterAdmission:
    """``sfu.admission`` as the centre reads it: the cluster is at capacity only when every
    active node is. Loop-lag samples go to this node's own admission (its media limit)."""

    def __init__(self, refusal: Callable[[int], Refusal | None], local: Admission | None = None) -> None:
        self._refusal = refusal
        self.local = local

    def refusal(self, pending: int = 0) -> Refusal | None:
        return self._refusal(pending)

    def observe(self, loop_lag_s: float) -> None:
        if self.local is not None:
            self.local.observe(loop_lag_s)


class RemoteRooms:
    def __init__(self, channels: NodeChannels, *, place: Place | None = None,
                 refusal: Callable[[int], Refusal | None] | None = None,
                 placement: LeastLoaded | None = None, local_admission: Admission | None = None) -> None:
        """``placement`` (the default, over node views) gives both ``place`` and ``refusal``;
        a caller may pass its own ``place(pending) -> node id | None`` and ``refusal``."""
        if placement is not None:
            placement.placed = self.placed
            placement.avoid = self.refusing
        chosen_place = place or placement
        chosen_refusal = refusal or (placement.refusal if placement is not None else None)
        if chosen_place is None or chosen_refusal is None:
            raise ValueError("RemoteRooms needs a placement, or both place and refusal")
        self.channels = channels
        self.place: Place = chosen_place
        self.admission = ClusterAdmission(chosen_refusal, local_admission)
        self.rooms: dict[str, RemoteRoom] = {}
        self.lost: Callable[[str], None] | None = None  # a room that could open nowhere (cluster_node.py)
        self._refused_at: dict[str, float] = {}  # node id → when it last refused a room (monotonic)
        self._tasks: set[asyncio.Task[None]] = set()
        channels.handle("media_state", self._media_state)
        channels.handle("publisher", self._publisher)
        channels.handle("room_placement", self._room_placement)
        channels.on_resubscribed.append(lambda: self._spawn(self._resync_after_outage()))

    def placed(self) -> dict[str, str]:
        return {room_id: room.node_id for room_id, room in self.rooms.items()}

    def refusing(self) -> set[str]:
        """Nodes that refused a room within the last few seconds (their views lag behind)."""
        now = self.channels.clock.monotonic()
        return {node for node, at in self._refused_at.items() if now - at < REFUSAL_KEPT_S}

    # --- the cluster's own bookkeeping (cluster_node.py) ------------------------------------
    def adopt(self, room_id: str, node_id: str) -> None:
        """A room an earlier centre placed: known here now, so that moving it closes it there
        before it opens anew (perhaps on the same node)."""
        if room_id not in self.rooms:
            self.rooms[room_id] = RemoteRoom(room_id, node_id, self.channels)

    def forget_all(self) -> None:
        """Another node decides now: the rooms stay on their nodes, this centre forgets them."""
        self.rooms.clear()

    def fence_room(self, node_id: str, room_id: str) -> None:
        """``node_id`` still carries a room placed elsewhere (it came back after being declared
        dead): close it there, so that it never competes with the call's new room."""
        self.channels.post(node_id, "close_room", {"room": room_id, "reason": CloseReason.MIGRATED.value})

    def node_of(self, call_id: str) -> str | None:
        room = self.rooms.get(call_id)
        return room.node_id if room is not None and not room.closed else None

    # --- the SfuNode methods the centre uses -------------------------------------------------
    def admits(self, room_id: str, pending: int = 0) -> bool:
        room = self.rooms.get(room_id)
        return (room is not None and not room.closed) or self.admission.refusal(pending) is None

    def room(self, room_id: str) -> RemoteRoom:
        """The placed room; a call with no room yet gets an empty, unplaced one (no participant,
        nothing sent anywhere), as a local node's fresh room would have none."""
        room = self.rooms.get(room_id)
        if room is not None and not room.closed:
            return room
        detached = RemoteRoom(room_id, "", self.channels)
        detached.closed = True  # adding to it is refused, like a closed local room
        return detached

    def open_room(self, room_id: str, to_node: str | None = None) -> RemoteRoom:
        """The call's room, placed now (on ``to_node`` when given) and opened on its node."""
        room = self.rooms.get(room_id)
        if room is not None and not room.closed:
            return room
        node = to_node or self.place(0)
        if node is None:
            raise AdmissionRefused(self.admission.refusal(0) or Refusal.CALLS)
        room = RemoteRoom(room_id, node, self.channels)
        self.rooms[room_id] = room
        self._spawn(self._open(room, self._ask_open(room), tried={node}))
        logger.info("room %s placed on node %s", room_id, node, extra={"call_id": room_id})
        return room

    def _ask_open(self, room: RemoteRoom) -> asyncio.Future[dict[str, Any] | None]:
        """Queued now, so the open is first in the node's order, before the participants."""
        return self.channels.ask(room.node_id, "open_room", {"room": room.room_id}, OPEN_TIMEOUT_S)

    async def _open(self, room: RemoteRoom, opened: asyncio.Future[dict[str, Any] | None],
                    tried: set[str]) -> None:
        try:
            await opened
            return
        except SignalingError as exc:
            refused = exc
        if refused.code is ErrorCode.AT_CAPACITY:
            self._refused_at[room.node_id] = self.channels.clock.monotonic()
        if room.closed or self.rooms.get(room.room_id) is not room:
            return
        node = self.place(0) if refused.code is ErrorCode.AT_CAPACITY else None
        if node is None or node in tried:
            logger.error("room %s could not open on node %s: %s %s", room.room_id, room.node_id,
                         refused.code, refused.message, extra={"call_id": room.room_id})
            if self.lost is not None:
                self.lost(room.room_id)  # the centre moves the call (or ends it in words)
            return
        logger.warning("room %s refused by node %s (%s); placed on node %s", room.room_id, room.node_id,
                       refused.message, node, extra={"call_id": room.room_id})
        room.node_id = node
        self._spawn(self._open(room, self._ask_open(room), tried | {node}))  # first there, then:
        for participant in room.participants.values():
            room._post_add(participant)

    async def close_room(self, room_id: str, reason: CloseReason) -> None:
        """Close the room on its node; one that does not answer is forgotten (bounded wait)."""
        room = self.rooms.pop(room_id, None)
        if room is not None:
            await room.close(reason)

    async def close(self, reason: CloseReason = CloseReason.NODE_DRAIN) -> None:
        """The centre stops: its background opens end; the rooms live on, on their nodes."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def stats(self) -> dict[str, Any]:
        """What the centre knows of its rooms (mirrored); ``node_stats`` asks the nodes."""
        return {"rooms": [room.stats() for room in self.rooms.values()]}

    async def node_stats(self, node_id: str) -> dict[str, Any]:
        return await self.channels.request(node_id, "stats", {}) or {}

    async def _resync_after_outage(self) -> None:
        """The media nodes resubscribe in their own time: ask again, a few times, those that
        did not answer yet."""
        pending: list[str] | None = None
        for delay in RESYNC_RETRIES_S:
            pending = await self.resync(pending)
            if not pending:
                return
            await self.channels.clock.sleep(delay)
        if pending:
            logger.warning("rooms %s not caught up after the outage", ", ".join(pending))

    async def resync(self, call_ids: str | list[str] | None = None) -> list[str]:
        """Ask the rooms' nodes what they hold and bring the mirror up to date (after Redis was
        away; or a new centre that re-added a call's parties adopts its room). Returns the rooms
        whose node did not answer: the lead's node-death handling decides about those."""
        wanted = [call_ids] if isinstance(call_ids, str) else call_ids
        rooms = [r for r in self.rooms.values() if wanted is None or r.room_id in wanted]
        unanswered: list[str] = []
        for room in rooms:
            try:
                state = await room.request("room_state", {"room": room.room_id})
            except SignalingError as exc:
                logger.info("room %s: node %s not caught up: %s", room.room_id, room.node_id, exc.message)
                unanswered.append(room.room_id)
                continue
            if room.closed or not state:
                continue
            for held in state.get("participants") or []:
                participant = room.get(str(held["participant"]))
                if participant is not None:
                    participant.caught_up(MediaState(held["media_state"]), {
                        str(p["kind"]): (str(p["publisher"]), p.get("codec")) for p in held["publishers"]})
        return unanswered

    # --- events from the media agents ------------------------------------------------------
    def _participant(self, body: dict[str, Any], sender: str) -> RemoteParticipant | None:
        room = self.rooms.get(str(body.get("room")))
        if room is None or room.closed or room.node_id != sender:
            return None  # a room closed or moved since: its old node's news is stale
        return room.get(str(body.get("participant")))

    async def _room_placement(self, body: dict[str, Any], sender: str) -> dict[str, Any]:
        """A media node back from an outage asks whether a room is still its own."""
        return {"node": self.node_of(str(body.get("room")))}

    async def _media_state(self, body: dict[str, Any], sender: str) -> None:
        participant = self._participant(body, sender)
        if participant is not None:
            participant.media_state_changed(MediaState(body["state"]))

    async def _publisher(self, body: dict[str, Any], sender: str) -> None:
        participant = self._participant(body, sender)
        if participant is not None:
            participant.publisher_changed(str(body["publisher"]), str(body["kind"]), body.get("codec"),
                                          bool(body["added"]))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
