"""The RTP forwarding path (``forwarding="rtp"``) with real aiortc peers through the server."""

from __future__ import annotations

import asyncio
import random

import pytest

from media.aiortc_hooks import intercept_datagrams
from tests.conftest import close_sides, make_config, start_call
from tests.support.eventually import eventually


@pytest.fixture
def server_config(tmp_path):
    return make_config(tmp_path, forwarding="rtp")


class TestBothEncodedPaths:
    """The byte-identity proof on the frame path too (it stays selectable for comparison)."""

    @pytest.fixture(params=["rtp", "frames"])
    def server_config(self, request, tmp_path):
        return make_config(tmp_path, forwarding=request.param)

    async def test_media_is_forwarded_byte_for_byte(self, server):
        await _byte_for_byte(server, rtcp_checks=server.sfu.forwarding == "rtp")


async def _byte_for_byte(server, rtcp_checks: bool) -> None:
    call_id, shopper, agent = await start_call(server)
    await asyncio.gather(shopper.peer.wait_decoded(60), agent.peer.wait_decoded(60))
    for receiver, sender in ((shopper.peer, agent.peer), (agent.peer, shopper.peer)):
        assert len(receiver.received_hashes) >= 60
        foreign = [h for h in receiver.received_hashes if h not in sender.sent_hashes]
        assert foreign == [], f"{len(foreign)} frames were altered by the SFU"
        counters = receiver.received_counters
        steps = [b - a for a, b in zip(counters, counters[1:], strict=False)]
        assert sum(1 for s in steps if s in (1, -89)) >= 0.9 * len(steps)
        assert receiver.audio_frames >= 10
    if not rtcp_checks:
        await close_sides(shopper, agent)
        return
    # RTCP per leg: our sender reports reach the receivers, our receiver reports the publishers,
    # and the receivers' bandwidth estimates (REMB) are relayed to the publishers
    for side in (shopper, agent):
        video = side.peer.video_transceiver
        received = [s for s in (await video.receiver.getStats()).values() if s.type == "remote-outbound-rtp"]
        assert received and received[0].packetsSent > 0, "no sender report from the node"
        sent = [s for s in (await video.sender.getStats()).values() if s.type == "remote-inbound-rtp"]
        assert sent and sent[0].packetsReceived > 0, "no receiver report from the node"
    room = server.sfu.rooms[call_id]
    await eventually(lambda: all(p.publishers["video"].remb_relayed > 0 for p in room.participants.values()),
                     timeout=10, message="REMB relayed to both publishers")
    await close_sides(shopper, agent)


async def test_video_recovers_from_five_percent_loss_on_a_subscriber_leg(server):
    """5 % of the datagrams towards the agent are lost: the agent's NACKs are answered from the
    leg's history with RTX (RFC 4588) and what cannot be repaired is recovered by a keyframe."""
    call_id, shopper, agent = await start_call(server)
    await asyncio.gather(shopper.peer.wait_decoded(20), agent.peer.wait_decoded(20))
    agent.peer.lose_incoming(0.05)
    before = len(agent.peer.received_counters)
    hashes_before = len(agent.peer.received_hashes)
    await asyncio.sleep(6.0)
    decoded = len(agent.peer.received_counters) - before
    assert agent.peer.dropped_packets > 20
    leg = _leg(server, "agent", "video")
    assert leg["retransmitted"] > 0, leg
    # ~180 frames are sent in 6 s: nearly all of them still decode (the lost ones repaired)
    assert decoded >= 120, (decoded, leg)
    after = agent.peer.received_hashes[hashes_before:]
    assert [h for h in after if h not in shopper.peer.sent_hashes] == []  # repaired, not corrupted
    counters = agent.peer.received_counters[before:]
    assert sum(1 for a, b in zip(counters, counters[1:], strict=False) if b - a in (1, -89)) >= 0.8 * len(counters)
    print(f"loss test: dropped {agent.peer.dropped_packets}, decoded {decoded}, leg {leg}")
    await close_sides(shopper, agent)


def _leg(server, role: str, kind: str) -> dict:
    room = server.sfu.stats()["rooms"][0]
    participant = next(p for p in room["participants"] if p["role"] == role)
    return next(s["rtp"] for s in participant["subscribers"] if s["kind"] == kind)


async def test_loss_on_the_publishers_leg_is_nacked_and_repaired_by_the_publisher(server):
    """5 % of the shopper's RTP never reaches the node: the node NACKs the shopper (RFC 4585),
    the shopper retransmits with RTX, and the repaired stream reaches the agent."""
    call_id, shopper, agent = await start_call(server)
    await asyncio.gather(shopper.peer.wait_decoded(20), agent.peer.wait_decoded(20))
    participant = next(p for p in server.sfu.rooms[call_id].participants.values() if p.role == "shopper")
    dtls = participant.peer.pc.getTransceivers()[0].receiver.transport
    chance = random.Random(3)
    lost = []

    def keep(datagram: bytes) -> bool:
        if not 192 <= datagram[1] <= 208 and chance.random() < 0.05:  # RTP only, not RTCP
            lost.append(1)
            return False
        return True

    intercept_datagrams(dtls, keep)
    before = len(agent.peer.received_counters)
    await asyncio.sleep(5.0)
    video = participant.publishers["video"].stats()
    assert len(lost) > 10
    assert video["nacks_sent"] > 0 and video["recovered"] > 0, video
    decoded = len(agent.peer.received_counters) - before
    assert decoded >= 100, (decoded, video)
    print(f"upstream loss: lost {len(lost)}, publisher {video}, agent decoded {decoded}")
    await close_sides(shopper, agent)
