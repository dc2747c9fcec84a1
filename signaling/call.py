"""A Call: one customer-service conversation, and its parties."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from signaling.auth import Role
from signaling.session import Session


class CallState(str, Enum):
    WAITING = "waiting"  # queued, no agent yet (also while being transferred)
    RINGING = "ringing"  # offered to one agent, who is reserved for it
    CONNECTING = "connecting"  # accepted, peers negotiating
    CONNECTED = "connected"  # media flowing both ways
    ENDED = "ended"


LIVE_MEDIA_STATES = (CallState.CONNECTING, CallState.CONNECTED)


class MonitorMode(str, Enum):
    SILENT = "silent"  # sees and hears both, seen and heard by nobody
    WHISPER = "whisper"  # only the agent hears the supervisor
    BARGE = "barge"  # both hear the supervisor


@dataclass(eq=False)
class Party:
    """One side of the call as signaling sees it (the SFU has the matching Participant)."""

    role: Role
    identity: str
    participant_id: str
    session: Session | None
    name: str | None = None
    media_ok: bool = False  # the SFU reports media flowing from this party
    media_lost: bool = False  # the SFU reported its media stopped, and it has not resumed
    grace: asyncio.TimerHandle | None = None
    mode: MonitorMode | None = None  # supervisors only


@dataclass(eq=False)
class Call:
    call_id: str
    created_at: float
    shopper: Party
    queue: str = "general"
    context: dict[str, Any] = field(default_factory=dict)
    state: CallState = CallState.WAITING
    agent: Party | None = None
    offered_to: str | None = None
    ring_timer: asyncio.TimerHandle | None = None
    connected_at: float | None = None
    answered_at: float | None = None
    priority: int = 0
    customer_id: str | None = None
    audio_only: bool = False
    monitors: list[Party] = field(default_factory=list)
    declined_by: set[str] = field(default_factory=set)
    agents_served: list[str] = field(default_factory=list)

    def parties(self) -> list[Party]:
        """The conversants: shopper and (if any) agent."""
        return [p for p in (self.shopper, self.agent) if p is not None]

    def audience(self) -> list[Party]:
        """Everybody who follows the call: conversants and monitoring supervisors."""
        return self.parties() + self.monitors

    def party_of(self, session: Session) -> Party | None:
        for party in self.audience():
            if party.session is session:
                return party
        return None

    def other_parties(self, party: Party) -> list[Party]:
        return [p for p in self.audience() if p is not party]

    def public(self, now: float) -> dict[str, Any]:
        return {
            "call_id": self.call_id, "state": self.state.value, "queue": self.queue,
            "agent_id": self.agent.identity if self.agent else self.offered_to,
            "shopper_id": self.shopper.identity, "priority": self.priority,
            "waited_s": round(((self.answered_at or now) - self.created_at), 1),
            "duration_s": round(now - self.connected_at, 1) if self.connected_at else None,
            "context": {k: self.context.get(k) for k in ("title", "product_id", "category")},
            "monitored_by": [m.identity for m in self.monitors],
        }
