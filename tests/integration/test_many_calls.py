"""50 shoppers and 5 agents with random timings through the real WebSocket API, on both
StateStore backends: every call ends answered, abandoned or called back, and the figures add
up. Signaling only (no media), so it runs in seconds."""

from __future__ import annotations

import asyncio
import random

from client import SignalingTimeout
from signaling.auth import Role
from tests.support.eventually import eventually

SHOPPERS = 50
AGENTS = 5


async def agent_loop(server, index: int, stop: asyncio.Event, rng: random.Random, handled: list):
    token = server.tokens.issue(Role.AGENT, f"agent{index}", name=f"Agent {index}",
                                skills={"general": 3, "jewellery": 3, "electronics": 3})
    ws = await server.client()
    await ws.send("join", token=token)
    await ws.expect("joined")
    while not stop.is_set():
        try:
            offer = await ws.expect("call-offered", timeout=0.5)
        except SignalingTimeout:
            continue
        call_id = offer["call_id"]
        if rng.random() < 0.1:
            await ws.send("decline", call_id=call_id)
            continue
        await asyncio.sleep(rng.uniform(0, 0.05))
        await ws.send("accept", call_id=call_id)
        await asyncio.sleep(rng.uniform(0.2, 0.8))
        await ws.send("hangup", call_id=call_id)  # may race with the shopper's own hang-up
        handled.append(call_id)
        try:
            await ws.expect("agent-state", state="wrap_up", call_id=call_id, timeout=5)
            await ws.send("wrap-up", call_id=call_id, disposition="resolved", notes="")
        except SignalingTimeout:
            pass  # the call had already ended another way
    await ws.close()


async def shopper(server, index: int, rng: random.Random, outcomes: dict):
    await asyncio.sleep(rng.uniform(0, 1.5))
    token = await server.token("shopper", vip=rng.random() < 0.2)
    call_id = token["call_id"]
    ws = await server.client()
    await ws.send("join", token=token["token"],
                  context={"category": rng.choice(["rings", "phones", "other"]), "title": f"item {index}"})
    patience = rng.uniform(0.05, 2.0)
    try:
        await ws.expect("call-state", state="connecting", timeout=patience)
        outcomes[call_id] = "answered"
        await ws.expect("call-ended", timeout=10)
    except SignalingTimeout:
        if rng.random() < 0.5:
            await ws.send("callback", call_id=call_id, name=f"Shopper {index}", contact="+44 20 7946 0000",
                          question="Does it come in silver?", id="callback")
            # an agent may accept meanwhile: then the callback is refused (the call is answered)
            await eventually(lambda: ws.seen("callback-accepted") or ws.seen("error", ref="callback"),
                             timeout=5, message="callback accepted or refused")
            outcomes[call_id] = "callback" if ws.seen("callback-accepted") else "answered"
        else:
            await ws.send("hangup", call_id=call_id)
            outcomes[call_id] = "abandoned"
        try:
            await ws.expect("call-ended", timeout=5)
        except SignalingTimeout:
            pass
    await ws.close()


async def run_contact_centre(server):
    rng = random.Random(7)
    stop = asyncio.Event()
    handled: list = []
    outcomes: dict = {}
    agents = [asyncio.ensure_future(agent_loop(server, i, stop, random.Random(i), handled))
              for i in range(AGENTS)]
    await asyncio.sleep(0.3)
    await asyncio.gather(*(shopper(server, i, random.Random(rng.random()), outcomes) for i in range(SHOPPERS)))
    try:
        await eventually(lambda: not server.calls.calls, timeout=20, message="every call ended")
    except AssertionError:
        pass  # asserted below, with the agents stopped
    stop.set()
    await asyncio.gather(*agents)

    assert server.calls.calls == {}, "calls left live"
    records = await server.store.list_calls(limit=1000)
    assert len(records) == SHOPPERS and len({r["call_id"] for r in records}) == SHOPPERS
    http = server.http
    token = server.tokens.issue(Role.SUPERVISOR, "sue")
    async with http.get(server.url + "/api/figures", headers={"Authorization": f"Bearer {token}"}) as resp:
        figures = await resp.json()
    total = figures["total"]
    assert total["offered"] == SHOPPERS
    assert total["answered"] + total["abandoned"] + total["callbacks"] == SHOPPERS
    assert total["answered"] == sum(q["answered"] for q in figures["queues"].values())
    assert total["answered"] == sum(a["answered"] for a in figures["agents"].values())
    assert total["answered"] > 0 and total["abandoned"] + total["callbacks"] > 0
    # what each shopper saw agrees with the record
    by_id = {r["call_id"]: r for r in records}
    from signaling.centre.figures import outcome
    for call_id, seen in outcomes.items():
        if seen in ("answered", "callback"):
            assert outcome(by_id[call_id]) == seen, (call_id, seen, by_id[call_id]["events"])
    for record in records:
        kinds = [e["type"] for e in record["events"]]
        assert kinds[0] == "requested" and kinds.count("ended") == 1
    async with http.get(server.url + "/api/callbacks", headers={"Authorization": f"Bearer {token}"}) as resp:
        callbacks = (await resp.json())["callbacks"]
    assert len(callbacks) == total["callbacks"]


async def test_many_shoppers_few_agents_memory(server):
    await run_contact_centre(server)


async def test_many_shoppers_few_agents_redis(redis_server):
    await run_contact_centre(redis_server)
