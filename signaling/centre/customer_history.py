"""People, not ids: what the agent is shown about a returning customer when their call rings
(their past calls: when, with whom, how it ended, how they rated it, callbacks still open), who
a call can be handed to (colleagues free now and queues, by name), and the names behind the
agent ids in the records (for the QA filters). Pure functions over call records and the live
contact centre; the REST face is ``signaling/api/people_api.py``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from signaling.auth import Role
from signaling.centre.agents import AgentState
from signaling.centre.figures import call_facts
from signaling.errors import ErrorCode, SignalingError

if TYPE_CHECKING:
    from signaling.centre.call import Call
    from signaling.centre.calls import CallService

MAX_PAST_CALLS = 20
QUEUE_WORDS = {"general": "General", "jewellery": "Jewellery", "electronics": "Electronics"}


def queue_name(queue: str) -> str:
    """'jewellery' → 'Jewellery' (the same words the pages use)."""
    return QUEUE_WORDS.get(queue) or queue.replace("_", " ").capitalize()


def agent_name_of(record: dict[str, Any]) -> str | None:
    """The name of the agent who served a call, as the record knows it (newest name wins)."""
    if record.get("agent_name"):
        return str(record["agent_name"])
    names = [e.get("name") for e in record.get("events", [])
             if e.get("type") == "accepted" and e.get("agent_id") == record.get("agent_id") and e.get("name")]
    return str(names[-1]) if names else None


def past_call(record: dict[str, Any]) -> dict[str, Any]:
    """One row of a customer's history, in the facts an agent reads."""
    facts = call_facts(record)
    rating: dict[str, Any] = record["rating"] if isinstance(record.get("rating"), dict) else {}
    callback = record.get("callback") if isinstance(record.get("callback"), dict) else None
    return {
        "call_id": record.get("call_id"), "at": record.get("created_at"),
        "queue": facts["queue"], "title": (record.get("context") or {}).get("title"),
        "agent_id": record.get("agent_id"), "agent_name": agent_name_of(record),
        "outcome": facts["outcome"], "disposition": record.get("disposition"),
        "notes": record.get("notes"), "rating": rating.get("score"),
        "callback": {"status": callback.get("status"), "question": callback.get("question"),
                     "at": callback.get("at")} if callback else None,
    }


def customer_history(records: Iterable[dict[str, Any]], customer_id: str | None,
                     this_call: str) -> list[dict[str, Any]]:
    """A customer's past calls (never this one), newest first, at most MAX_PAST_CALLS."""
    if not customer_id:
        return []
    mine = [r for r in records if r.get("customer_id") == customer_id and r.get("call_id") != this_call]
    mine.sort(key=lambda r: r.get("created_at") or 0.0, reverse=True)
    return [past_call(r) for r in mine[:MAX_PAST_CALLS]]


def ringing_or_served_by(service: CallService, call_id: str, agent_id: str) -> Call:
    """The live call, if it rings for or is served by this agent; anybody else is refused."""
    call = service.live_call(call_id)
    if not call.holds(agent_id):
        raise SignalingError(ErrorCode.FORBIDDEN, "this call is not ringing for you, nor yours")
    return call


def transfer_targets(service: CallService, call: Call, agent_id: str) -> dict[str, Any]:
    """Who the agent of ``call`` can hand it to now: colleagues available (not themselves) and
    every queue, each with a name to show."""
    if call.agent is None or call.agent.identity != agent_id:
        raise SignalingError(ErrorCode.FORBIDDEN, "only the agent in this call can transfer it")
    colleagues = sorted(
        ({"agent_id": a.agent_id, "name": a.name, "skills": a.skills}
         for a in service.agents.values()
         if a.agent_id != agent_id and a.session is not None and a.state is AgentState.AVAILABLE),
        key=lambda a: str(a["name"]).lower())
    queues = [{"queue": q.queue, "name": queue_name(q.queue), "waiting": q.waiting,
               "agents_available": q.agents_available} for q in service.dashboard.queue_figures()]
    return {"call_id": call.call_id, "agents": colleagues, "queues": queues}


def directory(records: Iterable[dict[str, Any]], accounts: Iterable[tuple[str, str, str]],
              service: CallService) -> dict[str, Any]:
    """Names for every agent id the records, the accounts (name, role, display name) and the
    signed-in agents know, and every queue: the pick lists of the QA and supervisor filters."""
    names: dict[str, str] = {}
    for record in records:
        agent_id, name = record.get("agent_id"), agent_name_of(record)
        if agent_id:
            names.setdefault(str(agent_id), name or "")
    for account, role, display in accounts:
        if role == Role.AGENT.value:
            names[account] = display or names.get(account) or account
    for agent in service.agents.values():
        names[agent.agent_id] = agent.name or names.get(agent.agent_id, "")
    agents = sorted(({"agent_id": k, "name": v or None} for k, v in names.items()),
                    key=lambda a: (a["name"] is None, str(a["name"] or a["agent_id"]).lower()))
    queues = [{"queue": q, "name": queue_name(q)} for q in service.queues.configs]
    return {"agents": agents, "queues": queues}
