"""The Redis client follows a Sentinel failover: a real primary, replica and sentinel.

A node given ``redis+sentinel://`` finds the primary through the sentinel; when the primary
is killed (-9) the sentinel promotes the replica, and the same running node reads and writes
there, with what was acknowledged (and replicated) before the crash still in the record.
"""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from signaling.state.redis_client import parse_sentinel_url
from signaling.state.redis_store import Fenced
from silkline.app import STORE, create_app
from tests.conftest import make_config
from tests.support.eventually import eventually
from tests.support.redis_processes import RedisProcess

SERVICE = "silk"


def test_sentinel_urls_name_their_sentinels_service_and_db():
    target = parse_sentinel_url("redis+sentinel://:s%40cret@10.0.0.1:26379,10.0.0.2:26380/silk/2")
    assert target.sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26380))
    assert (target.service, target.db, target.password) == ("silk", 2, "s@cret")
    assert parse_sentinel_url("redis+sentinel://h:1/silk").db == 0


@pytest.mark.parametrize("url", [
    "redis://h:1/0", "redis+sentinel://h:1", "redis+sentinel://h/silk",
    "redis+sentinel://h:x/silk", "redis+sentinel://h:1/silk/db"])
def test_a_mistyped_sentinel_url_is_refused_in_words(url):
    with pytest.raises(ValueError):
        parse_sentinel_url(url)


@pytest.fixture
def replicated(tmp_path: Path):
    primary = RedisProcess(tmp_path / "primary")
    replica = RedisProcess(tmp_path / "replica", "--replicaof", "127.0.0.1", str(primary.port))
    sentinel = RedisProcess(tmp_path / "sentinel", sentinel_conf="\n".join([
        f"sentinel monitor {SERVICE} 127.0.0.1 {primary.port} 1",
        f"sentinel down-after-milliseconds {SERVICE} 1000",
        f"sentinel failover-timeout {SERVICE} 4000",
        f"sentinel parallel-syncs {SERVICE} 1"]))
    deadline = time.monotonic() + 20  # the sentinel learns the replica from the primary's INFO
    while not sentinel.client.execute_command("SENTINEL", "REPLICAS", SERVICE):
        assert time.monotonic() < deadline, "the sentinel never saw the replica"
        time.sleep(0.1)
    yield primary, replica, sentinel
    for process in (sentinel, replica, primary):
        process.stop()


async def test_a_node_follows_a_sentinel_failover_and_keeps_what_was_acknowledged(tmp_path, replicated):
    primary, replica, sentinel = replicated
    url = f"redis+sentinel://127.0.0.1:{sentinel.port}/{SERVICE}"
    app = create_app(make_config(tmp_path, redis_url=url, demo=True))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    try:
        async with aiohttp.ClientSession() as http:
            store = app[STORE]
            await store.create_call({"call_id": "c_failover", "created_at": 1.0, "state": "connected"})
            await store.append_call_event("c_failover", {"type": "chat", "text": "before the crash"})
            assert primary.client.wait(1, 5000) == 1, "the replica did not acknowledge the write"
            async with http.get(base + "/readyz") as resp:
                assert resp.status == 200

            primary.kill()

            async def readable_again() -> bool:
                async with http.get(base + "/readyz") as resp:
                    return resp.status == 200
            await eventually(readable_again, timeout=30, interval=0.3)
            assert replica.client.info("replication")["role"] == "master"

            async def written() -> bool:
                try:
                    await store.append_call_event("c_failover", {"type": "chat", "text": "after the failover"})
                except Fenced:  # refused whole: the lease lapsed while the sentinel failed over (a
                    return False  # busy machine), and this node decides again on its next tick
                return True
            await eventually(written, timeout=30, interval=0.3, message="a write on the new primary")
            record = await store.get_call("c_failover")
            assert record is not None
            assert [e["text"] for e in record["events"]] == ["before the crash", "after the failover"]
    finally:
        await server.close()
