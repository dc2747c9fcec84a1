"""Keyframe recovery: loss towards a subscriber → its PLI is relayed (rate-limited) to the
publisher → the publisher sends a keyframe → the subscriber decodes again."""

from __future__ import annotations

import asyncio
import time

import pytest

from media.synthetic import encode_vp8_clip
from sfu.keyframes import KeyframeRequester
from tests.conftest import close_sides, start_call


@pytest.fixture(scope="module")
def sparse_clip() -> list[bytes]:
    # 10 s with a single keyframe: without a relayed PLI nothing would repair a loss for ~10 s
    return encode_vp8_clip(frames=300, keyframe_interval=1000)


async def test_subscriber_loss_triggers_relayed_pli_and_recovery(server, sparse_clip, monkeypatch):
    monkeypatch.setattr("tests.support.peers._clip", lambda: sparse_clip)
    call_id, shopper, agent = await start_call(server)
    await asyncio.gather(shopper.peer.wait_decoded(30), agent.peer.wait_decoded(30))
    await asyncio.sleep(0.6)  # let the join-time keyframe requests settle
    requests_before = shopper.peer.keyframe_requests
    counters_before = len(agent.peer.received_counters)

    agent.peer.drop_incoming_video(1.5)
    await asyncio.sleep(1.9)
    assert agent.peer.dropped_packets > 20
    lost_at = time.monotonic()
    counters_before = len(agent.peer.received_counters)

    async def recovered() -> None:
        while shopper.peer.keyframe_requests == requests_before or \
                len(agent.peer.received_counters) < counters_before + 10:
            await asyncio.sleep(0.05)

    await asyncio.wait_for(recovered(), 10)
    print(f"recovered {time.monotonic() - lost_at:.2f}s after the loss; "
          f"PLIs at publisher {shopper.peer.keyframe_requests - requests_before}")
    # the publisher jumped back to its only keyframe (counter 0) on request, long before the
    # clip would have looped there by itself: what decodes after the loss starts near 0
    recent = agent.peer.received_counters[counters_before:]
    assert min(recent[:10]) < 5, recent[:10]
    await close_sides(shopper, agent)


async def test_keyframe_requests_are_rate_limited():
    sent: list[float] = []
    loop = asyncio.get_running_loop()
    requester = KeyframeRequester(lambda: sent.append(loop.time()), min_interval=0.2)
    for _ in range(50):  # a PLI storm from many subscribers
        requester.request()
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.25)
    requester.close()
    assert 2 <= len(sent) <= 5
    gaps = [b - a for a, b in zip(sent, sent[1:], strict=False)]
    assert all(g >= 0.19 for g in gaps), gaps
    assert requester.folded >= 40
