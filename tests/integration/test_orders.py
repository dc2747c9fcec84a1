"""Shop orders through the real HTTP API and the real WebSocket, on both StateStore backends
(the embedded journal and a real redis-server): a shop reports orders with its API key, once
per order id whatever the retries; an order after a call converts it within the window; the
figures count conversion rate and revenue per agent and queue; orders outlive a restart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from media.clock import VirtualClock
from signaling.auth import Role
from silkline.app import create_app
from tests.conftest import Running, make_config
from tests.support.eventually import eventually

WINDOW_S = 60.0  # --conversion-window, small so the virtual clock crosses it in a few ticks


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Shop:
    """The app on a loopback port, with a virtual clock, restartable on the same state."""

    def __init__(self, tmp_path: Path, redis_url: str | None) -> None:
        self.config = make_config(tmp_path, redis_url=redis_url, demo=True,
                                  conversion_window_days=WINDOW_S / 86400)
        self.clock = VirtualClock()
        self.server: Running | None = None
        self._test_server: TestServer | None = None

    async def start(self, http: aiohttp.ClientSession) -> Running:
        app = create_app(self.config, clock=self.clock)
        self._test_server = TestServer(app, host="127.0.0.1")
        await self._test_server.start_server()
        self.server = Running(str(self._test_server.make_url("")).rstrip("/"), app, http, self.config)
        return self.server

    async def stop(self) -> None:
        if self._test_server is not None:
            await self._test_server.close()
            self._test_server = None


@pytest.fixture(params=["memory", "redis"])
async def shop(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Shop, Running]]:
    redis_url = None
    if request.param == "redis":
        import redis.asyncio as aioredis

        redis_url = request.getfixturevalue("redis_url")
        flush = aioredis.from_url(redis_url)
        await flush.flushdb()
        await flush.aclose()
    kept = Shop(tmp_path, redis_url)
    async with aiohttp.ClientSession() as http:
        yield kept, await kept.start(http)
        await kept.stop()


async def shop_key(server: Running, shop: str = "Gem Shop") -> str:
    admin = server.tokens.issue(Role.ADMIN, "root")
    async with server.http.post(server.url + "/api/api-keys", headers=bearer(admin), json={"shop": shop}) as resp:
        assert resp.status == 201
        return (await resp.json())["key"]


async def answered_call(server: Running, key: str, agent_id: str, customer: str) -> str:
    """The shop mints a token for its customer; ``agent_id`` answers; the shopper hangs up."""
    agent = await server.client()
    await agent.send("join", token=server.tokens.issue(Role.AGENT, agent_id, name=agent_id.title(),
                                                       skills={"general": 3, "jewellery": 3}))
    await agent.expect("joined")
    async with server.http.post(server.url + "/api/shopper-tokens", headers=bearer(key),
                                json={"customer_id": customer, "name": "Ada"}) as resp:
        minted = await resp.json()
    shopper = await server.client()
    await shopper.send("join", token=minted["token"], context={"title": "Sapphire ring"})
    call_id = minted["call_id"]
    await shopper.expect("joined", call_id=call_id)
    await agent.expect("call-offered", call_id=call_id)
    await agent.send("accept", call_id=call_id)
    await shopper.expect("call-state", state="connecting")  # the accept is written
    await shopper.send("hangup", call_id=call_id)

    async def ended() -> bool:
        record = await server.store.get_call(call_id)
        return bool(record and record.get("state") == "ended")

    await eventually(ended, message=f"call {call_id} by {agent_id} to end")
    await shopper.close()
    await agent.close()
    return call_id


async def report(server: Running, key: str | None, **body: Any) -> tuple[int, dict[str, Any]]:
    headers = bearer(key) if key else {}
    async with server.http.post(server.url + "/api/orders", headers=headers, json=body) as resp:
        return resp.status, await resp.json()


async def figures(server: Running) -> dict[str, Any]:
    supervisor = server.tokens.issue(Role.SUPERVISOR, "sue")
    async with server.http.get(server.url + "/api/figures", headers=bearer(supervisor)) as resp:
        assert resp.status == 200
        return await resp.json()


def converted_events(record: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in record["events"] if e["type"] == "converted"]


async def test_an_order_is_kept_once_whatever_the_retries_and_converts_the_call(shop):
    kept, server = shop
    key = await shop_key(server)
    call_id = await answered_call(server, key, "ann", "cust-7")
    order = {"order_id": "A-1001", "customer_id": "cust-7", "amount": "129.90", "currency": "EUR"}
    status, first = await report(server, key, **order)
    assert status == 201, first
    assert (first["call_id"], first["agent_id"], first["queue"], first["shop"]) == (call_id, "ann", "general", "Gem Shop")
    assert (first["amount"], first["currency"], first["at"]) == ("129.90", "EUR", kept.clock.now())
    # the shop's retry (a lost answer): the same answer, counted once
    await kept.clock.advance(2)
    for retry in (order, {**order, "at": first["at"]}, {**order, "amount": "129.9"}):
        status, again = await report(server, key, **retry)
        assert (status, again) == (200, first)
    status, conflict = await report(server, key, **{**order, "amount": "99.00"})
    assert status == 409 and conflict["error"]["code"] == "order_conflict"
    assert "A-1001" in conflict["error"]["message"]
    for other in ({"customer_id": "cust-8"}, {"currency": "GBP"}, {"at": first["at"] - 100}):
        assert (await report(server, key, **{**order, **other}))[0] == 409, other
    record = await server.store.get_call(call_id)
    assert record["converted"] is True
    assert [(e["order_id"], e["amount"], e["currency"]) for e in converted_events(record)] == \
        [("A-1001", "129.90", "EUR")]
    numbers = await figures(server)
    assert numbers["agents"]["ann"]["converted"] == 1
    assert numbers["agents"]["ann"]["conversion_rate"] == 1.0
    assert numbers["agents"]["ann"]["revenue_after_calls"] == {"EUR": "129.90"}
    assert numbers["queues"]["general"]["revenue_after_calls"] == {"EUR": "129.90"}
    # another shop's order with the same id is its own order, and not this shop's customer's conversion
    other = await shop_key(server, "Watch Shop")
    status, theirs = await report(server, other, **order)
    assert status == 201 and theirs["call_id"] is None and theirs["shop"] == "Watch Shop"


async def test_only_an_order_within_the_window_after_a_call_converts_it(shop):
    kept, server = shop
    key = await shop_key(server)
    early = await answered_call(server, key, "ann", "cust-1")
    await kept.clock.advance(WINDOW_S + 5)  # past ann's window
    status, late = await report(server, key, order_id="B-1", customer_id="cust-1", amount="10", currency="EUR")
    assert status == 201 and late["call_id"] is None
    second = await answered_call(server, key, "bob", "cust-1")
    third = await answered_call(server, key, "cid", "cust-2")
    await kept.clock.advance(WINDOW_S - 5)  # inside bob's window
    status, inside = await report(server, key, order_id="B-2", customer_id="cust-1", amount="250.5",
                                  currency="EUR")
    assert status == 201 and (inside["call_id"], inside["agent_id"]) == (second, "bob")
    # the same customer's earlier order, placed before bob's call, converts nothing of bob's
    status, before = await report(server, key, order_id="B-3", customer_id="cust-2", amount="5.00",
                                  currency="GBP", at=kept.clock.now() - 3 * WINDOW_S)
    assert status == 201 and before["call_id"] is None
    status, usd = await report(server, key, order_id="B-4", customer_id="cust-2", amount="7.25", currency="usd")
    assert status == 201 and usd["call_id"] == third and usd["currency"] == "USD"
    assert converted_events(await server.store.get_call(early)) == []
    numbers = await figures(server)
    assert {a: (f["answered"], f["converted"], f["conversion_rate"]) for a, f in numbers["agents"].items()} == \
        {"ann": (1, 0, 0.0), "bob": (1, 1, 1.0), "cid": (1, 1, 1.0)}
    general = numbers["queues"]["general"]
    assert (general["answered"], general["converted"], general["conversion_rate"]) == (3, 2, 0.667)
    assert general["revenue_after_calls"] == {"EUR": "250.5", "USD": "7.25"}
    assert numbers["total"]["converted"] == 2
    # routing hears of the conversions at once
    conversions = server.calls.dispatch.conversions
    assert (conversions.rate("ann"), conversions.rate("bob")) == (0.0, 1.0)


async def test_orders_are_checked_at_the_edge_and_only_a_shop_key_reports_them(shop):
    _, server = shop
    key = await shop_key(server)
    good = {"order_id": "C-1", "customer_id": "cust-1", "amount": "1.00", "currency": "EUR"}
    assert (await report(server, None, **good))[0] == 401
    assert (await report(server, server.tokens.issue(Role.ADMIN, "root"), **good))[0] == 401
    assert (await report(server, key + "x", **good))[0] == 401
    for wrong in ({"amount": 1.0}, {"amount": "-1"}, {"amount": "1.23456"}, {"currency": "EURO"},
                  {"order_id": ""}, {"customer_id": None}, {"at": "yesterday"}, {"at": "2026-12-01T10:00:00"},
                  {"at": 9e12}):
        status, body = await report(server, key, **{**good, **wrong})
        assert status == 400 and body["error"]["code"] == "invalid_message", wrong
    async with server.http.post(server.url + "/api/orders", headers=bearer(key), data="[1]") as resp:
        assert resp.status == 400 and (await resp.json())["error"]["code"] == "bad_json"
    status, placed = await report(server, key, **{**good, "at": "2027-01-15T08:59:00+01:00"})
    assert status == 201 and placed["at"] == 1_800_000_000 - 60  # the virtual clock's start, a minute before
    async with server.http.get(server.url + "/api/orders", headers=bearer(server.tokens.issue(Role.AGENT, "ann"))) as resp:
        assert resp.status == 403
    async with server.http.get(server.url + "/api/orders",
                               headers=bearer(server.tokens.issue(Role.SUPERVISOR, "sue"))) as resp:
        assert resp.status == 200
        assert [o["order_id"] for o in (await resp.json())["orders"]] == ["C-1"]


async def test_orders_outlive_a_restart(shop):
    kept, server = shop
    key = await shop_key(server)
    call_id = await answered_call(server, key, "ann", "cust-9")
    status, first = await report(server, key, order_id="D-1", customer_id="cust-9", amount="42.00", currency="EUR")
    assert status == 201 and first["call_id"] == call_id
    http = server.http
    await kept.stop()
    server = await kept.start(http)
    status, again = await report(server, key, order_id="D-1", customer_id="cust-9", amount="42", currency="EUR",
                                 at=first["at"])
    assert (status, again) == (200, first)  # 42 and 42.00 are the same amount
    assert len(converted_events(await server.store.get_call(call_id))) == 1
    assert server.calls.dispatch.conversions.rate("ann") == 1.0  # learned from the records at start
    assert (await figures(server))["agents"]["ann"]["revenue_after_calls"] == {"EUR": "42.00"}
    # an erasure request takes the customer's orders with their calls
    admin = server.tokens.issue(Role.ADMIN, "root")
    async with server.http.delete(server.url + "/api/customers/cust-9", headers=bearer(admin)) as resp:
        assert resp.status == 200 and (await resp.json())["orders"] == 1
    assert await server.store.list_orders() == []
