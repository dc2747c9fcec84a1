"""A Call: one customer-service conversation, and its parties."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from signaling.auth import Role
from signaling.session import Session


class CallState(str, Enum):
    WAITING = "waiting"  # queued, no agent yet
    RINGING = "ringing"  # offered to one agent
    CONNECTING = "connecting"  # accepted, peers negotiating
    CONNECTED = "connected"  # media flowing both ways
    ENDED = "ended"


LIVE_MEDIA_STATES = (CallState.CONNECTING, CallState.CONNECTED)


@dataclass(eq=False)
class Party:
    """One side of the call as signaling sees it (the SFU has the matching Participant)."""

    role: Role
    identity: str
    participant_id: str
    session: Session | None
    media_ok: bool = False  # the SFU reports media flowing from this party
    media_lost: bool = False  # the SFU reported its media stopped, and it has not resumed
    grace: asyncio.TimerHandle | None = None


@dataclass(eq=False)
class Call:
    call_id: str
    created_at: float
    shopper: Party
    context: dict[str, Any] = field(default_factory=dict)
    state: CallState = CallState.WAITING
    agent: Party | None = None
    offered_to: str | None = None
    ring_timer: asyncio.TimerHandle | None = None
    declined_by: set[str] = field(default_factory=set)
    connected_at: float | None = None

    def parties(self) -> list[Party]:
        return [p for p in (self.shopper, self.agent) if p is not None]

    def party_of(self, session: Session) -> Party | None:
        for party in self.parties():
            if party.session is session:
                return party
        return None

    def other_parties(self, party: Party) -> list[Party]:
        return [p for p in self.parties() if p is not party]
