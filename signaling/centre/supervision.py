"""Supervision: a supervisor monitors a live call silently, whispers to the agent, or barges in.

A monitor is a Party of the call with an SFU participant whose audience decides who hears it:
nobody (silent), the agent (whisper), everybody (barge-in).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from sfu import CloseReason
from signaling.auth import Role
from signaling.centre.call import LIVE_MEDIA_STATES, Call, MonitorMode, Party
from signaling.centre.conversation import conversation_so_far
from signaling.centre.negotiation import audience_of
from signaling.centre.session import Session
from signaling.errors import ErrorCode, SignalingError
from signaling.server_messages import CallEnded, Monitoring, SupervisorPresence

if TYPE_CHECKING:
    from signaling.centre.calls import CallService


class Supervision:
    def __init__(self, service: CallService) -> None:
        self.service = service

    async def start(self, session: Session, call_id: str) -> None:
        service = self.service
        claims = session.claims
        if claims is None or claims.role not in (Role.SUPERVISOR, Role.ADMIN):
            raise SignalingError(ErrorCode.FORBIDDEN, "only a supervisor can monitor calls")
        call = service.live_call(call_id)
        if call.state not in LIVE_MEDIA_STATES:
            raise SignalingError(ErrorCode.INVALID_STATE, "only an answered call can be monitored")
        if any(m.session is session for m in call.monitors):
            raise SignalingError(ErrorCode.INVALID_STATE, "you are already monitoring this call")
        party = Party(Role.SUPERVISOR, claims.sub, f"supervisor-{claims.sub}-{uuid.uuid4().hex[:4]}",
                      session, name=claims.name, mode=MonitorMode.SILENT)
        call.monitors.append(party)
        service.negotiation.add_participant(service.sfu.room(call_id), call, party)
        await service.record(call, "monitor_started", supervisor=claims.sub, name=claims.name)
        record = await service.store.get_call(call_id)
        session.send(Monitoring(call_id=call_id, mode="silent", state=call.state.value,
                             context=call.context,
                             conversation=conversation_so_far(call_id, (record or {}).get("events", []))))
        service.media_states.catch_up(session, call)
        service.dashboard.changed()

    async def set_mode(self, session: Session, call_id: str, mode: str) -> None:
        service = self.service
        call = service.live_call(call_id)
        party = self._monitor(call, session)
        chosen = MonitorMode(mode)  # the protocol allows only the three modes
        party.mode = chosen
        service.sfu.room(call_id).set_audience(party.participant_id, audience_of(call, party))
        await service.record(call, "monitor_mode", supervisor=party.identity, name=party.name,
                             mode=chosen.value)
        session.send(Monitoring(call_id=call_id, mode=chosen.value, state=call.state.value))
        # whisper is announced to the agent only; barge-in to both; silent to nobody
        for conversant in call.parties():
            if conversant.session is None:
                continue
            if chosen is MonitorMode.BARGE or (chosen is MonitorMode.WHISPER and conversant.role is Role.AGENT):
                conversant.session.send(SupervisorPresence(call_id=call_id, mode=chosen.value,
                                                name=party.name or "Supervisor"))
            elif chosen is MonitorMode.SILENT:
                conversant.session.send(SupervisorPresence(call_id=call_id, mode="left"))

    async def stop(self, call: Call, party: Party, by_socket: bool = False) -> None:
        service = self.service
        if party not in call.monitors:
            return
        call.monitors.remove(party)  # at once: a second stop finds nothing to stop
        # journalled before anybody can see it (a dashboard push may happen while the SFU closes the peer)
        await service.record(call, "monitor_stopped", supervisor=party.identity, name=party.name)
        await service.sfu.room(call.call_id).remove_participant(party.participant_id, CloseReason.MONITOR_END)
        if party.mode is not None and party.mode is not MonitorMode.SILENT:
            for conversant in call.parties():
                if conversant.session is not None:
                    conversant.session.send(SupervisorPresence(call_id=call.call_id, mode="left"))
        if not by_socket and party.session is not None:
            party.session.send(CallEnded(call_id=call.call_id,
                                       reason=CloseReason.MONITOR_END.value, by="supervisor"))
        service.dashboard.changed()

    async def unmonitor(self, session: Session, call_id: str) -> None:
        call = self.service.live_call(call_id)
        await self.stop(call, self._monitor(call, session))

    @staticmethod
    def _monitor(call: Call, session: Session) -> Party:
        party = next((m for m in call.monitors if m.session is session), None)
        if party is None:
            raise SignalingError(ErrorCode.INVALID_STATE, "you are not monitoring this call")
        return party
