"""Agent presence: signing in (and in again from another window), available/away, signing out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from signaling.auth import Claims, Role
from signaling.centre.agents import Agent, AgentState
from signaling.centre.call import CallState, participant_id
from signaling.centre.session import Session
from signaling.errors import CloseCode, ErrorCode, SignalingError
from signaling.server_messages import AgentStateChanged, Joined, error

if TYPE_CHECKING:
    from signaling.centre.calls import CallService


class Presence:
    def __init__(self, service: CallService) -> None:
        self.service = service
        self.agents: dict[str, Agent] = {}

    def agent_for(self, session: Session) -> Agent:
        """The agent this connection speaks for (refused unless it is the agent's current one)."""
        claims = session.claims
        if claims is None or claims.role is not Role.AGENT:
            raise SignalingError(ErrorCode.FORBIDDEN, "only an agent can do this")
        agent = self.agents.get(claims.sub)
        if agent is None or agent.session is not session:
            raise SignalingError(ErrorCode.INVALID_STATE, "this connection is not the agent's current one")
        return agent

    async def sign_in(self, session: Session, claims: Claims) -> None:
        service = self.service
        now = service.clock.now()
        agent = self.agents.get(claims.sub)
        resumed = None
        if agent is None:
            skills = claims.skills or {name: 1 for name in service.queues.configs}
            agent = Agent(claims.sub, claims.name or claims.sub, session, skills=skills,
                          idle_since=now, state_since=now, call_of=service.call_of_agent)
            self.agents[agent.agent_id] = agent
        else:
            old, agent.session = agent.session, session
            # the token says who the agent is now (a centre that rebuilt the agent guessed)
            agent.skills = claims.skills or agent.skills
            agent.name = claims.name or agent.name
            if old is not None and old is not session:
                old.send(error(ErrorCode.REPLACED, "signed in from another window"))
                service.spawn(old.close(CloseCode.REPLACED, "signed in elsewhere"))
            call = service.calls.get(agent.call_id or "")
            if call is not None and call.agent is not None and call.agent.identity == agent.agent_id:
                resumed = call
                await service.reconnect.resume(call, call.agent, session)
            elif agent.state is AgentState.OFFLINE:
                agent.set_state(AgentState.AVAILABLE, now)
        session.send(Joined(role="agent", participant_id=participant_id(Role.AGENT, agent.agent_id),
                             agent_id=agent.agent_id, name=agent.name, state=agent.state.value,
                             skills=agent.skills, call_id=resumed.call_id if resumed else None,
                             queues=service.dashboard.queue_figures(), ice_servers=service.ice_servers,
                             resumed=resumed is not None))
        ringing = service.calls.get(agent.call_id or "")
        if ringing is not None and ringing.state is CallState.RINGING and ringing.offered_to == agent.agent_id:
            session.send(service.dispatch.offer_message(ringing))
        service.dashboard.changed()
        await service.dispatch.dispatch()

    async def set_state(self, session: Session, state: str) -> None:
        """The agent chooses available or away (the protocol allows only these two), not while
        ringing or in a call."""
        agent = self.agent_for(session)
        if agent.state in (AgentState.RINGING, AgentState.BUSY):
            raise SignalingError(ErrorCode.INVALID_STATE, "finish the current call first")
        self.service.wrap_ups.cut_short(agent)  # keeps the notes typed so far
        agent.set_state(AgentState(state), self.service.clock.now())
        session.send(AgentStateChanged(state=agent.state.value))
        self.service.dashboard.changed()
        await self.service.dispatch.dispatch()

    async def socket_closed(self, session: Session) -> None:
        """The agent's socket went: an agent in a call stays (grace period); others sign out."""
        claims = session.claims
        agent = self.agents.get(claims.sub) if claims is not None and claims.role is Role.AGENT else None
        if agent is not None and agent.session is session:
            agent.session = None
            if agent.state is not AgentState.BUSY:
                await self.sign_out(agent)

    async def leave(self, session: Session) -> None:
        claims = session.claims
        agent = self.agents.get(claims.sub) if claims is not None and claims.role is Role.AGENT else None
        if agent is not None and agent.session is session:
            await self.sign_out(agent)

    async def sign_out(self, agent: Agent) -> None:
        if agent.state is AgentState.RINGING and agent.call_id:
            await self.service.dispatch.withdraw(agent.call_id, "agent_gone", AgentState.OFFLINE)
        self.service.wrap_ups.cut_short(agent)
        agent.set_state(AgentState.OFFLINE, self.service.clock.now())
        if agent.call_id is None:
            self.agents.pop(agent.agent_id, None)
        self.service.dashboard.changed()

    def close(self) -> None:
        for agent in self.agents.values():
            agent.end_wrap_up()
