"""Contact-centre figures over a period, computed from call records. Pure functions.

Outcomes: every call ends ``answered`` (an agent accepted it), ``callback`` (the shopper left
a callback request instead) or ``abandoned`` (the shopper left, or nobody could take it).
An answered call is ``converted`` when a shop's order was attributed to it (orders.py writes a
``converted`` event per order); its revenue is those orders' amounts, per currency.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
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


def revenue_of(record: dict[str, Any]) -> dict[str, Decimal]:
    """The amounts of the orders the call converted, per currency; each order id counts once."""
    seen: set[str] = set()
    out: dict[str, Decimal] = defaultdict(Decimal)
    for event in record.get("events", []):
        if event.get("type") != "converted" or event.get("order_id") in seen:
            continue
        seen.add(str(event.get("order_id")))
        try:
            out[str(event.get("currency"))] += Decimal(str(event.get("amount")))
        except InvalidOperation:
            continue
    return dict(out)


def call_facts(record: dict[str, Any]) -> dict[str, Any]:
    created = record.get("created_at") or first_event_at(record, "requested") or 0.0
    accepted = first_event_at(record, "accepted")
    ended = record.get("ended_at") if record.get("state") == "ended" else None  # written by the call
    connected = first_event_at(record, "connected")
    rating = record.get("rating") or {}
    revenue = revenue_of(record)
    answered = outcome(record) == "answered"
    return {
        "call_id": record.get("call_id"),
        "queue": record.get("queue") or "general",
        "agent_id": record.get("agent_id"),
        "outcome": outcome(record),
        "speed_of_answer_s": (accepted - created) if accepted else None,
        "handle_s": (ended - (connected or accepted)) if accepted and ended else None,
        "rating": rating.get("score") if isinstance(rating, dict) else None,
        "ended": ended is not None,
        "converted": answered and bool(revenue),
        "revenue": revenue if answered else {},
    }


def _summarise(facts: list[dict[str, Any]]) -> dict[str, Any]:
    answered = [f for f in facts if f["outcome"] == "answered"]
    speeds = [f["speed_of_answer_s"] for f in answered if f["speed_of_answer_s"] is not None]
    handles = [f["handle_s"] for f in answered if f["handle_s"] is not None]
    ratings = [f["rating"] for f in facts if isinstance(f["rating"], int)]
    within = sum(1 for s in speeds if s <= SERVICE_LEVEL_S)
    converted = sum(1 for f in answered if f["converted"])
    revenue: dict[str, Decimal] = defaultdict(Decimal)
    for fact in answered:
        for currency, amount in fact["revenue"].items():
            revenue[currency] += amount
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
        "converted": converted,
        "conversion_rate": round(converted / len(answered), 3) if answered else None,
        "revenue_after_calls": {c: format(a, "f") for c, a in sorted(revenue.items())},
    }


def figures(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Totals, per queue and per agent. Service level = share of offered calls answered
    within 20 s. Conversion rate = converted calls / answered calls; revenue after calls is
    per currency, as decimal strings. Live calls are left out: their outcome is not known yet."""
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
