"""Agents and their presence: who is signed in, in which state, since when.

An agent's current call is not stored here: it is read from the calls (a call's ring or its
agent party is the one home of that fact), through the lookup the CallService gives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from media.clock import Timer
from signaling.centre.session import Session
from signaling.server_messages import AgentSummary


class AgentState(str, Enum):
    OFFLINE = "offline"
    AVAILABLE = "available"
    RINGING = "ringing"
    BUSY = "busy"
    WRAP_UP = "wrap_up"
    AWAY = "away"


@dataclass(eq=False)
class WrapUp:
    """The timed wrap-up after a call: which call, how long, and the timer that ends it."""

    call_id: str
    seconds: float
    timer: Timer
    deadline: float = 0.0  # when it runs out, unless paused
    paused_left: float | None = None  # seconds left, frozen while the agent types
    draft_notes: str = ""  # what the agent has typed so far (saved if the time runs out)
    draft_disposition: str = ""


def _no_call(agent_id: str) -> str | None:
    return None


@dataclass(eq=False)
class Agent:
    agent_id: str
    name: str
    session: Session | None
    state: AgentState = AgentState.AVAILABLE
    idle_since: float = 0.0
    calls_today: int = 0
    skills: dict[str, int] = field(default_factory=dict)
    capacity: int = 1
    state_since: float = 0.0
    wrap_up: WrapUp | None = None  # set exactly while the state is WRAP_UP
    call_of: Callable[[str], str | None] = field(default=_no_call, repr=False)

    @property
    def call_id(self) -> str | None:
        """The call ringing for, or in, this agent (derived from the calls)."""
        return self.call_of(self.agent_id)

    def set_state(self, state: AgentState, now: float) -> None:
        if state is not AgentState.WRAP_UP:
            self.end_wrap_up()
        if state is not self.state:
            self.state = state
            self.state_since = now
        if state is AgentState.AVAILABLE:
            self.idle_since = now

    def begin_wrap_up(self, wrap_up: WrapUp, now: float) -> None:
        self.end_wrap_up()
        self.set_state(AgentState.WRAP_UP, now)
        self.wrap_up = wrap_up

    def end_wrap_up(self) -> None:
        if self.wrap_up is not None:
            self.wrap_up.timer.cancel()
            self.wrap_up = None

    def public(self, now: float) -> AgentSummary:
        return AgentSummary(agent_id=self.agent_id, name=self.name, state=self.state.value,
                            call_id=self.call_id, skills=self.skills, calls_today=self.calls_today,
                            in_state_s=round(now - self.state_since, 1) if self.state_since else None)
