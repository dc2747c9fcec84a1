"""RoutingStrategy: which available agent gets the next waiting call. Pure logic."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from signaling.agents import Agent, AgentState


class RoutingStrategy(Protocol):
    def pick(self, agents: Iterable[Agent], excluded: set[str]) -> Agent | None: ...


class LongestIdle:
    """The available agent who has waited longest since their last call."""

    def pick(self, agents: Iterable[Agent], excluded: set[str]) -> Agent | None:
        candidates = [
            a for a in agents
            if a.state is AgentState.AVAILABLE and a.session is not None and a.agent_id not in excluded
        ]
        return min(candidates, key=lambda a: (a.idle_since, a.agent_id), default=None)
