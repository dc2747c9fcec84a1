"""A call's side of recording: the shopper's consent, the agent's pause, tapping publishers.

The policy and the recorder port live in ``recording.py`` (RecordingService); this is what the
parties of a call may ask of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from signaling.auth import Role
from signaling.centre.call import Call
from signaling.centre.session import Session
from signaling.errors import ErrorCode, SignalingError

if TYPE_CHECKING:
    from signaling.centre.calls import CallService


class CallRecording:
    def __init__(self, service: CallService) -> None:
        self.service = service

    def attach(self, call: Call) -> None:
        """Recording started: tap the publishers the call's parties already have."""
        room = self.service.sfu.rooms.get(call.call_id)
        recording = self.service.recording
        if room is None or recording is None:
            return
        existing = []
        for party in call.parties():
            participant = room.get(party.participant_id)
            if participant is not None:
                existing += [(party, participant, pub) for pub in participant.publishers.values()]
        if call.call_id in recording.calls and recording.calls[call.call_id].recording:
            recording.attach_existing(call, existing)

    async def consent(self, session: Session, call_id: str, granted: bool) -> None:
        call = self.service.live_call(call_id)
        if call.shopper.session is not session:
            raise SignalingError(ErrorCode.FORBIDDEN, "only the shopper answers the recording question")
        if self.service.recording is None:
            raise SignalingError(ErrorCode.INVALID_STATE, "recording is not available on this server")
        await self._ask(self.service.recording.consent(call, granted))
        self.attach(call)

    async def pause(self, session: Session, call_id: str, paused: bool) -> None:
        call = self.service.live_call(call_id)
        party = call.party_of(session)
        if party is None or party.role is not Role.AGENT:
            raise SignalingError(ErrorCode.FORBIDDEN, "only the agent of this call can pause the recording")
        if self.service.recording is None:
            raise SignalingError(ErrorCode.INVALID_STATE, "this call is not being recorded")
        await self._ask(self.service.recording.pause(call, paused, by=party.identity))

    @staticmethod
    async def _ask(coro: Any) -> None:
        await coro  # RecordingService refuses with a SignalingError of its own
