"""CallService: the call lifecycle. The WebSocket handler translates messages; this decides.

Waiting → ringing → connecting → connected → ended, with a grace period for a party that
vanishes (socket or media lost): the other side is told "reconnecting", and the party may come
back with the same token and a fresh offer. Every step is written to the call record as it
happens.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sfu import BadCandidateError, BadSdpError, CloseReason, MediaState, Participant, SfuNode
from signaling.agents import Agent, AgentState
from signaling.auth import Claims, Role
from signaling.call import LIVE_MEDIA_STATES, Call, CallState, Party
from signaling.protocol import message
from signaling.routing import LongestIdle, RoutingStrategy
from signaling.session import Session
from signaling.store import StateStore

logger = logging.getLogger(__name__)


class CallError(Exception):
    """A request the lifecycle refuses; crosses the wire as ``error{code, message}``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class CallSettings:
    grace_period: float = 15.0
    ring_timeout: float = 30.0
    max_context_keys: int = 32


def new_call_id() -> str:
    return "c_" + uuid.uuid4().hex[:16]


class CallService:
    def __init__(
        self,
        sfu: SfuNode,
        store: StateStore,
        settings: CallSettings | None = None,
        strategy: RoutingStrategy | None = None,
        ice_servers: list[dict] | None = None,
    ) -> None:
        self.sfu = sfu
        self.store = store
        self.settings = settings or CallSettings()
        self.strategy = strategy or LongestIdle()
        self.ice_servers = ice_servers or []
        self.calls: dict[str, Call] = {}
        self.agents: dict[str, Agent] = {}
        self._waiting: list[Call] = []
        self._tasks: set[asyncio.Task] = set()
        self._closing = False

    # ------------------------------------------------------------------ joining
    async def join(self, session: Session, claims: Claims, context: dict | None) -> dict[str, Any]:
        if claims.role is Role.SHOPPER:
            return await self._join_shopper(session, claims, context or {})
        if claims.role is Role.AGENT:
            return await self._join_agent(session, claims)
        # supervisor / qa / admin: signed in, nothing to route yet
        return message("joined", role=claims.role.value, participant_id=claims.sub,
                       ice_servers=self.ice_servers, resumed=False)

    async def _join_shopper(self, session: Session, claims: Claims, context: dict) -> dict:
        call_id = claims.call_id
        assert call_id is not None
        call = self.calls.get(call_id)
        if call is None:
            if await self.store.get_call(call_id) is not None:
                raise CallError("invalid_state", "this call has already ended; start a new one")
            if self._closing:
                raise CallError("invalid_state", "the server is shutting down")
            party = Party(Role.SHOPPER, claims.sub, f"shopper-{claims.sub}", session)
            call = Call(call_id, time.time(), party, context=_clean_context(context))
            self.calls[call_id] = call
            await self.store.create_call({
                "call_id": call_id, "created_at": call.created_at, "state": "waiting",
                "shopper_id": claims.sub, "agent_id": None, "context": call.context,
            })
            await self._event(call, "requested")
            self._waiting.append(call)
            await self._event(call, "queued")
            joined = message("joined", role="shopper", participant_id=party.participant_id,
                             call_id=call_id, state=call.state.value,
                             ice_servers=self.ice_servers, resumed=False)
            session.send(joined)
            await self._dispatch()
            return None  # already sent, before the ringing that dispatch may cause
        party = call.shopper
        if party.identity != claims.sub:
            raise CallError("forbidden", "this call belongs to somebody else")
        await self._resume(call, party, session)
        return message("joined", role="shopper", participant_id=party.participant_id,
                       call_id=call_id, state=call.state.value, ice_servers=self.ice_servers,
                       resumed=True)

    async def _join_agent(self, session: Session, claims: Claims) -> dict:
        agent = self.agents.get(claims.sub)
        resumed_call: Call | None = None
        if agent is None:
            agent = Agent(claims.sub, claims.name or claims.sub, session, idle_since=time.time())
            self.agents[agent.agent_id] = agent
        else:
            old = agent.session
            agent.session = session
            if old is not None and old is not session:
                old.send(message("error", code="replaced", message="signed in from another window"))
                self._spawn(old.close(4409, "signed in elsewhere"))
            if agent.call_id and agent.call_id in self.calls:
                resumed_call = self.calls[agent.call_id]
            elif agent.state is AgentState.OFFLINE:
                agent.state = AgentState.AVAILABLE
        if resumed_call is not None and resumed_call.agent is not None:
            await self._resume(resumed_call, resumed_call.agent, session)
        joined = message("joined", role="agent", participant_id=f"agent-{agent.agent_id}",
                         agent_id=agent.agent_id, state=agent.state.value,
                         call_id=resumed_call.call_id if resumed_call else None,
                         ice_servers=self.ice_servers, resumed=resumed_call is not None)
        session.send(joined)
        if resumed_call is not None and resumed_call.state is CallState.RINGING:
            session.send(message("call-offered", call_id=resumed_call.call_id,
                                 context=resumed_call.context))
        await self._dispatch()
        return None

    async def _resume(self, call: Call, party: Party, session: Session) -> None:
        old = party.session
        party.session = session
        if old is not None and old is not session:
            self._spawn(old.close(4409, "rejoined from another connection"))
        await self._event(call, "rejoined", role=party.role.value)
        self._refresh_party(call, party)

    # ------------------------------------------------------------------ routing
    async def _dispatch(self) -> None:
        """Offer waiting calls, oldest first, to available agents."""
        for call in list(self._waiting):
            if call.state is not CallState.WAITING:
                self._waiting.remove(call)
                continue
            if call.shopper.session is None:
                continue  # the shopper is reconnecting; don't ring an agent for nobody
            agent = self.strategy.pick(self.agents.values(), call.declined_by)
            if agent is None:
                continue
            self._waiting.remove(call)
            await self._ring(call, agent)

    async def _ring(self, call: Call, agent: Agent) -> None:
        call.state = CallState.RINGING
        call.offered_to = agent.agent_id
        agent.state = AgentState.RINGING
        agent.call_id = call.call_id
        loop = asyncio.get_running_loop()
        call.ring_timer = loop.call_later(self.settings.ring_timeout, self._ring_timed_out, call.call_id)
        assert agent.session is not None
        agent.session.send(message("call-offered", call_id=call.call_id, context=call.context))
        self._send_state(call)
        await self._event(call, "offered", agent_id=agent.agent_id)

    def _ring_timed_out(self, call_id: str) -> None:
        self._spawn(self._withdraw(call_id, "timeout", AgentState.AWAY))

    async def _withdraw(self, call_id: str, reason: str, agent_state: AgentState) -> None:
        call = self.calls.get(call_id)
        if call is None or call.state is not CallState.RINGING:
            return
        agent = self.agents.get(call.offered_to or "")
        if call.ring_timer is not None:
            call.ring_timer.cancel()
            call.ring_timer = None
        if agent is not None:
            agent.call_id = None
            agent.state = agent_state
            agent.idle_since = time.time()
            if agent.session is not None:
                agent.session.send(message("call-withdrawn", call_id=call_id, reason=reason))
                agent.session.send(message("agent-state", state=agent.state.value))
            if reason == "declined":
                call.declined_by.add(agent.agent_id)
        await self._event(call, "ring_timeout" if reason == "timeout" else reason,
                          agent_id=call.offered_to)
        call.offered_to = None
        call.state = CallState.WAITING
        self._waiting.append(call)
        self._waiting.sort(key=lambda c: c.created_at)  # keeps its place in the queue
        self._send_state(call)
        await self._dispatch()

    # ------------------------------------------------------------------ agent actions
    def _agent_for(self, session: Session) -> Agent:
        claims = session.claims
        if claims is None or claims.role is not Role.AGENT:
            raise CallError("forbidden", "only an agent can do this")
        agent = self.agents.get(claims.sub)
        if agent is None or agent.session is not session:
            raise CallError("invalid_state", "this connection is not the agent's current one")
        return agent

    async def accept(self, session: Session, call_id: str) -> None:
        agent = self._agent_for(session)
        call = self._live_call(call_id)
        if call.state is not CallState.RINGING or call.offered_to != agent.agent_id:
            raise CallError("invalid_state", "this call is not ringing for you")
        if call.ring_timer is not None:
            call.ring_timer.cancel()
            call.ring_timer = None
        call.state = CallState.CONNECTING
        call.agent = Party(Role.AGENT, agent.agent_id, f"agent-{agent.agent_id}", session)
        agent.state = AgentState.BUSY
        agent.calls_today += 1
        room = self.sfu.room(call_id)
        for party in call.parties():
            room.add_participant(party.participant_id, party.role.value,
                                 observer=_PartyObserver(self, call, party))
        await self.store.update_call(call_id, {"agent_id": agent.agent_id, "state": "connecting"})
        await self._event(call, "accepted", agent_id=agent.agent_id)
        self._send_state(call)

    async def decline(self, session: Session, call_id: str) -> None:
        agent = self._agent_for(session)
        call = self._live_call(call_id)
        if call.state is not CallState.RINGING or call.offered_to != agent.agent_id:
            raise CallError("invalid_state", "this call is not ringing for you")
        await self._withdraw(call_id, "declined", AgentState.AVAILABLE)

    async def set_agent_state(self, session: Session, state: str) -> None:
        agent = self._agent_for(session)
        allowed = {AgentState.AVAILABLE.value, AgentState.AWAY.value}
        if state not in allowed:
            raise CallError("invalid_message", f"state must be one of {sorted(allowed)}")
        if agent.state in (AgentState.RINGING, AgentState.BUSY):
            raise CallError("invalid_state", "finish the current call first")
        agent.state = AgentState(state)
        agent.idle_since = time.time()
        session.send(message("agent-state", state=agent.state.value))
        await self._dispatch()

    # ------------------------------------------------------------------ media
    def _media_party(self, session: Session, call_id: str) -> tuple[Call, Party, Participant]:
        call = self._live_call(call_id)
        party = call.party_of(session)
        if party is None:
            raise CallError("forbidden", "you are not in this call")
        if call.state not in LIVE_MEDIA_STATES:
            raise CallError("invalid_state", f"the call is {call.state.value}, not accepted yet")
        participant = self.sfu.room(call_id).get(party.participant_id)
        if participant is None:
            raise CallError("invalid_state", "this call has no media session")
        return call, party, participant

    async def offer(self, session: Session, call_id: str, sdp: str) -> None:
        call, party, participant = self._media_party(session, call_id)
        try:
            answer = await participant.negotiate(sdp)
        except BadSdpError as exc:
            raise CallError("bad_sdp", str(exc)) from None
        if call.state is CallState.ENDED:
            return
        session.send(message("answer", call_id=call_id, sdp=answer))

    async def candidate(self, session: Session, call_id: str, candidate: dict | None) -> None:
        _, _, participant = self._media_party(session, call_id)
        try:
            await participant.add_candidate(candidate)
        except BadCandidateError as exc:
            raise CallError("bad_candidate", str(exc)) from None

    def on_media_state(self, call: Call, party: Party, state: MediaState) -> None:
        """The SFU saw this party's media start flowing (CONNECTED) or stop (LOST)."""
        if call.state is CallState.ENDED:
            return
        party.media_ok = state is MediaState.CONNECTED
        party.media_lost = state is MediaState.LOST
        if party.media_ok and call.state is CallState.CONNECTING:
            if all(p.media_ok for p in call.parties()):
                call.state = CallState.CONNECTED
                call.connected_at = time.time()
                self._send_state(call)
                self._spawn(self._event(call, "connected"))
        self._refresh_party(call, party)

    def _refresh_party(self, call: Call, party: Party) -> None:
        """Start or stop the party's grace period from its socket and media state."""
        if call.state is CallState.ENDED:
            return
        present = party.session is not None and not party.media_lost
        if not present and party.grace is None:
            party.grace = asyncio.get_running_loop().call_later(
                self.settings.grace_period, self._grace_expired, call.call_id, party)
            self._notify_others(call, party, "reconnecting")
            cause = "socket" if party.session is None else "media"
            self._spawn(self._event(call, "reconnecting", role=party.role.value, cause=cause))
            logger.info("call %s: %s reconnecting (%s lost)", call.call_id, party.role.value, cause)
        elif present and party.grace is not None:
            party.grace.cancel()
            party.grace = None
            self._notify_others(call, party, "connected")
            self._spawn(self._event(call, "resumed", role=party.role.value))
            logger.info("call %s: %s back", call.call_id, party.role.value)

    def _grace_expired(self, call_id: str, party: Party) -> None:
        party.grace = None
        call = self.calls.get(call_id)
        if call is not None:
            self._spawn(self.end_call(call, CloseReason.PEER_GONE, by=party.role.value))

    # ------------------------------------------------------------------ ending
    async def hangup(self, session: Session, call_id: str) -> None:
        call = self._live_call(call_id)
        party = call.party_of(session)
        if party is None:
            raise CallError("forbidden", "you are not in this call")
        await self.end_call(call, CloseReason.HANG_UP, by=party.role.value)

    async def leave(self, session: Session) -> None:
        for call in list(self.calls.values()):
            party = call.party_of(session)
            if party is not None:
                await self.end_call(call, CloseReason.HANG_UP, by=party.role.value)
        claims = session.claims
        if claims is not None and claims.role is Role.AGENT:
            agent = self.agents.get(claims.sub)
            if agent is not None and agent.session is session:
                await self._sign_out(agent)

    async def session_closed(self, session: Session) -> None:
        """The socket went away: start grace periods, withdraw rings, sign idle agents out."""
        for call in list(self.calls.values()):
            for party in call.parties():
                if party.session is session:
                    party.session = None
                    if call.state is CallState.RINGING and party.role is Role.AGENT:
                        continue
                    self._refresh_party(call, party)
        claims = session.claims
        if claims is not None and claims.role is Role.AGENT:
            agent = self.agents.get(claims.sub)
            if agent is not None and agent.session is session:
                agent.session = None
                if agent.state is AgentState.RINGING and agent.call_id:
                    await self._withdraw(agent.call_id, "agent_gone", AgentState.OFFLINE)
                if agent.state is not AgentState.BUSY:
                    await self._sign_out(agent)

    async def _sign_out(self, agent: Agent) -> None:
        if agent.state is AgentState.RINGING and agent.call_id:
            await self._withdraw(agent.call_id, "agent_gone", AgentState.OFFLINE)
        agent.state = AgentState.OFFLINE
        if agent.call_id is None:
            self.agents.pop(agent.agent_id, None)

    async def end_call(self, call: Call, reason: CloseReason, by: str | None = None) -> None:
        if call.state is CallState.ENDED:
            return
        previous = call.state
        call.state = CallState.ENDED
        if call.ring_timer is not None:
            call.ring_timer.cancel()
        if call in self._waiting:
            self._waiting.remove(call)
        for party in call.parties():
            if party.grace is not None:
                party.grace.cancel()
                party.grace = None
        self.calls.pop(call.call_id, None)
        try:
            # On disk before anybody is told: a told "ended" is a recorded "ended".
            await self._event(call, "ended", reason=reason.value, by=by)
        finally:
            for party in call.parties():
                if party.session is not None:
                    party.session.send(message("call-ended", call_id=call.call_id,
                                               reason=reason.value, by=by))
            self._release_agent(call, previous, reason)
            logger.info("call %s ended: %s by %s", call.call_id, reason.value, by)
            await self.sfu.close_room(call.call_id, reason)
        if not self._closing:
            await self._dispatch()

    def _release_agent(self, call: Call, previous: CallState, reason: CloseReason) -> None:
        agent_id = call.agent.identity if call.agent else call.offered_to
        agent = self.agents.get(agent_id or "")
        if agent is None or agent.call_id != call.call_id:
            return
        agent.call_id = None
        agent.idle_since = time.time()
        if previous is CallState.RINGING and agent.session is not None:
            agent.session.send(message("call-withdrawn", call_id=call.call_id, reason=reason.value))
        if agent.session is None:
            self.agents.pop(agent.agent_id, None)
        elif agent.state in (AgentState.BUSY, AgentState.RINGING):
            agent.state = AgentState.AVAILABLE
            agent.session.send(message("agent-state", state=agent.state.value))

    # ------------------------------------------------------------------ helpers
    def _live_call(self, call_id: str) -> Call:
        call = self.calls.get(call_id)
        if call is None or call.state is CallState.ENDED:
            raise CallError("call_not_found", f"no live call {call_id!r}")
        return call

    def _send_state(self, call: Call) -> None:
        msg = message("call-state", call_id=call.call_id, state=call.state.value)
        for party in call.parties():
            if party.session is not None:
                party.session.send(msg)

    def _notify_others(self, call: Call, party: Party, state: str) -> None:
        msg = message("participant-state", call_id=call.call_id, role=party.role.value,
                      state=state, grace_s=self.settings.grace_period if state == "reconnecting" else None)
        for other in call.other_parties(party):
            if other.session is not None:
                other.session.send(msg)

    async def _event(self, call: Call, kind: str, **fields: Any) -> None:
        event = {"type": kind, "at": time.time(), **{k: v for k, v in fields.items() if v is not None}}
        await self.store.append_call_event(call.call_id, event)

    def _spawn(self, coro: Any) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def run_owned(self, coro: Any) -> asyncio.Task:
        """Run ``coro`` as a task this service owns (survives its caller's cancellation)."""
        return self._spawn(coro)

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("call task failed", exc_info=task.exception())

    async def close(self) -> None:
        """Node shutdown: end every live call with ``node_drain`` so records are complete."""
        self._closing = True
        for call in list(self.calls.values()):
            await self.end_call(call, CloseReason.NODE_DRAIN, by="server")
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


class _PartyObserver:
    """Bridges one SFU participant's media state to its party in the call."""

    def __init__(self, service: CallService, call: Call, party: Party) -> None:
        self.service, self.call, self.party = service, call, party

    def on_media_state(self, participant: Participant, state: MediaState) -> None:
        if state in (MediaState.CONNECTED, MediaState.LOST):
            self.service.on_media_state(self.call, self.party, state)


def _clean_context(context: dict) -> dict:
    """Keep the page context small and flat: it is shown to agents and stored."""
    clean: dict[str, Any] = {}
    for key, value in list(context.items())[:32]:
        if not isinstance(key, str) or len(key) > 64:
            continue
        if isinstance(value, (str, int, float, bool)) or value is None:
            clean[key] = value[:500] if isinstance(value, str) else value
        elif isinstance(value, list):
            clean[key] = [str(v)[:300] for v in value[:10]]
    return clean
