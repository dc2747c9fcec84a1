"""Agents and their presence: who is signed in, in which state, since when."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from signaling.session import Session


class AgentState(str, Enum):
    OFFLINE = "offline"
    AVAILABLE = "available"
    RINGING = "ringing"
    BUSY = "busy"
    WRAP_UP = "wrap_up"
    AWAY = "away"


@dataclass(eq=False)
class Agent:
    agent_id: str
    name: str
    session: Session | None
    state: AgentState = AgentState.AVAILABLE
    idle_since: float = 0.0
    call_id: str | None = None
    calls_today: int = 0
    skills: dict[str, int] = field(default_factory=dict)

    def public(self) -> dict:
        return {"agent_id": self.agent_id, "name": self.name, "state": self.state.value,
                "call_id": self.call_id}
