"""When a party's network drops: its socket closes or the SFU stops seeing its media.

The party is ``reconnecting`` for the grace period and may come back with the same token on a
new socket and a new peer connection (``resume``); after the grace period the call ends
``peer_gone``. The other side is told at each step.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sfu import CloseReason, MediaState
from signaling.auth import Role
from signaling.centre.call import Call, CallState, Party
from signaling.centre.session import Session
from signaling.errors import CloseCode
from signaling.server_messages import ParticipantState, RecordingState

if TYPE_CHECKING:
    from signaling.centre.calls import CallService

logger = logging.getLogger(__name__)


class Reconnect:
    def __init__(self, service: CallService) -> None:
        self.service = service

    async def resume(self, call: Call, party: Party, session: Session) -> None:
        """The party is back on a new socket (same token)."""
        service = self.service
        old, party.session = party.session, session
        if old is not None and old is not session:
            service.spawn(old.close(CloseCode.REPLACED, "rejoined from another connection"))
        await service.record(call, "rejoined", role=party.role.value)
        recording = service.recording
        if recording is not None and recording.state_for(call.call_id) != "off":
            session.send(RecordingState(call_id=call.call_id, state=recording.state_for(call.call_id)))
        self.refresh(call, party)

    async def session_closed(self, session: Session) -> None:
        """The socket went away: start grace periods, withdraw rings, sign idle agents out."""
        service = self.service
        service.dashboard.unwatch(session)
        for call in list(service.calls.values()):
            for monitor in list(call.monitors):
                if monitor.session is session:
                    await service.supervision.stop(call, monitor, by_socket=True)
            for party in call.parties():
                if party.session is session:
                    party.session = None
                    self.refresh(call, party)
        await service.presence.socket_closed(session)
        if session.claims is not None and session.claims.role is Role.SHOPPER:
            await service.dispatch.dispatch()

    def on_media_state(self, call: Call, party: Party, state: MediaState) -> None:
        """The SFU saw this party's media start flowing (CONNECTED) or stop (LOST)."""
        service = self.service
        if call.state is CallState.ENDED:
            return
        party.media = state
        if party.role is Role.SUPERVISOR:
            return
        if (state is MediaState.CONNECTED and call.state is CallState.CONNECTING and call.agent is not None
                and all(p.media is MediaState.CONNECTED for p in call.parties())):
            call.state = CallState.CONNECTED
            call.connected_at = call.connected_at or service.clock.now()
            service.send_state(call)
            service.spawn(service.record(call, "connected", agent_id=call.agent.identity))
            service.dashboard.changed()
        self.refresh(call, party)

    def media_moved(self, call: Call, party: Party) -> None:
        """The call's media moved to a new room (migration.py): the party's media is lost until it
        offers there, and it has a whole grace period from now to do so."""
        if call.state is CallState.ENDED or party.role is Role.SUPERVISOR:
            return
        party.media = MediaState.LOST
        if party.grace is None:
            self.refresh(call, party, cause="migrated")  # the others are told, the record says so
            return
        party.grace.cancel()  # already reconnecting (the others know): the clock starts again
        party.grace = self.service.clock.call_later(self.service.settings.grace_period, self._grace_expired,
                                                    call.call_id, party)

    def refresh(self, call: Call, party: Party, cause: str | None = None) -> None:
        """Start or stop the party's grace period from its socket and media state (``cause``:
        what was lost, when the states alone do not say: ``migrated``)."""
        service = self.service
        if call.state is CallState.ENDED or party.role is Role.SUPERVISOR:
            return
        present = party.session is not None and party.media is not MediaState.LOST
        if not present and party.grace is None:
            party.grace = service.clock.call_later(service.settings.grace_period, self._grace_expired,
                                                   call.call_id, party)
            self._tell_others(call, party, "reconnecting")
            cause = "socket" if party.session is None else cause or "media"
            service.spawn(service.record(call, "reconnecting", role=party.role.value, cause=cause))
            logger.info("call %s: %s reconnecting (%s lost)", call.call_id, party.role.value, cause,
                        extra={"call_id": call.call_id})
        elif present and party.grace is not None:
            party.grace.cancel()
            party.grace = None
            self._tell_others(call, party, "connected")
            service.spawn(service.record(call, "resumed", role=party.role.value))
            logger.info("call %s: %s back", call.call_id, party.role.value, extra={"call_id": call.call_id})

    def _tell_others(self, call: Call, party: Party, state: str) -> None:
        grace = self.service.settings.grace_period if state == "reconnecting" else None
        msg = ParticipantState(call_id=call.call_id, role=party.role.value,
                      state=state, grace_s=grace)
        for other in call.other_parties(party):
            if other.session is not None:
                other.session.send(msg)

    def _grace_expired(self, call_id: str, party: Party) -> None:
        party.grace = None
        call = self.service.calls.get(call_id)
        if call is not None:
            self.service.spawn(self.service.ending.end_call(call, CloseReason.PEER_GONE, by=party.role.value))
