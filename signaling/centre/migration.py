"""Moving a live call's media to a new room: its node died or drains, or an operator asked.

The call keeps its state, agent, chat and annotations; only the media starts again. The
recording's tracks are closed as complete segments, the old room is closed (``migrated``; a room
on a dead node is only forgotten), the room is opened again — by the cluster's facade on another
node — with a participant for every party, and the record says ``migrated`` before the parties
are told (server message ``migrated``; with the store away they are told all the same and the
event is written when it is back). Each conversant's media is then lost until it offers into
the new room, with a whole grace period to do so (reconnect.py); the new publishers are recorded
as the next segment as they appear.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from sfu import AdmissionRefused, CloseReason
from signaling.centre.call import LIVE_MEDIA_STATES, Call, CallState
from signaling.errors import ErrorCode, SignalingError
from signaling.server_messages import Migrated

if TYPE_CHECKING:
    from signaling.centre.calls import CallService

logger = logging.getLogger(__name__)

REASONS = ("node_lost", "node_drain", "centre_lost", "operator")


class Migration:
    def __init__(self, service: CallService) -> None:
        self.service = service
        self._moving: set[str] = set()

    async def move(self, call_id: str, reason: str, to_node: str | None = None) -> dict[str, Any]:
        """Move the call's media to a new room; ``{call_id, from_node, to_node}``."""
        if reason not in REASONS:
            raise SignalingError(ErrorCode.INVALID_MESSAGE, f"a move's reason is one of {', '.join(REASONS)}")
        call = self.service.live_call(call_id)
        if call.state not in LIVE_MEDIA_STATES:
            raise SignalingError(ErrorCode.INVALID_STATE,
                                 f"the call is {call.state.value}: it has no media to move until it is answered")
        if call_id in self._moving:
            raise SignalingError(ErrorCode.INVALID_STATE, "this call's media is being moved already")
        open_room = self._opener(to_node)
        self._moving.add(call_id)
        try:
            return await self._move(call, reason, to_node, open_room)
        finally:
            self._moving.discard(call_id)

    def node_of(self, call_id: str) -> str | None:
        """The node carrying the call's room, if the SFU the centre holds knows nodes."""
        return getattr(self.service.sfu, "node_of", lambda _: None)(call_id)

    def _opener(self, to_node: str | None) -> Callable[[str], Any]:
        open_room: Callable[..., Any] = self.service.sfu.open_room
        if to_node is None:
            return open_room
        try:
            parameters = list(inspect.signature(open_room).parameters.values())
        except (TypeError, ValueError):
            parameters = []
        if not any(p.name == "to_node" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
            raise SignalingError(ErrorCode.INVALID_STATE,
                                 "this server carries every call's media itself: there is no other node to move it to")
        return partial(open_room, to_node=to_node)

    async def _move(self, call: Call, reason: str, to_node: str | None,
                    open_room: Callable[[str], Any]) -> dict[str, Any]:
        service = self.service
        call_id = call.call_id
        from_node = self.node_of(call_id)
        if service.recording is not None:
            await service.recording.end_segment(call)
        try:
            await service.sfu.close_room(call_id, CloseReason.MIGRATED)
        except Exception:  # the old room's node is gone: there is nothing left to close
            logger.warning("call %s: the old room could not be closed", call_id, exc_info=True,
                           extra={"call_id": call_id})
        self._still_live(call)
        try:
            room = open_room(call_id)
            if inspect.isawaitable(room):
                room = await room
        except Exception as exc:
            # the old room is gone and no node takes a new one: the call cannot go on (left as it
            # is, it would wait for media that has nowhere to go)
            if not isinstance(exc, AdmissionRefused):
                logger.exception("call %s: opening its new room failed", call_id, extra={"call_id": call_id})
            await service.ending.end_call(call, CloseReason.ERROR, by="server", detail="no_media_node")
            raise SignalingError(ErrorCode.SERVICE_UNAVAILABLE,
                                 f"no media node could take the call ({exc}); it ended") from None
        self._still_live(call)
        for party in call.audience():
            service.negotiation.add_participant(room, call, party)
        landed = self.node_of(call_id) or to_node
        # on record before anybody is told (every field, null included: the plan's shape)
        event = {"type": "migrated", "at": service.clock.now(), "reason": reason, "from_node": from_node,
                 "to_node": landed}
        try:
            await service.store.append_call_event(call_id, event)
        except SignalingError as exc:
            if exc.code is not ErrorCode.SERVICE_UNAVAILABLE:
                raise
            # the store is away: the media must come back all the same (the old room is gone);
            # the move is written as soon as the store answers
            logger.warning("call %s moved while the store is away; recording it later", call_id,
                           extra={"call_id": call_id})
            service.spawn(service.ending.record_later(call_id, event))
        self._still_live(call)
        service.broadcast(call, Migrated(call_id=call_id, reason=reason))
        for party in call.parties():
            service.reconnect.media_moved(call, party)
        logger.info("call %s: media moved (%s) from %s to %s", call_id, reason, from_node, landed,
                    extra={"call_id": call_id})
        return {"call_id": call_id, "from_node": from_node, "to_node": landed}

    @staticmethod
    def _still_live(call: Call) -> None:
        if call.state is CallState.ENDED:  # hung up while the media moved: the end owns the room
            raise SignalingError(ErrorCode.CALL_NOT_FOUND, "the call ended while its media was being moved")
