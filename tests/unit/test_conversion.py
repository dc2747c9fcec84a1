"""Conversion: which call an order converts, the figures it makes, and the ``best_converting``
routing strategy on a fixed set of agents and orders (the real Orders service on the embedded
store, the real router)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from media.clock import VirtualClock
from signaling.centre.figures import figures
from signaling.centre.orders import OrderReport, Orders, converting_call
from signaling.centre.routing import AgentView, ConversionHistory, QueueConfig, SkillRouter, WaitingCall
from signaling.state.memory import MemoryStateStore

DAY = 86400.0


def answered(call_id: str, agent_id: str, customer: str, at: float, ended: float | None,
             shop: str | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {
        "call_id": call_id, "created_at": at - 5, "customer_id": customer, "agent_id": agent_id,
        "queue": "q", "state": "ended" if ended is not None else "connected",
        "context": {"shop": shop} if shop else {},
        "events": [{"type": "requested", "at": at - 5}, {"type": "accepted", "at": at, "agent_id": agent_id}],
    }
    if ended is not None:
        record["ended_at"] = ended
        record["events"].append({"type": "ended", "at": ended, "reason": "hang_up"})
    return record


def test_the_call_answered_last_before_the_order_within_the_window_converts():
    records = [answered("c1", "a", "x", 100.0, 200.0), answered("c2", "b", "x", 1000.0, 1100.0),
               answered("c3", "c", "x", 5000.0, None), answered("c4", "d", "y", 900.0, 950.0, shop="Other")]
    assert converting_call(records, "x", "Gem", 1500.0, DAY)["call_id"] == "c2"  # not c3: after the order
    assert converting_call(records, "x", "Gem", 6000.0, DAY)["call_id"] == "c3"  # a live call counts
    assert converting_call(records, "x", "Gem", 50.0, DAY) is None  # before every call
    assert converting_call(records[:2], "x", "Gem", 1100.0 + DAY + 1, DAY) is None  # past the window
    assert converting_call(records[:2], "x", "Gem", 1100.0 + DAY, DAY)["call_id"] == "c2"  # on its edge
    assert converting_call(records, "y", "Gem", 1000.0, DAY) is None  # another shop's call
    unanswered = {**records[0], "events": [{"type": "requested", "at": 95.0}]}
    assert converting_call([unanswered], "x", "Gem", 150.0, DAY) is None


async def test_best_converting_prefers_the_agent_whose_recent_calls_converted_most(tmp_path):
    clock = VirtualClock(start=10 * DAY)
    store = MemoryStateStore(tmp_path, clock)
    await store.open()
    history = ConversionHistory(keep=4)
    orders = Orders(store, clock, window_s=DAY, converted=history.converted)
    # a: 4 calls, 1 converted; b: 2 calls, 2 converted; c: 4 calls, 2 converted; d: none yet
    plan = {"a": [False, True, False, False], "b": [True, True], "c": [True, False, True, False]}
    at = 9 * DAY
    for agent_id, outcomes in plan.items():
        for n, converts in enumerate(outcomes):
            at += 100
            call_id, customer = f"{agent_id}{n}", f"cust-{agent_id}{n}"
            for record in (answered(call_id, agent_id, customer, at, at + 60),):
                await store.create_call({k: v for k, v in record.items() if k != "events"})
                for event in record["events"]:
                    await store.append_call_event(call_id, event)
            history.answered(agent_id, call_id)
            if converts:
                order, stored = await orders.report("Gem", OrderReport(f"o-{call_id}", customer, Decimal("10.50"),
                                                                       "EUR", at + 3600))
                assert stored and order.call_id == call_id
    # a's first call falls out of the recent ones: a's rate covers its last 4 answered calls
    history.answered("a", "a-latest")
    assert [history.rate(a) for a in ("a", "b", "c", "d")] == [0.25, 1.0, 0.5, None]
    views = [AgentView(a, {"q": 3}, True, idle_since=idle, conversion=history.rate(a))
             for a, idle in (("a", 1.0), ("b", 50.0), ("c", 2.0), ("d", 0.0))]
    waiting = [WaitingCall("w1", "q", 1.0), WaitingCall("w2", "q", 2.0)]
    converting = {"q": QueueConfig("q", strategy="best_converting")}
    assert SkillRouter().assign(converting, waiting, views, 100.0) == [("w1", "b"), ("w2", "c")]
    idle = {"q": QueueConfig("q", strategy="longest_idle")}  # per queue: another queue keeps its own
    assert SkillRouter().assign(idle, waiting, views, 100.0) == [("w1", "d"), ("w2", "a")]
    numbers = figures(await store.list_calls(limit=100))
    assert {a: (f["answered"], f["converted"], f["conversion_rate"]) for a, f in numbers["agents"].items()} == \
        {"a": (4, 1, 0.25), "b": (2, 2, 1.0), "c": (4, 2, 0.5)}
    assert numbers["total"]["revenue_after_calls"] == {"EUR": "52.50"}
    await store.close()


def test_an_order_written_twice_on_a_call_counts_once():
    record = answered("c1", "a", "x", 100.0, 200.0)
    event = {"type": "converted", "at": 300.0, "order_id": "o1", "amount": "5.00", "currency": "EUR"}
    record["events"] += [event, dict(event)]
    assert figures([record])["total"]["revenue_after_calls"] == {"EUR": "5.00"}
