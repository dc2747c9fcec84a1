"""The RTP forwarding path (``forwarding="rtp"``) with real aiortc peers through the server."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import close_sides, make_config, start_call


@pytest.fixture
def server_config(tmp_path):
    return make_config(tmp_path, forwarding="rtp")


async def test_media_is_forwarded_byte_for_byte_on_the_rtp_path(server):
    call_id, shopper, agent = await start_call(server)
    await asyncio.gather(shopper.peer.wait_decoded(60), agent.peer.wait_decoded(60))
    for receiver, sender in ((shopper.peer, agent.peer), (agent.peer, shopper.peer)):
        assert len(receiver.received_hashes) >= 60
        foreign = [h for h in receiver.received_hashes if h not in sender.sent_hashes]
        assert foreign == [], f"{len(foreign)} frames were altered by the SFU"
        counters = receiver.received_counters
        steps = [b - a for a, b in zip(counters, counters[1:])]
        assert sum(1 for s in steps if s in (1, -89)) >= 0.9 * len(steps)
        assert receiver.audio_frames >= 10
    print(server.sfu.stats())
    await close_sides(shopper, agent)
