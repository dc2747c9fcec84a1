"""A participant that vanishes is noticed; it may come back within the grace period with
the same token and a new peer connection; otherwise the call ends cleanly, nothing leaks."""

from __future__ import annotations

import asyncio
import gc
import time

import pytest

from sfu.peer import Peer
from tests.conftest import close_sides, make_config, start_call
from tests.support.eventually import eventually
from tests.support.peers import ClientPeer


async def vanish(side) -> None:
    """Tab killed / network gone: no hangup, no goodbye."""
    await side.peer.close()
    await side.ws.close()


async def test_shopper_comes_back_within_grace_and_media_resumes(server):
    call_id, shopper, agent = await start_call(server)
    await asyncio.gather(shopper.peer.wait_decoded(10), agent.peer.wait_decoded(10))
    await shopper.ws.expect("call-state", state="connected", timeout=20)

    gone_at = time.monotonic()
    await vanish(shopper)
    notice = await agent.ws.expect("participant-state", role="shopper", state="reconnecting", timeout=10)
    assert notice["grace_s"] == server.config.grace_period
    assert time.monotonic() - gone_at < 5

    # the phone is back on another network: same token, new socket, new peer connection
    shopper.ws = await server.client()
    await shopper.ws.send("join", token=shopper.token["token"])
    joined = await shopper.ws.expect("joined", call_id=call_id)
    assert joined["resumed"] is True
    shopper.peer = ClientPeer("shopper-again")
    before = agent.peer.video_frames_decoded
    await shopper.ws.negotiate(shopper.peer, call_id)
    await agent.ws.expect("participant-state", role="shopper", state="connected", timeout=15)
    await shopper.peer.wait_decoded(10)
    await agent.peer.wait_decoded(before + 30)

    await agent.ws.send("hangup", call_id=call_id)
    await shopper.ws.expect("call-ended", call_id=call_id)
    record = await server.store.get_call(call_id)
    kinds = [e["type"] for e in record["events"]]
    assert "reconnecting" in kinds and "resumed" in kinds and kinds[-1] == "ended"
    await close_sides(shopper, agent)


async def test_media_loss_without_socket_loss_is_noticed(server):
    """ICE dies but the socket stays (e.g. UDP blocked): media watchdog notices it."""
    call_id, shopper, agent = await start_call(server)
    await asyncio.gather(shopper.peer.wait_decoded(10), agent.peer.wait_decoded(10))
    await shopper.peer.close()
    await agent.ws.expect("participant-state", role="shopper", state="reconnecting", timeout=10)
    shopper.peer = ClientPeer("shopper-ice-restart")
    await shopper.ws.negotiate(shopper.peer, call_id)
    await agent.ws.expect("participant-state", role="shopper", state="connected", timeout=15)
    await close_sides(shopper, agent)


@pytest.fixture
def server_config(tmp_path):
    return make_config(tmp_path, grace_period=2.0)


@pytest.mark.parametrize("clock", ["virtual"], indirect=True)
async def test_call_ends_after_grace_and_nothing_leaks(server):
    tasks_before = len(asyncio.all_tasks())
    call_id, shopper, agent = await start_call(server)
    await asyncio.gather(shopper.peer.wait_decoded(10), agent.peer.wait_decoded(10))
    await vanish(shopper)
    await agent.ws.expect("participant-state", role="shopper", state="reconnecting", timeout=10)
    await server.clock.advance(1.9)
    assert not agent.ws.seen("call-ended")  # still within the grace period (2 s)
    await server.clock.advance(0.2)
    ended = await agent.ws.expect("call-ended", call_id=call_id, timeout=10)
    assert ended["reason"] == "peer_gone" and ended["by"] == "shopper"
    # wrap-up (disposition + notes), then the agent is available for the next call
    await agent.ws.expect("agent-state", state="wrap_up", call_id=call_id)
    await agent.ws.send("wrap-up", call_id=call_id, disposition="resolved", notes="n/a")
    await agent.ws.expect("agent-state", state="available")

    # too late: the call is over and stays over
    late = await server.client()
    await late.send("join", token=shopper.token["token"])
    assert (await late.expect("error"))["code"] == "invalid_state"
    await late.close()

    record = await server.store.get_call(call_id)
    assert record["end_reason"] == "peer_gone"
    assert server.sfu.rooms == {} and server.calls.calls == {}
    await close_sides(agent)
    # server-side peers are closed and collected; no tasks left behind
    gc.collect()
    assert [p for p in gc.get_objects() if isinstance(p, Peer) and not p.closed] == []
    try:
        await eventually(lambda: len(asyncio.all_tasks()) <= tasks_before + 2, timeout=10)
    except AssertionError:
        pass  # what matters is below: no peer-connection task left
    leftover = [t for t in asyncio.all_tasks() if "RTCPeerConnection" in repr(t) or "Rtp" in repr(t)]
    assert leftover == [], leftover


async def test_shopper_leaving_the_queue_and_agent_vanishing_while_ringing(server):
    agent_ws = await server.client()
    await agent_ws.send("join", token=(await server.token("agent"))["token"])
    await agent_ws.expect("joined")
    shopper = await server.token("shopper")
    shopper_ws = await server.client()
    await shopper_ws.send("join", token=shopper["token"])
    await agent_ws.expect("call-offered", call_id=shopper["call_id"])
    # the ringing agent's tab dies: the call goes back to waiting, not lost
    await agent_ws.close()
    await shopper_ws.expect("call-state", state="waiting", timeout=10)
    assert server.calls.calls[shopper["call_id"]].state.value == "waiting"
    # the shopper gives up (cancel): the call ends as a hang-up
    await shopper_ws.send("hangup", call_id=shopper["call_id"])
    ended = await shopper_ws.expect("call-ended")
    assert ended["reason"] == "hang_up"
    await shopper_ws.close()
