"""The node registry: each node's heartbeat in the registry, seen through ``GET /api/nodes``;
with the real redis-server two nodes see each other, and a node whose heartbeat stops is dead."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer

from signaling.auth import Role
from silkline.app import HEARTBEAT, create_app
from tests.conftest import Running, make_config
from tests.support.eventually import eventually


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def listed(server: Running) -> dict[str, dict]:
    token = server.tokens.issue(Role.ADMIN, "root")
    async with server.http.get(server.url + "/api/nodes", headers=bearer(token)) as resp:
        assert resp.status == 200
        return {node["node_id"]: node for node in (await resp.json())["nodes"]}


@contextlib.asynccontextmanager
async def node(tmp_path: Path, node_id: str, **overrides) -> AsyncIterator[tuple[Running, TestServer]]:
    config = make_config(tmp_path / node_id, node_id=node_id, heartbeat_s=0.3, heartbeat_ttl_s=1.5,
                         **overrides)
    test_server = TestServer(create_app(config), host="127.0.0.1")
    await test_server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            yield Running(str(test_server.make_url("")).rstrip("/"), test_server.app, http, config), test_server
    finally:
        await test_server.close()


async def test_the_embedded_node_lists_itself_with_its_load_and_rooms(server):
    await eventually(lambda: server.app[HEARTBEAT].beats >= 1)
    server.sfu.open_room("c_carried")
    nodes = await eventually(lambda: _with_room(server, "c_carried"), message="the room in the entry")
    [entry] = nodes.values()
    assert entry["state"] == "active" and entry["host"] and entry["pid"] > 0
    assert entry["heartbeat_age_s"] < 5
    assert set(entry["load"]) == {"rooms", "tracks", "loop_lag_ms", "cpu_pct"} and entry["load"]["rooms"] == 1
    async with server.http.get(server.url + "/api/nodes") as resp:
        assert resp.status == 401
    agent = server.tokens.issue(Role.AGENT, "ann")
    async with server.http.get(server.url + "/api/nodes", headers=bearer(agent)) as resp:
        assert resp.status == 403
    supervisor = server.tokens.issue(Role.SUPERVISOR, "sue")
    async with server.http.get(server.url + "/api/nodes", headers=bearer(supervisor)) as resp:
        assert resp.status == 200


async def _with_room(server: Running, room: str) -> dict[str, dict] | None:
    nodes = await listed(server)
    return nodes if any(room in n["rooms"] for n in nodes.values()) else None


async def test_two_nodes_on_one_redis_see_each_other_and_a_silent_one_is_dead(tmp_path, redis_url):
    flush = aioredis.from_url(redis_url)
    await flush.flushdb()
    await flush.aclose()
    async with node(tmp_path, "node-a", redis_url=redis_url) as (a, _):
        async with node(tmp_path, "node-b", redis_url=redis_url) as (b, b_server):
            b.sfu.open_room("c_on_b")

            async def both_active() -> bool:
                seen = [await listed(a), await listed(b)]
                return all(set(s) == {"node-a", "node-b"} and all(n["state"] == "active" for n in s.values())
                           and "c_on_b" in s["node-b"]["rooms"] for s in seen)

            await eventually(both_active, timeout=10, message="both nodes in both listings")
            await b_server.close()  # node-b's heartbeat stops (its app closes)

            async def b_dead() -> dict | None:
                entry = (await listed(a)).get("node-b")
                return entry if entry is not None and entry["state"] == "dead" else None

            dead = await eventually(b_dead, timeout=15, message="node-b reported dead")
            assert dead["heartbeat_age_s"] >= 1.5 and dead["rooms"] == ["c_on_b"]  # its last-known entry
            assert (await listed(a))["node-a"]["state"] == "active"


@pytest.mark.parametrize("clock", ["virtual"], indirect=True)
async def test_the_entry_ages_with_the_clock_and_dies_after_its_ttl(server):
    heartbeat = server.app[HEARTBEAT]
    await eventually(lambda: heartbeat.beats >= 1)
    await heartbeat.close()  # silence: nothing refreshes the entry now
    await server.clock.advance(4.0)
    assert [(n["state"], n["heartbeat_age_s"]) for n in (await listed(server)).values()] == [("active", 4.0)]
    await server.clock.advance(1.5)
    assert [n["state"] for n in (await listed(server)).values()] == ["dead"]
