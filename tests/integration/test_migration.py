"""Moving a live call's media to a new room (signaling/centre/migration.py) on one node, with
real aiortc peers through the public client: both sides get ``migrated``, renegotiate a new peer
connection with the same tracks, and media flows again; the call, its agent, its chat and its
recording (a new segment per track) go on. Also the client's own socket reconnection."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from client import SignalingClient, SignalingClosed
from sfu import Refusal
from sfu.admission import LAG_SAMPLES
from signaling.auth import Role
from signaling.errors import SignalingError
from silkline.app import RECORDER, create_app
from tests.conftest import Running, Side, close_sides, make_config, start_call
from tests.integration.test_recording import wait_composite
from tests.integration.test_redis_outage import redis_process  # noqa: F401 - a fixture
from tests.support.eventually import eventually
from tests.support.peers import ClientPeer, agent_clip

RESUME_WITHIN_S = 10.0


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def move(server: Running, call_id: str, body: dict | None = None) -> tuple[int, dict[str, Any]]:
    admin = server.tokens.issue(Role.ADMIN, "ops")
    async with server.http.post(f"{server.url}/api/calls/{call_id}/move", headers=bearer(admin),
                                **({"json": body} if body is not None else {})) as resp:
        return resp.status, await resp.json()


async def media_again(*sides: Side, frames: int = 10) -> float:
    """Seconds until every side decoded ``frames`` more video frames (and audio) than now."""
    started = time.monotonic()
    base = [(s.peer.video_frames_decoded, s.peer.audio_frames) for s in sides]
    await eventually(lambda: all(s.peer.video_frames_decoded >= v + frames and s.peer.audio_frames >= a + 10
                                 for s, (v, a) in zip(sides, base, strict=True)),
                     timeout=RESUME_WITHIN_S, message="media flowing again on both sides")
    return time.monotonic() - started


async def chat(server: Running, sender: Side, others: list[Side], call_id: str, text: str) -> None:
    await sender.ws.send("chat", call_id=call_id, text=text)
    for side in (sender, *others):
        await side.ws.expect("chat", call_id=call_id, text=text)


async def events(server: Running, call_id: str, kind: str) -> list[dict[str, Any]]:
    record = await server.store.get_call(call_id)
    return [e for e in record["events"] if e["type"] == kind]


async def test_moved_call_renegotiates_keeps_chat_agent_and_records_a_second_segment(server: Running):
    call_id, shopper, agent = await start_call(server, context={"category": "rings", "title": "Ring"})
    await shopper.ws.expect("recording", state="on")
    shopper_follows = shopper.ws.follow_media(call_id, shopper.peer.renew)
    agent_follows = agent.ws.follow_media(call_id, agent.peer.renew)
    await shopper.ws.expect("call-state", state="connected", timeout=15)
    await asyncio.gather(shopper.peer.wait_decoded(10), agent.peer.wait_decoded(10))
    await chat(server, shopper, [agent], call_id, "Is it real sapphire?")

    status, moved = await move(server, call_id)
    assert status == 202 and moved == {"call_id": call_id, "from_node": None, "to_node": None}
    for side in (shopper, agent):
        assert (await side.ws.expect("migrated", call_id=call_id))["reason"] == "operator"
    # the record says so before anybody was told, with the same agent
    migrated = await events(server, call_id, "migrated")
    assert [(e["reason"], e["from_node"], e["to_node"]) for e in migrated] == [("operator", None, None)]
    await asyncio.gather(shopper_follows.wait(), agent_follows.wait())
    assert shopper.peer.renewals == agent.peer.renewals == 1
    assert await media_again(shopper, agent) < RESUME_WITHIN_S
    await shopper.ws.expect("participant-state", role="agent", state="connected")
    call = server.calls.calls[call_id]
    assert call.state.value == "connected" and call.agent.identity == agent.token["agent_id"]
    await chat(server, agent, [shopper], call_id, "Yes, certified.")

    await agent.ws.send("hangup", call_id=call_id)
    await shopper.ws.expect("call-ended", reason="hang_up")

    async def finished() -> dict[str, Any] | None:
        record = await server.store.get_call(call_id)
        return record if record.get("recordings") else None
    record = await eventually(finished, message="the recording finalised")
    assert record["agent_id"] == agent.token["agent_id"] and record["end_reason"] == "hang_up"
    kinds = [e["type"] for e in record["events"]]
    assert kinds.index("migrated") < kinds.index("ended")
    assert [e["text"] for e in record["events"] if e["type"] == "chat"] == ["Is it real sapphire?", "Yes, certified."]
    assert not [e for e in record["events"] if e["type"] == "ended" and e.get("reason") == "peer_gone"]
    # two complete segments per track: in the record's summary and in the recorder's index
    summary = sorted((r["role"], r["kind"], r["state"]) for r in record["recordings"])
    assert summary == sorted([(role, kind, "complete") for role in ("agent", "shopper")
                              for kind in ("audio", "video")] * 2), summary
    finished = next(e for e in record["events"] if e["type"] == "recording_finished")
    assert finished["tracks"] == 8 and finished["failed"] == 0
    listed = [r for r in server.app[RECORDER].list(call_id=call_id) if r["kind"] in ("audio", "video")]
    assert len(listed) == 8 and {r["state"] for r in listed} == {"complete"}
    # the QA detail lists both segments of every track, and the playback file is composed of them
    detail = await wait_composite(server, call_id, server.tokens.issue(Role.QA, "quinn"))
    assert len(detail["tracks"]) == 8 and all(t["url"] for t in detail["tracks"])
    assert detail["composite"]["state"] == "complete", detail["composite"]
    assert "migrated" in [e["type"] for e in detail["call"]["events"]]
    await close_sides(shopper, agent)


async def test_moving_twice_in_a_row(server: Running):
    call_id, shopper, agent = await start_call(server)
    follows = [side.ws.follow_media(call_id, side.peer.renew) for side in (shopper, agent)]
    await asyncio.gather(shopper.peer.wait_decoded(10), agent.peer.wait_decoded(10))
    for count in (1, 2):
        status, _ = await move(server, call_id)
        assert status == 202
        await asyncio.gather(*(f.wait(count) for f in follows))
        assert await media_again(shopper, agent) < RESUME_WITHIN_S
    assert [e["reason"] for e in await events(server, call_id, "migrated")] == ["operator", "operator"]
    assert server.calls.calls[call_id].state.value == "connected"
    assert len(server.sfu.rooms) == 1 and len(server.sfu.rooms[call_id].participants) == 2
    await close_sides(shopper, agent)


async def test_a_move_on_a_node_past_its_loop_lag_limit_keeps_the_call(server: Running):
    """A busy loop refuses new calls, but the room of a call moved within the node replaces one
    it carried: the move goes on (on a loaded machine it used to end the call with ``error``)."""
    call_id, shopper, agent = await start_call(server)
    follows = [side.ws.follow_media(call_id, side.peer.renew) for side in (shopper, agent)]
    await asyncio.gather(shopper.peer.wait_decoded(10), agent.peer.wait_decoded(10))
    admission = server.sfu.admission
    admission.limit = dataclasses.replace(admission.limit, max_loop_lag_ms=50.0)  # as a served node's
    for _ in range(LAG_SAMPLES):
        admission.observe(0.5)  # what the loop-lag probe reads on a machine too busy for new calls
    assert admission.refusal() is Refusal.LOOP_LAG
    status, body = await move(server, call_id)
    assert status == 202, body
    await asyncio.gather(*(f.wait() for f in follows))
    assert await media_again(shopper, agent) < RESUME_WITHIN_S
    assert server.calls.calls[call_id].state.value == "connected"
    for _ in range(LAG_SAMPLES):
        admission.observe(0.5)
    assert not server.sfu.admits("c_another")
    await close_sides(shopper, agent)


async def test_move_while_the_agent_is_away_resumes_into_the_new_room(server: Running):
    call_id, shopper, agent = await start_call(server)
    shopper_follows = shopper.ws.follow_media(call_id, shopper.peer.renew)
    await asyncio.gather(shopper.peer.wait_decoded(10), agent.peer.wait_decoded(10))
    await agent.ws.close()
    await shopper.ws.expect("participant-state", role="agent", state="reconnecting")

    status, _ = await move(server, call_id)
    assert status == 202
    await shopper.ws.expect("migrated", call_id=call_id)
    await shopper_follows.wait()

    # the agent comes back on a new socket with the same token: resumed, offers into the new room
    agent.ws = await server.client()
    joined = await agent.ws.join(agent.token["token"])
    assert joined["resumed"] is True and joined["call_id"] == call_id
    await agent.ws.negotiate(await agent.peer.renew(), call_id)
    assert await media_again(shopper, agent) < RESUME_WITHIN_S
    await shopper.ws.expect("participant-state", role="agent", state="connected")
    assert server.calls.calls[call_id].agent.identity == agent.token["agent_id"]
    await close_sides(shopper, agent)


async def test_a_party_that_never_offers_again_ends_after_the_grace_period_not_before(server: Running):
    server.calls.settings.grace_period = 3.0
    call_id, shopper, agent = await start_call(server)
    await asyncio.gather(shopper.peer.wait_decoded(10), agent.peer.wait_decoded(10))
    moved_at = time.monotonic()
    assert (await move(server, call_id))[0] == 202
    await agent.ws.expect("participant-state", role="shopper", state="reconnecting")
    ended = await agent.ws.expect("call-ended", timeout=10)
    assert ended["reason"] == "peer_gone" and time.monotonic() - moved_at >= 2.9
    await close_sides(shopper, agent)


async def test_move_refusals(server: Running):
    status, body = await move(server, "c_nosuchcall")
    assert status == 404 and body["error"]["code"] == "call_not_found"
    # a call not answered yet (ringing) has no media to move
    ringing_agent = await server.client()
    await ringing_agent.join((await server.token("agent", name="Bo"))["token"])
    shopper_token = await server.token("shopper")
    shopper_ws = await server.client()
    await shopper_ws.join(shopper_token["token"], context={"title": "Ring"})
    await ringing_agent.expect("call-offered", call_id=shopper_token["call_id"])
    status, body = await move(server, shopper_token["call_id"])
    assert status == 409 and body["error"]["code"] == "invalid_state"
    await shopper_ws.hangup(shopper_token["call_id"])
    await shopper_ws.expect("call-ended")
    await ringing_agent.leave()
    # only an admin, and to_node only where there are other nodes
    agent = server.tokens.issue(Role.SUPERVISOR, "sue")
    async with server.http.post(f"{server.url}/api/calls/c_x/move", headers=bearer(agent)) as resp:
        assert resp.status == 403
    call_id, shopper, agent_side = await start_call(server)
    status, body = await move(server, call_id, {"to_node": "node-b"})
    assert status == 409 and "no other node" in body["error"]["message"]
    status, body = await move(server, call_id, {"to_node": 7})
    assert status == 400 and body["error"]["code"] == "invalid_message"
    await shopper_ws.close()
    await ringing_agent.close()
    await close_sides(shopper, agent_side)


async def reconnecting_call(server: Running) -> tuple[str, SignalingClient, SignalingClient, dict, dict]:
    """An answered call whose two clients reconnect on their own."""
    agent_token = await server.token("agent", name="Ann")
    agent_ws = await SignalingClient(server.http, server.url, reconnect=True, backoff=(0.05, 0.5)).connect()
    await agent_ws.join(agent_token["token"])
    shopper_token = await server.token("shopper")
    call_id = shopper_token["call_id"]
    shopper_ws = await SignalingClient(server.http, server.url, reconnect=True, backoff=(0.05, 0.5)).connect()
    await shopper_ws.join(shopper_token["token"], context={"title": "Ring"})
    await agent_ws.expect("call-offered", call_id=call_id)
    await agent_ws.accept(call_id)
    await agent_ws.expect("call-state", state="connecting")
    return call_id, shopper_ws, agent_ws, shopper_token, agent_token


@pytest.mark.parametrize("close", ["service_restart", "network"])
async def test_client_reconnects_rejoins_and_resumes_when_the_server_drops_its_socket(server: Running,
                                                                                   close: str):
    call_id, shopper_ws, agent_ws, _, agent_token = await reconnecting_call(server)
    session = server.calls.agents[agent_token["agent_id"]].session
    if close == "service_restart":  # a cluster node going away closes forwarded sockets so
        await session.close(1012, "the node restarts")
    else:  # the connection is cut without a close frame (1006)
        session.ws._req.transport.abort()  # type: ignore[union-attr]
    joined = await agent_ws.expect("joined", resumed=True, timeout=10)
    assert joined["call_id"] == call_id and agent_ws.reconnects == 1 and not agent_ws.closed.is_set()
    await agent_ws.send("chat", call_id=call_id, text="still here")
    await shopper_ws.expect("chat", text="still here")
    # a goodbye is not followed by a reconnect
    await agent_ws.leave()
    await shopper_ws.expect("call-ended")
    await asyncio.wait_for(agent_ws.closed.wait(), 5)
    assert agent_ws.reconnects == 1 and agent_ws.close_code == 1000
    await asyncio.gather(agent_ws.close(), shopper_ws.close())


async def test_a_message_sent_while_the_client_reconnects_waits_for_the_new_socket(server: Running):
    """The hang-up a person clicks in the gap between a lost socket and its return is not lost:
    ``send`` waits for the new socket, where the join goes first."""
    call_id, shopper_ws, agent_ws, _, agent_token = await reconnecting_call(server)
    agent_ws.backoff = (0.5, 1.0)  # a gap wide enough to send into
    old = agent_ws.ws
    assert old is not None and agent_ws.reconnects == 0
    await server.calls.agents[agent_token["agent_id"]].session.close(1012, "the node restarts")
    await eventually(lambda: old.closed, timeout=5, message="the old socket closed")
    await agent_ws.hangup(call_id)  # the old socket is gone; this goes on the next one
    assert agent_ws.reconnects == 1 and agent_ws.ws is not old
    await shopper_ws.expect("call-ended", call_id=call_id, timeout=10)
    # a client that said goodbye does not wait: it fails at once
    await agent_ws.leave()
    await asyncio.wait_for(agent_ws.closed.wait(), 5)
    with pytest.raises(SignalingClosed):
        await agent_ws.send("chat", call_id=call_id, text="anyone?")
    await asyncio.gather(agent_ws.close(), shopper_ws.close())


async def test_an_answer_to_an_overtaken_offer_is_not_applied_to_the_next_peer(server: Running):
    """A move right after a resumed join makes a client offer twice: the first answer, still on
    its way, must not land on the second peer connection (its ICE and DTLS would never match)."""
    call_id, shopper, agent = await start_call(server)
    await agent.peer.wait_decoded(5)
    stale = ClientPeer("agent", clip=agent_clip())
    try:
        await agent.ws.send("offer", call_id=call_id, sdp=await stale.offer(), id="overtaken")
        peer = await agent.peer.renew()
        answer = await agent.ws.negotiate(peer, call_id)  # the overtaken answer arrives first
        assert answer["ref"] != "overtaken"
        assert agent.ws.seen("answer", call_id=call_id, ref="overtaken")
        await asyncio.gather(peer.wait_decoded(5), shopper.peer.wait_decoded(5))
    finally:
        await stale.close()
        await close_sides(shopper, agent)


async def test_client_reconnects_to_the_next_base_url(server: Running):
    agent_token = await server.token("agent", name="Ann")
    # the first address goes nowhere once the socket is lost: the next one is tried
    agent_ws = await SignalingClient(server.http, server.url, reconnect=True, backoff=(0.05, 0.2),
                                     base_urls=["http://127.0.0.1:9"]).connect()
    await agent_ws.join(agent_token["token"])
    agent_ws.base_urls = ["http://127.0.0.1:9", server.url]
    agent_ws.base_url = "http://127.0.0.1:9"
    await server.calls.agents[agent_token["agent_id"]].session.close(1012, "restart")
    joined = await agent_ws.expect("joined", timeout=10)
    assert joined["agent_id"] == agent_token["agent_id"] and agent_ws.base_url == server.url
    await agent_ws.close()


async def test_without_reconnect_a_dropped_socket_stays_closed(server: Running):
    agent_token = await server.token("agent", name="Ann")
    agent_ws = await server.client()
    await agent_ws.join(agent_token["token"])
    await server.calls.agents[agent_token["agent_id"]].session.close(1012, "restart")
    await asyncio.wait_for(agent_ws.closed.wait(), 5)
    assert agent_ws.close_code == 1012 and agent_ws.reconnects == 0
    await agent_ws.close()


async def test_moved_monitored_call_keeps_the_supervisor_in_the_new_room(server: Running):
    from tests.support.peers import MonitorPeer

    call_id, shopper, agent = await start_call(server)
    await asyncio.gather(shopper.peer.wait_decoded(10), agent.peer.wait_decoded(10))
    supervisor = await server.client()
    await supervisor.join(server.tokens.issue(Role.SUPERVISOR, "sue"))
    await supervisor.send("monitor", call_id=call_id)
    await supervisor.expect("monitoring", call_id=call_id)
    await supervisor.send("monitor-mode", call_id=call_id, mode="whisper")
    await supervisor.expect("monitoring", mode="whisper")
    monitor = MonitorPeer()
    await supervisor.negotiate(monitor, call_id)
    assert (await move(server, call_id))[0] == 202
    await supervisor.expect("migrated", call_id=call_id)
    room = server.sfu.rooms[call_id]
    whisperer = next(p for p in room.participants.values() if p.role == "supervisor")
    assert whisperer.audience == frozenset({f"agent-{agent.token['agent_id']}"})
    await monitor.close()
    await supervisor.close()
    await close_sides(shopper, agent)


async def test_peer_renews_with_the_same_tracks():
    peer = ClientPeer("x", clip=agent_clip())
    first, clip = peer.pc, peer.video_clip
    assert await peer.renew() is peer
    assert peer.pc is not first and first.connectionState == "closed"
    assert peer.video.clip is clip and peer.video.readyState == "live"
    assert [t.sender.track for t in peer.pc.getTransceivers()[:2]] == [peer.audio, peer.video]
    await peer.close()


async def test_a_reconnected_client_renegotiates_on_the_resumed_join(server: Running):
    """The socket drops (1012, as when a cluster node restarts) and the media moves meanwhile:
    the reconnecting client re-joins, gets ``joined{resumed}``, and its follower offers a new peer
    connection into the new room; the other side follows ``migrated``."""
    shopper_peer, agent_peer = ClientPeer("shopper"), ClientPeer("agent", clip=agent_clip())
    call_id, shopper_ws, agent_ws, shopper_token, agent_token = await reconnecting_call(server)
    shopper = Side(shopper_ws, shopper_peer, shopper_token)
    agent = Side(agent_ws, agent_peer, agent_token)
    follows = [side.ws.follow_media(call_id, side.peer.renew) for side in (shopper, agent)]
    await asyncio.gather(shopper_ws.negotiate(shopper_peer, call_id), agent_ws.negotiate(agent_peer, call_id))
    await asyncio.gather(shopper_peer.wait_decoded(10), agent_peer.wait_decoded(10))

    agent_ws.backoff = (1.0, 1.0)  # the move comes first, well before the agent's socket is back
    session = server.calls.agents[agent_token["agent_id"]].session
    await session.close(1012, "the node restarts")
    await shopper_ws.expect("participant-state", role="agent", state="reconnecting")
    assert (await move(server, call_id))[0] == 202
    assert agent_ws.reconnects == 0
    await agent_ws.expect("joined", resumed=True, timeout=10)
    await asyncio.gather(*(f.wait() for f in follows))
    assert await media_again(shopper, agent) < RESUME_WITHIN_S
    assert agent_peer.renewals == 1 and shopper_peer.renewals == 1
    await close_sides(shopper, agent)


async def test_a_move_while_redis_is_away_brings_the_media_back_and_is_recorded_later(
        tmp_path, redis_process, caplog):  # noqa: F811 - the fixture
    caplog.set_level(logging.WARNING, logger="signaling.centre.migration")
    app = create_app(make_config(tmp_path, redis_url=redis_process.url, demo=True))
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    url = str(test_server.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as http:
        server = Running(url, app, http, make_config(tmp_path, redis_url=redis_process.url))
        try:
            call_id, shopper, agent = await start_call(server)
            follows = [side.ws.follow_media(call_id, side.peer.renew) for side in (shopper, agent)]
            await asyncio.gather(shopper.peer.wait_decoded(10), agent.peer.wait_decoded(10))
            redis_process.kill()
            status, moved = await move(server, call_id)
            assert status == 202, moved
            assert "moved while the store is away" in caplog.text
            await asyncio.gather(*(f.wait() for f in follows))
            assert await media_again(shopper, agent) < RESUME_WITHIN_S
            redis_process.start()

            async def recorded() -> bool:
                try:
                    return bool(await events(server, call_id, "migrated"))
                except SignalingError:
                    return False
            await eventually(recorded, timeout=15, message="the move written once Redis is back")
            await close_sides(shopper, agent)
        finally:
            await test_server.close()


async def test_a_second_move_while_the_first_is_under_way_is_refused(server: Running):
    call_id, shopper, agent = await start_call(server)
    await asyncio.gather(shopper.peer.wait_decoded(10), agent.peer.wait_decoded(10))
    first, second = await asyncio.gather(server.calls.migration.move(call_id, "node_drain"),
                                         server.calls.migration.move(call_id, "node_drain"),
                                         return_exceptions=True)
    assert first == {"call_id": call_id, "from_node": None, "to_node": None}
    assert isinstance(second, SignalingError) and second.code.value == "invalid_state"
    assert [e["reason"] for e in await events(server, call_id, "migrated")] == ["node_drain"]
    with pytest.raises(SignalingError) as refused:
        await server.calls.migration.move(call_id, "because")
    assert refused.value.code.value == "invalid_message"
    await close_sides(shopper, agent)


async def test_a_move_no_node_can_take_ends_the_call_in_words(server: Running):
    """A single node that drains refuses every new room: the moved call cannot go on, so it ends
    (``error``, by the server) instead of waiting for media that has nowhere to go."""
    call_id, shopper, agent = await start_call(server)
    await asyncio.gather(shopper.peer.wait_decoded(10), agent.peer.wait_decoded(10))
    server.sfu.admission.draining = True
    status, body = await move(server, call_id)
    assert status == 503 and body["error"]["code"] == "service_unavailable"
    assert "no media node could take the call" in body["error"]["message"]
    for side in (shopper, agent):
        ended = await side.ws.expect("call-ended", call_id=call_id)
        assert ended["reason"] == "error" and ended["by"] == "server"
    record = await server.store.get_call(call_id)
    assert record["state"] == "ended" and not [e for e in record["events"] if e["type"] == "migrated"]
    await close_sides(shopper, agent)
