"""Routing: which available agent gets which waiting call. Pure logic, no I/O, no clock.

A ``Router`` is asked "given these waiting calls and these agents, at time ``now``, which
offers should be made?" and answers with (call, agent) pairs. The CallService then reserves
each agent atomically and rings them. Keeping this pure makes the invariants testable over
random sequences of events (tests/test_routing.py, hypothesis).

Within a queue, calls are served by priority class (higher first), first come first served
within a class. A call only skips ahead of an older one of the same class when the older one
cannot be served by that agent (skill level, declined before, returning-customer window).
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

STRATEGIES = ("longest_idle", "fewest_calls", "best_skill", "best_rated", "best_converting")
RECENT_ANSWERED = 50  # how many of an agent's last answered calls their conversion rate covers


@dataclass(frozen=True)
class RelaxStep:
    """From ``after_s`` seconds of waiting on, agents need skill level ``min_level``."""

    after_s: float
    min_level: int


def parse_hours(hours: str) -> tuple[int, int]:
    """``"09:00-17:30"`` → minutes of the day (540, 1050); raises ValueError otherwise."""
    start, _, end = hours.partition("-")

    def minutes(hhmm: str) -> int:
        h, _, m = hhmm.strip().partition(":")
        value = int(h) * 60 + int(m or 0)
        if not 0 <= value <= 24 * 60:
            raise ValueError(f"{hhmm!r} is not a time of day")
        return value

    first, last = minutes(start), minutes(end)
    if first >= last:
        raise ValueError(f"opening hours {hours!r}: the start must come before the end")
    return first, last


@dataclass
class QueueConfig:
    name: str
    skill: str = ""  # defaults to the queue name
    strategy: str = "longest_idle"
    relax: tuple[RelaxStep, ...] = (RelaxStep(0.0, 1),)
    returning_customer_s: float = 0.0  # offer to the customer's last agent first, this long
    max_waiting: int = 100
    max_wait_s: float = 600.0
    overflow_after_s: float | None = None
    overflow_to: str | None = None
    wrap_up_s: float | None = None  # None: the service's --wrap-up-seconds
    record: str = "never"  # always | ask | never
    hours: str | None = None  # opening hours, "09:00-17:30" server local time; None: always open

    def __post_init__(self) -> None:
        if not self.skill:
            self.skill = self.name
        if self.strategy not in STRATEGIES:
            raise ValueError(f"queue {self.name}: strategy must be one of {STRATEGIES}")
        if self.record not in ("always", "ask", "never"):
            raise ValueError(f"queue {self.name}: record must be always, ask or never")
        if self.hours:
            parse_hours(self.hours)  # refused at start-up, not when a shopper asks
        self.relax = tuple(sorted(
            (s if isinstance(s, RelaxStep) else RelaxStep(*s) for s in self.relax),
            key=lambda s: s.after_s,
        ))

    def min_level(self, waited_s: float) -> int:
        level = self.relax[0].min_level if self.relax else 1
        for step in self.relax:
            if waited_s >= step.after_s:
                level = step.min_level
        return level


@dataclass
class WaitingCall:
    call_id: str
    queue: str
    enqueued_at: float  # when it entered the queue (keeps its place across re-queues)
    priority: int = 0  # higher first (e.g. VIP = 10)
    customer_id: str | None = None
    last_agent: str | None = None  # who served this customer last (returning customer)
    declined_by: set[str] = field(default_factory=set)
    requested_at: float | None = None  # first request, for relaxation/overflow/wait limits

    def waited(self, now: float) -> float:
        return now - (self.requested_at if self.requested_at is not None else self.enqueued_at)


@dataclass
class AgentView:
    agent_id: str
    skills: dict[str, int]
    available: bool  # signed in, state available (not away, wrap-up, ringing)
    active_calls: int = 0
    capacity: int = 1
    idle_since: float = 0.0
    calls_today: int = 0
    rating: float | None = None  # average of recent ratings
    conversion: float | None = None  # share of recent answered calls a shop's order followed

    def can_take(self) -> bool:
        return self.available and self.active_calls < self.capacity


class ConversionHistory:
    """Each agent's last ``keep`` answered calls and which of them an order converted (the
    ``best_converting`` strategy ranks by it). An order comes in after its call, so a call is
    counted as not converted until its order does."""

    def __init__(self, keep: int = RECENT_ANSWERED) -> None:
        self.keep = keep
        self._calls: dict[str, OrderedDict[str, bool]] = defaultdict(OrderedDict)

    def answered(self, agent_id: str, call_id: str) -> None:
        calls = self._calls[agent_id]
        calls.setdefault(call_id, False)
        while len(calls) > self.keep:
            calls.popitem(last=False)

    def converted(self, agent_id: str, call_id: str) -> None:
        calls = self._calls.get(agent_id)
        if calls is not None and call_id in calls:
            calls[call_id] = True

    def rate(self, agent_id: str) -> float | None:
        calls = self._calls.get(agent_id)
        return sum(calls.values()) / len(calls) if calls else None


class Router(Protocol):
    def assign(self, queues: dict[str, QueueConfig], waiting: Sequence[WaitingCall],
               agents: Iterable[AgentView], now: float) -> list[tuple[str, str]]: ...


def order(waiting: Iterable[WaitingCall]) -> list[WaitingCall]:
    """Priority class first (higher first), then first come first served."""
    return sorted(waiting, key=lambda c: (-c.priority, c.enqueued_at, c.call_id))


def eligible(call: WaitingCall, queue: QueueConfig, agent: AgentView, now: float) -> bool:
    if not agent.can_take() or agent.agent_id in call.declined_by:
        return False
    if queue.returning_customer_s > 0 and call.last_agent and call.waited(now) < queue.returning_customer_s:
        return agent.agent_id == call.last_agent
    return agent.skills.get(queue.skill, 0) >= queue.min_level(call.waited(now))


def _rank(strategy: str, skill: str, agent: AgentView) -> tuple:
    if strategy == "fewest_calls":
        return (agent.calls_today, agent.idle_since, agent.agent_id)
    if strategy == "best_skill":
        return (-agent.skills.get(skill, 0), agent.idle_since, agent.agent_id)
    if strategy == "best_rated":
        rating = agent.rating if agent.rating is not None else 0.0
        return (-rating, agent.idle_since, agent.agent_id)
    if strategy == "best_converting":
        conversion = agent.conversion if agent.conversion is not None else 0.0
        return (-conversion, agent.idle_since, agent.agent_id)
    return (agent.idle_since, agent.agent_id)  # longest idle


class SkillRouter:
    """The default Router: per-queue strategy, relaxation, returning customers, priorities."""

    def assign(self, queues: dict[str, QueueConfig], waiting: Sequence[WaitingCall],
               agents: Iterable[AgentView], now: float) -> list[tuple[str, str]]:
        pool = {a.agent_id: a for a in agents if a.can_take()}
        offers: list[tuple[str, str]] = []
        for call in order(waiting):
            queue = queues.get(call.queue)
            if queue is None or not pool:
                continue
            candidates = [a for a in pool.values() if eligible(call, queue, a, now)]
            if not candidates:
                continue
            chosen = min(candidates, key=lambda a: _rank(queue.strategy, queue.skill, a))
            offers.append((call.call_id, chosen.agent_id))
            chosen.active_calls += 1  # reserved for this round
            if not chosen.can_take():
                del pool[chosen.agent_id]
        return offers


def estimated_wait(position: int, agents_serving: int, average_handle_s: float) -> float:
    """A simple Erlang-free estimate: calls ahead / agents × average handle time."""
    if agents_serving <= 0:
        return float("inf")
    return (position / agents_serving) * average_handle_s
