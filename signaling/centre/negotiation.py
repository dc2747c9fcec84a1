"""Media negotiation: a party's SDP offer and ICE candidates go to its SFU participant, and the
SFU's reports about that participant come back to the call (``PartyObserver``). A party gets its
participant in the call's room in one place (``add_participant``): on accept, on monitoring,
and again in a new room when the call's media moves (migration.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sfu import BadCandidateError, BadSdpError, MediaState, Participant, Room
from signaling.auth import Role
from signaling.centre.call import LIVE_MEDIA_STATES, Call, CallState, MonitorMode, Party
from signaling.centre.session import Session
from signaling.errors import ErrorCode, SignalingError
from signaling.server_messages import Answer

if TYPE_CHECKING:
    from signaling.centre.calls import CallService


def audience_of(call: Call, party: Party) -> frozenset[str] | None:
    """Who receives the party's media: everybody (None), but a supervisor's only as its mode
    says (silent: nobody, whisper: the agent, barge-in: everybody)."""
    if party.role is not Role.SUPERVISOR or party.mode is MonitorMode.BARGE:
        return None
    if party.mode is MonitorMode.WHISPER:
        return frozenset({call.agent.participant_id}) if call.agent else frozenset()
    return frozenset()


class Negotiation:
    def __init__(self, service: CallService) -> None:
        self.service = service

    def add_participant(self, room: Room, call: Call, party: Party) -> Participant:
        """The party's participant in ``room``, heard as its role and mode say, reporting its
        media and publishers back to the call."""
        return room.add_participant(party.participant_id, party.role.value, audience=audience_of(call, party),
                                    observer=PartyObserver(self.service, call, party))

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

    async def offer(self, session: Session, call_id: str, sdp: str, ref: str | None = None) -> None:
        call, _, participant = self._media_party(session, call_id)
        try:
            answer = await participant.negotiate(sdp)
        except BadSdpError as exc:
            raise SignalingError(ErrorCode.BAD_SDP, str(exc)) from None
        if call.state is not CallState.ENDED:
            session.send(Answer(call_id=call_id, sdp=answer, ref=ref))

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
