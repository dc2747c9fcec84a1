"""Wrap-up: after a call the agent has a timed wrap-up (disposition and notes), then is available."""

from __future__ import annotations

from typing import TYPE_CHECKING

from signaling.centre.agents import Agent, AgentState, WrapUp
from signaling.centre.call import Call
from signaling.centre.figures import agents_of
from signaling.centre.session import Session
from signaling.errors import ErrorCode, SignalingError
from signaling.server_messages import AgentStateChanged

if TYPE_CHECKING:
    from signaling.centre.calls import CallService


class WrapUps:
    def __init__(self, service: CallService) -> None:
        self.service = service

    def start(self, agent: Agent, call: Call) -> None:
        service = self.service
        if agent.session is None:
            service.agents.pop(agent.agent_id, None)  # signed out during the call
            return
        seconds = service.queues.configs[call.queue].wrap_up_s
        timer = service.clock.call_later(seconds, self._over, agent.agent_id)
        agent.begin_wrap_up(WrapUp(call.call_id, seconds, timer), service.clock.now())
        agent.session.send(AgentStateChanged(state=agent.state.value, call_id=call.call_id,
                                   wrap_up_s=seconds))

    def _over(self, agent_id: str) -> None:
        service = self.service
        agent = service.agents.get(agent_id)
        if agent is None or agent.state is not AgentState.WRAP_UP:
            return
        agent.wrap_up = None  # its timer has fired
        agent.set_state(AgentState.AVAILABLE, service.clock.now())
        if agent.session is not None:
            agent.session.send(AgentStateChanged(state=agent.state.value))
        service.dashboard.changed()
        service.spawn(service.dispatch.dispatch())

    async def finish(self, session: Session, call_id: str, disposition: str, notes: str) -> None:
        """The agent files the disposition and notes; if still wrapping up that call, they are free."""
        service = self.service
        agent = service.presence.agent_for(session)
        record = await service.store.get_call(call_id)
        if record is None or agent.agent_id not in agents_of(record):
            raise SignalingError(ErrorCode.FORBIDDEN, "you did not handle this call")
        await service.store.update_call(call_id, {"disposition": disposition, "notes": notes})
        await service.store.append_call_event(call_id, {"type": "wrap_up", "at": service.clock.now(),
                                                        "agent_id": agent.agent_id,
                                                        "disposition": disposition})
        if agent.wrap_up is not None and agent.wrap_up.call_id == call_id:
            agent.set_state(AgentState.AVAILABLE, service.clock.now())
            session.send(AgentStateChanged(state=agent.state.value))
            service.dashboard.changed()
            await service.dispatch.dispatch()
