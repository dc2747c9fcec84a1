"""/healthz, /readyz and /metrics on a real server: the series move during a real call
(aiortc peers through the SFU), rejected inputs are counted by code on both faces, the
event-loop lag shows a blocked loop, readiness follows a real redis-server going away."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from prometheus_client.parser import text_string_to_metric_families

from silkline.app import HEALTH, create_app
from tests.conftest import close_sides, make_config, start_call
from tests.support.eventually import eventually
from tests.support.redis_processes import RedisProcess


@pytest.fixture
def server_config(tmp_path, request):
    return make_config(tmp_path, **getattr(request, "param", {}))


async def scrape(server, headers: dict | None = None) -> dict[tuple[str, tuple], float]:
    async with server.http.get(server.url + "/metrics", headers=headers or {}) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await resp.text()
    samples: dict[tuple[str, tuple], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: dict, name: str, **labels: str) -> float:
    """Sum over every series of ``name`` whose labels include ``labels``."""
    return sum(v for (n, ls), v in samples.items()
               if n == name and all((k, w) in ls for k, w in labels.items()))


async def test_health_and_readiness(server):
    async with server.http.get(server.url + "/healthz") as resp:
        assert resp.status == 200
        assert await resp.json() == {"status": "alive", "node_id": server.config.node_id}
    async with server.http.get(server.url + "/readyz") as resp:
        assert resp.status == 200
        assert (await resp.json())["status"] == "ready"
    server.app[HEALTH].start_draining()
    async with server.http.get(server.url + "/readyz") as resp:
        assert resp.status == 503
        assert await resp.json() == {"status": "not_ready", "reason": "draining"}
    async with server.http.get(server.url + "/healthz") as resp:
        assert resp.status == 200  # draining is still alive


async def test_series_move_during_a_real_call(server):
    before = await scrape(server)
    assert value(before, "silkline_calls_active", state="connected") == 0
    assert value(before, "silkline_join_seconds_count") == 0

    call_id, shopper, agent = await start_call(server)
    try:
        await shopper.peer.wait_decoded(10)
        await agent.peer.wait_decoded(10)
        await shopper.ws.expect("call-state", state="connected", timeout=15)

        during = await eventually(lambda: _when(scrape(server), lambda s: value(
            s, "silkline_join_seconds_count") == 1), message="a join time")
        assert value(during, "silkline_calls_active", state="connected") == 1
        assert value(during, "silkline_rooms_active") == 1
        assert value(during, "silkline_participants_active") == 2
        assert value(during, "silkline_queue_wait_seconds_count") == 1
        assert 0 < value(during, "silkline_join_seconds_sum") < 30
        assert value(during, "silkline_agents", state="busy") == 1
        forwarded = value(during, "silkline_sfu_frames_total", direction="forwarded", kind="video")
        assert forwarded > 0
        assert value(during, "silkline_sfu_received_bytes_total", kind="video") > 0
        assert value(during, "silkline_sfu_forwarded_packets_total", kind="video") > forwarded
        assert value(during, "silkline_sfu_forwarded_bytes_total", kind="audio") > 0
        assert value(during, "silkline_sfu_frames_total", direction="received", kind="audio") > 0

        later = await eventually(lambda: _when(scrape(server), lambda s: value(
            s, "silkline_sfu_frames_total", direction="forwarded", kind="video") > forwarded + 5),
            message="forwarded frames to grow")
        assert value(later, "silkline_event_loop_lag_seconds_count") > \
            value(before, "silkline_event_loop_lag_seconds_count")

        await shopper.ws.send("hangup", call_id=call_id)
        await agent.ws.expect("call-ended", call_id=call_id)
        after = await eventually(lambda: _when(scrape(server), lambda s: value(
            s, "silkline_call_duration_seconds_count") == 1), message="a call duration")
        assert value(after, "silkline_calls_active", state="connected") == 0
        assert 0 < value(after, "silkline_call_duration_seconds_sum") < 120
    finally:
        await close_sides(shopper, agent)


async def test_a_recorded_call_counts_its_bytes(server):
    call_id, shopper, agent = await start_call(server, context={"category": "rings"})  # records always
    try:
        await shopper.peer.wait_decoded(10)
        await agent.peer.wait_decoded(10)
        during = await eventually(lambda: _when(scrape(server), lambda s: value(
            s, "silkline_recordings_active") >= 2 and value(s, "silkline_recording_bytes_total") > 0),
            timeout=20, message="recordings being written")
        await shopper.ws.send("hangup", call_id=call_id)
        await agent.ws.expect("call-ended", call_id=call_id)
        # finalised: the rest of each file is counted from its final record
        await eventually(lambda: _when(scrape(server), lambda s: value(
            s, "silkline_recordings_active") == 0 and value(s, "silkline_recording_bytes_total")
            > value(during, "silkline_recording_bytes_total")), timeout=20, message="the final bytes")
        after = await scrape(server)
        assert value(after, "silkline_recording_failures_total") == 0
    finally:
        await close_sides(shopper, agent)


async def _when(scraping, condition):
    samples = await scraping
    return samples if condition(samples) else None


async def test_rejected_inputs_are_counted_by_code_on_both_faces(server):
    ws = await server.client()
    await ws.send_raw("this is not json")
    await ws.expect("error", code="bad_json")
    await ws.send("offer", call_id="c_1", sdp="x")
    await ws.expect("error", code="not_joined")
    async with server.http.get(server.url + "/api/calls") as resp:
        assert resp.status == 401
    async with server.http.get(server.url + "/api/no-such-route") as resp:
        assert resp.status == 404
    samples = await scrape(server)
    assert value(samples, "silkline_rejected_inputs_total", face="ws", code="bad_json") == 1
    assert value(samples, "silkline_rejected_inputs_total", face="ws", code="not_joined") == 1
    assert value(samples, "silkline_rejected_inputs_total", face="http", code="unauthorized") == 1
    assert value(samples, "silkline_rejected_inputs_total", face="http", code="not_found") == 1
    await ws.close()


async def test_event_loop_lag_shows_a_blocked_loop(server):
    def slow_ticks(s: dict) -> float:
        return value(s, "silkline_event_loop_lag_seconds_count") - value(
            s, "silkline_event_loop_lag_seconds_bucket", le="0.1")

    before = slow_ticks(await scrape(server))
    time.sleep(0.6)  # noqa: ASYNC251 - blocks the server's loop (this test's loop): deliberately
    await eventually(lambda: _when(scrape(server), lambda s: slow_ticks(s) > before),
                     message="a lag sample over 100 ms")


@pytest.mark.parametrize("server_config", [{"metrics_token": "scrape-token-0123"}], indirect=True)
async def test_metrics_token(server):
    async with server.http.get(server.url + "/metrics") as resp:
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "unauthorized"
    async with server.http.get(server.url + "/metrics", headers={"Authorization": "Bearer wrong"}) as resp:
        assert resp.status == 401
    samples = await scrape(server, {"Authorization": "Bearer scrape-token-0123"})
    assert ("silkline_rooms_active", ()) in samples
    async with server.http.get(server.url + "/healthz") as resp:
        assert resp.status == 200  # probes need no token


@pytest.fixture
def own_redis(tmp_path: Path):
    """A redis-server of this test's own (the session one must stay up for the others)."""
    process = RedisProcess(tmp_path / "redis")
    try:
        yield process.proc, process.url
    finally:
        process.kill()


async def test_readiness_follows_the_redis_store(tmp_path: Path, own_redis):
    proc, redis_url = own_redis
    app = create_app(make_config(tmp_path, redis_url=redis_url))
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    url = str(test_server.make_url("")).rstrip("/")
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "/readyz") as resp:
                assert resp.status == 200
            proc.terminate()  # the store goes away under a running node
            await asyncio.to_thread(proc.wait, 10)
            async with http.get(url + "/readyz") as resp:
                assert resp.status == 503
                body = await resp.json()
                assert body["status"] == "not_ready"
                assert body["reason"].startswith("store_unreachable")
                assert resp.headers["Retry-After"]
            async with http.get(url + "/healthz") as resp:
                assert resp.status == 200
    finally:
        await test_server.close()
