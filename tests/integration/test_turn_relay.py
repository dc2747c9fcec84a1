"""TURN with short-lived credentials, against a real coturn on loopback.

The server hands each participant its own TURN REST credential in ``joined``; two aiortc
clients told to use relay candidates only (``iceTransportPolicy: relay``) call each other
through the server and decode video both ways, their media going through coturn. Negative
controls: coturn refuses a credential signed with another secret, and an expired one."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest
from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
)

from signaling.turn import turn_password
from silkline.config import Config
from tests.conftest import make_config
from tests.support.coturn import Coturn
from tests.support.peers import ClientPeer, agent_clip, hashes


@pytest.fixture
def server_config(tmp_path: Path, coturn: Coturn) -> Config:
    return make_config(tmp_path, turn_urls=[coturn.url], turn_secret=coturn.secret, turn_ttl=600.0)


def relay_only(ice_servers: list[dict]) -> RTCConfiguration:
    return RTCConfiguration(iceServers=[RTCIceServer(**s) for s in ice_servers],
                            iceTransportPolicy=RTCIceTransportPolicy.RELAY,
                            bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


def check_minted(joined: dict, coturn: Coturn, participant_id: str) -> list[dict]:
    servers = joined["ice_servers"]
    assert len(servers) == 1
    server = servers[0]
    assert server["urls"] == [coturn.url]
    expiry, _, subject = server["username"].partition(":")
    assert subject == participant_id
    assert 0 < int(expiry) - time.time() <= 600 + 5
    assert server["credential"] == turn_password(coturn.secret, server["username"])
    assert coturn.secret not in repr(joined)
    return servers


def nominated_types(peer: ClientPeer) -> set[str]:
    types = set()
    for transceiver in peer.pc.getTransceivers():
        transport = transceiver.sender.transport
        if transport is None:
            continue
        connection = transport.transport._connection
        types.update(pair.local_candidate.type for pair in connection._nominated.values())
    return types


async def test_call_through_the_turn_relay_decodes_video_both_ways(server, coturn):
    agent_clip()  # the pre-encoded clips are slow to make: before any socket opens
    ClientPeer("warm-up")
    agent_token = await server.token("agent", name="Ann")
    agent_ws = await server.client()
    await agent_ws.send("join", token=agent_token["token"])
    agent_joined = await agent_ws.expect("joined")
    agent_ice = check_minted(agent_joined, coturn, agent_joined["participant_id"])
    assert server.sfu.ice_servers == []  # the server's own peers need no TURN on loopback

    shopper_token = await server.token("shopper")
    call_id = shopper_token["call_id"]
    shopper_ws = await server.client()
    await shopper_ws.send("join", token=shopper_token["token"], context={"product_id": "ring-42"})
    shopper_joined = await shopper_ws.expect("joined", call_id=call_id)
    shopper_ice = check_minted(shopper_joined, coturn, shopper_joined["participant_id"])
    assert shopper_ice[0]["username"] != agent_ice[0]["username"]

    shopper = ClientPeer("shopper", configuration=relay_only(shopper_ice))
    agent = ClientPeer("agent", clip=agent_clip(), configuration=relay_only(agent_ice))
    try:
        await agent_ws.expect("call-offered", call_id=call_id)
        await agent_ws.send("accept", call_id=call_id)
        await shopper_ws.expect("call-state", state="connecting")
        await agent_ws.expect("call-state", state="connecting")
        await asyncio.gather(shopper_ws.negotiate(shopper, call_id), agent_ws.negotiate(agent, call_id))

        for peer in (shopper, agent):
            candidates = re.findall(r"a=candidate:.*", peer.pc.localDescription.sdp)
            assert candidates, f"{peer.name} gathered no relay candidate; coturn log:\n{coturn.log()[-3000:]}"
            assert all(" typ relay" in c for c in candidates), candidates

        await shopper.wait_decoded(10, timeout=30)
        await agent.wait_decoded(10, timeout=30)
        await shopper_ws.expect("call-state", state="connected", timeout=15)
        # what each side decoded is what the other sent, byte for byte, via the relay
        assert set(shopper.received_hashes) & hashes(agent_clip())
        assert set(agent.received_hashes) & shopper.sent_hashes
        assert nominated_types(shopper) == {"relay"}
        assert nominated_types(agent) == {"relay"}
    finally:
        for peer in (shopper, agent):
            await peer.close()
        for ws in (shopper_ws, agent_ws):
            await ws.close()


async def gathered_relay_candidates(ice_server: dict) -> list[str]:
    pc = RTCPeerConnection(relay_only([ice_server]))
    try:
        pc.addTransceiver("audio", "recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        return re.findall(r"a=candidate:.* typ relay.*", pc.localDescription.sdp)
    finally:
        await pc.close()


async def test_coturn_accepts_a_minted_credential_and_refuses_forged_or_expired_ones(server, coturn):
    ws = await server.client()
    await ws.send("join", token=(await server.token("agent"))["token"])
    minted = (await ws.expect("joined"))["ice_servers"][0]
    await ws.close()
    assert await gathered_relay_candidates(minted)

    forged = {**minted, "credential": turn_password("another-secret", minted["username"])}
    assert await gathered_relay_candidates(forged) == []

    stale_name = f"{int(time.time()) - 60}:agent-old"
    expired = {**minted, "username": stale_name, "credential": turn_password(coturn.secret, stale_name)}
    assert await gathered_relay_candidates(expired) == []
