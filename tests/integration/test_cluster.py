"""One contact centre across three nodes on one real redis-server: sockets and REST reach any
node, the holder of the centre lease decides (three apps in this process), and dispatch is
exactly-once under a burst of 200 shoppers (three real node processes)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer

from client import SignalingClient, demo_token
from signaling.auth import Role
from signaling.state.redis_store import RedisStateStore
from silkline.app import CLUSTER, create_app, runner_options
from tests.conftest import Running, make_config
from tests.support.cluster import Cluster
from tests.support.eventually import eventually


@contextlib.asynccontextmanager
async def cluster_of(tmp_path: Path, redis_url: str, count: int, **overrides) -> AsyncIterator[list[Running]]:
    """``count`` nodes in this process, each on its own port, on one Redis; node-1 first, so it
    takes the centre lease."""
    flush = aioredis.from_url(redis_url)
    await flush.flushdb()
    await flush.aclose()
    servers: list[TestServer] = []
    nodes: list[Running] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        try:
            for index in range(1, count + 1):
                config = make_config(tmp_path / f"n{index}", redis_url=redis_url, demo=True,
                                     node_id=f"node-{index}", heartbeat_s=0.3, heartbeat_ttl_s=1.5,
                                     recordings_dir=tmp_path / "recordings", **overrides)
                server = TestServer(create_app(config), host="127.0.0.1")
                await server.start_server(**runner_options(config))
                url = str(server.make_url("")).rstrip("/")
                config.internal_url = url  # the in-process node's one address is its internal one
                servers.append(server)
                nodes.append(Running(url, server.app, http, config))

            async def all_listed() -> bool:
                views = nodes[-1].app[CLUSTER].views
                return len(views) == count and all(v["url"] for v in views.values())

            await eventually(all_listed, timeout=10, message="every node in the registry with its url")
            await eventually(lambda: nodes[0].app[CLUSTER].is_centre(), timeout=10, message="node-1 decides")
            yield nodes
        finally:
            for server in reversed(servers):
                await server.close()


async def client(node: Running) -> SignalingClient:
    return await SignalingClient(node.http, node.url).connect()


async def test_a_call_through_three_nodes_is_one_call(tmp_path, redis_url):
    async with cluster_of(tmp_path, redis_url, 3) as (a, b, c):
        assert a.app[CLUSTER].is_centre() and not b.app[CLUSTER].is_centre()
        agent_token = await demo_token(c.http, c.url, "agent", name="Ann")
        agent = await client(c)
        await agent.send("join", token=agent_token["token"])
        await agent.expect("joined", role="agent")
        shopper_token = await demo_token(b.http, b.url, "shopper", name="Sam")
        call_id = shopper_token["call_id"]
        shopper = await client(b)
        await shopper.send("join", token=shopper_token["token"], context={"title": "Sapphire ring"})
        await shopper.expect("joined", call_id=call_id)
        offered = await agent.expect("call-offered", call_id=call_id)
        assert offered["context"]["title"] == "Sapphire ring"
        await agent.send("accept", call_id=call_id)
        await shopper.expect("call-state", state="connecting")
        await shopper.send("chat", call_id=call_id, text="is this one in stock?")
        line = await agent.expect("chat", call_id=call_id)
        assert line["text"] == "is this one in stock?"
        # REST through the third node: the supervisor's live view is the holder's
        supervisor = b.tokens.issue(Role.SUPERVISOR, "sue")
        async with b.http.get(b.url + "/api/live", headers={"Authorization": f"Bearer {supervisor}"}) as resp:
            body = await resp.json()
            assert resp.status == 200, body
        assert [call["call_id"] for call in body["calls"]] == [call_id]
        await agent.hangup(call_id)
        await shopper.expect("call-ended", call_id=call_id)
        record = await a.store.get_call(call_id)
        assert record["state"] == "ended" and record["agent_id"] == agent_token["agent_id"]
        assert b.app[CLUSTER].forwarder.relayed >= 2 and c.app[CLUSTER].forwarder.relayed >= 1
        for ws in (agent, shopper):
            await ws.close()


async def test_a_holder_that_resigns_files_the_wrap_up_drafts_only_it_knew(tmp_path, redis_url):
    """A rolling restart reaches the holder while an agent types wrap-up notes: the draft is
    filed (timed_out) before the lease goes, and the agent's wrap-up on the next holder wins."""
    async with cluster_of(tmp_path, redis_url, 2, wrap_up_s=60.0) as (a, b):
        agent_token = await demo_token(b.http, b.url, "agent", name="Ann")
        agent = await SignalingClient(b.http, b.url, reconnect=True, backoff=(0.1, 0.5)).connect()
        await agent.join(agent_token["token"])
        shopper_token = await demo_token(b.http, b.url, "shopper", name="Sam")
        call_id = shopper_token["call_id"]
        shopper = await client(b)
        await shopper.join(shopper_token["token"])
        await agent.expect("call-offered", call_id=call_id)
        await agent.accept(call_id)
        await shopper.expect("call-state", state="connecting")
        await agent.hangup(call_id)
        await agent.expect("agent-state", state="wrap_up", call_id=call_id)
        await agent.send("wrap-up-draft", call_id=call_id, notes="wants the ring in size 54", disposition="sale")
        await agent.expect("agent-state", state="wrap_up", wrap_up_paused=True)
        await a.app[CLUSTER].role.resign()
        record = await b.store.get_call(call_id)
        assert (record["disposition"], record["notes"], record["draft_disposition"]) == \
            ("timed_out", "wants the ring in size 54", "sale")
        await eventually(lambda: b.app[CLUSTER].is_centre(), timeout=10, message="node-2 decides")
        await agent.expect("joined", role="agent", timeout=15)  # its socket came back (no live call to resume)
        assert agent.reconnects >= 1
        await agent.send("wrap-up", call_id=call_id, disposition="sale", notes="size 54, ordered")

        async def filed() -> bool:
            record = await b.store.get_call(call_id)
            return record is not None and record["disposition"] == "sale"
        await eventually(filed, timeout=10, message="the agent's own wrap-up replaces the draft")
        for ws in (agent, shopper):
            await ws.close()


SHOPPERS = int(os.environ.get("BURST_SHOPPERS", "200"))
AGENTS = 12
CATEGORIES = ("rings", "phones", "")  # three queues (jewellery, electronics, general): 100 may wait in each


async def test_a_burst_of_200_shoppers_over_three_node_processes_is_dispatched_exactly_once(tmp_path, redis_url):
    """Three real node processes: every call is offered to one agent at a time, no agent holds
    two, none is lost or doubled — checked in every record."""
    async with Cluster(tmp_path, redis_url, nodes=3, env={"SILKLINE_DEMO": "1"},
                       args=["--max-calls", "200", "--wrap-up-seconds", "0.05"]) as cluster, \
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        nodes = cluster.nodes
        served: Counter[str] = Counter()  # call id -> accepts
        overlap: list[str] = []
        agents = []
        for index in range(AGENTS):
            node = nodes[index % 3]
            token = await demo_token(http, node.url, "agent", name=f"Agent {index}")
            ws = await SignalingClient(http, node.url).connect()
            await ws.send("join", token=token["token"])
            await ws.expect("joined", role="agent", timeout=15)
            agents.append(ws)
        shoppers: list[SignalingClient] = []
        call_ids: list[str] = []
        endings: Counter[str] = Counter()
        finished = asyncio.Event()

        async def work(ws: SignalingClient) -> None:
            busy: str | None = None

            # in the socket's order: an offer that arrives before the last call's end is a second call
            def offered(_: SignalingClient, message: dict) -> None:
                nonlocal busy
                if busy is not None:
                    overlap.append(f"{message['call_id']} offered while in {busy}")
                busy = message["call_id"]

            def over(_: SignalingClient, message: dict) -> None:
                nonlocal busy
                if message["call_id"] == busy:
                    busy = None

            ws.on("call-offered", offered)
            ws.on("call-ended", over)
            while not finished.is_set():
                try:
                    offer = await ws.expect("call-offered", timeout=2.0)
                except TimeoutError:
                    continue
                call_id = offer["call_id"]
                served[call_id] += 1
                await ws.send("accept", call_id=call_id)
                await ws.expect("call-state", call_id=call_id, state="connecting", timeout=30)
                await ws.hangup(call_id)
                await ws.expect("call-ended", call_id=call_id, timeout=30)

        async def arrive(index: int) -> None:
            node = nodes[index % 3]
            token = await demo_token(http, node.url, "shopper", name=f"Shopper {index}")
            ws = await SignalingClient(http, node.url).connect()
            shoppers.append(ws)
            call_ids.append(token["call_id"])
            await ws.send("join", token=token["token"], context={"category": CATEGORIES[index % 3]})
            await ws.expect("joined", call_id=token["call_id"], timeout=30)
            ended = await ws.expect("call-ended", call_id=token["call_id"], timeout=150)
            endings[ended["reason"]] += 1

        workers = [asyncio.ensure_future(work(ws)) for ws in agents]
        try:
            await asyncio.gather(*(arrive(i) for i in range(SHOPPERS)))
        finally:
            finished.set()
            await asyncio.gather(*workers, return_exceptions=True)
        store = RedisStateStore(redis_url)
        await store.open()
        try:
            records = await store.list_calls(limit=1000)
        finally:
            await store.close()
        odd = [[(e["type"], e.get("reason"), e.get("role"), e.get("cause"), e.get("by")) for e in r["events"]]
               for r in records if r.get("end_reason") != "hang_up"]
        assert endings == {"hang_up": SHOPPERS}, odd
        assert overlap == []
        assert len(served) == SHOPPERS and set(served.values()) == {1}
        assert set(served) == set(call_ids)
        assert sorted(r["call_id"] for r in records) == sorted(call_ids)  # none lost, none doubled
        for record in records:
            kinds = [e["type"] for e in record["events"]]
            assert record["state"] == "ended" and record["end_reason"] == "hang_up", record["call_id"]
            assert kinds.count("requested") == 1 and kinds.count("ended") == 1, (record["call_id"], kinds)
        for ws in agents + shoppers:
            await ws.close()


pytestmark = pytest.mark.timeout(300)
