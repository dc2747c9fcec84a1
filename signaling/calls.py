"""CallService: the call lifecycle. The WebSocket handler translates messages; this decides.

waiting → ringing → connecting → connected → ended. Calls wait in queues (signaling/queues.py)
and a Router (signaling/routing.py) picks agents; offering a call reserves the agent in the
StateStore, atomically and with an expiry, so no crash or lost message leaves an agent stuck
ringing. A party that vanishes (socket or media lost) is "reconnecting" for a grace period and
may come back with the same token. Every step is written to the call record before the
clients are told.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sfu.tasks import TaskSet
from sfu import BadCandidateError, BadSdpError, CloseReason, MediaState, Participant, SfuNode
from signaling.agents import Agent, AgentState
from signaling.auth import Claims, Role
from signaling.call import LIVE_MEDIA_STATES, Call, CallState, Party
from signaling.figures import agents_of
from signaling.protocol import message
from signaling.queues import Queues
from signaling.routing import AgentView, Router, SkillRouter, WaitingCall, estimated_wait
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
    tick: float = 1.0  # how often queues are re-evaluated (relaxation, overflow, limits)
    default_handle_s: float = 240.0  # for wait estimates until we have history


def new_call_id() -> str:
    return "c_" + uuid.uuid4().hex[:16]


class CallService:
    def __init__(
        self,
        sfu: SfuNode,
        store: StateStore,
        settings: CallSettings | None = None,
        queues: Queues | None = None,
        router: Router | None = None,
        ice_servers: list[dict] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sfu = sfu
        self.store = store
        self.settings = settings or CallSettings()
        self.queues = queues or Queues.from_config()
        self.router = router or SkillRouter()
        self.ice_servers = ice_servers or []
        self.clock = clock
        self.calls: dict[str, Call] = {}
        self.agents: dict[str, Agent] = {}
        self.watchers: set[Session] = set()  # supervisors following the live dashboard
        self.ratings: dict[str, deque[int]] = defaultdict(lambda: deque(maxlen=20))
        self.last_agent: dict[str, str] = {}  # customer id → agent who served them last
        self.handle_times: deque[float] = deque(maxlen=50)
        self._tasks = TaskSet("call service")
        self._dispatch_lock = asyncio.Lock()
        self._ticker: asyncio.Task | None = None
        self._closing = False
        self._dashboard_dirty = False
        self.recording: Any = None  # RecordingService, set by the composition root

    async def start(self) -> None:
        """Learn ratings and returning customers from the records; start the queue ticker."""
        for record in await self.store.list_calls(limit=2000):
            agent_id, rating = record.get("agent_id"), record.get("rating")
            if agent_id and isinstance(rating, dict) and isinstance(rating.get("score"), int):
                self.ratings[agent_id].appendleft(rating["score"])
            customer = record.get("customer_id")
            if customer and agent_id and customer not in self.last_agent:
                self.last_agent[customer] = agent_id
        self._ticker = asyncio.get_running_loop().create_task(self._tick_loop())

    # ------------------------------------------------------------------ joining
    async def join(self, session: Session, claims: Claims, context: dict | None) -> None:
        if claims.role is Role.SHOPPER:
            await self._join_shopper(session, claims, context or {})
        elif claims.role is Role.AGENT:
            await self._join_agent(session, claims)
        else:  # supervisor / qa / admin
            session.send(message("joined", role=claims.role.value, participant_id=claims.sub,
                                 ice_servers=self.ice_servers, resumed=False))
            if claims.role in (Role.SUPERVISOR, Role.ADMIN):
                self.watchers.add(session)
                session.send(self.dashboard())

    async def _join_shopper(self, session: Session, claims: Claims, context: dict) -> None:
        call_id = claims.call_id
        assert call_id is not None
        call = self.calls.get(call_id)
        if call is not None:
            if call.shopper.identity != claims.sub:
                raise CallError("forbidden", "this call belongs to somebody else")
            await self._resume(call, call.shopper, session)
            session.send(self._joined(call, call.shopper, resumed=True))
            if call.state is CallState.WAITING:
                self._send_position(call)
            return
        if await self.store.get_call(call_id) is not None:
            raise CallError("invalid_state", "this call has already ended; start a new one")
        if self._closing:
            raise CallError("invalid_state", "the server is shutting down")
        now = self.clock()
        context = _clean_context(context)
        customer = claims.customer_id or (str(context["customer_id"]) if context.get("customer_id") else None)
        party = Party(Role.SHOPPER, claims.sub, f"shopper-{claims.sub}", session, name=claims.name)
        call = Call(call_id, now, party, queue=self.queues.queue_for(context.get("category")),
                    context=context, priority=claims.priority, customer_id=customer,
                    audio_only=context.get("media") == "audio")
        self.calls[call_id] = call
        await self.store.create_call({
            "call_id": call_id, "created_at": now, "state": "waiting", "queue": call.queue,
            "shopper_id": claims.sub, "customer_id": customer, "agent_id": None,
            "priority": call.priority, "context": context, "audio_only": call.audio_only,
        })
        await self._event(call, "requested", queue=call.queue)
        session.send(self._joined(call, party, resumed=False))
        unavailable = self._unavailable_reason(call.queue)
        if unavailable:
            await self._unavailable(call, unavailable)
            return
        self._enqueue(call)
        await self._event(call, "queued", queue=call.queue)
        await self._dispatch()

    def _joined(self, call: Call, party: Party, resumed: bool) -> dict:
        return message("joined", role=party.role.value, participant_id=party.participant_id,
                       call_id=call.call_id, state=call.state.value, queue=call.queue,
                       ice_servers=self.ice_servers, resumed=resumed)

    async def _join_agent(self, session: Session, claims: Claims) -> None:
        now = self.clock()
        agent = self.agents.get(claims.sub)
        resumed: Call | None = None
        if agent is None:
            skills = claims.skills or {name: 1 for name in self.queues.configs}
            agent = Agent(claims.sub, claims.name or claims.sub, session, skills=skills,
                          idle_since=now, state_since=now)
            self.agents[agent.agent_id] = agent
        else:
            old, agent.session = agent.session, session
            if old is not None and old is not session:
                old.send(message("error", code="replaced", message="signed in from another window"))
                self._spawn(old.close(4409, "signed in elsewhere"))
            call = self.calls.get(agent.call_id or "")
            if call is not None and call.agent is not None and call.agent.identity == agent.agent_id:
                resumed = call
                await self._resume(call, call.agent, session)
            elif agent.state is AgentState.OFFLINE:
                agent.set_state(AgentState.AVAILABLE, now)
        session.send(message("joined", role="agent", participant_id=f"agent-{agent.agent_id}",
                             agent_id=agent.agent_id, name=agent.name, state=agent.state.value,
                             skills=agent.skills, call_id=resumed.call_id if resumed else None,
                             queues=self.queue_figures(), ice_servers=self.ice_servers,
                             resumed=resumed is not None))
        ringing = self.calls.get(agent.call_id or "")
        if ringing is not None and ringing.state is CallState.RINGING and ringing.offered_to == agent.agent_id:
            session.send(self._offer_message(ringing))
        self._dashboard_changed()
        await self._dispatch()

    async def _resume(self, call: Call, party: Party, session: Session) -> None:
        old, party.session = party.session, session
        if old is not None and old is not session:
            self._spawn(old.close(4409, "rejoined from another connection"))
        await self._event(call, "rejoined", role=party.role.value)
        if self.recording is not None and self.recording.state_for(call.call_id) != "off":
            session.send(message("recording", call_id=call.call_id,
                                 state=self.recording.state_for(call.call_id)))
        self._refresh_party(call, party)

    # ------------------------------------------------------------------ queueing
    def _unavailable_reason(self, queue: str) -> str | None:
        skill = self.queues.configs[queue].skill
        if not any(a.skills.get(skill, 0) > 0 and a.session is not None
                   and a.state is not AgentState.OFFLINE for a in self.agents.values()):
            return "no_agents"
        if self.queues.is_full(queue):
            return "queue_full"
        return None

    async def _unavailable(self, call: Call, reason: str) -> None:
        """Nobody can take the call: say so in words; the shopper may leave a callback request."""
        call.shopper.session and call.shopper.session.send(message(
            "call-state", call_id=call.call_id, state="unavailable", reason=reason,
            message=_UNAVAILABLE_TEXT[reason]))
        await self.end_call(call, CloseReason.UNAVAILABLE, by="server", detail=reason)

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.tick)
            try:
                await self._tick()
            except Exception:
                logger.exception("queue tick failed")

    async def _tick(self) -> None:
        now = self.clock()
        for entry in list(self.queues.waiting.values()):
            call = self.calls.get(entry.call_id)
            if call is None:
                self.queues.remove(entry.call_id)
                continue
            config = self.queues.configs[entry.queue]
            waited = entry.waited(now)
            if waited >= config.max_wait_s:
                self.queues.remove(entry.call_id)
                await self._unavailable(call, "wait_limit")
            elif (config.overflow_after_s is not None and config.overflow_to in self.queues.configs
                  and now - entry.enqueued_at >= config.overflow_after_s and entry.queue == call.queue):
                entry.queue = call.queue = config.overflow_to
                entry.enqueued_at = entry.requested_at or entry.enqueued_at
                await self._event(call, "overflowed", queue=call.queue)
        await self._dispatch()
        for call in self.calls.values():
            if call.state is CallState.WAITING:
                self._send_position(call)
        if self._dashboard_dirty:
            self._push_dashboard()

    def _enqueue(self, call: Call, returning: bool = True) -> None:
        """Queue (or re-queue) a call in its place: ordered by when it was first requested.
        The entry shares the call's ``declined_by`` set, so the router always sees it."""
        last = self.last_agent.get(call.customer_id or "") if returning else None
        self.queues.add(WaitingCall(call.call_id, call.queue, call.created_at, call.priority,
                                    call.customer_id, last, declined_by=call.declined_by,
                                    requested_at=call.created_at))

    async def _dispatch(self) -> None:
        """Ask the router for offers, reserve each agent, ring them."""
        if self._closing:
            return
        async with self._dispatch_lock:
            now = self.clock()
            waiting = [w for w in self.queues.waiting.values()
                       if (c := self.calls.get(w.call_id)) is not None
                       and c.state is CallState.WAITING and c.shopper.session is not None]
            views = [self._view(a) for a in self.agents.values() if a.session is not None]
            for call_id, agent_id in self.router.assign(self.queues.configs, waiting, views, now):
                call, agent = self.calls.get(call_id), self.agents.get(agent_id)
                if call is None or agent is None or agent.state is not AgentState.AVAILABLE:
                    continue
                if not await self.store.reserve_agent(agent_id, call_id, self.settings.ring_timeout):
                    continue  # reserved by another node meanwhile
                await self._ring(call, agent)

    def _view(self, agent: Agent) -> AgentView:
        scores = self.ratings.get(agent.agent_id)
        return AgentView(agent.agent_id, agent.skills, agent.state is AgentState.AVAILABLE,
                         active_calls=0, capacity=agent.capacity, idle_since=agent.idle_since,
                         calls_today=agent.calls_today,
                         rating=sum(scores) / len(scores) if scores else None)

    async def _ring(self, call: Call, agent: Agent) -> None:
        self.queues.remove(call.call_id)
        call.state = CallState.RINGING
        call.offered_to = agent.agent_id
        agent.call_id = call.call_id
        agent.set_state(AgentState.RINGING, self.clock())
        call.ring_timer = asyncio.get_running_loop().call_later(
            self.settings.ring_timeout, self._ring_timed_out, call.call_id, agent.agent_id)
        await self._event(call, "offered", agent_id=agent.agent_id)
        assert agent.session is not None
        agent.session.send(message("agent-state", state=agent.state.value, call_id=call.call_id))
        agent.session.send(self._offer_message(call))
        self._send_state(call)
        self._dashboard_changed()

    def _offer_message(self, call: Call) -> dict:
        return message("call-offered", call_id=call.call_id, context=call.context, queue=call.queue,
                       priority=call.priority, audio_only=call.audio_only,
                       returning=bool(call.customer_id and call.customer_id in self.last_agent),
                       waited_s=round(self.clock() - call.created_at, 1))

    def _ring_timed_out(self, call_id: str, agent_id: str) -> None:
        self._spawn(self._withdraw(call_id, "timeout", AgentState.AWAY))

    async def _withdraw(self, call_id: str, reason: str, agent_state: AgentState) -> None:
        """The offer is off (no answer, declined, agent gone): the call keeps its place."""
        call = self.calls.get(call_id)
        if call is None or call.state is not CallState.RINGING:
            return
        agent_id = call.offered_to or ""
        agent = self.agents.get(agent_id)
        call.state = CallState.WAITING  # at once: a racing accept or second withdraw now fails
        call.offered_to = None
        if call.ring_timer is not None:
            call.ring_timer.cancel()
            call.ring_timer = None
        await self.store.release_agent(agent_id, call_id)
        if reason == "declined":
            call.declined_by.add(agent_id)
        await self._event(call, "ring_timeout" if reason == "timeout" else reason, agent_id=agent_id)
        if agent is not None:
            agent.call_id = None
            agent.set_state(agent_state, self.clock())
            if agent.session is not None:
                agent.session.send(message("call-withdrawn", call_id=call_id, reason=reason))
                agent.session.send(message("agent-state", state=agent.state.value))
        if call.state is not CallState.WAITING:
            return  # ended meanwhile
        self._enqueue(call)
        self._send_state(call)
        self._dashboard_changed()
        await self._dispatch()

    def _send_position(self, call: Call) -> None:
        position = self.queues.position(call.call_id)
        if position is None or call.shopper.session is None:
            return
        working = (AgentState.AVAILABLE, AgentState.RINGING, AgentState.BUSY, AgentState.WRAP_UP)
        serving = sum(1 for a in self.agents.values() if a.session is not None
                      and a.skills.get(self.queues.configs[call.queue].skill, 0) > 0
                      and a.state in working)  # an agent on a break serves nobody
        handle = (sum(self.handle_times) / len(self.handle_times)) if self.handle_times \
            else self.settings.default_handle_s
        wait = estimated_wait(position - 1, serving, handle)
        call.shopper.session.send(message(
            "queue-position", call_id=call.call_id, position=position,
            estimated_wait_s=None if wait == float("inf") else round(wait),
            waited_s=round(self.clock() - call.created_at)))

    # ------------------------------------------------------------------ agent actions
    def agent_for(self, session: Session) -> Agent:
        claims = session.claims
        if claims is None or claims.role is not Role.AGENT:
            raise CallError("forbidden", "only an agent can do this")
        agent = self.agents.get(claims.sub)
        if agent is None or agent.session is not session:
            raise CallError("invalid_state", "this connection is not the agent's current one")
        return agent

    async def accept(self, session: Session, call_id: str) -> None:
        agent = self.agent_for(session)
        call = self.live_call(call_id)
        if call.state is not CallState.RINGING or call.offered_to != agent.agent_id:
            raise CallError("invalid_state", "this call is not ringing for you")
        if call.ring_timer is not None:
            call.ring_timer.cancel()
            call.ring_timer = None
        now = self.clock()
        call.state = CallState.CONNECTING
        call.answered_at = call.answered_at or now
        call.agent = Party(Role.AGENT, agent.agent_id, f"agent-{agent.agent_id}", session, name=agent.name)
        call.agents_served.append(agent.agent_id)
        agent.set_state(AgentState.BUSY, now)
        agent.calls_today += 1
        session.send(message("agent-state", state=agent.state.value, call_id=call_id))
        if call.customer_id:
            self.last_agent[call.customer_id] = agent.agent_id
        await self.store.release_agent(agent.agent_id, call_id)
        room = self.sfu.room(call_id)
        for party in call.parties():
            room.add_participant(party.participant_id, party.role.value,
                                 observer=_PartyObserver(self, call, party))
        await self.store.update_call(call_id, {"agent_id": agent.agent_id, "state": "connecting",
                                               "answered_at": call.answered_at})
        await self._event(call, "accepted", agent_id=agent.agent_id, name=agent.name)
        self._send_state(call)
        if call.shopper.session is not None:
            call.shopper.session.send(message("agent-joined", call_id=call_id, name=agent.name))
        if self.recording is not None:
            await self.recording.call_answered(call, self.queues.configs[call.queue].record)
            self._attach_recorder(call)
        self._dashboard_changed()

    def _attach_recorder(self, call: Call) -> None:
        room = self.sfu.rooms.get(call.call_id)
        if room is None or self.recording is None:
            return
        existing = []
        for party in call.parties():
            participant = room.get(party.participant_id)
            if participant is not None:
                existing += [(party, participant, pub) for pub in participant.publishers.values()]
        if call.call_id in self.recording.calls and self.recording.calls[call.call_id].recording:
            self.recording.attach_existing(call, existing)

    def on_publisher(self, call: Call, party: Party, participant: Participant, publisher: Any,
                     added: bool) -> None:
        if self.recording is not None and call.state is not CallState.ENDED:
            self.recording.on_publisher(call, party, participant, publisher, added)

    async def recording_consent(self, session: Session, call_id: str, granted: bool) -> None:
        call = self.live_call(call_id)
        if call.shopper.session is not session:
            raise CallError("forbidden", "only the shopper answers the recording question")
        if self.recording is None:
            raise CallError("invalid_state", "recording is not available on this server")
        await self._recording_call(self.recording.consent(call, granted))
        self._attach_recorder(call)

    async def pause_recording(self, session: Session, call_id: str, paused: bool) -> None:
        call = self.live_call(call_id)
        party = call.party_of(session)
        if party is None or party.role is not Role.AGENT:
            raise CallError("forbidden", "only the agent of this call can pause the recording")
        if self.recording is None:
            raise CallError("invalid_state", "this call is not being recorded")
        await self._recording_call(self.recording.pause(call, paused, by=party.identity))

    async def _recording_call(self, coro: Any) -> None:
        from signaling.recording import RecordingError

        try:
            await coro
        except RecordingError as exc:
            raise CallError(exc.code, exc.message) from None

    async def decline(self, session: Session, call_id: str) -> None:
        agent = self.agent_for(session)
        call = self.live_call(call_id)
        if call.state is not CallState.RINGING or call.offered_to != agent.agent_id:
            raise CallError("invalid_state", "this call is not ringing for you")
        await self._withdraw(call_id, "declined", AgentState.AVAILABLE)

    async def set_agent_state(self, session: Session, state: str) -> None:
        agent = self.agent_for(session)
        allowed = {AgentState.AVAILABLE.value, AgentState.AWAY.value}
        if state not in allowed:
            raise CallError("invalid_message", f"state must be one of {sorted(allowed)}")
        if agent.state in (AgentState.RINGING, AgentState.BUSY):
            raise CallError("invalid_state", "finish the current call first")
        if agent.wrap_up is not None:
            agent.wrap_up.cancel()
            agent.wrap_up = None
        agent.set_state(AgentState(state), self.clock())
        session.send(message("agent-state", state=agent.state.value))
        self._dashboard_changed()
        await self._dispatch()

    async def transfer(self, session: Session, call_id: str, to_agent: str | None,
                       to_queue: str | None) -> None:
        """Blind transfer: the agent leaves, the shopper stays on the line for the next one."""
        agent = self.agent_for(session)
        call = self.live_call(call_id)
        if call.agent is None or call.agent.identity != agent.agent_id or call.state not in LIVE_MEDIA_STATES:
            raise CallError("invalid_state", "you can only transfer a call you are in")
        target: Agent | None = None
        if to_agent:
            target = self.agents.get(to_agent)
            if target is None or target.session is None or target.state is not AgentState.AVAILABLE \
                    or target is agent:
                raise CallError("invalid_state", f"agent {to_agent!r} is not available")
        elif to_queue:
            if to_queue not in self.queues.configs:
                raise CallError("invalid_message", f"no queue {to_queue!r}")
        else:
            raise CallError("invalid_message", "transfer needs to_agent or to_queue")
        old = call.agent
        call.agent = None
        call.state = CallState.WAITING
        if to_queue:
            call.queue = to_queue
        await self._event(call, "transferred", from_agent=agent.agent_id, to_agent=to_agent,
                          to_queue=to_queue)
        await self.sfu.room(call_id).remove_participant(old.participant_id, CloseReason.TRANSFERRED)
        session.send(message("call-ended", call_id=call_id, reason=CloseReason.TRANSFERRED.value,
                             by="agent"))
        self._start_wrap_up(agent, call)
        if call.shopper.session is not None:
            call.shopper.session.send(message("call-state", call_id=call_id, state="waiting",
                                              reason="transferred"))
        if target is not None and await self.store.reserve_agent(target.agent_id, call_id,
                                                                 self.settings.ring_timeout):
            await self._ring(call, target)
        else:
            self._enqueue(call, returning=False)
            await self._dispatch()

    # ------------------------------------------------------------------ media
    def _media_party(self, session: Session, call_id: str) -> tuple[Call, Party, Participant]:
        call = self.live_call(call_id)
        party = call.party_of(session)
        if party is None:
            raise CallError("forbidden", "you are not in this call")
        if call.state not in LIVE_MEDIA_STATES and party.role is not Role.SHOPPER:
            raise CallError("invalid_state", f"the call is {call.state.value}, not accepted yet")
        participant = self.sfu.room(call_id).get(party.participant_id)
        if participant is None:
            raise CallError("invalid_state", "this call has no media session yet")
        return call, party, participant

    async def offer(self, session: Session, call_id: str, sdp: str) -> None:
        call, party, participant = self._media_party(session, call_id)
        try:
            answer = await participant.negotiate(sdp)
        except BadSdpError as exc:
            raise CallError("bad_sdp", str(exc)) from None
        if call.state is not CallState.ENDED:
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
        if party.role is Role.SUPERVISOR:
            return
        if party.media_ok and call.state is CallState.CONNECTING and call.agent is not None:
            if all(p.media_ok for p in call.parties()):
                call.state = CallState.CONNECTED
                call.connected_at = call.connected_at or self.clock()
                self._send_state(call)
                self._spawn(self._event(call, "connected", agent_id=call.agent.identity))
                self._dashboard_changed()
        self._refresh_party(call, party)

    def _refresh_party(self, call: Call, party: Party) -> None:
        """Start or stop the party's grace period from its socket and media state."""
        if call.state is CallState.ENDED or party.role is Role.SUPERVISOR:
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
        call = self.live_call(call_id)
        party = call.party_of(session)
        if party is None or party.role is Role.SUPERVISOR:
            raise CallError("forbidden", "you are not in this call")
        await self.end_call(call, CloseReason.HANG_UP, by=party.role.value)

    async def request_callback(self, session: Session | None, call_id: str, request: dict[str, str],
                               claims: Claims | None = None) -> None:
        """A shopper who cannot (or will not) wait leaves their details for a callback (over
        the socket, or over REST when the socket is gone: the call may already be over)."""
        claims = claims or (session.claims if session is not None else None)
        if claims is None or claims.role is not Role.SHOPPER or claims.call_id != call_id:
            raise CallError("forbidden", "only the shopper of this call can ask for a callback")
        call = self.calls.get(call_id)
        if call is not None and call.state in LIVE_MEDIA_STATES:
            raise CallError("invalid_state", "you are already talking to an expert")
        record = await self.store.get_call(call_id)
        if record is None:
            raise CallError("call_not_found", f"no call {call_id!r}")
        if record.get("callback"):
            raise CallError("invalid_state", "a callback was already requested for this call")
        entry = {**request, "at": self.clock()}
        await self.store.add_callback(call_id, entry)
        if call is not None:
            await self._event(call, "callback_requested")
            await self.end_call(call, CloseReason.CALLBACK, by="shopper")
        else:
            await self.store.append_call_event(call_id, {"type": "callback_requested", "at": entry["at"]})
        if session is not None:
            session.send(message("callback-accepted", call_id=call_id))
        for agent in self.agents.values():
            if agent.session is not None:
                agent.session.send(message("callbacks-changed"))
        self._dashboard_changed()

    async def leave(self, session: Session) -> None:
        for call in list(self.calls.values()):
            party = call.party_of(session)
            if party is not None and party.role is not Role.SUPERVISOR:
                await self.end_call(call, CloseReason.HANG_UP, by=party.role.value)
        claims = session.claims
        if claims is not None and claims.role is Role.AGENT:
            agent = self.agents.get(claims.sub)
            if agent is not None and agent.session is session:
                await self._sign_out(agent)

    async def session_closed(self, session: Session) -> None:
        """The socket went away: start grace periods, withdraw rings, sign idle agents out."""
        self.watchers.discard(session)
        for call in list(self.calls.values()):
            for monitor in list(call.monitors):
                if monitor.session is session:
                    await self.stop_monitor(call, monitor, by_socket=True)
            for party in call.parties():
                if party.session is session:
                    party.session = None
                    self._refresh_party(call, party)
        claims = session.claims
        if claims is not None and claims.role is Role.AGENT:
            agent = self.agents.get(claims.sub)
            if agent is not None and agent.session is session:
                agent.session = None
                if agent.state is not AgentState.BUSY:
                    await self._sign_out(agent)
        if claims is not None and claims.role is Role.SHOPPER:
            await self._dispatch()

    async def _sign_out(self, agent: Agent) -> None:
        if agent.state is AgentState.RINGING and agent.call_id:
            await self._withdraw(agent.call_id, "agent_gone", AgentState.OFFLINE)
        if agent.wrap_up is not None:
            agent.wrap_up.cancel()
            agent.wrap_up = None
        agent.set_state(AgentState.OFFLINE, self.clock())
        if agent.call_id is None:
            self.agents.pop(agent.agent_id, None)
        self._dashboard_changed()

    async def end_call(self, call: Call, reason: CloseReason, by: str | None = None,
                       detail: str | None = None) -> None:
        if call.state is CallState.ENDED:
            return
        previous = call.state
        call.state = CallState.ENDED
        now = self.clock()
        if call.ring_timer is not None:
            call.ring_timer.cancel()
        self.queues.remove(call.call_id)
        for party in call.audience():
            if party.grace is not None:
                party.grace.cancel()
                party.grace = None
        self.calls.pop(call.call_id, None)
        if call.connected_at:
            self.handle_times.append(now - call.connected_at)
        try:
            # On disk before anybody is told: a told "ended" is a recorded "ended".
            await self._event(call, "ended", reason=reason.value, by=by, detail=detail)
        finally:
            for party in call.audience():
                if party.session is not None:
                    party.session.send(message("call-ended", call_id=call.call_id,
                                               reason=reason.value, by=by, detail=detail))
            self._release_agent(call, previous, reason)
            logger.info("call %s ended: %s by %s", call.call_id, reason.value, by)
            if self.recording is not None:
                try:
                    await self.recording.call_ended(call, call.connected_at, now,
                                                    call.agent.name if call.agent else None)
                except Exception:
                    logger.exception("call %s: finishing the recording failed", call.call_id)
            await self.sfu.close_room(call.call_id, reason)
            self._dashboard_changed()
        await self._dispatch()

    def _release_agent(self, call: Call, previous: CallState, reason: CloseReason) -> None:
        agent_id = call.agent.identity if call.agent else call.offered_to
        agent = self.agents.get(agent_id or "")
        if agent is None or agent.call_id != call.call_id:
            return
        if previous is CallState.RINGING:
            self._spawn(self.store.release_agent(agent.agent_id, call.call_id))
            if agent.session is not None:
                agent.session.send(message("call-withdrawn", call_id=call.call_id, reason=reason.value))
            agent.call_id = None
            agent.set_state(AgentState.AVAILABLE, self.clock())
            if agent.session is not None:
                agent.session.send(message("agent-state", state=agent.state.value))
            return
        self._start_wrap_up(agent, call)

    def _start_wrap_up(self, agent: Agent, call: Call) -> None:
        """After a call the agent gets a timed wrap-up (disposition + notes), then is available."""
        agent.call_id = None
        if agent.session is None:
            self.agents.pop(agent.agent_id, None)
            return
        wrap = self.queues.configs[call.queue].wrap_up_s
        agent.set_state(AgentState.WRAP_UP, self.clock())
        agent.wrap_up_call = call.call_id
        if agent.wrap_up is not None:
            agent.wrap_up.cancel()
        agent.wrap_up = asyncio.get_running_loop().call_later(wrap, self._wrap_up_over, agent.agent_id)
        agent.session.send(message("agent-state", state=agent.state.value, call_id=call.call_id,
                                   wrap_up_s=wrap))

    def _wrap_up_over(self, agent_id: str) -> None:
        agent = self.agents.get(agent_id)
        if agent is None or agent.state is not AgentState.WRAP_UP:
            return
        agent.wrap_up = None
        agent.set_state(AgentState.AVAILABLE, self.clock())
        if agent.session is not None:
            agent.session.send(message("agent-state", state=agent.state.value))
        self._dashboard_changed()
        self._spawn(self._dispatch())

    async def finish_wrap_up(self, session: Session, call_id: str, disposition: str, notes: str) -> None:
        agent = self.agent_for(session)
        record = await self.store.get_call(call_id)
        if record is None or agent.agent_id not in agents_of(record):
            raise CallError("forbidden", "you did not handle this call")
        await self.store.update_call(call_id, {"disposition": disposition, "notes": notes})
        await self.store.append_call_event(call_id, {"type": "wrap_up", "at": self.clock(),
                                                     "agent_id": agent.agent_id,
                                                     "disposition": disposition})
        if agent.state is AgentState.WRAP_UP and agent.wrap_up_call == call_id:
            if agent.wrap_up is not None:
                agent.wrap_up.cancel()
                agent.wrap_up = None
            agent.set_state(AgentState.AVAILABLE, self.clock())
            session.send(message("agent-state", state=agent.state.value))
            self._dashboard_changed()
            await self._dispatch()

    # ------------------------------------------------------------------ supervision
    async def start_monitor(self, session: Session, call_id: str) -> None:
        claims = session.claims
        if claims is None or claims.role not in (Role.SUPERVISOR, Role.ADMIN):
            raise CallError("forbidden", "only a supervisor can monitor calls")
        call = self.live_call(call_id)
        if call.state not in LIVE_MEDIA_STATES:
            raise CallError("invalid_state", "only an answered call can be monitored")
        if any(m.session is session for m in call.monitors):
            raise CallError("invalid_state", "you are already monitoring this call")
        from signaling.call import MonitorMode

        party = Party(Role.SUPERVISOR, claims.sub, f"supervisor-{claims.sub}-{uuid.uuid4().hex[:4]}",
                      session, name=claims.name, mode=MonitorMode.SILENT)
        call.monitors.append(party)
        self.sfu.room(call_id).add_participant(party.participant_id, "supervisor",
                                               audience=frozenset(),
                                               observer=_PartyObserver(self, call, party))
        await self._event(call, "monitor_started", supervisor=claims.sub)
        session.send(message("monitoring", call_id=call_id, mode="silent", state=call.state.value,
                             context=call.context))
        self._dashboard_changed()

    async def set_monitor_mode(self, session: Session, call_id: str, mode: str) -> None:
        from signaling.call import MonitorMode

        call = self.live_call(call_id)
        party = next((m for m in call.monitors if m.session is session), None)
        if party is None:
            raise CallError("invalid_state", "you are not monitoring this call")
        try:
            chosen = MonitorMode(mode)
        except ValueError:
            raise CallError("invalid_message", "mode must be silent, whisper or barge") from None
        party.mode = chosen
        room = self.sfu.room(call_id)
        if chosen is MonitorMode.SILENT:
            audience: frozenset[str] | None = frozenset()
        elif chosen is MonitorMode.WHISPER:
            audience = frozenset({call.agent.participant_id}) if call.agent else frozenset()
        else:
            audience = None
        room.set_audience(party.participant_id, audience)
        await self._event(call, "monitor_mode", supervisor=party.identity, mode=chosen.value)
        session.send(message("monitoring", call_id=call_id, mode=chosen.value, state=call.state.value))
        # whisper is announced to the agent only; barge-in to both; silent to nobody
        for conversant in call.parties():
            if conversant.session is None:
                continue
            if chosen is MonitorMode.BARGE or (chosen is MonitorMode.WHISPER and conversant.role is Role.AGENT):
                conversant.session.send(message("supervisor", call_id=call_id, mode=chosen.value,
                                                name=party.name or "Supervisor"))
            elif chosen is MonitorMode.SILENT:
                conversant.session.send(message("supervisor", call_id=call_id, mode="left"))

    async def stop_monitor(self, call: Call, party: Party, by_socket: bool = False) -> None:
        if party in call.monitors:
            call.monitors.remove(party)
            await self.sfu.room(call.call_id).remove_participant(party.participant_id,
                                                                 CloseReason.MONITOR_END)
            await self._event(call, "monitor_stopped", supervisor=party.identity)
            if party.mode is not None and party.mode.value != "silent":
                for conversant in call.parties():
                    if conversant.session is not None:
                        conversant.session.send(message("supervisor", call_id=call.call_id, mode="left"))
            if not by_socket and party.session is not None:
                party.session.send(message("call-ended", call_id=call.call_id,
                                           reason=CloseReason.MONITOR_END.value, by="supervisor"))
            self._dashboard_changed()

    async def unmonitor(self, session: Session, call_id: str) -> None:
        call = self.live_call(call_id)
        party = next((m for m in call.monitors if m.session is session), None)
        if party is None:
            raise CallError("invalid_state", "you are not monitoring this call")
        await self.stop_monitor(call, party)

    # ------------------------------------------------------------------ dashboard
    def queue_figures(self) -> list[dict]:
        now = self.clock()
        out = []
        for name, config in self.queues.configs.items():
            waiting = self.queues.in_queue(name)
            agents = [a for a in self.agents.values() if a.skills.get(config.skill, 0) > 0
                      and a.session is not None]
            out.append({
                "queue": name, "waiting": len(waiting),
                "longest_wait_s": round(max((w.waited(now) for w in waiting), default=0.0), 1),
                "agents_signed_in": len(agents),
                "agents_available": sum(1 for a in agents if a.state is AgentState.AVAILABLE),
            })
        return out

    def dashboard(self) -> dict:
        now = self.clock()
        return message("dashboard", at=now,
                       calls=[c.public(now) for c in self.calls.values()],
                       agents=[a.public(now) for a in self.agents.values()],
                       queues=self.queue_figures())

    def _dashboard_changed(self) -> None:
        self._dashboard_dirty = True
        if self.watchers and not self._closing:
            asyncio.get_running_loop().call_soon(self._push_dashboard)

    def _push_dashboard(self) -> None:
        if not self._dashboard_dirty:
            return
        self._dashboard_dirty = False
        snapshot = self.dashboard()
        for session in list(self.watchers):
            session.send(snapshot)

    # ------------------------------------------------------------------ helpers
    def live_call(self, call_id: str) -> Call:
        call = self.calls.get(call_id)
        if call is None or call.state is CallState.ENDED:
            raise CallError("call_not_found", f"no live call {call_id!r}")
        return call

    def _send_state(self, call: Call) -> None:
        msg = message("call-state", call_id=call.call_id, state=call.state.value)
        for party in call.audience():
            if party.session is not None:
                party.session.send(msg)

    def _notify_others(self, call: Call, party: Party, state: str) -> None:
        msg = message("participant-state", call_id=call.call_id, role=party.role.value,
                      state=state, grace_s=self.settings.grace_period if state == "reconnecting" else None)
        for other in call.other_parties(party):
            if other.session is not None:
                other.session.send(msg)

    def broadcast(self, call: Call, msg: dict) -> None:
        for party in call.audience():
            if party.session is not None:
                party.session.send(msg)

    async def event(self, call_id: str, kind: str, **fields: Any) -> None:
        event = {"type": kind, "at": self.clock(), **{k: v for k, v in fields.items() if v is not None}}
        await self.store.append_call_event(call_id, event)

    async def _event(self, call: Call, kind: str, **fields: Any) -> None:
        await self.event(call.call_id, kind, **fields)

    def _spawn(self, coro: Any) -> asyncio.Task | None:
        return self._tasks.spawn(coro)

    def run_owned(self, coro: Any) -> asyncio.Task | None:
        """Run ``coro`` as a task this service owns (survives its caller's cancellation)."""
        return self._tasks.spawn(coro)

    async def close(self) -> None:
        """Node shutdown: end every live call with ``node_drain`` so records are complete."""
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
            self._ticker = None
        self._closing = True
        for call in list(self.calls.values()):
            await self.end_call(call, CloseReason.NODE_DRAIN, by="server")
        for agent in self.agents.values():
            if agent.wrap_up is not None:
                agent.wrap_up.cancel()
        if self.recording is not None:
            await self.recording.close()
        await self._tasks.drain()


class _PartyObserver:
    """Bridges one SFU participant's media state to its party in the call."""

    def __init__(self, service: CallService, call: Call, party: Party) -> None:
        self.service, self.call, self.party = service, call, party

    def on_media_state(self, participant: Participant, state: MediaState) -> None:
        if state in (MediaState.CONNECTED, MediaState.LOST):
            self.service.on_media_state(self.call, self.party, state)

    def on_publisher(self, participant: Participant, publisher: Any, added: bool) -> None:
        self.service.on_publisher(self.call, self.party, participant, publisher, added)


_UNAVAILABLE_TEXT = {
    "no_agents": "No expert is available for this right now.",
    "queue_full": "All our experts are busy and the queue is full.",
    "wait_limit": "We're sorry: nobody could take your call in time.",
}


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
