"""Agents and their presence: who is signed in, in which state, since when."""

from __future__ import annotations

import asyncio
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
    call_id: str | None = None  # the call ringing for, or in, this agent
    calls_today: int = 0
    skills: dict[str, int] = field(default_factory=dict)
    capacity: int = 1
    state_since: float = 0.0
    wrap_up: asyncio.TimerHandle | None = None
    wrap_up_call: str | None = None

    def set_state(self, state: AgentState, now: float) -> None:
        if state is not self.state:
            self.state = state
            self.state_since = now
        if state is AgentState.AVAILABLE:
            self.idle_since = now

    def public(self, now: float) -> dict:
        return {"agent_id": self.agent_id, "name": self.name, "state": self.state.value,
                "call_id": self.call_id, "skills": self.skills, "calls_today": self.calls_today,
                "in_state_s": round(now - self.state_since, 1) if self.state_since else None}
