"""A Call: one customer-service conversation, its parties, and the ring that offers it.

Each fact has one home here: who a call rings is ``Call.ring`` (an agent's ``call_id`` is
derived from the calls), a party's media is one ``MediaState``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from media.clock import Timer
from sfu import MediaState
from signaling.auth import Role
from signaling.centre.session import Session
from signaling.server_messages import CallSummary


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


def participant_id(role: Role, identity: str) -> str:
    """The SFU participant of a shopper or an agent in the call's room: the same id on every
    node and after a rebuild, so a new centre re-adds the party a media node still carries."""
    return f"{role.value}-{identity}"


@dataclass(eq=False)
class Party:
    """One side of the call as signaling sees it (the SFU has the matching Participant)."""

    role: Role
    identity: str
    participant_id: str
    session: Session | None
    name: str | None = None
    media: MediaState = MediaState.NEW  # as the SFU last reported it (CONNECTED or LOST)
    grace: Timer | None = None  # running while the party is reconnecting
    mode: MonitorMode | None = None  # supervisors only
    mic_on: bool = True  # as the party's client announced it (``media-state``)
    camera_on: bool = True


@dataclass(eq=False)
class Ring:
    """The call is offered to one agent (reserved for it in the StateStore) until ``timer``."""

    agent_id: str
    timer: Timer


@dataclass(eq=False)
class Call:
    call_id: str
    created_at: float
    shopper: Party
    queue: str = "general"
    context: dict[str, Any] = field(default_factory=dict)
    state: CallState = CallState.WAITING
    agent: Party | None = None
    ring: Ring | None = None
    connected_at: float | None = None
    answered_at: float | None = None
    priority: int = 0
    customer_id: str | None = None
    audio_only: bool = False
    monitors: list[Party] = field(default_factory=list)
    declined_by: set[str] = field(default_factory=set)
    agents_served: list[str] = field(default_factory=list)
    callback_requested: bool = False  # the shopper is leaving for a callback: nobody may take it now

    @property
    def offered_to(self) -> str | None:
        """The agent this call is ringing for, if it is ringing."""
        return self.ring.agent_id if self.ring is not None else None

    def stop_ringing(self) -> str | None:
        """Cancel the ring (if any); returns the agent it was ringing for."""
        ring, self.ring = self.ring, None
        if ring is None:
            return None
        ring.timer.cancel()
        return ring.agent_id

    def holds(self, agent_id: str) -> bool:
        """Whether this call is ringing for, or is served by, ``agent_id``."""
        return self.offered_to == agent_id or (self.agent is not None and self.agent.identity == agent_id)

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

    def public(self, now: float) -> CallSummary:
        return CallSummary(
            call_id=self.call_id, state=self.state.value, queue=self.queue,
            agent_id=self.agent.identity if self.agent else self.offered_to,
            shopper_id=self.shopper.identity, priority=self.priority,
            waited_s=round(((self.answered_at or now) - self.created_at), 1),
            duration_s=round(now - self.connected_at, 1) if self.connected_at else None,
            context={k: self.context.get(k) for k in ("title", "product_id", "category")},
            monitored_by=[m.identity for m in self.monitors],
            shopper_name=self.shopper.name, customer_id=self.customer_id,
            agent_name=self.agent.name if self.agent else None,
            monitored_by_names=[m.name or "Supervisor" for m in self.monitors],
        )
