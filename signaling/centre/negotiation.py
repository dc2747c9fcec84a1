"""Media negotiation: a party's SDP offer and ICE candidates go to its SFU participant, and the
SFU's reports about that participant come back to the call (``PartyObserver``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sfu import BadCandidateError, BadSdpError, MediaState, Participant
from signaling.auth import Role
from signaling.centre.call import LIVE_MEDIA_STATES, Call, CallState, Party
from signaling.centre.session import Session
from signaling.errors import ErrorCode, SignalingError
from signaling.server_messages import Answer

if TYPE_CHECKING:
    from signaling.centre.calls import CallService


class Negotiation:
    def __init__(self, service: CallService) -> None:
        self.service = service

    def _media_party(self, session: Session, call_id: str) -> tuple[Call, Party, Participant]:
        call = self.service.live_call(call_id)
        party = call.party_of(session)
        if party is None:
            raise SignalingError(ErrorCode.FORBIDDEN, "you are not in this call")
        if call.state not in LIVE_MEDIA_STATES and party.role is not Role.SHOPPER:
            raise SignalingError(ErrorCode.INVALID_STATE, f"the call is {call.state.value}, not accepted yet")
        participant = self.service.sfu.room(call_id).get(party.participant_id)
        if participant is None:
            raise SignalingError(ErrorCode.INVALID_STATE, "this call has no media session yet")
        return call, party, participant

    async def offer(self, session: Session, call_id: str, sdp: str) -> None:
        call, _, participant = self._media_party(session, call_id)
        try:
            answer = await participant.negotiate(sdp)
        except BadSdpError as exc:
            raise SignalingError(ErrorCode.BAD_SDP, str(exc)) from None
        if call.state is not CallState.ENDED:
            session.send(Answer(call_id=call_id, sdp=answer))

    async def candidate(self, session: Session, call_id: str, candidate: dict | None) -> None:
        _, _, participant = self._media_party(session, call_id)
        try:
            await participant.add_candidate(candidate)
        except BadCandidateError as exc:
            raise SignalingError(ErrorCode.BAD_CANDIDATE, str(exc)) from None


class PartyObserver:
    """Bridges one SFU participant's media state and publishers to its party in the call."""

    def __init__(self, service: CallService, call: Call, party: Party) -> None:
        self.service, self.call, self.party = service, call, party

    def on_media_state(self, participant: Participant, state: MediaState) -> None:
        if state in (MediaState.CONNECTED, MediaState.LOST):
            self.service.reconnect.on_media_state(self.call, self.party, state)

    def on_publisher(self, participant: Participant, publisher: Any, added: bool) -> None:
        recording = self.service.recording
        if recording is not None and self.call.state is not CallState.ENDED:
            recording.on_publisher(self.call, self.party, participant, publisher, added)
