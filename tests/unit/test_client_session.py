"""The public client's message handling (client/session.py, client/negotiation.py) against a
tiny scripted WebSocket server: what ``expect`` takes and leaves, callbacks, ``fail_on``,
timeouts, closing, the bounded inbox, heartbeat pongs, and the offer/answer exchange."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from client import (
    ServerError,
    SignalingClient,
    SignalingClosed,
    SignalingError,
    SignalingTimeout,
    negotiate,
)


async def scripted(request: web.Request) -> web.WebSocketResponse:
    """Does what each client message says: ``say`` sends ``messages`` back in order, ``offer``
    is answered, ``join`` is accepted unless the token is ``forged``, ``ping`` pings the client and reports its pong, ``close`` closes with ``code``;
    everything else is echoed as ``got``."""
    ws = web.WebSocketResponse(autoping=False)
    await ws.prepare(request)
    async for frame in ws:
        if frame.type is aiohttp.WSMsgType.PONG:
            await ws.send_json({"v": 1, "type": "pong-seen", "data": frame.data.decode()})
            continue
        if frame.type is not aiohttp.WSMsgType.TEXT:
            continue
        msg = json.loads(frame.data)
        kind = msg["type"]
        if kind == "say":
            for out in msg["messages"]:
                await ws.send_json(out)
        elif kind == "offer":
            await ws.send_json({"v": 1, "type": "answer", "call_id": msg["call_id"], "sdp": "answer to " + msg["sdp"],
                                "ref": msg.get("id")})
        elif kind == "join":
            if msg["token"] == "forged":
                await ws.send_json({"v": 1, "type": "error", "code": "unauthorized", "message": "forged token"})
            else:
                await ws.send_json({"v": 1, "type": "joined", "role": "shopper", "context": msg.get("context")})
        elif kind == "ping":
            await ws.ping(b"beat")
        elif kind == "close":
            await ws.close(code=msg["code"])
        else:
            await ws.send_json({"v": 1, "type": "got", "message": msg})
    return ws


@pytest.fixture
async def url() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/ws", scripted)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def m(kind: str, **fields: object) -> dict[str, object]:
    return {"v": 1, "type": kind, **fields}


async def test_sent_messages_carry_the_version_and_their_fields(http, url):
    async with SignalingClient(http, url) as ws:
        await ws.send("chat", call_id="c1", text="Is it real sapphire? ✓")
        got = await ws.expect("got")
        assert got["message"] == {"v": 1, "type": "chat", "call_id": "c1", "text": "Is it real sapphire? ✓"}


async def test_expect_takes_the_first_match_and_leaves_the_rest_in_order(http, url):
    async with SignalingClient(http, url) as ws:
        await ws.send("say", messages=[m("call-state", state="ringing"), m("queue-position", position=2),
                                       m("call-state", state="connecting"), m("queue-position", position=1)])
        assert (await ws.expect("call-state", state="connecting"))["state"] == "connecting"
        assert ws.seen("call-state", state="ringing") and not ws.seen("call-state", state="connecting")
        assert [msg["type"] for msg in ws.inbox] == ["call-state", "queue-position", "queue-position"]
        assert (await ws.expect("queue-position"))["position"] == 2
        assert (await ws.expect("queue-position"))["position"] == 1


async def test_callbacks_see_every_message_as_it_arrives(http, url):
    everything: list[str] = []
    offered: list[str] = []
    async with SignalingClient(http, url, on_message=lambda c, msg: everything.append(msg["type"])) as ws:
        ws.on("call-offered", lambda client, msg: offered.append(msg["call_id"]))
        await ws.send("say", messages=[m("call-offered", call_id="c1"), m("error", code="forbidden", message="no"),
                                       m("call-offered", call_id="c2"), m("done")])
        await ws.expect("done")
        assert everything == ["call-offered", "error", "call-offered", "done"]
        assert offered == ["c1", "c2"]
        assert [e["code"] for e in ws.errors] == ["forbidden"] and ws.error_count == 1
        assert ws.seen("call-offered", call_id="c1")  # callbacks do not consume


async def test_a_failing_callback_does_not_stop_the_socket(http, url):
    def broken(client: SignalingClient, msg: dict[str, object]) -> None:
        raise ValueError("a bug in the script")

    async with SignalingClient(http, url, on_message=broken) as ws:
        await ws.send("say", messages=[m("first"), m("second")])
        assert (await ws.expect("second"))["type"] == "second" and ws.seen("first")
        assert not ws.closed.is_set()


async def test_fail_on_stops_a_wait_at_the_first_server_error(http, url):
    async with SignalingClient(http, url, fail_on=("error", "call-ended")) as ws:
        await ws.send("say", messages=[m("error", code="invalid_state", message="not yours")])
        with pytest.raises(ServerError) as failed:
            await ws.expect("call-state", state="connecting", timeout=5)
        assert failed.value.code == "invalid_state"
        assert (await ws.expect("error"))["code"] == "invalid_state"  # what was awaited is still there


async def test_without_fail_on_an_error_does_not_stop_the_wait(http, url):
    async with SignalingClient(http, url) as ws:
        await ws.send("say", messages=[m("error", code="invalid_state", message="x"), m("call-state", state="ok")])
        assert (await ws.expect("call-state"))["state"] == "ok"


async def test_join_returns_joined_or_raises_the_refusal(http, url):
    async with SignalingClient(http, url) as ws:
        joined = await ws.join("good", context={"product_id": "ring-42"})
        assert joined["type"] == "joined" and joined["context"] == {"product_id": "ring-42"}
    async with SignalingClient(http, url) as ws:
        with pytest.raises(ServerError) as refused:
            await ws.join("forged")
        assert refused.value.code == "unauthorized" and not ws.seen("error")


async def test_a_wait_ends_with_a_timeout_or_when_the_socket_closes(http, url):
    async with SignalingClient(http, url) as ws:
        with pytest.raises(SignalingTimeout) as late:
            await ws.expect("answer", timeout=0.05)
        assert isinstance(late.value, TimeoutError) and isinstance(late.value, SignalingError)
        waiting = asyncio.create_task(ws.expect("answer", timeout=10))
        await ws.send("close", code=4401)
        with pytest.raises(SignalingClosed) as closed:
            await waiting
        assert isinstance(closed.value, ConnectionError)
        assert ws.closed.is_set() and ws.close_code == 4401
        with pytest.raises(SignalingClosed):
            await ws.send("hangup", call_id="c1")


async def test_the_inbox_is_bounded_and_counts_what_it_dropped(http, url):
    async with SignalingClient(http, url, inbox_size=3) as ws:
        await ws.send("say", messages=[m("queue-position", position=n) for n in range(5, 0, -1)])
        await ws.send("say", messages=[m("done")])
        await ws.expect("done")
        assert [msg["position"] for msg in ws.inbox] == [2, 1] and ws.dropped == 3


async def test_the_server_s_pings_are_answered(http, url):
    async with SignalingClient(http, url) as ws:
        await ws.send("ping")
        assert (await ws.expect("pong-seen"))["data"] == "beat"


async def test_close_is_bounded_and_may_be_called_twice(http, url):
    ws = await SignalingClient(http, url).connect()
    await ws.close()
    await ws.close()
    assert ws.closed.is_set() and ws._reader is None


class Peer:
    """A peer as negotiation sees it: an offer out, an answer in."""

    def __init__(self) -> None:
        self.answers: list[str] = []

    async def offer(self) -> str:
        return "v=0 offer"

    async def accept_answer(self, sdp: str) -> None:
        self.answers.append(sdp)


async def test_negotiate_offers_and_hands_the_answer_to_the_peer(http, url):
    peer = Peer()
    order: list[str] = []
    async with SignalingClient(http, url) as ws:
        answer = await negotiate(ws, peer, "c1", on_answer=lambda a: order.append(f"arrived {peer.answers}"))
        assert answer["call_id"] == "c1" and peer.answers == ["answer to v=0 offer"]
        assert order == ["arrived []"]  # called before the peer applied it
        await ws.negotiate(peer, "c1")
        assert len(peer.answers) == 2
