"""Remote media state: each conversant's client says when its microphone or camera goes off or
on; the server keeps it on the party, writes it to the call record (the QA timeline shows it)
and relays it to everybody who follows the call, so every tile can say "camera off", "muted".
A supervisor who starts monitoring is told the states so far.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from signaling.auth import Role
from signaling.centre.call import LIVE_MEDIA_STATES, Call, Party
from signaling.centre.session import Session
from signaling.errors import ErrorCode, SignalingError
from signaling.server_messages import RemoteMediaState

if TYPE_CHECKING:
    from signaling.centre.calls import CallService

CONVERSANTS = (Role.AGENT, Role.SHOPPER)


def message(call_id: str, party: Party) -> RemoteMediaState:
    return RemoteMediaState(call_id=call_id, role=party.role.value, audio=party.mic_on,
                            video=party.camera_on, name=party.name)


class MediaStates:
    def __init__(self, service: CallService) -> None:
        self.service = service

    async def announce(self, session: Session, call_id: str, audio: bool, video: bool) -> None:
        service = self.service
        call = service.live_call(call_id)
        party = call.party_of(session)
        if party is None or party.role not in CONVERSANTS:
            raise SignalingError(ErrorCode.FORBIDDEN, "only the agent and the shopper of this call have tiles")
        if call.state not in LIVE_MEDIA_STATES:
            raise SignalingError(ErrorCode.INVALID_STATE, "the call has no media yet")
        if (party.mic_on, party.camera_on) == (audio, video):
            return  # nothing changed (a repeat after a reconnect)
        party.mic_on, party.camera_on = audio, video
        await service.record(call, "media_state", role=party.role.value, audio=audio, video=video)
        service.broadcast(call, message(call_id, party))

    def catch_up(self, session: Session, call: Call) -> None:
        """A newcomer (a monitoring supervisor) learns who has the camera or microphone off."""
        for party in call.parties():
            if not (party.mic_on and party.camera_on):
                session.send(message(call.call_id, party))
