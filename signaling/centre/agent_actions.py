"""What an agent does with a call: accept or decline the ring, transfer the call on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sfu import AdmissionRefused, CloseReason
from signaling.auth import Role
from signaling.centre.agents import Agent, AgentState
from signaling.centre.call import LIVE_MEDIA_STATES, CallState, Party, participant_id
from signaling.centre.session import Session
from signaling.errors import ErrorCode, SignalingError
from signaling.server_messages import (
    AgentJoined,
    AgentStateChanged,
    CallEnded,
    CallStateChanged,
)

if TYPE_CHECKING:
    from signaling.centre.calls import CallService


class AgentActions:
    def __init__(self, service: CallService) -> None:
        self.service = service

    async def accept(self, session: Session, call_id: str) -> None:
        service = self.service
        agent = service.presence.agent_for(session)
        call = service.live_call(call_id)
        if call.state is not CallState.RINGING or call.offered_to != agent.agent_id:
            raise SignalingError(ErrorCode.INVALID_STATE, "this call is not ringing for you")
        if call.callback_requested:
            raise SignalingError(ErrorCode.INVALID_STATE, "the shopper has just asked for a callback instead")
        try:
            room = service.sfu.open_room(call_id)
        except AdmissionRefused:
            # the node filled up since the ring (CPU, loop lag): the call goes back to its place
            await service.dispatch.withdraw(call_id, "at_capacity", AgentState.AVAILABLE)
            return
        now = service.clock.now()
        call.state = CallState.CONNECTING
        if call.answered_at is None:
            service.availability.answered(call.queue, now - call.created_at)
        call.answered_at = call.answered_at or now
        call.agent = Party(Role.AGENT, agent.agent_id, participant_id(Role.AGENT, agent.agent_id), session, name=agent.name)
        call.stop_ringing()  # the agent party now holds the call for this agent
        call.agents_served.append(agent.agent_id)
        agent.set_state(AgentState.BUSY, now)
        agent.calls_today += 1
        session.send(AgentStateChanged(state=agent.state.value, call_id=call_id))
        if call.customer_id:
            service.dispatch.last_agent[call.customer_id] = agent.agent_id
        service.dispatch.conversions.answered(agent.agent_id, call_id)
        await service.store.release_agent(agent.agent_id, call_id)
        if call.state is CallState.ENDED:
            return  # the shopper hung up meanwhile: end_call owns the room, the agent and the record
        for party in call.parties():
            service.negotiation.add_participant(room, call, party)
        # the event and the fields in one write: a hang-up racing this accept writes its
        # "ended" after it, never under it (a record that ended must not read "connecting")
        await service.store.append_call_event(
            call_id, {"type": "accepted", "at": now, "agent_id": agent.agent_id,
                      **({"name": agent.name} if agent.name is not None else {})},
            fields={"agent_id": agent.agent_id, "agent_name": agent.name, "state": "connecting",
                    "answered_at": call.answered_at})
        if call.state is CallState.ENDED:
            return
        service.send_state(call)
        if call.shopper.session is not None:
            call.shopper.session.send(AgentJoined(call_id=call_id, name=agent.name))
        if service.recording is not None:
            await service.recording.call_answered(call, service.queues.configs[call.queue].record)
            service.call_recording.attach(call)
        service.dashboard.changed()

    async def decline(self, session: Session, call_id: str) -> None:
        agent = self.service.presence.agent_for(session)
        call = self.service.live_call(call_id)
        if call.state is not CallState.RINGING or call.offered_to != agent.agent_id:
            raise SignalingError(ErrorCode.INVALID_STATE, "this call is not ringing for you")
        await self.service.dispatch.withdraw(call_id, "declined", AgentState.AVAILABLE)

    async def transfer(self, session: Session, call_id: str, to_agent: str | None,
                       to_queue: str | None) -> None:
        """Blind transfer: the agent leaves, the shopper stays on the line for the next one."""
        service = self.service
        agent = service.presence.agent_for(session)
        call = service.live_call(call_id)
        if call.agent is None or call.agent.identity != agent.agent_id or call.state not in LIVE_MEDIA_STATES:
            raise SignalingError(ErrorCode.INVALID_STATE, "you can only transfer a call you are in")
        target: Agent | None = None
        if to_agent:
            target = service.agents.get(to_agent)
            if target is None or target.session is None or target.state is not AgentState.AVAILABLE \
                    or target is agent:
                raise SignalingError(ErrorCode.INVALID_STATE, f"agent {to_agent!r} is not available")
        elif to_queue not in service.queues.configs:  # the protocol demands one of the two
            raise SignalingError(ErrorCode.INVALID_MESSAGE, f"no queue {to_queue!r}")
        old = call.agent
        call.agent = None
        call.state = CallState.WAITING
        if to_queue:
            call.queue = to_queue
        # the fields with the event: a centre that rebuilds the call from its record must see it
        # waiting (in its new queue), not with the agent who handed it on
        await service.store.append_call_event(call_id, {
            "type": "transferred", "at": service.clock.now(), "from_agent": agent.agent_id,
            **({"to_agent": to_agent} if to_agent else {}), **({"to_queue": to_queue} if to_queue else {})},
            fields={"state": CallState.WAITING.value, "agent_id": None, "agent_name": None, "queue": call.queue})
        await service.sfu.room(call_id).remove_participant(old.participant_id, CloseReason.TRANSFERRED)
        session.send(CallEnded(call_id=call_id, reason=CloseReason.TRANSFERRED.value,
                             by="agent"))
        service.wrap_ups.start(agent, call)
        if call.shopper.session is not None:
            call.shopper.session.send(CallStateChanged(call_id=call_id, state="waiting",
                                              reason="transferred"))
        if target is not None and await service.store.reserve_agent(target.agent_id, call_id,
                                                                    service.settings.ring_timeout):
            await service.dispatch.ring(call, target)
        else:
            service.dispatch.enqueue(call, returning=False)
            await service.dispatch.dispatch()
