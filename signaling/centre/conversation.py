"""What is said and shown in a call besides media: chat, photos, snapshots, ratings.

Everything is written to the call record (so QA can replay it on the timeline) and then
pushed to the call's audience.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from signaling.auth import Role
from signaling.centre.call import LIVE_MEDIA_STATES, Call, Party
from signaling.centre.session import Session
from signaling.errors import ErrorCode, SignalingError
from signaling.server_messages import ChatLine, Photo
from signaling.state.photos import PhotoStore

if TYPE_CHECKING:
    from signaling.centre.calls import CallService

SNAPSHOT_OF = {Role.AGENT: Role.SHOPPER, Role.SHOPPER: Role.AGENT}  # who may freeze whose video


class Conversation:
    def __init__(self, calls: CallService, photos: PhotoStore) -> None:
        self.calls = calls
        self.photos = photos

    def _speaker(self, session: Session, call_id: str) -> tuple[Call, Party]:
        call = self.calls.live_call(call_id)
        party = call.party_of(session)
        if party is None:
            raise SignalingError(ErrorCode.FORBIDDEN, "you are not in this call")
        if party.role is Role.SUPERVISOR and (party.mode is None or party.mode.value != "barge"):
            raise SignalingError(ErrorCode.FORBIDDEN, "barge in before writing in this call")
        return call, party

    async def chat(self, session: Session, call_id: str, text: str) -> None:
        call, party = self._speaker(session, call_id)
        chat_id = "m_" + uuid.uuid4().hex[:10]
        at = self.calls.clock.now()
        await self.calls.event(call_id, "chat", chat_id=chat_id, role=party.role.value,
                               name=party.name, text=text)
        self.calls.broadcast(call, ChatLine(call_id=call_id, chat_id=chat_id,
                                           role=party.role.value, name=party.name, text=text, at=at))

    async def photo_uploaded(self, call_id: str, role: Role, name: str | None, data: bytes) -> dict:
        """Store an uploaded photo of a live call and tell everybody in it."""
        call = self.calls.live_call(call_id)
        photo_id, width, height = await self.photos.save_upload(call_id, data)
        return await self._announce(call, photo_id, width, height, role.value, name, "photo")

    async def snapshot(self, session: Session, call_id: str, target: str | None = None) -> None:
        """A still of the other conversant's video, decoded now, on demand, off the loop: the
        agent freezes the shopper's picture, the shopper the agent's ("this button?"). Nobody
        else may ask, and nobody a still of their own video or of another call."""
        call = self.calls.live_call(call_id)
        party = call.party_of(session)
        if party is None or party.role not in SNAPSHOT_OF:
            raise SignalingError(ErrorCode.FORBIDDEN, "only the agent or the shopper of this call can take a snapshot")
        of = SNAPSHOT_OF[party.role]
        if target is not None and target != of.value:
            raise SignalingError(ErrorCode.FORBIDDEN, f"the {party.role.value} may freeze only the {of.value}'s video")
        if call.state not in LIVE_MEDIA_STATES:
            raise SignalingError(ErrorCode.INVALID_STATE, "the call has no video yet")
        subject = call.shopper if of is Role.SHOPPER else call.agent
        participant = self.calls.sfu.room(call_id).get(subject.participant_id) if subject else None
        publisher = participant.publishers.get("video") if participant else None
        if publisher is None:
            raise SignalingError(ErrorCode.INVALID_STATE, f"the {of.value} is not sending video")
        jpeg = await publisher.snapshot_jpeg()  # the SFU decodes; signaling only stores it
        if jpeg is None:
            raise SignalingError(ErrorCode.INVALID_STATE, "no picture yet; try again in a second")
        photo_id, width, height = await self.photos.save_upload(call_id, jpeg)
        await self._announce(call, photo_id, width, height, party.role.value, party.name, "snapshot",
                             only=[party] + call.monitors, target=of.value)

    async def _announce(self, call: Call, photo_id: str, width: int, height: int, role: str,
                        name: str | None, kind: str, only: list[Party] | None = None,
                        target: str | None = None) -> dict:
        url = f"/api/calls/{call.call_id}/photos/{photo_id}"
        await self.calls.event(call.call_id, kind, photo_id=photo_id, role=role, name=name,
                               width=width, height=height, target=target)
        msg = Photo(call_id=call.call_id, photo_id=photo_id, kind=kind, role=role,
                      name=name, url=url, width=width, height=height, at=self.calls.clock.now(),
                      target=target)
        for party in (only if only is not None else call.audience()):
            if party.session is not None:
                party.session.send(msg)
        return {"photo_id": photo_id, "url": url, "width": width, "height": height}


def conversation_so_far(call_id: str, events: list[dict[str, Any]]) -> list[ChatLine | Photo]:
    """The chat lines and photos of a call's record, oldest first, as the audience got them
    (for a supervisor who starts monitoring mid-call)."""
    out: list[ChatLine | Photo] = []
    for e in events:
        kind, at = e.get("type"), e.get("at")
        if not isinstance(at, (int, float)):
            continue
        if kind == "chat" and e.get("chat_id"):
            out.append(ChatLine(call_id=call_id, chat_id=e["chat_id"], role=str(e.get("role")),
                                text=str(e.get("text", "")), at=at, name=e.get("name")))
        elif kind in ("photo", "snapshot") and e.get("photo_id"):
            out.append(Photo(call_id=call_id, photo_id=e["photo_id"], kind=kind, role=str(e.get("role")),
                             url=f"/api/calls/{call_id}/photos/{e['photo_id']}",
                             width=int(e.get("width") or 0), height=int(e.get("height") or 0), at=at,
                             name=e.get("name"), target=e.get("target")))
    return out

