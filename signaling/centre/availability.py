"""Before calling: is anybody there? Experts online per queue, opening hours, and the wait
estimate from the queue's recent answer times (what shoppers are told before and while waiting).

A queue's opening hours (``QueueConfig.hours``, e.g. ``"09:00-17:30"``) are in the server's
local time; a queue without hours is open whenever an expert is signed in.
"""

from __future__ import annotations

from collections import defaultdict, deque
from datetime import datetime
from typing import TYPE_CHECKING, Any

from signaling.centre.agents import AgentState
from signaling.centre.routing import parse_hours

if TYPE_CHECKING:
    from signaling.centre.calls import CallService

WORKING = (AgentState.AVAILABLE, AgentState.RINGING, AgentState.BUSY, AgentState.WRAP_UP)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


class Availability:
    def __init__(self, service: CallService) -> None:
        self.service = service
        self.answer_waits: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=20))

    def answered(self, queue: str, waited_s: float) -> None:
        """A call of ``queue`` was answered after ``waited_s``: history for the wait estimate."""
        self.answer_waits[queue].append(max(0.0, waited_s))

    def serving(self, queue: str) -> tuple[int, int]:
        """(experts on duty for the queue, of whom available now); an agent away serves nobody."""
        service = self.service
        skill = service.queues.configs[queue].skill
        on_duty = [a for a in service.agents.values()
                   if a.session is not None and a.skills.get(skill, 0) > 0 and a.state in WORKING]
        return len(on_duty), sum(1 for a in on_duty if a.state is AgentState.AVAILABLE)

    def hours_now(self, queue: str) -> tuple[bool, str | None]:
        """(open by the clock, the next opening time "HH:MM" when closed)."""
        hours = self.service.queues.configs[queue].hours
        if not hours:
            return True, None
        first, last = parse_hours(hours)
        now = datetime.fromtimestamp(self.service.clock.now())
        minute = now.hour * 60 + now.minute
        if first <= minute < last:
            return True, None
        return False, _hhmm(first)

    def of(self, queue: str) -> dict[str, Any]:
        online, available = self.serving(queue)
        by_clock, opens_at = self.hours_now(queue)
        # open: someone signed in can take the call — an expert on a break still serves the
        # queue (calls wait for them); nobody signed in at all sends the shopper to a callback
        skill = self.service.queues.configs[queue].skill
        signed_in = any(a.session is not None and a.skills.get(skill, 0) > 0
                        for a in self.service.agents.values())
        out: dict[str, Any] = {"queue": queue, "online": online, "available": available,
                               "open": by_clock and signed_in,
                               "waiting": len(self.service.queues.in_queue(queue))}
        if opens_at is not None:
            out["opens_at"] = opens_at
        wait = self.estimate(queue, len(self.service.queues.in_queue(queue)) + 1)
        if wait is not None and out["open"]:
            out["estimated_wait_s"] = round(wait)
        return out

    def estimate(self, queue: str, position: int) -> float | None:
        """Seconds until a call at ``position`` (1-based) is answered; None when nobody serves.

        Calls ahead / experts on duty × average handle time, but never less than what recent
        callers of this queue actually waited (the mean of the last 20 answer times): a
        shopper "next in line" behind busy experts still waits.
        """
        online, available = self.serving(queue)
        if online == 0:
            return None
        dispatch = self.service.dispatch
        handle = (sum(dispatch.handle_times) / len(dispatch.handle_times)) if dispatch.handle_times \
            else self.service.settings.default_handle_s
        by_handle = (max(0, position - available) / online) * handle
        recent = self.answer_waits.get(queue)
        by_history = (sum(recent) / len(recent)) if recent else 0.0
        return max(by_handle, by_history)
