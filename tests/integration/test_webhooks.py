"""Webhooks against a real HTTP receiver (an aiohttp server on 127.0.0.1 in the test) during
real calls through the WebSocket API: signatures, every event type, retries with backoff, a
receiver that is down (calls go on, deliveries logged failed), the delivery log and replay."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from signaling.auth import Role
from signaling.centre.webhooks import SIGNATURE_HEADER, verify
from tests.conftest import _free_port, close_sides, make_config, start_call
from tests.support.eventually import eventually


@dataclass
class Receiver:
    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answers to give, in order; then 200

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [r for r in self.received if r["payload"]["type"] == event_type]


@pytest.fixture
async def receiver():
    got: Receiver | None = None

    async def hook(request: web.Request) -> web.Response:
        assert got is not None
        body = await request.read()
        got.received.append({"headers": dict(request.headers), "body": body, "payload": json.loads(body)})
        return web.Response(status=got.statuses.pop(0) if got.statuses else 200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    got = Receiver(str(server.make_url("/hook")))
    yield got
    await server.close()


@pytest.fixture
def server_config(tmp_path):
    return make_config(tmp_path, webhook_attempts=3, webhook_backoff=0.1, webhook_timeout=2.0)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register(server, url: str, **extra) -> dict:
    admin = server.tokens.issue(Role.ADMIN, "root")
    async with server.http.post(server.url + "/api/webhooks", headers=bearer(admin), json={"url": url, **extra}) as resp:
        assert resp.status == 201, await resp.text()
        return await resp.json()


async def deliveries(server, **query) -> list[dict]:
    admin = server.tokens.issue(Role.ADMIN, "root")
    async with server.http.get(server.url + "/api/webhooks/deliveries", headers=bearer(admin),
                               params=query) as resp:
        assert resp.status == 200
        return (await resp.json())["deliveries"]


def signed_by(secret: str, delivery: dict) -> bool:
    return verify(secret, delivery["headers"][SIGNATURE_HEADER], delivery["body"], time.time())


async def test_a_real_call_is_told_to_the_shop_signed_in_every_event_type(server, receiver):
    hook = await register(server, receiver.url)
    assert hook["secret"].startswith("whsec_") and hook["events"] == [
        "call.ended", "call.started", "callback.requested", "rating.submitted", "recording.ready"]
    call_id, shopper, agent = await start_call(server, context={"category": "rings"}, customer_id="cust-9")
    await asyncio.gather(shopper.peer.wait_decoded(15), agent.peer.wait_decoded(15))
    started = (await eventually(lambda: receiver.of("call.started"), timeout=10))[0]
    assert started["payload"]["data"]["call_id"] == call_id
    assert started["payload"]["data"]["customer_id"] == "cust-9"
    await agent.ws.send("hangup", call_id=call_id)
    await shopper.ws.expect("call-ended")
    ended = (await eventually(lambda: receiver.of("call.ended"), timeout=10))[0]
    assert ended["payload"]["data"]["reason"] == "hang_up"
    token = shopper.token["token"]
    async with server.http.post(f"{server.url}/api/calls/{call_id}/rating", headers=bearer(token),
                                json={"score": 5, "comment": "lovely"}) as resp:
        assert resp.status == 201
    async with server.http.post(f"{server.url}/api/calls/{call_id}/callback", headers=bearer(token),
                                json={"name": "Ada", "contact": "ada@example.org", "question": "Sizes?"}) as resp:
        assert resp.status == 201
    rated = (await eventually(lambda: receiver.of("rating.submitted"), timeout=10))[0]
    assert rated["payload"]["data"]["rating"]["score"] == 5
    callback = (await eventually(lambda: receiver.of("callback.requested"), timeout=10))[0]
    assert callback["payload"]["data"]["callback"]["contact"] == "ada@example.org"
    ready = (await eventually(lambda: receiver.of("recording.ready"), timeout=120, interval=0.5))[0]
    assert ready["payload"]["data"]["call_id"] == call_id
    assert len(receiver.of("call.started")) == 1
    for got in receiver.received:
        assert signed_by(hook["secret"], got), got["headers"]
        assert not signed_by("whsec_someone-else", got)
        assert got["headers"]["Silkline-Event"] == got["payload"]["type"]
        assert got["headers"]["Content-Type"] == "application/json"
    log = await deliveries(server)
    assert {d["state"] for d in log} == {"delivered"} and len(log) == len(receiver.received)
    await close_sides(shopper, agent)


async def callback_left(server) -> tuple[Any, str]:
    """A shopper calls when nobody is there and leaves a callback request (signaling only)."""
    token = await server.token("shopper")
    ws = await server.client()
    await ws.send("join", token=token["token"], context={"title": "Ring"})
    await ws.expect("joined", call_id=token["call_id"])
    await ws.expect("call-state", state="unavailable")
    await ws.send("callback", call_id=token["call_id"], name="Ada", contact="ada@example.org")
    await ws.expect("callback-accepted", timeout=5)
    return ws, token["call_id"]


async def test_a_failing_receiver_is_retried_with_backoff_and_a_delivery_can_be_replayed(server, receiver):
    await register(server, receiver.url, events=["callback.requested"])
    receiver.statuses = [500]
    ws, _ = await callback_left(server)
    await eventually(lambda: len(receiver.received) == 2, timeout=10)
    first, second = receiver.received
    assert first["payload"]["id"] == second["payload"]["id"]  # the same event, tried again
    assert first["headers"]["Silkline-Delivery"] == second["headers"]["Silkline-Delivery"]
    [delivery] = await deliveries(server)
    assert delivery["state"] == "delivered" and [a["status"] for a in delivery["attempts"]] == [500, 200]
    assert delivery["attempts"][1]["at"] - delivery["attempts"][0]["at"] >= 0.09  # backoff
    admin = server.tokens.issue(Role.ADMIN, "root")
    async with server.http.post(f"{server.url}/api/webhooks/deliveries/{delivery['delivery_id']}/replay",
                                headers=bearer(admin)) as resp:
        assert resp.status == 202
        again = await resp.json()
    assert again["replay_of"] == delivery["delivery_id"]
    await eventually(lambda: len(receiver.received) == 3, timeout=10)
    assert receiver.received[2]["payload"]["id"] == first["payload"]["id"]
    async with server.http.post(f"{server.url}/api/webhooks/deliveries/dl_nope/replay", headers=bearer(admin)) as resp:
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "delivery_not_found"
    await ws.close()


async def test_a_receiver_that_is_down_never_holds_up_a_call(server):
    await register(server, f"http://127.0.0.1:{_free_port()}/hook")  # nothing listens there
    call_id, shopper, agent = await start_call(server)
    await asyncio.gather(shopper.peer.wait_decoded(15), agent.peer.wait_decoded(15))
    began = time.monotonic()
    await agent.ws.send("hangup", call_id=call_id)
    await shopper.ws.expect("call-ended", timeout=5)
    assert time.monotonic() - began < 3
    async def both_failed() -> list[dict] | None:  # call.started may have failed before call.ended is queued
        log = await _all_failed(server)
        return log if log and {d["event_type"] for d in log} >= {"call.started", "call.ended"} else None
    log = await eventually(both_failed, timeout=20)
    for delivery in log:
        assert len(delivery["attempts"]) == 3 and all(a["status"] is None and a["error"] for a in delivery["attempts"])
    await close_sides(shopper, agent)
    # the next call is served as quickly while the log is full of failures
    ws, _ = await callback_left(server)
    await ws.close()


async def _all_failed(server) -> list[dict] | None:
    log = await deliveries(server)
    return log if log and all(d["state"] == "failed" for d in log) else None


async def test_only_an_admin_manages_webhooks_and_urls_are_checked(server, receiver):
    agent = server.tokens.issue(Role.AGENT, "ann")
    admin = server.tokens.issue(Role.ADMIN, "root")
    async with server.http.get(server.url + "/api/webhooks", headers=bearer(agent)) as resp:
        assert resp.status == 403
    for bad in ({"url": "ftp://x"}, {"url": "http://u:p@x"}, {"url": receiver.url, "events": ["call.exploded"]}):
        async with server.http.post(server.url + "/api/webhooks", headers=bearer(admin), json=bad) as resp:
            assert resp.status == 400, bad
    hook = await register(server, receiver.url)
    async with server.http.get(server.url + "/api/webhooks", headers=bearer(admin)) as resp:
        listed = (await resp.json())["webhooks"]
    assert [w["webhook_id"] for w in listed] == [hook["webhook_id"]] and "secret" not in listed[0]
    async with server.http.delete(f"{server.url}/api/webhooks/{hook['webhook_id']}", headers=bearer(admin)) as resp:
        assert resp.status == 200
    async with server.http.delete(f"{server.url}/api/webhooks/{hook['webhook_id']}", headers=bearer(admin)) as resp:
        assert resp.status == 404
    ws, _ = await callback_left(server)  # no webhook any more: nothing is sent
    await asyncio.sleep(0.3)
    assert receiver.received == [] and await deliveries(server) == []
    await ws.close()


async def test_webhooks_live_in_redis_in_redis_mode(redis_server, receiver):
    await register(redis_server, receiver.url, events=["callback.requested"])
    ws, call_id = await callback_left(redis_server)
    got = (await eventually(lambda: receiver.received, timeout=10))[0]
    assert got["payload"]["data"]["call_id"] == call_id
    await ws.close()
