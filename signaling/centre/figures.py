"""Contact-centre figures over a period, computed from call records. Pure functions.

Outcomes: every call ends ``answered`` (an agent accepted it), ``callback`` (the shopper left
a callback request instead) or ``abandoned`` (the shopper left, or nobody could take it).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

SERVICE_LEVEL_S = 20.0


def outcome(record: dict[str, Any]) -> str:
    events = record.get("events", [])
    if any(e.get("type") == "accepted" for e in events):
        return "answered"
    if record.get("callback") or any(e.get("type") == "callback_requested" for e in events):
        return "callback"
    return "abandoned"


def first_event_at(record: dict[str, Any], kind: str) -> float | None:
    """When the call record's first event of ``kind`` happened."""
    return next((e["at"] for e in record.get("events", []) if e.get("type") == kind and "at" in e), None)


def agents_of(record: dict[str, Any]) -> set[str]:
    """Every agent who handled the call (accepted it, or handed it on)."""
    agents = {record.get("agent_id")}
    for event in record.get("events", []):
        if event.get("type") in ("accepted", "transferred"):
            agents.add(event.get("agent_id") or event.get("from_agent"))
    return {a for a in agents if a}


def call_facts(record: dict[str, Any]) -> dict[str, Any]:
    created = record.get("created_at") or first_event_at(record, "requested") or 0.0
    accepted = first_event_at(record, "accepted")
    ended = record.get("ended_at") if record.get("state") == "ended" else None  # written by the call
    connected = first_event_at(record, "connected")
    rating = record.get("rating") or {}
    return {
        "call_id": record.get("call_id"),
        "queue": record.get("queue") or "general",
        "agent_id": record.get("agent_id"),
        "outcome": outcome(record),
        "speed_of_answer_s": (accepted - created) if accepted else None,
        "handle_s": (ended - (connected or accepted)) if accepted and ended else None,
        "rating": rating.get("score") if isinstance(rating, dict) else None,
        "ended": ended is not None,
    }


def _summarise(facts: list[dict[str, Any]]) -> dict[str, Any]:
    answered = [f for f in facts if f["outcome"] == "answered"]
    speeds = [f["speed_of_answer_s"] for f in answered if f["speed_of_answer_s"] is not None]
    handles = [f["handle_s"] for f in answered if f["handle_s"] is not None]
    ratings = [f["rating"] for f in facts if isinstance(f["rating"], int)]
    within = sum(1 for s in speeds if s <= SERVICE_LEVEL_S)
    return {
        "offered": len(facts),
        "answered": len(answered),
        "abandoned": sum(1 for f in facts if f["outcome"] == "abandoned"),
        "callbacks": sum(1 for f in facts if f["outcome"] == "callback"),
        "average_speed_of_answer_s": round(sum(speeds) / len(speeds), 1) if speeds else None,
        "average_handle_s": round(sum(handles) / len(handles), 1) if handles else None,
        "service_level": round(within / len(facts), 3) if facts else None,
        "average_rating": round(sum(ratings) / len(ratings), 2) if ratings else None,
        "ratings": len(ratings),
    }


def figures(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Totals, per queue and per agent. Service level = share of offered calls answered
    within 20 s. Live calls are left out: their outcome is not known yet."""
    facts = [call_facts(r) for r in records]
    facts = [f for f in facts if f["ended"]]
    by_queue: dict[str, list] = defaultdict(list)
    by_agent: dict[str, list] = defaultdict(list)
    for fact in facts:
        by_queue[fact["queue"]].append(fact)
        if fact["agent_id"]:
            by_agent[fact["agent_id"]].append(fact)
    return {
        "service_level_threshold_s": SERVICE_LEVEL_S,
        "total": _summarise(facts),
        "queues": {name: _summarise(items) for name, items in sorted(by_queue.items())},
        "agents": {name: _summarise(items) for name, items in sorted(by_agent.items())},
    }
