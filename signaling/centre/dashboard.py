"""The supervisors' live dashboard: calls, agents and queue figures, pushed when they change
(at most once per loop turn) to every supervisor following it."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from signaling import server_messages as out
from signaling.centre.agents import AgentState
from signaling.centre.session import Session
from signaling.server_messages import QueueFigures

if TYPE_CHECKING:
    from signaling.centre.calls import CallService


class Dashboard:
    def __init__(self, service: CallService) -> None:
        self.service = service
        self.watchers: set[Session] = set()
        self._dirty = False

    def watch(self, session: Session) -> None:
        self.watchers.add(session)
        session.send(self.snapshot())

    def unwatch(self, session: Session) -> None:
        self.watchers.discard(session)

    def queue_figures(self) -> list[QueueFigures]:
        service = self.service
        now = service.clock.now()
        out = []
        for name, config in service.queues.configs.items():
            waiting = service.queues.in_queue(name)
            agents = [a for a in service.agents.values() if a.skills.get(config.skill, 0) > 0
                      and a.session is not None]
            out.append(QueueFigures(
                queue=name, waiting=len(waiting),
                longest_wait_s=round(max((w.waited(now) for w in waiting), default=0.0), 1),
                agents_signed_in=len(agents),
                agents_available=sum(1 for a in agents if a.state is AgentState.AVAILABLE),
            ))
        return out

    def snapshot(self) -> out.Dashboard:
        service = self.service
        now = service.clock.now()
        calls = [c.public(now) for c in service.calls.values()]
        for summary in calls:  # a call ringing: the agent it rings, by name
            if summary.agent_name is None and summary.agent_id in service.agents:
                summary.agent_name = service.agents[summary.agent_id].name
        return out.Dashboard(at=now,
                       calls=calls,
                       agents=[a.public(now) for a in service.agents.values()],
                       queues=self.queue_figures())

    def changed(self) -> None:
        self._dirty = True
        if self.watchers and not self.service.closing:
            asyncio.get_running_loop().call_soon(self.push_if_dirty)

    def push_if_dirty(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        snapshot = self.snapshot()
        for session in list(self.watchers):
            session.send(snapshot)
