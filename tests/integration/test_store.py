"""Both StateStore backends behave the same; the embedded journal survives a crash."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap

import pytest

from media.clock import VirtualClock
from signaling.state.memory import MemoryStateStore
from signaling.state.redis_store import RedisStateStore


@pytest.fixture(params=["memory", "redis"])
async def store(request, tmp_path):
    if request.param == "memory":
        backend = MemoryStateStore(tmp_path, VirtualClock())
    else:
        import redis.asyncio as aioredis

        url = request.getfixturevalue("redis_url")
        flush = aioredis.from_url(url)
        await flush.flushdb()
        await flush.aclose()
        backend = RedisStateStore(url)
    await backend.open()
    yield backend
    await backend.close()


async def test_records_events_and_filters(store):
    await store.create_call({"call_id": "c1", "created_at": 100.0, "state": "waiting", "queue": "q"})
    await store.create_call({"call_id": "c2", "created_at": 200.0, "state": "waiting"})
    await store.append_call_event("c1", {"type": "requested", "at": 100.0})
    await store.update_call("c1", {"agent_id": "a1", "context": {"title": "Ring"}})
    await store.append_call_event("c1", {"type": "ended", "at": 150.0, "reason": "hang_up"},
                                  fields={"state": "ended", "end_reason": "hang_up", "ended_at": 150.0})
    record = await store.get_call("c1")
    assert record["agent_id"] == "a1" and record["context"] == {"title": "Ring"}
    assert [e["type"] for e in record["events"]] == ["requested", "ended"]
    assert record["state"] == "ended" and record["end_reason"] == "hang_up"
    assert [r["call_id"] for r in await store.list_calls()] == ["c2", "c1"]
    assert [r["call_id"] for r in await store.list_calls(since=150)] == ["c2"]
    assert [r["call_id"] for r in await store.list_calls(until=150)] == ["c1"]
    assert await store.get_call("nope") is None
    await store.delete_call("c2")
    assert await store.get_call("c2") is None


async def test_callbacks(store):
    await store.create_call({"call_id": "c1", "created_at": 1.0, "state": "ended"})
    await store.add_callback("c1", {"name": "Ada", "contact": "ada@example.org", "at": 5.0})
    callbacks = await store.list_callbacks()
    assert [(c["call_id"], c["name"], c["status"]) for c in callbacks] == [("c1", "Ada", "open")]
    await store.close_callback("c1", {"done_by": "a1"})
    assert await store.list_callbacks() == []
    assert (await store.get_call("c1"))["callback"]["status"] == "done"


async def test_once_only_fields_are_set_by_exactly_one_of_many(store):
    await store.create_call({"call_id": "c1", "created_at": 1.0, "state": "ended", "agent_id": None})
    won = await asyncio.gather(*(store.set_call_field_once("c1", "rating", {"score": i}) for i in range(20)))
    assert sum(won) == 1
    assert (await store.get_call("c1"))["rating"] == {"score": won.index(True)}
    # a field written as null counts as unset; a call that does not exist is never set
    assert await store.set_call_field_once("c1", "agent_id", "a1")
    assert not await store.set_call_field_once("missing", "rating", {"score": 5})
    assert await store.get_call("missing") is None
    opened = await asyncio.gather(*(store.add_callback("c1", {"name": f"n{i}", "contact": "x", "at": 5.0})
                                    for i in range(20)))
    assert sum(opened) == 1
    assert [c["name"] for c in await store.list_callbacks()] == [f"n{opened.index(True)}"]
    assert not await store.add_callback("missing", {"name": "n", "contact": "x", "at": 5.0})
    assert await store.list_callbacks() != [] and len(await store.list_callbacks()) == 1


async def test_agent_reservation_is_atomic_and_expires(store):
    results = await asyncio.gather(*(store.reserve_agent("a1", f"c{i}", 0.3) for i in range(10)))
    assert sum(results) == 1  # exactly one call wins the agent
    winner = f"c{results.index(True)}"
    assert await store.reserve_agent("a1", winner, 0.3)  # idempotent for the holder
    if isinstance(store, MemoryStateStore):
        await store.clock.advance(0.45)  # the embedded store keeps time by its Clock
    else:
        await asyncio.sleep(0.45)  # Redis expires the key itself (PX)
    assert await store.reserve_agent("a1", "other", 0.3)  # expired by itself
    await store.release_agent("a1", "not-the-holder")
    assert not await store.reserve_agent("a1", "third", 0.3)
    await store.release_agent("a1", "other")
    assert await store.reserve_agent("a1", "third", 0.3)


def test_journal_survives_kill_9_and_marks_live_calls_interrupted(tmp_path):
    script = textwrap.dedent(f"""
        import asyncio, os, signal, sys
        sys.path.insert(0, {str(os.getcwd())!r})
        from signaling.state.memory import MemoryStateStore
        async def main():
            store = MemoryStateStore({str(tmp_path)!r})
            await store.open()
            await store.create_call({{"call_id": "done", "created_at": 1, "state": "waiting"}})
            await store.append_call_event("done", {{"type": "ended", "at": 2, "reason": "hang_up"}},
                                          fields={{"state": "ended", "end_reason": "hang_up", "ended_at": 2}})
            await store.create_call({{"call_id": "live", "created_at": 3, "state": "waiting"}})
            await store.append_call_event("live", {{"type": "accepted", "at": 4}})
            print("acknowledged", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        asyncio.run(main())
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -9 and "acknowledged" in proc.stdout
    # a torn last line (crash mid-write) must not lose what came before it
    with open(tmp_path / "calls.jsonl", "a") as journal:
        journal.write('{"op": "event", "call_id": "li')

    async def reopen():
        store = MemoryStateStore(tmp_path)
        await store.open()
        done, live = await store.get_call("done"), await store.get_call("live")
        await store.close()
        return done, live

    done, live = asyncio.run(reopen())
    assert done["end_reason"] == "hang_up"
    assert live["state"] == "ended" and live["end_reason"] == "error"
    assert [e["type"] for e in live["events"]] == ["accepted", "ended"]
    lines = (tmp_path / "calls.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["event"]["detail"].startswith("the server stopped")


async def test_an_order_is_stored_once_atomically_and_listed_by_time(store):
    first = {"order_id": "o1", "at": 50.0, "amount": "1.00"}
    results = await asyncio.gather(*(store.add_order("shop\x1fo1", {**first, "try": i}) for i in range(10)))
    assert results.count(None) == 1  # exactly one report stores it; the others get it back
    winner = await store.get_order("shop\x1fo1")
    assert all(r == winner for r in results if r is not None)
    await store.add_order("shop\x1fo2", {"order_id": "o2", "at": 10.0})
    await store.add_order("shop\x1fo3", {"order_id": "o3", "at": 90.0})
    assert [o["order_id"] for o in await store.list_orders()] == ["o2", "o1", "o3"]
    assert [o["order_id"] for o in await store.list_orders(since=10.0, until=90.0)] == ["o2", "o1"]
    assert await store.get_order("nope") is None
    await store.add_order("shop\x1fo4", {"order_id": "o4", "at": 20.0, "customer_id": "ada"})
    await store.add_order("shop\x1fo5", {"order_id": "o5", "at": 30.0, "customer_id": "ada"})
    assert await store.delete_orders("ada") == 2  # an erasure request
    assert await store.get_order("shop\x1fo4") is None
    assert [o["order_id"] for o in await store.list_orders()] == ["o2", "o1", "o3"]
    assert await store.delete_orders("ada") == 0


async def test_orders_survive_reopening_the_journal(tmp_path):
    store = MemoryStateStore(tmp_path, VirtualClock())
    await store.open()
    await store.add_order("k1", {"order_id": "o1", "at": 5.0})
    await store.close()
    reopened = MemoryStateStore(tmp_path, VirtualClock())
    await reopened.open()
    assert await reopened.get_order("k1") == {"order_id": "o1", "at": 5.0}
    assert await reopened.add_order("k1", {"order_id": "o1", "at": 6.0}) == {"order_id": "o1", "at": 5.0}
    await reopened.add_order("k2", {"order_id": "o2", "at": 7.0, "customer_id": "ada"})
    assert await reopened.delete_orders("ada") == 1
    await reopened.close()
    again = MemoryStateStore(tmp_path, VirtualClock())
    await again.open()
    assert await again.get_order("k2") is None and await again.get_order("k1") is not None
    await again.close()
