"""Two real aiortc peers call each other through the server's SFU over loopback."""

from __future__ import annotations

import asyncio
import gc

from sfu.peer import Peer
from tests.conftest import close_sides, start_call


async def test_media_is_forwarded_byte_for_byte(server):
    call_id, shopper, agent = await start_call(server)
    await shopper.ws.expect("call-state", state="connected", timeout=20)
    await agent.ws.expect("call-state", state="connected", timeout=20)
    await asyncio.gather(shopper.peer.wait_decoded(60), agent.peer.wait_decoded(60))
    # accept → first decoded remote frame, for the closing note and docs/performance.md
    print(f"JOIN_MS aiortc shopper={(shopper.peer.first_decoded_at - shopper.accepted_at) * 1000:.0f} "
          f"agent={(agent.peer.first_decoded_at - agent.accepted_at) * 1000:.0f}")

    # Every encoded frame each side received is a frame the other side sent, byte for byte:
    # a decode/re-encode relay would produce different bytes.
    for receiver, sender in ((shopper.peer, agent.peer), (agent.peer, shopper.peer)):
        assert len(receiver.received_hashes) >= 60
        foreign = [h for h in receiver.received_hashes if h not in sender.sent_hashes]
        assert foreign == [], f"{len(foreign)} frames were altered by the SFU"
        # and they decode to the publisher's frame counters, in order
        counters = receiver.received_counters
        assert len(counters) >= 50
        steps = [b - a for a, b in zip(counters, counters[1:], strict=False)]
        assert sum(1 for s in steps if s in (1, -89)) >= 0.9 * len(steps)
        assert receiver.audio_frames >= 10

    stats = server.sfu.stats()["rooms"][0]
    for participant in stats["participants"]:
        assert {p["codec"] for p in participant["publishers"]} == {"opus", "VP8"}

    await shopper.ws.send("hangup", call_id=call_id)
    ended = await agent.ws.expect("call-ended", call_id=call_id)
    assert ended["reason"] == "hang_up" and ended["by"] == "shopper"
    await shopper.ws.expect("call-ended", call_id=call_id)

    record = await server.store.get_call(call_id)
    kinds = [e["type"] for e in record["events"]]
    for kind in ("requested", "queued", "offered", "accepted", "connected", "ended"):
        assert kind in kinds, kinds
    assert record["state"] == "ended" and record["end_reason"] == "hang_up"
    assert server.sfu.rooms == {} and server.calls.calls == {}
    await close_sides(shopper, agent)


async def test_agent_hangs_up_and_nothing_leaks(server):
    call_id, shopper, agent = await start_call(server, encoded=False)
    await asyncio.gather(shopper.peer.wait_decoded(10), agent.peer.wait_decoded(10))
    await agent.ws.send("hangup", call_id=call_id)
    ended = await shopper.ws.expect("call-ended", call_id=call_id)
    assert ended["by"] == "agent"
    # wrap-up (disposition + notes), then the agent is available for the next call
    await agent.ws.expect("agent-state", state="wrap_up", call_id=call_id)
    await agent.ws.send("wrap-up", call_id=call_id, disposition="resolved", notes="n/a")
    await agent.ws.expect("agent-state", state="available")
    await close_sides(shopper, agent)
    await asyncio.sleep(0)
    gc.collect()
    live_peers = [o for o in gc.get_objects() if isinstance(o, Peer) and not o.closed]
    assert live_peers == []
    assert server.sfu.rooms == {}
