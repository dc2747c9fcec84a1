"""Rebuild: a node that has just taken the centre lease picks up the calls that are still live.

Everything the previous holder decided is in the call records (written before anybody was
told), so the live calls are rebuilt from them: a waiting or ringing call waits again in its
place (a ring's reservation simply expires), an accepted call is connected with the same agent.
Nobody has a socket on the new holder yet, so every party starts its grace period: it comes
back on any node with the same token (``resumed``) or the call ends ``peer_gone`` as after any
lost connection. The media of accepted calls is moved (``migrated``): the previous holder's
observers are gone, and a fresh room with fresh participants is the one state both sides agree
on; a party that comes back after the move is told to renegotiate when it resumes.
"""

from __future__ import annotations

import logging
from typing import Any

from signaling.auth import Role
from signaling.centre.agents import Agent, AgentState
from signaling.centre.call import Call, CallState, Party, participant_id
from signaling.centre.calls import CallService

logger = logging.getLogger(__name__)

LIVE = {CallState.WAITING.value, CallState.RINGING.value, CallState.CONNECTING.value, CallState.CONNECTED.value}
LOOKBACK_S = 86400.0  # a call older than a day is not live whatever its record says
MAX_CALLS = 5000


def _call(record: dict[str, Any]) -> Call:
    shopper = Party(Role.SHOPPER, str(record["shopper_id"]), participant_id(Role.SHOPPER, str(record["shopper_id"])), None,
                    name=record.get("shopper_name"))
    return Call(str(record["call_id"]), float(record["created_at"]), shopper, queue=str(record.get("queue") or "general"),
                context=dict(record.get("context") or {}), priority=int(record.get("priority") or 0),
                customer_id=record.get("customer_id"), audio_only=bool(record.get("audio_only")))


async def rebuild(service: CallService) -> list[Call]:
    """Rebuild the live calls from the store; the accepted ones come back with media to move."""
    now = service.clock.now()
    records = await service.store.list_calls(limit=MAX_CALLS, since=now - LOOKBACK_S)
    accepted: list[Call] = []
    for record in records:
        if record.get("state") not in LIVE or record["call_id"] in service.calls:
            continue
        call = _call(record)
        agent_id = record.get("agent_id")
        if record["state"] in (CallState.CONNECTING.value, CallState.CONNECTED.value) and agent_id:
            name = record.get("agent_name")
            call.state = CallState.CONNECTED if record["state"] == CallState.CONNECTED.value else CallState.CONNECTING
            call.agent = Party(Role.AGENT, str(agent_id), participant_id(Role.AGENT, str(agent_id)), None, name=name)
            call.connected_at = record.get("connected_at") or record.get("answered_at") or call.created_at
            call.answered_at = record.get("answered_at") or call.connected_at
            call.agents_served.append(str(agent_id))
            service.calls[call.call_id] = call
            agent = service.agents.get(str(agent_id))
            if agent is None:
                agent = Agent(str(agent_id), name or str(agent_id), None,
                              skills={q: 1 for q in service.queues.configs}, idle_since=now, state_since=now,
                              call_of=service.call_of_agent)
                service.agents[agent.agent_id] = agent
            agent.set_state(AgentState.BUSY, now)
            if service.recording is not None:
                service.recording.carry_on(call, recorded=bool(record.get("recorded")))
            accepted.append(call)
        else:
            service.calls[call.call_id] = call
            service.dispatch.enqueue(call)
        for party in call.parties():
            service.reconnect.refresh(call, party)  # no socket yet: the grace period runs
    if records:
        logger.info("rebuilt %d live calls from the records (%d with media)", len(service.calls), len(accepted))
    service.dashboard.changed()
    return accepted
