"""kill -9 of the server mid-call: the recordings on disk still play up to within a few
seconds of the kill, the next start marks them interrupted, and the call record is closed,
not lost."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time

import aiohttp
import av

from client import SignalingClient, demo_token
from signaling.auth import Role, TokenService
from tests.conftest import SECRET
from tests.support.browser import start_server
from tests.support.peers import ClientPeer, agent_clip


def ffprobe_ok(path) -> bool:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(path)],
                         capture_output=True, text=True, timeout=60)
    return out.returncode == 0 and json.loads(out.stdout)["streams"]


def last_frame_time(path) -> tuple[int, float]:
    """Decode every frame; return (frames, time of the last one in seconds)."""
    frames, last = 0, 0.0
    with av.open(str(path)) as container:
        stream = container.streams[0]
        for frame in container.decode(stream):
            frames += 1
            if frame.time is not None:
                last = max(last, frame.time)
    return frames, last


async def test_kill_9_mid_call_keeps_playable_recordings_and_the_call_record(tmp_path):
    server = start_server(tmp_path, "--secret", SECRET)
    peers: list[ClientPeer] = []
    try:
        async with aiohttp.ClientSession() as http:
            agent_ws = await SignalingClient(http, server.url).connect()
            await agent_ws.send("join", token=(await demo_token(http, server.url, "agent"))["token"])
            await agent_ws.expect("joined")
            shopper = await demo_token(http, server.url, "shopper", customer_id="c-9")
            call_id = shopper["call_id"]
            shopper_ws = await SignalingClient(http, server.url).connect()
            await shopper_ws.send("join", token=shopper["token"], context={"category": "rings"})
            await agent_ws.expect("call-offered", call_id=call_id, timeout=10)
            await agent_ws.send("accept", call_id=call_id)
            shopper_peer, agent_peer = ClientPeer("shopper"), ClientPeer("agent", clip=agent_clip())
            peers += [shopper_peer, agent_peer]
            await asyncio.gather(shopper_ws.negotiate(shopper_peer, call_id),
                                 agent_ws.negotiate(agent_peer, call_id))
            await shopper_ws.expect("recording", state="on", timeout=10)
            await asyncio.gather(shopper_peer.wait_decoded(10), agent_peer.wait_decoded(10))
            recording_since = time.time()
            await asyncio.sleep(5)
            os.kill(server.proc.pid, signal.SIGKILL)  # our own child, by PID
            killed_at = time.time()
            server.proc.wait(10)
    finally:
        for peer in peers:
            await peer.close()
        server.stop()

    # the files on disk play up to within a few seconds of the kill
    files = sorted((server.recordings_dir / call_id).glob("*.webm"))
    assert len(files) == 4, files
    for path in files:
        assert ffprobe_ok(path), path
        frames, last = last_frame_time(path)
        assert frames > 0
        recorded = killed_at - recording_since
        assert last > recorded - 3.0, (path.name, last, recorded)

    # the next start: recordings interrupted (not lost), the call record closed with a reason
    again = start_server(tmp_path, "--secret", SECRET)
    try:
        qa = TokenService(SECRET).issue(Role.QA, "quinn")
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {qa}"}) as http:
            async with http.get(f"{again.url}/api/recordings/{call_id}") as resp:
                detail = await resp.json()
        states = sorted(t["state"] for t in detail["tracks"])
        assert states == ["interrupted"] * 4, detail["tracks"]
        record = detail["call"]
        assert record["state"] == "ended" and record["end_reason"] == "error"
        assert "accepted" in [e["type"] for e in record["events"]]
    finally:
        again.stop()
