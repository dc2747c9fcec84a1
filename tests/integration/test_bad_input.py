"""Bad input on the WebSocket and forged tokens: an error with a stable code or a clean
close, and the server goes on serving everybody else (a live call keeps its media)."""

from __future__ import annotations

import asyncio
import json
import time

import jwt
import pytest

from signaling.auth import Role, TokenService
from tests.conftest import close_sides, start_call
from tests.support.peers import ClientPeer


async def joined_agent(server):
    ws = await server.client()
    await ws.send("join", token=(await server.token("agent"))["token"])
    await ws.expect("joined")
    return ws


@pytest.mark.parametrize("raw, code", [
    ("this is not json", "bad_json"),
    ("[1, 2, 3]", "invalid_message"),
    ('{"v": 1}', "unknown_type"),
    ('{"v": 1, "type": "teleport"}', "unknown_type"),
    ('{"v": 7, "type": "join", "token": "x"}', "unsupported_version"),
    ('{"type": "join", "token": "x"}', "unsupported_version"),
    ('{"v": 1, "type": "offer", "call_id": "c_1"}', "invalid_message"),
    ('{"v": 1, "type": "offer", "call_id": 12, "sdp": "x"}', "invalid_message"),
    ('{"v": 1, "type": "candidate", "call_id": "c", "candidate": "nope"}', "invalid_message"),
    ('{"v": 1, "type": "accept", "call_id": "c_missing", "id": "m1"}', "call_not_found"),
])
async def test_malformed_messages_get_coded_errors(server, raw, code):
    ws = await joined_agent(server)
    await ws.send_raw(raw)
    err = await ws.expect("error")
    assert err["code"] == code, err
    assert err["message"]
    # the connection is still usable afterwards
    await ws.send_raw('{"v": 1, "type": "accept", "call_id": "c_none", "id": "after"}')
    assert (await ws.expect("error", ref="after"))["code"] == "call_not_found"
    await ws.close()


async def test_binary_frame_and_messages_before_join(server):
    ws = await server.client()
    await ws.send_raw(b"\x00\x01binary")
    assert (await ws.expect("error"))["code"] == "bad_json"
    await ws.send("offer", call_id="c_x", sdp="v=0")
    assert (await ws.expect("error"))["code"] == "not_joined"
    await ws.close()


async def test_oversized_message_closes_cleanly(server):
    ws = await joined_agent(server)
    await ws.send_raw(json.dumps({"v": 1, "type": "offer", "call_id": "c", "sdp": "x" * 200_000}))
    await asyncio.wait_for(ws.closed.wait(), 10)
    assert ws.close_code == 1009
    assert (await server.http.get(server.url + "/api/health")).status == 200


async def test_flood_is_rate_limited_then_closed(server):
    ws = await joined_agent(server)
    for _ in range(400):
        if ws.closed.is_set():
            break
        await ws.send_raw('{"v": 1, "type": "set-state", "state": "away"}')
    await asyncio.wait_for(ws.closed.wait(), 10)
    assert ws.close_code == 1008
    assert any(m.get("code") == "rate_limited" for m in ws.inbox)


async def test_bad_sdp_and_bad_candidate(server):
    call_id, shopper, agent = await start_call(server)
    await shopper.ws.send("offer", call_id=call_id, sdp="v=0\r\nthis is not sdp\r\n", id="o1")
    assert (await shopper.ws.expect("error", ref="o1"))["code"] == "bad_sdp"
    await shopper.ws.send("candidate", call_id=call_id, id="k1",
                          candidate={"candidate": "candidate:garbage", "sdpMid": "0"})
    assert (await shopper.ws.expect("error", ref="k1"))["code"] == "bad_candidate"
    # a fresh, valid offer (from a new peer connection, as clients do) still works
    await shopper.peer.close()
    shopper.peer = ClientPeer("shopper")
    await shopper.ws.negotiate(shopper.peer, call_id)
    await asyncio.gather(shopper.peer.wait_decoded(10), agent.peer.wait_decoded(10))
    await close_sides(shopper, agent)


async def test_abuse_does_not_disturb_a_live_call(server):
    call_id, shopper, agent = await start_call(server)
    await asyncio.gather(shopper.peer.wait_decoded(5), agent.peer.wait_decoded(5))
    before = agent.peer.video_frames_decoded
    attackers = [await server.client() for _ in range(5)]
    for ws in attackers:
        await ws.send_raw("{{{{")
        await ws.send_raw(json.dumps({"v": 1, "type": "join", "token": "forged.token.value"}))
        await ws.send_raw("x" * 100_000)
    for ws in attackers:
        await asyncio.wait_for(ws.closed.wait(), 10)
    await agent.peer.wait_decoded(before + 30)
    assert server.calls.calls[call_id].state.value == "connected"
    await close_sides(shopper, agent)


# ---------------------------------------------------------------- tokens

async def _join_with(server, token):
    ws = await server.client()
    await ws.send("join", token=token)
    return ws


async def test_forged_token_is_refused(server):
    forged = TokenService("another-secret-which-is-long-enough-1234").issue(Role.AGENT, "mallory")
    ws = await _join_with(server, forged)
    err = await ws.expect("error")
    assert err["code"] == "unauthorized"
    await asyncio.wait_for(ws.closed.wait(), 5)
    assert ws.close_code == 4401


async def test_unsigned_and_garbage_tokens_are_refused(server):
    unsigned = jwt.encode({"sub": "x", "role": "admin", "iss": "silkline", "exp": time.time() + 60},
                          key=None, algorithm="none")
    for token in (unsigned, "garbage", ""):
        ws = await _join_with(server, token)
        assert (await ws.expect("error"))["code"] == "unauthorized"


async def test_expired_token_is_refused(server):
    expired = server.tokens.issue(Role.AGENT, "ann", ttl=-5)
    ws = await _join_with(server, expired)
    err = await ws.expect("error")
    assert err["code"] == "unauthorized" and "expired" in err["message"]


async def test_shopper_token_cannot_touch_another_call(server):
    call_id, shopper, agent = await start_call(server)
    other = await server.token("shopper")
    intruder = await _join_with(server, other["token"])
    await intruder.expect("joined", call_id=other["call_id"])
    for kind, fields in (("offer", {"sdp": "v=0"}), ("hangup", {}),
                         ("candidate", {"candidate": None})):
        await intruder.send(kind, call_id=call_id, id=kind, **fields)
        assert (await intruder.expect("error", ref=kind))["code"] == "forbidden"
    assert server.calls.calls[call_id].state.value in ("connecting", "connected")
    # a token for call X signed with the right key but a different shopper cannot join it
    stolen = server.tokens.issue(Role.SHOPPER, "someone-else", call_id=call_id)
    thief = await _join_with(server, stolen)
    assert (await thief.expect("error"))["code"] == "forbidden"
    await close_sides(shopper, agent)


async def test_wrong_role_is_forbidden(server):
    call_id, shopper, agent = await start_call(server)
    # a shopper cannot accept calls; a supervisor token cannot hang up somebody's call
    await shopper.ws.send("accept", call_id=call_id, id="a")
    assert (await shopper.ws.expect("error", ref="a"))["code"] == "forbidden"
    supervisor = await _join_with(server, server.tokens.issue(Role.SUPERVISOR, "sue"))
    await supervisor.expect("joined")
    await supervisor.send("hangup", call_id=call_id, id="h")
    assert (await supervisor.expect("error", ref="h"))["code"] == "forbidden"
    await close_sides(shopper, agent)


async def test_rest_requires_a_valid_token_and_role(server):
    url = server.url + "/api/calls"
    assert (await server.http.get(url)).status == 401
    assert (await server.http.get(url, headers={"Authorization": "Bearer nope"})).status == 401
    shopper = await server.token("shopper")
    resp = await server.http.get(url, headers={"Authorization": f"Bearer {shopper['token']}"})
    assert resp.status == 403
    assert (await resp.json())["error"]["code"] == "forbidden"
    qa = server.tokens.issue(Role.QA, "quinn")
    resp = await server.http.get(url, headers={"Authorization": f"Bearer {qa}"})
    assert resp.status == 200
    # a shopper may read only their own call
    other = server.tokens.issue(Role.SHOPPER, "s1", call_id="c_other")
    resp = await server.http.get(f"{url}/{shopper['call_id']}", headers={"Authorization": f"Bearer {other}"})
    assert resp.status == 403


async def test_demo_tokens_can_be_switched_off(tmp_path):
    from aiohttp.test_utils import TestClient, TestServer

    from silkline.app import create_app
    from tests.conftest import make_config

    app = create_app(make_config(tmp_path, demo=False))
    async with TestClient(TestServer(app)) as client:
        resp = await client.post("/api/demo/tokens", json={"role": "agent"})
        assert resp.status == 404
