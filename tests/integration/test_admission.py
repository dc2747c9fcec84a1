"""Admission control through the real WebSocket API: above the node's limit a new call waits
in its place with words for the shopper, never an error that ends it, and is connected when
a room frees up."""

from __future__ import annotations

import asyncio

import pytest

from sfu import CloseReason
from signaling.auth import Role
from signaling.centre.dispatch import AT_CAPACITY_TEXT
from tests.conftest import make_config
from tests.support.eventually import eventually
from tests.support.peers import ClientPeer


@pytest.fixture
def server_config(tmp_path):
    return make_config(tmp_path, max_calls=1)


async def signed_in_agent(server, agent_id: str):
    ws = await server.client()
    await ws.send("join", token=server.tokens.issue(Role.AGENT, agent_id, name=agent_id.title(),
                                                    skills={"general": 3}))
    await ws.expect("joined")
    return ws


async def calling_shopper(server):
    token = await server.token("shopper")
    ws = await server.client()
    await ws.send("join", token=token["token"], context={"title": "Ring"})
    await ws.expect("joined", call_id=token["call_id"])
    return ws, token["call_id"]


async def answered(server, agents, shopper, call_id):
    """Whichever agent is offered ``call_id`` accepts it; returns that agent's socket."""
    offered = await eventually(lambda: next((a for a in agents if a.seen("call-offered", call_id=call_id)),
                                            None), timeout=5, message="an offer")
    await offered.send("accept", call_id=call_id)
    await shopper.expect("call-state", state="connecting")
    return offered


@pytest.mark.parametrize("clock", ["virtual"], indirect=True)
async def test_above_the_limit_a_call_waits_with_words_and_is_connected_when_the_first_ends(server):
    ann, bob = await signed_in_agent(server, "ann"), await signed_in_agent(server, "bob")
    first, first_id = await calling_shopper(server)
    first_agent = await answered(server, [ann, bob], first, first_id)
    second, second_id = await calling_shopper(server)
    held = await second.expect("call-state", state="waiting", reason="at_capacity")
    assert held["message"] == AT_CAPACITY_TEXT
    other = bob if first_agent is ann else ann
    await server.clock.advance(5)  # five queue ticks: still nobody is rung for it
    await second.expect("queue-position", call_id=second_id, timeout=5)
    await other.send("accept", call_id="c_none", id="barrier")
    await other.expect("error", ref="barrier")
    assert not other.seen("call-offered", call_id=second_id)
    assert not second.seen("call-ended") and not second.seen("error")
    assert server.calls.calls[second_id].state.value == "waiting"
    record = await server.store.get_call(second_id)
    assert [e.get("reason") for e in record["events"] if e["type"] == "held"] == ["max_calls"]
    async with server.http.get(server.url + "/readyz") as resp:
        assert (resp.status, (await resp.json())["reason"]) == (503, "at_capacity")

    await first.send("hangup", call_id=first_id)
    await first.expect("call-ended")
    await other.expect("call-offered", call_id=second_id, timeout=5)
    await other.send("accept", call_id=second_id)
    await second.expect("call-state", state="connecting")
    async with server.http.get(server.url + "/readyz") as resp:
        assert (resp.status, (await resp.json())["reason"]) == (503, "at_capacity")  # full again


async def test_the_call_that_waited_for_a_room_gets_media(server):
    """Real clock and aiortc peers: the held call reaches ``connected`` once the room frees."""
    ann, bob = await signed_in_agent(server, "ann"), await signed_in_agent(server, "bob")
    first, first_id = await calling_shopper(server)
    await answered(server, [ann, bob], first, first_id)
    second, second_id = await calling_shopper(server)
    await second.expect("call-state", state="waiting", reason="at_capacity")
    shopper_peer, agent_peer = ClientPeer("shopper"), ClientPeer("agent")
    try:
        await first.send("hangup", call_id=first_id)
        agent = await answered(server, [ann, bob], second, second_id)
        await asyncio.gather(second.negotiate(shopper_peer, second_id),
                                           agent.negotiate(agent_peer, second_id))
        await second.expect("call-state", state="connected", timeout=20)
    finally:
        await shopper_peer.close()
        await agent_peer.close()


async def test_metrics_show_the_admission_state(server):
    async with server.http.get(server.url + "/metrics") as resp:
        assert "silkline_node_admitting 1.0" in await resp.text()
    ann = await signed_in_agent(server, "ann")
    shopper, call_id = await calling_shopper(server)
    await answered(server, [ann], shopper, call_id)
    async with server.http.get(server.url + "/metrics") as resp:
        text = await resp.text()
    assert "silkline_node_admitting 0.0" in text
    assert 'silkline_node_admission_refused{reason="max_calls"} 1.0' in text


@pytest.mark.parametrize("clock", ["virtual"], indirect=True)
async def test_a_held_shopper_who_comes_back_is_told_again(server):
    ann, bob = await signed_in_agent(server, "ann"), await signed_in_agent(server, "bob")
    first, first_id = await calling_shopper(server)
    await answered(server, [ann, bob], first, first_id)
    token = await server.token("shopper")
    second = await server.client()
    await second.send("join", token=token["token"], context={"title": "Ring"})
    await second.expect("call-state", state="waiting", reason="at_capacity")
    await second.close()
    again = await server.client()  # the same token on a new socket
    await again.send("join", token=token["token"])
    assert (await again.expect("joined", call_id=token["call_id"]))["resumed"] is True
    told = await again.expect("call-state", state="waiting", reason="at_capacity")
    assert told["message"] == AT_CAPACITY_TEXT
    record = await server.store.get_call(token["call_id"])
    assert [e["type"] for e in record["events"]].count("held") == 1


@pytest.mark.parametrize("clock", ["virtual"], indirect=True)
async def test_an_accept_the_node_cannot_carry_puts_the_call_back_at_the_head_of_the_queue(server):
    ann = await signed_in_agent(server, "ann")
    shopper, call_id = await calling_shopper(server)
    await ann.expect("call-offered", call_id=call_id)
    server.sfu.open_room("c_elsewhere")  # the node fills up between the ring and the accept
    await ann.send("accept", call_id=call_id)
    assert (await ann.expect("call-withdrawn", call_id=call_id))["reason"] == "at_capacity"
    await ann.expect("agent-state", state="available")
    await shopper.expect("call-state", state="waiting", reason="at_capacity")
    assert not shopper.seen("call-ended")
    await server.clock.advance(1.0)  # a tick: still no room
    later, later_id = await calling_shopper(server)  # a second later: behind it
    assert server.calls.queues.position(call_id) == 1 and server.calls.queues.position(later_id) == 2
    await server.sfu.close_room("c_elsewhere", CloseReason.HANG_UP)
    await server.clock.advance(1.0)  # the next queue tick finds the room
    await ann.expect("call-offered", call_id=call_id, timeout=5)
    assert not ann.seen("call-offered", call_id=later_id)
