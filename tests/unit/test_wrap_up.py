"""Wrap-up on the virtual clock: the countdown pauses while the agent types, and the draft is
filed (disposition timed_out) when it runs out."""

from __future__ import annotations

from media.clock import VirtualClock
from sfu import SfuNode
from signaling.auth import Claims, Role
from signaling.centre.agents import AgentState
from signaling.centre.calls import CallService, CallSettings
from signaling.centre.queues import Queues
from signaling.centre.routing import QueueConfig
from signaling.state.memory import MemoryStateStore
from tests.unit.test_routing import FakeSession


async def _after_a_call(clock: VirtualClock, queue: QueueConfig | None = None,
                        settings: CallSettings | None = None) -> tuple[CallService, FakeSession]:
    service = CallService(SfuNode(), MemoryStateStore(None, clock), settings or CallSettings(),
                          queues=Queues.from_config([queue or QueueConfig("general")], {}), clock=clock)
    await service.start()
    ann = FakeSession(Claims(Role.AGENT, "ann", None, None, 1e12, skills={"general": 3}))
    await service.join(ann, ann.claims, None)
    shopper = FakeSession(Claims(Role.SHOPPER, "s", "c1", None, 1e12))
    await service.join(shopper, shopper.claims, {})
    await service.actions.accept(ann, "c1")
    await service.ending.hangup(shopper, "c1")
    assert service.agents["ann"].state is AgentState.WRAP_UP
    return service, ann


async def test_the_default_wrap_up_is_a_minute_and_a_queue_may_set_its_own():
    clock = VirtualClock(1000.0)
    service, ann = await _after_a_call(clock)
    told = [m for m in ann.sent if m["type"] == "agent-state" and m["state"] == "wrap_up"]
    assert told[-1]["wrap_up_s"] == 60
    await service.close()
    service, ann = await _after_a_call(clock, QueueConfig("general", wrap_up_s=5))
    assert [m for m in ann.sent if m["type"] == "agent-state"][-1]["wrap_up_s"] == 5
    await service.close()


async def test_the_countdown_pauses_while_the_agent_types():
    clock = VirtualClock(1000.0)
    service, ann = await _after_a_call(clock, settings=CallSettings(wrap_up_s=60, wrap_up_typing_s=10))
    await clock.advance(50)
    service.wrap_ups.typing(ann, "c1")  # 10 s left, frozen
    paused = ann.sent[-1]
    assert paused["type"] == "agent-state" and paused["wrap_up_paused"] is True and paused["wrap_up_s"] == 10
    for _ in range(6):  # a minute of typing: still in wrap-up
        await clock.advance(9)
        service.wrap_ups.draft(ann, "c1", "Customer wants", "")
    assert service.agents["ann"].state is AgentState.WRAP_UP
    await clock.advance(10)  # stopped typing: the countdown goes on with its 10 s
    resumed = ann.sent[-1]
    assert resumed["wrap_up_paused"] is False and resumed["wrap_up_s"] == 10
    await clock.advance(9)
    assert service.agents["ann"].state is AgentState.WRAP_UP
    await clock.advance(2)
    assert service.agents["ann"].state is AgentState.AVAILABLE
    await service.close()


async def test_the_draft_is_saved_when_the_wrap_up_runs_out():
    clock = VirtualClock(1000.0)
    service, ann = await _after_a_call(clock, QueueConfig("general", wrap_up_s=20),
                                       CallSettings(wrap_up_typing_s=5))
    service.wrap_ups.draft(ann, "c1", "Ring resized to N; call back Friday", "sale")
    await clock.advance(30)
    assert service.agents["ann"].state is AgentState.AVAILABLE
    told = ann.sent[-1]
    assert told["state"] == "available" and told["disposition"] == "timed_out" and told["call_id"] == "c1"
    await service.idle()
    record = await service.store.get_call("c1")
    assert record["disposition"] == "timed_out" and record["notes"] == "Ring resized to N; call back Friday"
    assert record["draft_disposition"] == "sale"
    assert [e for e in record["events"] if e["type"] == "wrap_up"][-1]["disposition"] == "timed_out"
    await service.close()


async def test_going_away_keeps_the_draft_and_filing_wins_over_the_timer():
    clock = VirtualClock(1000.0)
    service, ann = await _after_a_call(clock, QueueConfig("general", wrap_up_s=20))
    service.wrap_ups.draft(ann, "c1", "half a note", "")
    await service.presence.set_state(ann, "away")
    await service.idle()
    assert (await service.store.get_call("c1"))["notes"] == "half a note"
    await service.close()

    service, ann = await _after_a_call(clock, QueueConfig("general", wrap_up_s=20))
    service.wrap_ups.draft(ann, "c1", "draft", "")
    await service.wrap_ups.finish(ann, "c1", "resolved", "the final note")
    await clock.advance(60)
    await service.idle()
    record = await service.store.get_call("c1")
    assert record["disposition"] == "resolved" and record["notes"] == "the final note"
    # a late draft or typing after the wrap-up is ignored
    service.wrap_ups.typing(ann, "c1")
    service.wrap_ups.draft(ann, "c1", "late", "")
    assert service.agents["ann"].state is AgentState.AVAILABLE
    await service.close()
