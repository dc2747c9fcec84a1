"""What is said and shown in a call besides media: chat, photos, snapshots, ratings.

Everything is written to the call record (so QA can replay it on the timeline) and then
pushed to the call's audience.
"""

from __future__ import annotations

import uuid

from signaling.auth import Role
from signaling.centre.call import LIVE_MEDIA_STATES, Call, Party
from signaling.centre.calls import CallService
from signaling.centre.session import Session
from signaling.errors import ErrorCode, SignalingError
from signaling.server_messages import ChatLine, Photo
from signaling.state.photos import PhotoStore


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

    async def snapshot(self, session: Session, call_id: str) -> None:
        """The agent takes a still of the shopper's video: decoded now, on demand, off the loop."""
        call = self.calls.live_call(call_id)
        party = call.party_of(session)
        if party is None or party.role is not Role.AGENT:
            raise SignalingError(ErrorCode.FORBIDDEN, "only the agent of this call can take a snapshot")
        if call.state not in LIVE_MEDIA_STATES:
            raise SignalingError(ErrorCode.INVALID_STATE, "the call has no video yet")
        participant = self.calls.sfu.room(call_id).get(call.shopper.participant_id)
        publisher = participant.publishers.get("video") if participant else None
        if publisher is None:
            raise SignalingError(ErrorCode.INVALID_STATE, "the shopper is not sending video")
        jpeg = await publisher.snapshot_jpeg()  # the SFU decodes; signaling only stores it
        if jpeg is None:
            raise SignalingError(ErrorCode.INVALID_STATE, "no picture yet; try again in a second")
        photo_id, width, height = await self.photos.save_upload(call_id, jpeg)
        await self._announce(call, photo_id, width, height, "agent", party.name, "snapshot",
                             only=[party] + call.monitors)

    async def _announce(self, call: Call, photo_id: str, width: int, height: int, role: str,
                        name: str | None, kind: str, only: list[Party] | None = None) -> dict:
        url = f"/api/calls/{call.call_id}/photos/{photo_id}"
        await self.calls.event(call.call_id, kind, photo_id=photo_id, role=role, name=name,
                               width=width, height=height)
        msg = Photo(call_id=call.call_id, photo_id=photo_id, kind=kind, role=role,
                      name=name, url=url, width=width, height=height, at=self.calls.clock.now())
        for party in (only if only is not None else call.audience()):
            if party.session is not None:
                party.session.send(msg)
        return {"photo_id": photo_id, "url": url, "width": width, "height": height}
