"""Marks on live video: the agent points and draws on the shopper's picture (and the shopper
on the agent's). Each mark is checked against the contract (media/annotation.py), written to
the call record with the server's time, then relayed in order to everybody who follows the
call: the other party, the author (the echo carries the server time) and monitoring
supervisors.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from media.annotation import MAX_NAME, Annotation, parse_annotation
from signaling.auth import Role
from signaling.centre.call import CallState
from signaling.centre.session import Session
from signaling.errors import ErrorCode, SignalingError
from signaling.server_messages import AnnotationMark

if TYPE_CHECKING:
    from signaling.centre.calls import CallService

AUTHORS = (Role.AGENT, Role.SHOPPER)  # the contract's ``by``: the two conversants


def new_annotation_id() -> str:
    return "an_" + uuid.uuid4().hex[:16]


class Annotations:
    def __init__(self, service: CallService) -> None:
        self.service = service

    async def annotate(self, session: Session, call_id: str, fields: dict[str, Any]) -> Annotation:
        """Check, store and relay one mark; ``fields`` are the client's (target, shape, color,
        points, text, pinned, fade_s, annotation_id), already bounded in length by the edge."""
        service = self.service
        call = service.live_call(call_id)
        party = call.party_of(session)
        if party is None or party.role not in AUTHORS:
            raise SignalingError(ErrorCode.FORBIDDEN, "only the agent and the shopper of this call can draw")
        if call.state is not CallState.CONNECTED:
            raise SignalingError(ErrorCode.INVALID_STATE, "marks can be drawn once the call is connected")
        data = {k: v for k, v in fields.items() if v is not None}
        data.setdefault("annotation_id", new_annotation_id())
        data.update(type="annotation", at=service.clock.now(), by=party.role.value)
        if party.name:
            data["by_name"] = party.name[:MAX_NAME]
        try:
            mark = parse_annotation(data)
        except ValueError as exc:
            raise SignalingError(ErrorCode.INVALID_MESSAGE, f"annotate: {exc}") from None
        event = mark.to_event()
        await service.store.append_call_event(call_id, event)  # recorded before anybody sees it
        service.broadcast(call, message(call_id, event))
        return mark


def message(call_id: str, event: dict[str, Any]) -> AnnotationMark:
    """The server message for a stored annotation event."""
    fields = {k: v for k, v in event.items() if k != "type"}
    return AnnotationMark(call_id=call_id, **fields)
