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


# ---------------------------------------------------------------- each malformed input, its code

NESTED = 10_000


async def test_deeply_nested_json_is_bad_json_and_the_socket_goes_on(server):
    ws = await joined_agent(server)
    for raw in ("[" * NESTED + "]" * NESTED,
                '{"v": 1, "type": "chat", "call_id": "c", "text": ' + "[" * NESTED + "]" * NESTED + "}",
                '{"v": 1, "type": "join", "token": "x", "context": ' + '{"a":' * NESTED + "1" + "}" * NESTED + "}"):
        await ws.send_raw(raw)
        assert (await ws.expect("error"))["code"] == "bad_json"
    await ws.send_raw('{"v": 1, "type": "accept", "call_id": "c_none", "id": "after"}')
    assert (await ws.expect("error", ref="after"))["code"] == "call_not_found"
    await ws.close()
    # and a REST body nested as deep is bad_json too, on every route that reads JSON
    deep = "[" * NESTED + "]" * NESTED
    shopper = await server.token("shopper")
    for path, headers in ((f"/api/calls/{shopper['call_id']}/rating", {"Authorization": f"Bearer {shopper['token']}"}),
                          ("/api/demo/tokens", {}), ("/api/login", {})):
        async with server.http.post(server.url + path, data=deep,
                                    headers={**headers, "Content-Type": "application/json"}) as resp:
            assert resp.status == 400, (path, await resp.text())
            assert (await resp.json())["error"]["code"] == "bad_json"


def _sized(size: int, ref: str) -> str:
    """A valid ``accept`` frame of exactly ``size`` UTF-8 bytes (padded in an ignored field)."""
    frame = json.dumps({"v": 1, "type": "accept", "call_id": "c_none", "id": ref, "pad": ""})
    pad = size - len(frame.encode())
    return frame[:-2] + "é" * (pad // 2) + "x" * (pad % 2) + '"}'


async def test_a_frame_at_the_limit_is_served_and_one_byte_over_is_refused_in_words(server):
    from signaling.api.protocol import MAX_MESSAGE_BYTES

    ws = await joined_agent(server)
    at_limit = _sized(MAX_MESSAGE_BYTES, "edge")
    assert len(at_limit.encode()) == MAX_MESSAGE_BYTES
    await ws.send_raw(at_limit)
    assert (await ws.expect("error", ref="edge"))["code"] == "call_not_found"  # parsed and served
    over = _sized(MAX_MESSAGE_BYTES + 1, "over")
    assert len(over.encode()) == MAX_MESSAGE_BYTES + 1
    await ws.send_raw(over)
    err = await ws.expect("error")
    assert err["code"] == "message_too_large" and "65536" in err["message"]
    await asyncio.wait_for(ws.closed.wait(), 10)
    assert ws.close_code == 1009


async def test_offers_aiortc_would_reject_late_are_bad_sdp(server):
    from tests.support.sdp import late_failures

    call_id, shopper, agent = await start_call(server)
    probe = ClientPeer("probe")
    broken = late_failures(await probe.offer())
    await probe.close()
    for name, sdp in broken.items():
        await shopper.ws.send("offer", call_id=call_id, sdp=sdp, id=name)
        err = await shopper.ws.expect("error", ref=name)
        assert err["code"] == "bad_sdp", (name, err)
    # the call goes on with a good offer afterwards
    await shopper.peer.close()
    shopper.peer = ClientPeer("shopper")
    await shopper.ws.negotiate(shopper.peer, call_id)
    await asyncio.gather(shopper.peer.wait_decoded(10), agent.peer.wait_decoded(10))
    await close_sides(shopper, agent)


def _signed(payload_json: str, secret: str) -> str:
    """A token over a raw JSON payload (for claims json.dumps cannot write, e.g. 10**400)."""
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    signing = b64(b'{"alg":"HS256","typ":"JWT"}') + b"." + b64(payload_json.encode())
    return (signing + b"." + b64(hmac.new(secret.encode(), signing, hashlib.sha256).digest())).decode()


def odd_claim_tokens(secret: str) -> dict[str, str]:
    base = {"iss": "silkline", "sub": "mallory", "role": "agent", "exp": int(time.time()) + 600}
    odd = {
        "exp as a string": {"exp": "tomorrow"}, "exp infinite": {"exp": float("inf")},
        "exp true": {"exp": True}, "role as a list": {"role": ["admin"]}, "role as a number": {"role": 4},
        "call as a number": {"role": "shopper", "call": 12}, "call as a list": {"role": "shopper", "call": ["c"]},
        "name as a list": {"name": ["Ann"]}, "iss as a list": {"iss": ["silkline"]}, "sub as a number": {"sub": 7},
    }
    # signed by hand: PyJWT refuses to write some of these
    tokens = {name: _signed(json.dumps({**base, **claims}), secret) for name, claims in odd.items()}
    tokens["exp beyond a float"] = _signed(json.dumps({**base, "exp": 10 ** 400}), secret)
    tokens["ctx nested deep"] = _signed(json.dumps(base)[:-1] + ', "ctx": ' + "[" * NESTED + "]" * NESTED + "}", secret)
    return tokens


async def test_tokens_with_claims_of_the_wrong_type_are_unauthorized(server):
    from tests.conftest import SECRET

    for name, token in odd_claim_tokens(SECRET).items():
        ws = await _join_with(server, token)
        err = await ws.expect("error")
        assert err["code"] == "unauthorized", (name, err)
        await asyncio.wait_for(ws.closed.wait(), 5)
        assert ws.close_code == 4401, name
        if len(token) > 8000:
            continue  # over aiohttp's header limit: refused before any route (400)
        async with server.http.get(server.url + "/api/calls/c_1", headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 401, name
            assert (await resp.json())["error"]["code"] == "unauthorized"


async def test_a_batch_of_bad_inputs_is_counted_not_logged_as_tracebacks(server, caplog):
    import logging

    from tests.conftest import SECRET
    from tests.integration.test_metrics import scrape, value
    from tests.support.sdp import late_failures

    caplog.set_level(logging.DEBUG)
    call_id, shopper, agent = await start_call(server)
    probe = ClientPeer("probe")
    for name, sdp in late_failures(await probe.offer()).items():
        await shopper.ws.send("offer", call_id=call_id, sdp=sdp, id=name)
        await shopper.ws.expect("error", ref=name)
    await probe.close()
    ws = await joined_agent(server)
    batch = ["[" * NESTED + "]" * NESTED, "nope", '{"v": 1, "type": "offer"}', '{"v": 2}'] * 5
    for raw in batch:
        await ws.send_raw(raw)
    for _ in batch:
        await ws.expect("error")
    for token in odd_claim_tokens(SECRET).values():
        bad = await _join_with(server, token)
        await bad.expect("error")
    await ws.close()
    await close_sides(shopper, agent)
    samples = await scrape(server)
    assert value(samples, "silkline_rejected_inputs_total", face="ws", code="bad_json") >= 10
    assert value(samples, "silkline_rejected_inputs_total", face="ws", code="bad_sdp") >= 6
    assert value(samples, "silkline_rejected_inputs_total", face="ws", code="unauthorized") >= 12
    assert "Traceback" not in caplog.text
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []
