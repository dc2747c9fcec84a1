"""Keyframe recovery: loss towards a subscriber → its PLI is relayed (rate-limited) to the
publisher → the publisher sends a keyframe → the subscriber decodes again."""

from __future__ import annotations

import asyncio
import time

import pytest

from media.synthetic import encode_vp8_clip
from sfu.keyframes import KeyframeRequester
from tests.conftest import answered_call, close_sides, start_call


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


# -- join time: every subscriber leg starts at a keyframe, and gets one soon ------------------

async def _accepted_call(server) -> tuple[str, object, object]:
    """Agent signs in, shopper calls, agent accepts: (call id, shopper socket, agent socket)
    at ``connecting``, ready to negotiate with whatever peers the test brings."""
    call = await answered_call(server)
    call_id, shopper_ws, agent_ws = call.call_id, call.shopper_ws, call.agent_ws
    return call_id, shopper_ws, agent_ws


def _record_first_forwarded(monkeypatch) -> dict[int, tuple[bool, float]]:
    """Leg SSRC → (its first forwarded video packet starts a keyframe, when), from the node."""
    from sfu.rtp_header import starts_keyframe
    from sfu.rtp_leg import RtpLeg

    first: dict[int, tuple[bool, float]] = {}
    original = RtpLeg._send

    def send(leg, header, data, now, send_time):
        if leg.kind == "video" and leg.ssrc not in first:
            first[leg.ssrc] = (starts_keyframe("VP8", data, header.payload_start), time.monotonic())
        original(leg, header, data, now, send_time)

    monkeypatch.setattr(RtpLeg, "_send", send)
    return first


async def test_a_leg_keeps_asking_until_it_forwards_a_keyframe(server, sparse_clip, monkeypatch):
    """The publisher's clip starts with delta frames and its one keyframe is 5 s in, and the
    publisher ignores the first keyframe request (a lost PLI): the subscriber leg drops the
    deltas, asks again, and its first forwarded packet starts a keyframe well before 5 s."""
    from media.aiortc_hooks import on_keyframe_request
    from tests.support.peers import ClientPeer

    assert server.sfu.forwarding == "rtp"
    first = _record_first_forwarded(monkeypatch)
    rotated = sparse_clip[150:] + sparse_clip[:150]  # delta, delta, … keyframe at 5 s
    shopper_peer, agent_peer = ClientPeer("shopper", clip=rotated), ClientPeer("agent", clip=rotated)
    ignored: list[str] = []

    def lossy(peer: ClientPeer) -> None:
        def requested() -> None:
            if peer.name not in ignored:
                ignored.append(peer.name)  # the first PLI is lost on the way
                return
            peer._keyframe_requested()
        on_keyframe_request(peer.video_transceiver.sender, requested)

    lossy(shopper_peer)
    lossy(agent_peer)
    call_id, shopper_ws, agent_ws = await _accepted_call(server)
    started = time.monotonic()
    await asyncio.gather(shopper_ws.negotiate(shopper_peer, call_id), agent_ws.negotiate(agent_peer, call_id))
    await asyncio.gather(shopper_peer.wait_decoded(1, timeout=4.0), agent_peer.wait_decoded(1, timeout=4.0))
    assert sorted(ignored) == ["agent", "shopper"]
    assert len(first) == 2 and all(key for key, _ in first.values()), first
    legs = [s["rtp"] for p in server.sfu.stats()["rooms"][0]["participants"] for s in p["subscribers"]
            if s["kind"] == "video"]
    assert all(leg["keyframe_asks"] >= 2 and leg["dropped"] > 0 for leg in legs), legs
    assert all(leg["keyframe_wait_ms"] is not None and leg["keyframe_wait_ms"] < 2000 for leg in legs), legs
    print("first keyframe forwarded after", [round(at - started, 2) for _, at in first.values()], "s;", legs)
    for peer in (shopper_peer, agent_peer):
        await peer.close()
    await shopper_ws.close()
    await agent_ws.close()


async def test_a_late_registering_receiver_still_gets_a_keyframe_soon(server, sparse_clip, monkeypatch):
    """The agent's client drops everything for its first 0.7 s of media (its receiver was
    registered after the node forwarded the first keyframe). It then sees delta frames only and
    sends a PLI (as a browser does); the node relays it and a keyframe arrives in a bounded
    time, not at the clip's next keyframe 10 s later."""
    from load_tests.pacer import PacedSender
    from load_tests.rtp_peer import RtpClips, RtpLoadPeer
    from media.synthetic import encode_opus_clip

    assert server.sfu.forwarding == "rtp"
    first = _record_first_forwarded(monkeypatch)
    clips = RtpClips(sparse_clip, encode_opus_clip(50))
    pacer = PacedSender()
    pacer.start()
    shopper, agent = RtpLoadPeer("shopper", clips, pacer), RtpLoadPeer("agent", clips, pacer)
    shopper.remote, agent.remote = agent, shopper
    late = 0.7
    window: dict[str, float] = {}
    on_rtp = agent._on_rtp

    def late_receiver(data: bytes) -> None:
        now = time.monotonic()
        window.setdefault("from", now)
        if now - window["from"] < late:
            return  # not registered yet: dropped, like aiortc's router drops an unknown stream
        window.setdefault("to", now)
        on_rtp(data)

    agent._on_rtp = late_receiver  # type: ignore[method-assign]
    call_id, shopper_ws, agent_ws = await _accepted_call(server)
    try:
        await asyncio.gather(shopper_ws.negotiate(shopper, call_id), agent_ws.negotiate(agent, call_id))
        await asyncio.wait_for(asyncio.gather(shopper.decoded.wait(), agent.decoded.wait()), 6.0)
        assert all(key for key, _ in first.values()) and len(first) == 2, first
        assert agent.startup_plis >= 1 and shopper.keyframe_requests >= 1
        waited = agent.first_decoded_at - window["to"]
        print(f"late receiver: keyframe decoded {waited:.2f} s after it registered; "
              f"startup PLIs {agent.startup_plis}")
        assert waited < 1.5, waited
        assert agent.samples_mismatched == 0 and agent.errors == []
    finally:
        for peer in (shopper, agent):
            await peer.close()
        await pacer.close()
        await shopper_ws.close()
        await agent_ws.close()
