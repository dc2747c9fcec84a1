"""Wrap-up: after a call the agent has a timed wrap-up (disposition and notes), then is available.

After-call work is never lost: the countdown pauses while the agent types (``wrap-up-typing`` /
``wrap-up-draft``), and when it runs out (or the agent goes away or signs out first) the draft
typed so far is filed in the call record with the disposition ``timed_out``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from signaling.centre.agents import Agent, AgentState, WrapUp
from signaling.centre.call import Call
from signaling.centre.figures import agents_of
from signaling.centre.session import Session
from signaling.errors import ErrorCode, SignalingError
from signaling.server_messages import AgentStateChanged

if TYPE_CHECKING:
    from signaling.centre.calls import CallService

logger = logging.getLogger(__name__)
TIMED_OUT = "timed_out"


class WrapUps:
    def __init__(self, service: CallService) -> None:
        self.service = service

    def seconds_for(self, queue: str) -> float:
        configured = self.service.queues.configs[queue].wrap_up_s
        return self.service.settings.wrap_up_s if configured is None else configured

    def start(self, agent: Agent, call: Call) -> None:
        service = self.service
        if agent.session is None:
            service.agents.pop(agent.agent_id, None)  # signed out during the call
            return
        seconds = self.seconds_for(call.queue)
        now = service.clock.now()
        timer = service.clock.call_later(seconds, self._over, agent.agent_id)
        agent.begin_wrap_up(WrapUp(call.call_id, seconds, timer, deadline=now + seconds), now)
        agent.session.send(AgentStateChanged(state=agent.state.value, call_id=call.call_id,
                                   wrap_up_s=seconds))

    def _wrapping(self, session: Session, call_id: str) -> tuple[Agent, WrapUp] | None:
        agent = self.service.presence.agent_for(session)
        wrap = agent.wrap_up
        if wrap is None or wrap.call_id != call_id or agent.state is not AgentState.WRAP_UP:
            return None  # late (the wrap-up is over) or another call: nothing to pause or keep
        return agent, wrap

    def typing(self, session: Session, call_id: str) -> None:
        """The agent types: the countdown stands still until ``wrap_up_typing_s`` after the last
        keystroke, then goes on from where it stopped."""
        found = self._wrapping(session, call_id)
        if found is None:
            return
        agent, wrap = found
        clock = self.service.clock
        now = clock.now()
        wrap.timer.cancel()
        newly = wrap.paused_left is None
        if newly:
            wrap.paused_left = max(0.0, wrap.deadline - now)
        wrap.timer = clock.call_later(self.service.settings.wrap_up_typing_s, self._resume, agent.agent_id)
        if newly:
            session.send(AgentStateChanged(state=agent.state.value, call_id=call_id,
                                           wrap_up_s=round(wrap.paused_left or 0.0, 1), wrap_up_paused=True))

    def draft(self, session: Session, call_id: str, notes: str, disposition: str) -> None:
        """What the agent has typed so far; it also counts as typing."""
        found = self._wrapping(session, call_id)
        if found is None:
            return
        _, wrap = found
        wrap.draft_notes, wrap.draft_disposition = notes, disposition
        self.typing(session, call_id)

    def _resume(self, agent_id: str) -> None:
        agent = self.service.agents.get(agent_id)
        wrap = agent.wrap_up if agent is not None else None
        if agent is None or wrap is None or wrap.paused_left is None:
            return
        clock = self.service.clock
        left, wrap.paused_left = wrap.paused_left, None
        wrap.deadline = clock.now() + left
        wrap.timer = clock.call_later(left, self._over, agent_id)
        if agent.session is not None:
            agent.session.send(AgentStateChanged(state=agent.state.value, call_id=wrap.call_id,
                                                 wrap_up_s=round(left, 1), wrap_up_paused=False))

    def _over(self, agent_id: str) -> None:
        service = self.service
        agent = service.agents.get(agent_id)
        if agent is None or agent.state is not AgentState.WRAP_UP:
            return
        wrap = agent.wrap_up
        agent.wrap_up = None  # its timer has fired
        if wrap is not None:
            service.spawn(self._file_timed_out(agent.agent_id, wrap))
        agent.set_state(AgentState.AVAILABLE, service.clock.now())
        if agent.session is not None:
            agent.session.send(AgentStateChanged(state=agent.state.value,
                                                 call_id=wrap.call_id if wrap is not None else None,
                                                 disposition=TIMED_OUT if wrap is not None else None))
        service.dashboard.changed()
        service.spawn(service.dispatch.dispatch())

    def cut_short(self, agent: Agent) -> None:
        """The wrap-up ends before it is filed (the agent goes away, or available, or signs out):
        what was typed is kept all the same."""
        wrap = agent.wrap_up
        if wrap is not None and agent.state is AgentState.WRAP_UP:
            agent.end_wrap_up()
            self.service.spawn(self._file_timed_out(agent.agent_id, wrap))

    async def file_all(self) -> None:
        """Every wrap-up under way is filed now with its draft (the centre changes hands)."""
        filing = []
        for agent in list(self.service.agents.values()):
            wrap = agent.wrap_up
            if wrap is not None and agent.state is AgentState.WRAP_UP:
                agent.end_wrap_up()
                filing.append(self._file_timed_out(agent.agent_id, wrap))
        results = await asyncio.gather(*filing, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                logger.warning("a wrap-up draft was not filed: %s", result)

    async def _file_timed_out(self, agent_id: str, wrap: WrapUp) -> None:
        store, now = self.service.store, self.service.clock.now()
        await store.update_call(wrap.call_id, {"disposition": TIMED_OUT, "notes": wrap.draft_notes,
                                               "draft_disposition": wrap.draft_disposition})
        await store.append_call_event(wrap.call_id, {"type": "wrap_up", "at": now, "agent_id": agent_id,
                                                     "disposition": TIMED_OUT})

    async def finish(self, session: Session, call_id: str, disposition: str, notes: str) -> None:
        """The agent files the disposition and notes; if still wrapping up that call, they are free."""
        service = self.service
        agent = service.presence.agent_for(session)
        record = await service.store.get_call(call_id)
        if record is None or agent.agent_id not in agents_of(record):
            raise SignalingError(ErrorCode.FORBIDDEN, "you did not handle this call")
        wrapping = agent.wrap_up is not None and agent.wrap_up.call_id == call_id
        if wrapping:
            agent.end_wrap_up()  # filed: its timer must not file a timed_out over it
        try:
            await service.store.update_call(call_id, {"disposition": disposition, "notes": notes})
            await service.store.append_call_event(call_id, {"type": "wrap_up", "at": service.clock.now(),
                                                            "agent_id": agent.agent_id,
                                                            "disposition": disposition})
        finally:
            freed = wrapping and agent.state is AgentState.WRAP_UP
            if freed:  # even if the store failed: an agent with no wrap-up timer must not stay stuck
                agent.set_state(AgentState.AVAILABLE, service.clock.now())
                session.send(AgentStateChanged(state=agent.state.value))
                service.dashboard.changed()
        if freed:
            await service.dispatch.dispatch()
