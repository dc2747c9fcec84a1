"""Rate limits and caps per client, against the real server on loopback with real sockets.

127.0.0.0/8 is all loopback on Linux, so a client bound to 127.0.0.2 is another address to the
server. Loopback is exempt from the per-address limits by default; these tests exempt nobody.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType

from client import ServerError, SignalingClient, demo_token
from signaling.auth import Role
from tests.conftest import make_config
from tests.support.images import picture
from tests.support.peers import ClientPeer


@pytest.fixture
def server_config(tmp_path: Path, request: pytest.FixtureRequest):
    return make_config(tmp_path, rate_limit_exempt=[], **getattr(request, "param", {}))


def configured(**overrides: Any) -> Any:
    return pytest.mark.parametrize("server_config", [overrides], indirect=True)


@pytest.fixture
async def neighbour() -> AsyncIterator[aiohttp.ClientSession]:
    """HTTP and WebSockets from 127.0.0.2: another client address."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))) as http:
        yield http


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def post(http: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None,
               **kwargs: Any) -> tuple[int, dict, Any]:
    async with http.post(url, headers=headers, **kwargs) as resp:
        return resp.status, await resp.json(), resp.headers.get("Retry-After")


async def join(http: aiohttp.ClientSession, url: str, token: str) -> tuple[SignalingClient, dict]:
    """A new socket sends ``join``: the socket and the server's answer (``joined`` or ``error``)."""
    ws = await SignalingClient(http, url, fail_on=("error",)).connect()
    await ws.send("join", token=token)
    try:
        return ws, await ws.expect("joined")
    except ServerError as exc:
        return ws, exc.message


# ---------------------------------------------------------------- REST budgets

@configured(rate_limits={"mint.ip": "3/min"})
async def test_minting_is_limited_per_address_with_retry_after(server, neighbour):
    url = server.url + "/api/demo/tokens"
    for _ in range(3):
        assert (await post(server.http, url, json={"role": "shopper"}))[0] == 200
    status, body, retry = await post(server.http, url, json={"role": "shopper"})
    assert (status, body["error"]["code"]) == (429, "rate_limited"), body
    assert "try again in" in body["error"]["message"]
    assert retry is not None and 15 <= int(retry) <= 20  # one token back every 20 s
    # sign-in draws on the same budget of the address
    status, body, _ = await post(server.http, server.url + "/api/login", json={"username": "x", "password": "y"})
    assert (status, body["error"]["code"]) == (429, "rate_limited")
    # another address is not punished for it
    assert (await post(neighbour, url, json={"role": "shopper"}))[0] == 200


@configured(rate_limits={"mint.token": "2/min"})
async def test_minting_is_limited_per_api_key(server, neighbour):
    admin = server.tokens.issue(Role.ADMIN, "root")
    _, created, _ = await post(server.http, server.url + "/api/api-keys", bearer(admin), json={"shop": "gems"})
    url = server.url + "/api/shopper-tokens"
    for http in (server.http, neighbour):
        assert (await post(http, url, bearer(created["key"]), json={}))[0] == 201
    status, body, retry = await post(neighbour, url, bearer(created["key"]), json={})
    assert (status, body["error"]["code"], retry) == (429, "rate_limited", "30"), body
    # a key that is not valid is refused as before, not counted against anybody
    assert (await post(server.http, url, bearer("sk_nope"), json={}))[0] == 401


@configured(rate_limits={"uploads.token": "2/min"})
async def test_uploads_are_limited_per_token(server):
    agent = await server.client()  # someone on duty: the call waits (photos go to live calls)
    await agent.send("join", token=(await server.token("agent"))["token"])
    await agent.expect("joined")
    token = await server.token("shopper")
    ws = await server.client()
    await ws.send("join", token=token["token"])
    await ws.expect("joined", call_id=token["call_id"])
    url = f"{server.url}/api/calls/{token['call_id']}/photos"
    headers = {**bearer(token["token"]), "Content-Type": "image/jpeg"}
    jpeg = picture("JPEG", (64, 48))
    for _ in range(2):
        assert (await post(server.http, url, headers, data=jpeg))[0] == 201
    status, body, retry = await post(server.http, url, headers, data=jpeg)
    assert (status, body["error"]["code"], retry) == (429, "rate_limited", "30"), body
    await asyncio.gather(ws.close(), agent.close())


@configured(trusted_proxies=["127.0.0.1"], rate_limits={"mint.ip": "2/min"})
async def test_forwarded_for_counts_only_from_a_trusted_proxy(server, neighbour):
    url = server.url + "/api/demo/tokens"

    async def mint(http: aiohttp.ClientSession, forwarded: str | None) -> int:
        headers = {"X-Forwarded-For": forwarded} if forwarded else None
        return (await post(http, url, headers, json={"role": "shopper"}))[0]

    # through the trusted proxy (127.0.0.1): the client is the rightmost untrusted hop
    assert [await mint(server.http, "198.51.100.1") for _ in range(2)] == [200, 200]
    assert await mint(server.http, "198.51.100.1") == 429
    assert await mint(server.http, "203.0.113.9, 198.51.100.1") == 429  # a forged left part changes nothing
    assert await mint(server.http, "198.51.100.1, 127.0.0.1") == 429  # proxies in the chain are skipped
    assert await mint(server.http, "198.51.100.2") == 200  # another shopper behind the proxy
    # 127.0.0.2 is not a trusted proxy: its X-Forwarded-For is not believed
    assert [await mint(neighbour, f"192.0.2.{n}") for n in range(3)] == [200, 200, 429]


async def test_loopback_exemption_does_not_pass_through_an_untrusted_local_proxy(tmp_path):
    from aiohttp.test_utils import TestServer

    from silkline.app import create_app, runner_options

    config = make_config(tmp_path, rate_limits={"mint.ip": "1/min"})  # loopback exempt, the default
    app = create_app(config)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server(**runner_options(config))
    url = str(test_server.make_url("/api/demo/tokens"))
    try:
        async with aiohttp.ClientSession() as http:
            # the load tool, the browser tests: loopback, no proxy header, never limited
            assert [(await post(http, url, json={"role": "shopper"}))[0] for _ in range(5)] == [200] * 5
            # a local proxy relaying somebody else (not trusted): counted as its own address
            relayed = {"X-Forwarded-For": "198.51.100.7"}
            statuses = [(await post(http, url, relayed, json={"role": "shopper"}))[0] for _ in range(2)]
            assert statuses == [200, 429]
    finally:
        await test_server.close()


# ---------------------------------------------------------------- WebSocket budgets

@configured(rate_limits={"joins.ip": "3/min"})
async def test_joins_are_limited_per_address_with_retry_after(server, neighbour):
    ws = await server.client()
    for n in range(3):
        await ws.send("join", token="garbage", id=f"j{n}")
        assert (await ws.expect("error", ref=f"j{n}"))["code"] == "unauthorized"
        await asyncio.wait_for(ws.closed.wait(), 5)
        ws = await server.client()
    await ws.send("join", token=(await server.token("agent"))["token"], id="late")
    refused = await ws.expect("error", ref="late")
    assert refused["code"] == "rate_limited" and 15 <= refused["retry_after"] <= 20, refused
    assert not ws.closed.is_set()  # it may try again before the join deadline
    other = await SignalingClient(neighbour, server.url).connect()
    await other.send("join", token=(await server.token("agent"))["token"])
    await other.expect("joined")
    await asyncio.gather(ws.close(), other.close())


@configured(rate_limits={"messages.token": "5/s:10"})
async def test_messages_are_limited_per_token_across_its_sockets(server):
    token = (await server.token("agent", agent_id="ann"))["token"]
    ws = await server.client()
    await ws.send("join", token=token)
    await ws.expect("joined")
    for _ in range(12):
        await ws.send("set-state", state="away")
    refused = await ws.expect("error", code="rate_limited")
    assert 0 < refused["retry_after"] <= 0.2, refused  # 5 a second: one every 0.2 s
    await ws.close()


@configured(max_sockets_per_ip=3)
async def test_open_sockets_are_capped_per_address(server, neighbour):
    sockets = [await server.client() for _ in range(3)]
    extra = await server.client()
    refused = await extra.expect("error", code="too_many_connections")
    assert "3 connections" in refused["message"]
    await asyncio.wait_for(extra.closed.wait(), 5)
    assert extra.close_code == 4429
    # another address still gets in; one closed socket frees a place
    other = await SignalingClient(neighbour, server.url).connect()
    await other.send("join", token=(await server.token("agent"))["token"])
    await other.expect("joined")
    await sockets.pop().close()

    async def place_freed() -> SignalingClient:
        for _ in range(50):
            ws = await server.client()
            await ws.send("join", token=(await server.token("supervisor"))["token"])
            try:
                await ws.expect("joined", timeout=2)
                return ws
            except Exception:
                assert ws.close_code == 4429
                await asyncio.sleep(0.05)
        raise AssertionError("the place of a closed socket never came free")

    again = await place_freed()
    for ws in (*sockets, other, again):
        await ws.close()


# ---------------------------------------------------------------- the join deadline

@configured(join_deadline=1.5, ws_heartbeat=0.3)
async def test_a_socket_that_answers_pings_but_never_joins_is_closed_at_the_deadline(server):
    ws = await server.http.ws_connect(server.url.replace("http", "ws") + "/ws", autoping=False)
    opened, pings, said = time.monotonic(), 0, []
    try:
        async with asyncio.timeout(10):
            while True:
                msg = await ws.receive()
                if msg.type is WSMsgType.PING:
                    pings += 1
                    await ws.pong(msg.data)  # alive, as a browser tab would be
                elif msg.type is WSMsgType.TEXT:
                    said.append(msg.json())
                elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                    break
    finally:
        await ws.close()
    held = time.monotonic() - opened
    assert pings >= 2, pings  # the heartbeat was answered the whole time
    assert ws.close_code == 4401
    assert [m["code"] for m in said] == ["unauthorized"]
    assert 1.3 <= held < 5, held


# ---------------------------------------------------------------- slow headers (slowloris)

@configured(http_idle_timeout=1.0)
async def test_slow_headers_are_cut_off(server):
    host, port = server.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    opened = time.monotonic()
    writer.write(b"GET /api/health HTTP/1.1\r\nHost: silkline\r\nX-Slow: ")
    await writer.drain()
    closed_after: float | None = None

    async def trickle() -> None:
        for _ in range(100):  # a byte every 0.1 s, for 10 s at most: the headers never end
            writer.write(b"a")
            await writer.drain()
            await asyncio.sleep(0.1)

    sender = asyncio.create_task(trickle())
    try:
        async with asyncio.timeout(8):
            answer = await reader.read()  # b"" once the server closes
        closed_after = time.monotonic() - opened
    except (ConnectionResetError, BrokenPipeError):
        closed_after = time.monotonic() - opened
        answer = b""
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        writer.close()
    assert answer == b""  # closed, never answered
    assert closed_after is not None and 0.8 <= closed_after < 3.5, closed_after
    # the server goes on: a client that sends its request at once is answered
    async with server.http.get(server.url + "/api/health") as resp:
        assert resp.status == 200


# ---------------------------------------------------------------- one client cannot fill the queue

@configured(max_waiting_per_ip=2)
async def test_a_flood_of_call_requests_cannot_fill_the_queue_ahead_of_another_shopper(server, neighbour):
    agents = []
    for n in range(3):
        agent = await server.client()
        await agent.send("join", token=(await server.token("agent", agent_id=f"a{n}", name=f"Agent {n}"))["token"])
        await agent.expect("joined")
        agents.append(agent)
    flood, refusals = [], []
    tokens = [(await server.token("shopper"))["token"] for _ in range(8)]
    # one address asks for eight calls at once (racing each other into the queue)
    for ws, answer in await asyncio.gather(*(join(server.http, server.url, t) for t in tokens)):
        (flood if answer["type"] == "joined" else refusals).append((ws, answer))
    assert len(flood) == 2
    assert {a["code"] for _, a in refusals} == {"too_many_waiting"}
    assert "2 calls from your address are already waiting" in refusals[0][1]["message"]

    # a shopper on another address is queued and served, by the agent the flood left free
    shopper_peer, agent_peer = ClientPeer("shopper"), ClientPeer("agent")
    token = await demo_token(neighbour, server.url, "shopper")
    shopper, joined = await join(neighbour, server.url, token["token"])
    assert (joined["type"], joined["state"]) == ("joined", "waiting"), joined
    offered = await asyncio.gather(*(a.expect("call-offered", timeout=10) for a in agents))
    mine = next(a for a, o in zip(agents, offered, strict=True) if o["call_id"] == token["call_id"])
    await mine.send("accept", call_id=token["call_id"])
    await shopper.expect("call-state", state="connecting")
    await asyncio.gather(shopper.negotiate(shopper_peer, token["call_id"]),
                         mine.negotiate(agent_peer, token["call_id"]))
    await asyncio.gather(shopper_peer.wait_decoded(5), agent_peer.wait_decoded(5))

    # once the flood's calls are gone, the address may call again
    for ws, answer in flood:
        await ws.send("hangup", call_id=answer["call_id"])
    for _ in range(50):
        ws, answer = await join(server.http, server.url, (await server.token("shopper"))["token"])
        refusals.append((ws, answer))
        if answer["type"] == "joined":
            break
        assert answer["code"] == "too_many_waiting"
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the address stayed refused after its calls were gone")
    await shopper_peer.close()
    await agent_peer.close()
    for ws in (*agents, shopper, *(w for w, _ in flood + refusals)):
        await ws.close()


@configured(max_waiting_per_customer=1)
async def test_one_customer_waits_with_one_call_at_a_time(server, neighbour):
    agent = await server.client()  # someone on duty: calls wait for an expert
    await agent.send("join", token=(await server.token("agent"))["token"])
    await agent.expect("joined")
    first = await server.token("shopper", customer_id="cust-9")
    ws1, joined = await join(server.http, server.url, first["token"])
    assert joined["type"] == "joined"
    second = await demo_token(neighbour, server.url, "shopper", customer_id="cust-9")
    ws2, refused = await join(neighbour, server.url, second["token"])  # another address, the same customer
    assert refused["code"] == "too_many_waiting" and "already have a call waiting" in refused["message"]
    await asyncio.gather(ws1.close(), ws2.close(), agent.close())
