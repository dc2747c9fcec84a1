"""Routing: unit tests of each strategy, and invariants over random sequences (hypothesis)."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from media.clock import VirtualClock
from sfu import SfuNode
from signaling.auth import Claims, Role
from signaling.centre.agents import AgentState
from signaling.centre.call import CallState
from signaling.centre.calls import CallService, CallSettings
from signaling.centre.queues import Queues
from signaling.centre.routing import (
    AgentView,
    QueueConfig,
    RelaxStep,
    SkillRouter,
    WaitingCall,
    eligible,
)
from signaling.errors import SignalingError
from signaling.server_messages import ServerMessage, as_dict
from signaling.state.memory import MemoryStateStore


def agent(agent_id: str, level: int = 3, idle: float = 0.0, calls: int = 0, rating: float | None = None,
          skill: str = "q") -> AgentView:
    return AgentView(agent_id, {skill: level}, True, idle_since=idle, calls_today=calls, rating=rating)


def queue(**kw: Any) -> dict[str, QueueConfig]:
    return {"q": QueueConfig("q", **kw)}


def assign(queues, waiting, agents, now=100.0):
    return SkillRouter().assign(queues, waiting, agents, now)


def test_longest_idle_agent_first():
    offers = assign(queue(), [WaitingCall("c1", "q", 1.0)], [agent("a", idle=50), agent("b", idle=10)])
    assert offers == [("c1", "b")]


def test_fewest_calls_today():
    offers = assign(queue(strategy="fewest_calls"), [WaitingCall("c1", "q", 1.0)],
                    [agent("a", calls=3, idle=1), agent("b", calls=1, idle=50)])
    assert offers == [("c1", "b")]


def test_best_skill_level():
    offers = assign(queue(strategy="best_skill"), [WaitingCall("c1", "q", 1.0)],
                    [agent("a", level=2, idle=1), agent("b", level=5, idle=50)])
    assert offers == [("c1", "b")]


def test_highest_satisfaction():
    offers = assign(queue(strategy="best_rated"), [WaitingCall("c1", "q", 1.0)],
                    [agent("a", rating=3.2, idle=1), agent("b", rating=4.8, idle=50), agent("c")])
    assert offers == [("c1", "b")]


def test_requirements_relax_while_the_call_waits():
    config = queue(relax=(RelaxStep(0, 3), RelaxStep(20, 2), RelaxStep(40, 1)))
    novice = [agent("n", level=1)]
    call = WaitingCall("c1", "q", 0.0, requested_at=0.0)
    assert assign(config, [call], novice, now=10) == []
    assert assign(config, [call], [agent("m", level=2)], now=10) == []
    assert assign(config, [call], [agent("m", level=2)], now=25) == [("c1", "m")]
    assert assign(config, [call], novice, now=39) == []
    assert assign(config, [call], novice, now=41) == [("c1", "n")]


def test_returning_customer_goes_to_their_last_agent_first_then_anyone():
    config = queue(returning_customer_s=15)
    call = WaitingCall("c1", "q", 0.0, customer_id="cust", last_agent="old", requested_at=0.0)
    others = [agent("new", idle=0)]
    assert assign(config, [call], others, now=5) == []  # waits for the agent who knows them
    assert assign(config, [call], others + [agent("old", idle=99)], now=5) == [("c1", "old")]
    assert assign(config, [call], others, now=16) == [("c1", "new")]  # then falls back


def test_priority_classes_then_fifo():
    waiting = [WaitingCall("early", "q", 1.0), WaitingCall("vip", "q", 5.0, priority=10),
               WaitingCall("late", "q", 3.0)]
    offers = assign(queue(), waiting, [agent("a", idle=1), agent("b", idle=2)])
    assert offers == [("vip", "a"), ("early", "b")]


def test_declined_agent_is_skipped_and_capacity_respected():
    waiting = [WaitingCall("c1", "q", 1.0, declined_by={"a"}), WaitingCall("c2", "q", 2.0)]
    two_lines = AgentView("b", {"q": 3}, True, capacity=2)
    offers = assign(queue(), waiting, [agent("a", idle=0), two_lines])
    assert sorted(offers) == [("c1", "b"), ("c2", "a")]


# ---------------------------------------------------------------- properties of assign()

calls_st = st.lists(
    st.builds(lambda i, q, t, p, lvl: (i, q, t, p, lvl), st.integers(0, 10**6), st.sampled_from("xy"),
              st.floats(0, 100), st.sampled_from([0, 0, 10]), st.integers(1, 3)),
    max_size=12, unique_by=lambda c: c[0])
agents_st = st.lists(
    st.builds(lambda i, x, y, cap, idle: (i, x, y, cap, idle), st.integers(0, 50), st.integers(0, 3),
              st.integers(0, 3), st.integers(1, 2), st.floats(0, 100)),
    max_size=6, unique_by=lambda a: a[0])


@given(calls_st, agents_st, st.sampled_from(["longest_idle", "fewest_calls", "best_skill", "best_rated"]))
@settings(max_examples=300, deadline=None)
def test_assign_invariants(calls, agents, strategy):
    queues = {name: QueueConfig(name, strategy=strategy, relax=(RelaxStep(0, 2), RelaxStep(50, 1)))
              for name in "xy"}
    waiting = [WaitingCall(f"c{i}", q, t, p, requested_at=t) for i, q, t, p, _ in calls]
    views = [AgentView(f"a{i}", {"x": x, "y": y}, True, capacity=cap, idle_since=idle)
             for i, x, y, cap, idle in agents]
    fresh = {v.agent_id: AgentView(v.agent_id, dict(v.skills), True, capacity=v.capacity,
                                   idle_since=v.idle_since) for v in views}
    now = 120.0
    offers = SkillRouter().assign(queues, waiting, views, now)
    offered_calls = [c for c, _ in offers]
    assert len(offered_calls) == len(set(offered_calls)), "a call offered twice"
    load: dict[str, int] = {}
    for _, a in offers:
        load[a] = load.get(a, 0) + 1
    assert all(load[a] <= fresh[a].capacity for a in load), "an agent over capacity"
    by_id = {w.call_id: w for w in waiting}
    for c, a in offers:
        assert eligible(by_id[c], queues[by_id[c].queue], fresh[a], now)
        # FIFO within a priority class: no older unserved call of the same class and queue
        # could have been given to this agent
        mine = by_id[c]
        for other in waiting:
            if other.call_id in offered_calls or other.queue != mine.queue:
                continue
            if other.priority == mine.priority and other.enqueued_at < mine.enqueued_at:
                assert not eligible(other, queues[other.queue], fresh[a], now)


# ---------------------------------------------------------------- the CallService, stateful

class FakeSession:
    def __init__(self, claims: Claims) -> None:
        self.session_id = claims.sub
        self.claims = claims
        self.sent: list[dict] = []
        self.closed = False

    def send(self, msg: ServerMessage) -> None:
        self.sent.append(as_dict(msg))  # as the client decodes it

    async def close(self, code: int, reason: str) -> None:
        self.closed = True


class ContactCentre(RuleBasedStateMachine):
    """Random arrivals, sign-ins, answers, declines, ring timeouts, hang-ups and departures,
    applied to the real CallService (no media: peers are not negotiated)."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = VirtualClock(1000.0)
        queues = Queues.from_config([QueueConfig("general", wrap_up_s=3600),
                                     QueueConfig("vip", relax=(RelaxStep(0, 2), RelaxStep(30, 1)))], {})
        self.service = CallService(SfuNode(), MemoryStateStore(None), CallSettings(ring_timeout=30, grace_period=3600),
                                   queues=queues, clock=self.clock)
        self.loop.run_until_complete(self.service.start())  # the queue ticker runs on the clock
        self.shoppers: dict[str, FakeSession] = {}
        self.agent_sessions: dict[str, FakeSession] = {}
        self.created: set[str] = set()
        self.n = 0

    def run(self, coro) -> None:
        try:
            self.loop.run_until_complete(coro)
        except SignalingError:
            pass
        self.loop.run_until_complete(self.service.idle())  # what the step set off has finished

    def teardown(self) -> None:
        self.loop.run_until_complete(self.service.close())
        self.loop.close()

    @rule(priority=st.sampled_from([0, 0, 10]), queue=st.sampled_from(["general", "vip"]))
    def shopper_calls(self, priority, queue):
        self.n += 1
        call_id = f"c{self.n}"
        claims = Claims(Role.SHOPPER, f"s{self.n}", call_id, None, 1e12, priority=priority)
        session = FakeSession(claims)
        self.shoppers[call_id] = session
        self.created.add(call_id)
        self.run(self.service.join(session, claims, {"category": queue}))

    @rule(level=st.integers(1, 3))
    def agent_signs_in(self, level):
        self.n += 1
        claims = Claims(Role.AGENT, f"a{self.n}", None, None, 1e12, skills={"general": level, "vip": level})
        session = FakeSession(claims)
        self.agent_sessions[claims.sub] = session
        self.run(self.service.join(session, claims, None))

    def _agents_in(self, state: AgentState) -> list:
        return [a for a in self.service.agents.values() if a.state is state and a.session is not None]

    @precondition(lambda self: self._agents_in(AgentState.RINGING))
    @rule(data=st.data(), answer=st.booleans())
    def agent_answers_or_declines(self, data, answer):
        agent = data.draw(st.sampled_from(self._agents_in(AgentState.RINGING)))
        if answer:
            self.run(self.service.actions.accept(agent.session, agent.call_id))
        else:
            self.run(self.service.actions.decline(agent.session, agent.call_id))

    @precondition(lambda self: self._agents_in(AgentState.RINGING))
    @rule(data=st.data())
    def ring_times_out(self, data):
        ringing = data.draw(st.sampled_from(self._agents_in(AgentState.RINGING)))
        self.run(self.clock.advance(self.service.settings.ring_timeout))
        assert ringing.state is AgentState.AWAY  # a missed ring sets the agent away

    @precondition(lambda self: self._agents_in(AgentState.AWAY) + self._agents_in(AgentState.WRAP_UP))
    @rule(data=st.data())
    def agent_becomes_available(self, data):
        agent = data.draw(st.sampled_from(self._agents_in(AgentState.AWAY) + self._agents_in(AgentState.WRAP_UP)))
        self.run(self.service.presence.set_state(agent.session, "available"))

    @precondition(lambda self: self.service.calls)
    @rule(data=st.data(), who=st.sampled_from(["shopper", "agent"]))
    def somebody_hangs_up(self, data, who):
        call = data.draw(st.sampled_from(sorted(self.service.calls.values(), key=lambda c: c.call_id)))
        party = call.agent if who == "agent" and call.agent else call.shopper
        if party.session is not None:
            self.run(self.service.ending.hangup(party.session, call.call_id))

    @precondition(lambda self: self.agent_sessions)
    @rule(data=st.data())
    def agent_tab_closes(self, data):
        agent_id = data.draw(st.sampled_from(sorted(self.agent_sessions)))
        session = self.agent_sessions.pop(agent_id)
        self.run(self.service.reconnect.session_closed(session))

    @rule(seconds=st.floats(1, 40))
    def time_passes(self, seconds):
        self.run(self.clock.advance(seconds))

    @invariant()
    def never_offered_to_two_agents_and_no_agent_over_capacity(self):
        holders: dict[str, list[str]] = {}
        for call in self.service.calls.values():
            if call.state is CallState.RINGING:
                holders.setdefault(call.offered_to, []).append(call.call_id)
                assert self.service.agents[call.offered_to].call_id == call.call_id
            if call.agent is not None:
                holders.setdefault(call.agent.identity, []).append(call.call_id)
        assert all(len(calls) <= 1 for calls in holders.values()), holders

    @invariant()
    def no_call_lost_or_duplicated(self):
        live = set(self.service.calls)
        ended = {cid for cid, rec in self.service.store._calls.items() if rec.get("state") == "ended"}
        assert live.isdisjoint(ended)
        assert self.created == live | ended, self.created - live - ended
        queued = set(self.service.queues.waiting)
        waiting = {c.call_id for c in self.service.calls.values() if c.state is CallState.WAITING}
        assert queued == waiting
        for cid in ended:
            assert [e["type"] for e in self.service.store._calls[cid]["events"]].count("ended") == 1


ContactCentre.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None,
                                           suppress_health_check=[HealthCheck.too_slow])
TestContactCentre = ContactCentre.TestCase


# ---------------------------------------------------------------- time-driven queue rules

async def _service(clock: VirtualClock, queues: list[QueueConfig]) -> CallService:
    service = CallService(SfuNode(), MemoryStateStore(None), CallSettings(ring_timeout=3600),
                          queues=Queues.from_config(queues, {}), clock=clock)
    await service.start()
    return service


async def test_overflow_to_another_queue_after_the_threshold():
    clock = VirtualClock(1000.0)
    service = await _service(clock, [QueueConfig("general"),
                             QueueConfig("vip", overflow_after_s=10, overflow_to="general")])
    general_only = FakeSession(Claims(Role.AGENT, "g", None, None, 1e12, skills={"general": 3}))
    vip_agent = FakeSession(Claims(Role.AGENT, "v", None, None, 1e12, skills={"vip": 3}))
    await service.join(vip_agent, vip_agent.claims, None)
    await service.presence.set_state(vip_agent, "away")  # the vip expert stepped away
    await service.join(general_only, general_only.claims, None)
    shopper = FakeSession(Claims(Role.SHOPPER, "s", "c1", None, 1e12))
    await service.join(shopper, shopper.claims, {"category": "vip"})
    assert service.calls["c1"].state is CallState.WAITING
    await clock.advance(11)
    assert service.calls["c1"].queue == "general"
    assert service.calls["c1"].offered_to == "g"
    events = [e["type"] for e in (await service.store.get_call("c1"))["events"]]
    assert "overflowed" in events
    await service.close()


async def test_wait_limit_makes_the_call_unavailable_in_words():
    clock = VirtualClock(1000.0)
    service = await _service(clock, [QueueConfig("general", max_wait_s=30)])
    agent = FakeSession(Claims(Role.AGENT, "a", None, None, 1e12, skills={"general": 1}))
    await service.join(agent, agent.claims, None)
    await service.presence.set_state(agent, "away")
    shopper = FakeSession(Claims(Role.SHOPPER, "s", "c1", None, 1e12))
    await service.join(shopper, shopper.claims, {})
    await clock.advance(31)
    told = [m for m in shopper.sent if m["type"] == "call-state" and m["state"] == "unavailable"]
    assert told and told[0]["reason"] == "wait_limit" and told[0]["message"]
    record = await service.store.get_call("c1")
    assert record["end_reason"] == "unavailable"
    await service.close()


async def test_returning_customer_is_offered_to_their_last_agent():
    clock = VirtualClock(1000.0)
    service = await _service(clock, [QueueConfig("general", returning_customer_s=15)])
    ann = FakeSession(Claims(Role.AGENT, "ann", None, None, 1e12, skills={"general": 3}))
    bob = FakeSession(Claims(Role.AGENT, "bob", None, None, 1e12, skills={"general": 3}))
    for s in (ann, bob):
        await service.join(s, s.claims, None)
    first = FakeSession(Claims(Role.SHOPPER, "s1", "c1", None, 1e12, customer_id="cust"))
    await service.join(first, first.claims, {})
    served_by = service.calls["c1"].offered_to
    other = bob if served_by == "ann" else ann
    mine = ann if served_by == "ann" else bob
    await service.actions.accept(mine, "c1")
    await service.ending.hangup(first, "c1")
    await service.wrap_ups.finish(mine, "c1", "resolved", "")
    await service.presence.set_state(mine, "away")
    again = FakeSession(Claims(Role.SHOPPER, "s2", "c2", None, 1e12, customer_id="cust"))
    await service.join(again, again.claims, {})
    assert service.calls["c2"].state is CallState.WAITING  # waits for the agent they know
    await service.presence.set_state(mine, "available")
    assert service.calls["c2"].offered_to == served_by
    assert other.claims.sub != served_by
    await service.close()


# ---------------------------------------------------------------- timers on the virtual clock

async def test_ring_timeout_and_wrap_up_end_when_the_clock_says_so():
    clock = VirtualClock(1000.0)
    service = CallService(SfuNode(), MemoryStateStore(None, clock), CallSettings(ring_timeout=30),
                          queues=Queues.from_config([QueueConfig("general", wrap_up_s=60)], {}), clock=clock)
    await service.start()
    ann = FakeSession(Claims(Role.AGENT, "ann", None, None, 1e12, skills={"general": 3}))
    await service.join(ann, ann.claims, None)
    shopper = FakeSession(Claims(Role.SHOPPER, "s", "c1", None, 1e12))
    await service.join(shopper, shopper.claims, {})
    assert service.calls["c1"].offered_to == "ann" and service.agents["ann"].call_id == "c1"
    await clock.advance(29)
    assert service.agents["ann"].state is AgentState.RINGING
    await clock.advance(2)
    assert service.agents["ann"].state is AgentState.AWAY and service.agents["ann"].call_id is None
    assert service.calls["c1"].state is CallState.WAITING and service.calls["c1"].offered_to is None
    await service.presence.set_state(ann, "available")
    await service.actions.accept(ann, "c1")
    await service.ending.hangup(shopper, "c1")
    wrap = service.agents["ann"].wrap_up
    assert service.agents["ann"].state is AgentState.WRAP_UP and wrap is not None and wrap.call_id == "c1"
    await clock.advance(59)
    assert service.agents["ann"].state is AgentState.WRAP_UP
    await clock.advance(2)
    assert service.agents["ann"].state is AgentState.AVAILABLE and service.agents["ann"].wrap_up is None
    record = await service.store.get_call("c1")
    assert record["state"] == "ended" and record["end_reason"] == "hang_up" and record["ended_at"] == clock.now() - 61
    await service.close()
