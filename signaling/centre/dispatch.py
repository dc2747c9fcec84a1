"""Dispatch and ringing: which waiting call rings which agent, and what happens when a ring ends.

Each dispatch asks the pure Router (routing.py) for offers, reserves each agent in the
StateStore (atomic, expiring: no crash or lost message leaves an agent stuck ringing) and rings
them. A ring that times out sets the agent away and puts the call back in its place. The queue
ticker handles relaxation, overflow to another queue and wait limits, and pushes positions.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict, deque
from typing import TYPE_CHECKING, Any

from sfu import CloseReason
from signaling.centre.agents import Agent, AgentState
from signaling.centre.call import Call, CallState, Ring
from signaling.centre.figures import outcome
from signaling.centre.routing import AgentView, ConversionHistory, Router, WaitingCall
from signaling.server_messages import (
    AgentStateChanged,
    CallOffered,
    CallStateChanged,
    CallWithdrawn,
    QueuePosition,
)

if TYPE_CHECKING:
    from signaling.centre.calls import CallService

logger = logging.getLogger(__name__)

_UNAVAILABLE_TEXT = {
    "no_agents": "No expert is available for this right now.",
    "queue_full": "All our experts are busy and the queue is full.",
    "wait_limit": "We're sorry: nobody could take your call in time.",
}
AT_CAPACITY_TEXT = "All our experts' lines are busy; you keep your place in the queue."


class Dispatch:
    def __init__(self, service: CallService, router: Router) -> None:
        self.service = service
        self.router = router
        self.ratings: dict[str, deque[int]] = defaultdict(lambda: deque(maxlen=20))
        self.last_agent: dict[str, str] = {}  # customer id → agent who served them last
        self.conversions = ConversionHistory()
        self.handle_times: deque[float] = deque(maxlen=50)
        self.held: set[str] = set()  # waiting calls told the node has no room for them yet
        self._lock = asyncio.Lock()
        self._ticker: asyncio.Task | None = None

    def learn(self, records: list[dict[str, Any]]) -> None:
        """Ratings, returning customers and conversions from past call records (newest first)."""
        for record in reversed(records):
            agent_id = record.get("agent_id")
            if agent_id and outcome(record) == "answered":
                self.conversions.answered(agent_id, record["call_id"])
                if record.get("converted"):
                    self.conversions.converted(agent_id, record["call_id"])
        for record in records:
            agent_id, rating = record.get("agent_id"), record.get("rating")
            if agent_id and isinstance(rating, dict) and isinstance(rating.get("score"), int):
                self.ratings[agent_id].appendleft(rating["score"])
            customer = record.get("customer_id")
            if customer and agent_id and customer not in self.last_agent:
                self.last_agent[customer] = agent_id

    # ------------------------------------------------------------------ the ticker
    def start(self) -> None:
        self._ticker = asyncio.get_running_loop().create_task(self._tick_loop())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
            self._ticker = None

    async def _tick_loop(self) -> None:
        while True:
            await self.service.clock.sleep(self.service.settings.tick)
            try:
                await self.tick()
            except Exception:
                logger.exception("queue tick failed")

    async def tick(self) -> None:
        service, queues = self.service, self.service.queues
        now = service.clock.now()
        for entry in list(queues.waiting.values()):
            call = service.calls.get(entry.call_id)
            if call is None:
                queues.remove(entry.call_id)
                continue
            config = queues.configs[entry.queue]
            if entry.waited(now) >= config.max_wait_s:
                queues.remove(entry.call_id)
                await self.unavailable(call, "wait_limit")
            elif (config.overflow_after_s is not None and config.overflow_to in queues.configs
                  and now - entry.enqueued_at >= config.overflow_after_s and entry.queue == call.queue):
                entry.queue = call.queue = config.overflow_to
                entry.enqueued_at = entry.requested_at or entry.enqueued_at
                await service.record(call, "overflowed", queue=call.queue)
        self.held &= service.calls.keys()
        await self.dispatch()
        for call in service.calls.values():
            if call.state is CallState.WAITING:
                self.send_position(call)
        service.dashboard.push_if_dirty()

    # ------------------------------------------------------------------ queueing
    async def admit(self, call: Call) -> None:
        """A new call: queue it, or say in words why nobody can take it."""
        reason = self._unavailable_reason(call.queue)
        if reason:
            await self.unavailable(call, reason)
            return
        self.enqueue(call)
        await self.service.record(call, "queued", queue=call.queue)
        await self.dispatch()

    def _unavailable_reason(self, queue: str) -> str | None:
        skill = self.service.queues.configs[queue].skill
        if not any(a.skills.get(skill, 0) > 0 and a.session is not None
                   and a.state is not AgentState.OFFLINE for a in self.service.agents.values()):
            return "no_agents"
        if self.service.queues.is_full(queue):
            return "queue_full"
        return None

    async def unavailable(self, call: Call, reason: str) -> None:
        """Nobody can take the call: say so in words; the shopper may leave a callback request."""
        if call.shopper.session is not None:
            call.shopper.session.send(CallStateChanged(call_id=call.call_id, state="unavailable",
                                              reason=reason, message=_UNAVAILABLE_TEXT[reason]))
        await self.service.ending.end_call(call, CloseReason.UNAVAILABLE, by="server", detail=reason)

    def enqueue(self, call: Call, returning: bool = True) -> None:
        """Queue (or re-queue) a call in its place: ordered by when it was first requested.
        The entry shares the call's ``declined_by`` set, so the router always sees it."""
        last = self.last_agent.get(call.customer_id or "") if returning else None
        self.service.queues.add(WaitingCall(call.call_id, call.queue, call.created_at, call.priority,
                                            call.customer_id, last, declined_by=call.declined_by,
                                            requested_at=call.created_at))

    def send_position(self, call: Call) -> None:
        service = self.service
        position = service.queues.position(call.call_id)
        if position is None or call.shopper.session is None:
            return
        wait = service.availability.estimate(call.queue, position)
        call.shopper.session.send(QueuePosition(
            call_id=call.call_id, position=position,
            estimated_wait_s=None if wait is None else round(wait),
            callback_offered=wait is None,  # nobody on duty (all away, the ring missed)
            waited_s=round(service.clock.now() - call.created_at)))

    # ------------------------------------------------------------------ ringing
    async def dispatch(self) -> None:
        """Ask the router for offers, reserve each agent, ring them."""
        service = self.service
        if service.closing:
            return
        async with self._lock:
            now = service.clock.now()
            waiting = [w for w in service.queues.waiting.values()
                       if (c := service.calls.get(w.call_id)) is not None
                       and c.state is CallState.WAITING and c.shopper.session is not None
                       and not c.callback_requested]
            held = {w.call_id for w in waiting if not service.sfu.admits(w.call_id, self.promised())}
            for call_id in held:
                await self.hold(service.calls[call_id])
            waiting = [w for w in waiting if w.call_id not in held]
            views = [self._view(a) for a in service.agents.values() if a.session is not None]
            for call_id, agent_id in self.router.assign(service.queues.configs, waiting, views, now):
                call, agent = service.calls.get(call_id), service.agents.get(agent_id)
                if call is None or agent is None or agent.state is not AgentState.AVAILABLE:
                    continue
                if not service.sfu.admits(call_id, self.promised()):
                    await self.hold(call)  # the rings of this round filled the node
                    continue
                if not await service.store.reserve_agent(agent_id, call_id, service.settings.ring_timeout):
                    continue  # reserved by another node meanwhile
                await self.ring(call, agent)

    def promised(self) -> int:
        """Rooms promised but not open: calls ringing an agent (the room opens at accept)."""
        rooms = self.service.sfu.rooms
        return sum(1 for c in self.service.calls.values()
                   if c.state is CallState.RINGING and c.call_id not in rooms)

    async def hold(self, call: Call) -> None:
        """The node has no room for the call's media yet (above its admission limit): it rings
        nobody, and the shopper is told once, in words, that the call keeps its place."""
        if call.call_id in self.held:
            return
        self.held.add(call.call_id)
        refusal = self.service.sfu.admission.refusal(self.promised())
        logger.info("call %s waits: the node takes no new room (%s)", call.call_id,
                    refusal.value if refusal else "full", extra={"call_id": call.call_id})
        await self.service.record(call, "held", reason=refusal.value if refusal else None)
        self.tell_held(call)

    def tell_held(self, call: Call) -> None:
        """Say the at-capacity words (again, to a shopper who came back on a new socket)."""
        if call.call_id in self.held and call.shopper.session is not None:
            call.shopper.session.send(CallStateChanged(call_id=call.call_id, state="waiting",
                                                       reason="at_capacity", message=AT_CAPACITY_TEXT))

    def _view(self, agent: Agent) -> AgentView:
        scores = self.ratings.get(agent.agent_id)
        return AgentView(agent.agent_id, agent.skills, agent.state is AgentState.AVAILABLE,
                         active_calls=0, capacity=agent.capacity, idle_since=agent.idle_since,
                         calls_today=agent.calls_today,
                         rating=sum(scores) / len(scores) if scores else None,
                         conversion=self.conversions.rate(agent.agent_id))

    async def ring(self, call: Call, agent: Agent) -> None:
        """Offer ``call`` to ``agent`` (already reserved for it)."""
        service = self.service
        service.queues.remove(call.call_id)
        self.held.discard(call.call_id)
        call.state = CallState.RINGING
        call.ring = Ring(agent.agent_id, service.clock.call_later(
            service.settings.ring_timeout, self._ring_timed_out, call.call_id))
        agent.set_state(AgentState.RINGING, service.clock.now())
        await service.record(call, "offered", agent_id=agent.agent_id)
        assert agent.session is not None
        agent.session.send(AgentStateChanged(state=agent.state.value, call_id=call.call_id))
        agent.session.send(self.offer_message(call))
        service.send_state(call)
        service.dashboard.changed()

    def offer_message(self, call: Call) -> CallOffered:
        return CallOffered(call_id=call.call_id, context=call.context, queue=call.queue,
                       priority=call.priority, audio_only=call.audio_only,
                       returning=bool(call.customer_id and call.customer_id in self.last_agent),
                       waited_s=round(self.service.clock.now() - call.created_at, 1),
                       customer_name=call.shopper.name)

    def _ring_timed_out(self, call_id: str) -> None:
        self.service.spawn(self.withdraw(call_id, "timeout", AgentState.AWAY))

    async def withdraw(self, call_id: str, reason: str, agent_state: AgentState) -> None:
        """The offer is off (no answer, declined, agent gone): the call keeps its place."""
        service = self.service
        call = service.calls.get(call_id)
        if call is None or call.state is not CallState.RINGING:
            return
        call.state = CallState.WAITING  # at once: a racing accept or second withdraw now fails
        agent_id = call.stop_ringing() or ""
        agent = service.agents.get(agent_id)
        await service.store.release_agent(agent_id, call_id)
        if reason == "declined":
            call.declined_by.add(agent_id)
        await service.record(call, "ring_timeout" if reason == "timeout" else reason, agent_id=agent_id)
        if agent is not None:
            agent.set_state(agent_state, service.clock.now())
            if agent.session is not None:
                agent.session.send(CallWithdrawn(call_id=call_id, reason=reason))
                agent.session.send(AgentStateChanged(state=agent.state.value))
        if call.state is not CallState.WAITING:
            return  # ended meanwhile
        self.enqueue(call)
        service.send_state(call)
        service.dashboard.changed()
        await self.dispatch()
