"""SIGTERM on a real ``silkline serve``: the node drains. It says so (``/readyz`` 503
``draining``, its registry entry), new shoppers wait in the queue with words, the live call
goes on until the drain timeout, then ends ``node_drain``, and the process exits 0."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import aiohttp

from client import SignalingClient, demo_token
from signaling.auth import Role, TokenService
from tests.support.browser import start_server
from tests.support.eventually import eventually
from tests.support.peers import ClientPeer, agent_clip

SECRET = "drain-secret-0123456789abcdef-0123456789"


async def signed_in(http, url: str, agent_id: str) -> SignalingClient:
    ws = await SignalingClient(http, url).connect()
    await ws.send("join", token=TokenService(SECRET).issue(Role.AGENT, agent_id, name=agent_id.title(),
                                                           skills={"general": 3, "jewellery": 3}))
    await ws.expect("joined")
    return ws


async def shopper_calling(http, url: str) -> tuple[SignalingClient, str]:
    token = await demo_token(http, url, "shopper")
    ws = await SignalingClient(http, url).connect()
    await ws.send("join", token=token["token"], context={"title": "Ring"})
    await ws.expect("joined", call_id=token["call_id"])
    return ws, token["call_id"]


async def exited(proc, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert proc.poll() is not None, "the node did not exit"
    return proc.returncode


async def ended_record(tmp_path, call_id: str) -> dict:
    again = start_server(tmp_path, "--secret", SECRET)
    try:
        staff = TokenService(SECRET).issue(Role.SUPERVISOR, "sue")
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {staff}"}) as http:
            async with http.get(f"{again.url}/api/calls/{call_id}") as resp:
                return await resp.json()
    finally:
        again.stop()


async def test_sigterm_drains_the_live_call_then_ends_it_node_drain_and_exits_0(tmp_path):
    server = start_server(tmp_path, "--secret", SECRET, "--drain-timeout", "4")
    shopper_peer, agent_peer = ClientPeer("shopper"), ClientPeer("agent", clip=agent_clip())
    try:
        async with aiohttp.ClientSession() as http:
            ann, bob = await signed_in(http, server.url, "ann"), await signed_in(http, server.url, "bob")
            shopper, call_id = await shopper_calling(http, server.url)
            agent = await eventually(lambda: next((a for a in (ann, bob) if a.seen("call-offered", call_id=call_id)),
                                                  None), timeout=10, message="the offer")
            other = bob if agent is ann else ann
            await agent.send("accept", call_id=call_id)
            await asyncio.gather(shopper.negotiate(shopper_peer, call_id), agent.negotiate(agent_peer, call_id))
            await asyncio.gather(shopper_peer.wait_decoded(5), agent_peer.wait_decoded(5))

            os.kill(server.proc.pid, signal.SIGTERM)  # our own child, by PID
            signalled = time.monotonic()

            async def readiness() -> tuple[int, dict]:
                async with http.get(server.url + "/readyz") as resp:
                    return resp.status, await resp.json()
            status, body = await eventually(lambda: _draining(readiness), timeout=3, message="readyz draining")
            assert (status, body["reason"]) == (503, "draining")
            supervisor = TokenService(SECRET).issue(Role.SUPERVISOR, "sue")
            async with http.get(server.url + "/api/nodes", headers={"Authorization": f"Bearer {supervisor}"}) as resp:
                [entry] = (await resp.json())["nodes"]
            assert entry["state"] == "draining" and entry["rooms"] == [call_id]

            # a new shopper waits with words; the free agent is not rung
            newcomer, new_id = await shopper_calling(http, server.url)
            held = await newcomer.expect("call-state", state="waiting", reason="at_capacity", timeout=3)
            assert "keep your place" in held["message"]
            # the live call goes on: chat, and frames still arrive both ways
            await shopper.send("chat", call_id=call_id, text="still there?")
            assert (await agent.expect("chat", call_id=call_id))["text"] == "still there?"
            before = (shopper_peer.video_frames_decoded, agent_peer.video_frames_decoded)
            await eventually(lambda: shopper_peer.video_frames_decoded > before[0] + 5
                             and agent_peer.video_frames_decoded > before[1] + 5, timeout=2,
                             message="media still flowing while draining")
            assert not other.seen("call-offered", call_id=new_id)

            ended = await shopper.expect("call-ended", call_id=call_id, timeout=10)
            assert ended["reason"] == "node_drain"
            assert time.monotonic() - signalled >= 3.5  # not before the drain timeout (4 s)
            assert (await newcomer.expect("call-ended", call_id=new_id, timeout=10))["reason"] == "node_drain"
            assert await exited(server.proc, 15) == 0
    finally:
        await shopper_peer.close()
        await agent_peer.close()
        server.stop()
    assert "Silkline stopped" in server.log_tail()
    record = await ended_record(tmp_path, call_id)
    assert (record["state"], record["end_reason"]) == ("ended", "node_drain")


async def _draining(readiness) -> tuple[int, dict] | None:
    status, body = await readiness()
    return (status, body) if body.get("reason") == "draining" else None


async def test_a_drain_ends_as_soon_as_the_last_call_ends(tmp_path):
    server = start_server(tmp_path, "--secret", SECRET, "--drain-timeout", "60")
    try:
        async with aiohttp.ClientSession() as http:
            ann = await signed_in(http, server.url, "ann")
            shopper, call_id = await shopper_calling(http, server.url)
            await ann.expect("call-offered", call_id=call_id, timeout=10)
            await ann.send("accept", call_id=call_id)
            await shopper.expect("call-state", state="connecting")
            os.kill(server.proc.pid, signal.SIGTERM)
            await eventually(lambda: "draining" in server.log_tail(), timeout=5, message="the drain line")
            await shopper.send("chat", call_id=call_id, text="are you draining?")  # the call goes on
            assert (await ann.expect("chat", call_id=call_id))["text"] == "are you draining?"
            assert not shopper.seen("call-ended")
            hung_up = time.monotonic()
            await shopper.send("hangup", call_id=call_id)
            assert (await shopper.expect("call-ended"))["reason"] == "hang_up"
            assert await exited(server.proc, 15) == 0
            assert time.monotonic() - hung_up < 10  # long before the 60 s timeout
    finally:
        server.stop()
    assert (await ended_record(tmp_path, call_id))["end_reason"] == "hang_up"
