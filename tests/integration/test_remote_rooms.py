"""The centre drives rooms that live on another node, over Redis per-node channels.

One test process holds two nodes: the centre (the app, its CallService's ``sfu`` the
``RemoteRooms`` facade, its recorder a ``RemoteRecorder``) and a media node ("media-1": a real
``SfuNode`` and ``Recorder`` behind a ``MediaAgent``, heartbeating into the Redis node
registry, which the centre's placement reads). Real aiortc peers, a real redis-server.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer

from media.clock import SystemClock
from recorder import Recorder
from sfu import AdmissionLimit, CloseReason, SfuNode
from signaling.auth import Role
from signaling.cluster.cluster_media import ClusterMedia
from signaling.errors import ErrorCode, SignalingError
from signaling.state.heartbeat import NodeHeartbeat
from signaling.state.nodes import NodeEntry, NodeState
from signaling.state.redis_nodes import RedisNodeRegistry
from silkline.app import CALLS, RECORDER, SFU, create_app, runner_options
from tests.conftest import Running, close_sides, make_config, start_call
from tests.support.eventually import eventually
from tests.support.peers import ClientPeer, MonitorPeer
from tests.support.redis_processes import RedisProcess


@dataclass
class Cluster:
    centre: Running
    centre_media: ClusterMedia
    media: ClusterMedia
    media_sfu: SfuNode
    media_recorder: Recorder


@pytest.fixture
async def cluster(tmp_path: Path, redis_url: str) -> AsyncIterator[Cluster]:
    flush = aioredis.from_url(redis_url)
    await flush.flushdb()
    await flush.aclose()
    clock = SystemClock()
    config = make_config(tmp_path)
    app = create_app(config, clock=clock)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server(**runner_options(config))
    url = str(test_server.make_url("")).rstrip("/")

    registry = RedisNodeRegistry(redis_url)
    await registry.open()
    media_sfu = SfuNode(media_timeout=2.0)
    media_recorder = Recorder(config.recordings_dir, clock=clock, node_id="media-1")
    limit = AdmissionLimit(max_calls=4, max_loop_lag_ms=0, max_cpu_pct=0)
    media = ClusterMedia(redis_url, "media-1", media_sfu, media_recorder, registry.nodes, limit, clock)
    started = clock.now()
    heartbeat = NodeHeartbeat(registry, lambda: NodeEntry(
        "media-1", 1, "here", NodeState.ACTIVE, started, clock.now(),
        load=media_sfu.admission.load().as_dict(), rooms=sorted(media_sfu.rooms)), clock, interval=0.5)
    await media.open()
    heartbeat.start()
    await eventually(lambda: registry.nodes(clock.now()), message="the media node registered")

    centre_media = ClusterMedia(redis_url, "centre-1", app[SFU], app[RECORDER], registry.nodes, limit, clock,
                                views_interval=0.5)
    await centre_media.open()
    calls = app[CALLS]
    calls.sfu = centre_media.rooms
    assert calls.recording is not None and centre_media.recorder is not None
    calls.recording.recorder = centre_media.recorder
    async with aiohttp.ClientSession() as http:
        yield Cluster(Running(url, app, http, config), centre_media, media, media_sfu, media_recorder)
    await test_server.close()  # ends the calls (the remote rooms close on their node)
    await centre_media.close()
    await heartbeat.close()
    await media_sfu.close()
    await media_recorder.close()
    await media.close()
    await registry.close()


async def test_a_call_runs_through_a_room_on_another_node(cluster: Cluster):
    server = cluster.centre
    call_id, shopper, agent = await start_call(server)
    await shopper.ws.expect("call-state", state="connected", timeout=20)
    await agent.ws.expect("call-state", state="connected", timeout=20)
    await asyncio.gather(shopper.peer.wait_decoded(30), agent.peer.wait_decoded(30))
    # the media is on media-1, byte for byte; the centre's own SFU carries nothing
    assert list(cluster.media_sfu.rooms) == [call_id]
    assert server.app[SFU].rooms == {}
    assert cluster.centre_media.rooms.node_of(call_id) == "media-1"
    for receiver, sender in ((shopper.peer, agent.peer), (agent.peer, shopper.peer)):
        foreign = [h for h in receiver.received_hashes if h not in sender.sent_hashes]
        assert len(receiver.received_hashes) >= 30 and foreign == []
    # the publishers are mirrored at the centre from the media agent's events
    room = server.calls.sfu.rooms[call_id]
    for participant in room.participants.values():
        assert set(participant.publishers) == {"audio", "video"}
        assert participant.media_state.value == "connected"

    # a snapshot: the media node decodes, the centre stores the JPEG
    await agent.ws.send("snapshot", call_id=call_id)
    snap = await agent.ws.expect("photo", call_id=call_id, kind="snapshot", timeout=15)
    async with server.http.get(server.url + snap["url"],
                               headers={"Authorization": f"Bearer {agent.token['token']}"}) as resp:
        assert resp.status == 200 and (await resp.read())[:2] == b"\xff\xd8"

    # a broken offer is refused with the media node's words, code unchanged
    await shopper.ws.send("offer", call_id=call_id, sdp="v=0 not an offer")
    refused = await shopper.ws.expect("error", timeout=10)
    assert refused["code"] == "bad_sdp"

    await shopper.ws.send("hangup", call_id=call_id)
    await agent.ws.expect("call-ended", call_id=call_id)
    await eventually(lambda: cluster.media_sfu.rooms == {}, message="the remote room closed")
    assert server.calls.sfu.rooms == {}
    record = await server.store.get_call(call_id)
    assert record["state"] == "ended" and record["end_reason"] == "hang_up"
    await close_sides(shopper, agent)


async def test_a_supervisor_monitors_a_remote_room(cluster: Cluster):
    server = cluster.centre
    call_id, shopper, agent = await start_call(server)
    await asyncio.gather(shopper.peer.wait_decoded(10), agent.peer.wait_decoded(10))
    supervisor_ws = await server.client()
    await supervisor_ws.send("join", token=server.tokens.issue(Role.SUPERVISOR, "sue", name="Sue"))
    await supervisor_ws.expect("joined")
    await supervisor_ws.send("monitor", call_id=call_id)
    await supervisor_ws.expect("monitoring", call_id=call_id, mode="silent")
    monitor = MonitorPeer()
    await supervisor_ws.send("offer", call_id=call_id, sdp=await monitor.offer())
    await monitor.accept_answer((await supervisor_ws.expect("answer", timeout=15))["sdp"])
    await eventually(lambda: min(len(h) for h in monitor.video_hashes) >= 20, timeout=20,
                     message="both sides on the monitor")
    senders = sorted("shopper" if set(h) <= shopper.peer.sent_hashes else
                     "agent" if set(h) <= agent.peer.sent_hashes else "?" for h in monitor.video_hashes)
    assert senders == ["agent", "shopper"]
    remote = cluster.media_sfu.rooms[call_id]
    supervisor = next(p for p in remote.participants.values() if p.role == "supervisor")
    assert supervisor.audience == frozenset()  # silent, on the media node
    await supervisor_ws.send("monitor-mode", call_id=call_id, mode="barge")
    await supervisor_ws.expect("monitoring", call_id=call_id, mode="barge")
    await eventually(lambda: supervisor.audience is None, message="barge-in reached the media node")
    await supervisor_ws.send("unmonitor", call_id=call_id)
    await supervisor_ws.expect("call-ended", reason="monitor_end")
    await eventually(lambda: supervisor.participant_id not in remote.participants, message="monitor removed")
    await monitor.close()
    await supervisor_ws.close()
    await close_sides(shopper, agent)


async def test_a_shopper_who_vanishes_comes_back_and_the_call_is_transferred_in_the_remote_room(cluster: Cluster):
    """The media watchdog on media-1 notices the vanished peer (LOST travels to the centre), the
    shopper returns with a new peer (publishers replaced in the mirror), then the agent hands the
    call to another agent in the same remote room."""
    server = cluster.centre
    call_id, shopper, agent = await start_call(server)
    await asyncio.gather(shopper.peer.wait_decoded(10), agent.peer.wait_decoded(10))
    room = server.calls.sfu.rooms[call_id]
    mirror = next(p for p in room.participants.values() if p.role == "shopper")
    first_video = mirror.publishers["video"]
    await shopper.peer.close()
    await shopper.ws.close()
    await agent.ws.expect("participant-state", role="shopper", state="reconnecting", timeout=10)
    shopper.ws = await server.client()
    await shopper.ws.send("join", token=shopper.token["token"])
    assert (await shopper.ws.expect("joined", call_id=call_id))["resumed"] is True
    shopper.peer = ClientPeer("shopper-again")
    before = agent.peer.video_frames_decoded
    await shopper.ws.negotiate(shopper.peer, call_id)
    await agent.ws.expect("participant-state", role="shopper", state="connected", timeout=15)
    await agent.peer.wait_decoded(before + 30)
    assert mirror.publishers["video"] is not first_video and first_video.closed

    second_ws = await server.client()
    await second_ws.send("join", token=server.tokens.issue(Role.AGENT, "bob", name="Bob",
                                                             skills={"general": 3, "jewellery": 3}))
    await second_ws.expect("joined")
    await agent.ws.send("transfer", call_id=call_id, to_agent="bob")
    assert (await agent.ws.expect("call-ended", call_id=call_id))["reason"] == "transferred"
    await second_ws.expect("call-offered", call_id=call_id)
    await second_ws.send("accept", call_id=call_id)
    second = ClientPeer("bob")
    await second_ws.negotiate(second, call_id)
    await second.wait_decoded(20)
    remote = cluster.media_sfu.rooms[call_id]
    assert sorted(p.role for p in remote.participants.values()) == ["agent", "shopper"]
    assert any(pid.endswith("bob") for pid in remote.participants)
    await second_ws.send("hangup", call_id=call_id)
    await shopper.ws.expect("call-ended")
    await eventually(lambda: cluster.media_sfu.rooms == {}, message="the remote room closed")
    await second.close()
    await second_ws.close()
    await close_sides(shopper, agent)


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe (Debian ffmpeg) is not installed")
async def test_a_recorded_call_is_written_on_the_media_node_and_served_by_the_centre(cluster: Cluster):
    server = cluster.centre
    call_id, shopper, agent = await start_call(server, context={"category": "rings", "title": "Ring"})
    await shopper.ws.expect("recording", state="on", timeout=10)
    await asyncio.gather(shopper.peer.wait_decoded(10), agent.peer.wait_decoded(10))
    await eventually(lambda: len(cluster.media_recorder.tracks(call_id)) == 4, message="four tracks tapped")
    await agent.ws.send("pause-recording", call_id=call_id)
    await shopper.ws.expect("recording", state="paused")
    await eventually(lambda: cluster.media_recorder.is_paused(call_id), message="paused on the media node")
    await agent.ws.send("resume-recording", call_id=call_id)
    await shopper.ws.expect("recording", state="on")
    await asyncio.sleep(1.5)  # media to keep after the resume
    await agent.ws.send("hangup", call_id=call_id)
    await shopper.ws.expect("call-ended")
    qa = server.tokens.issue(Role.QA, "quinn")

    async def tracks() -> list[dict]:
        async with server.http.get(f"{server.url}/api/recordings/{call_id}",
                                   headers={"Authorization": f"Bearer {qa}"}) as resp:
            return (await resp.json()).get("tracks") or [] if resp.status == 200 else []

    listed = await eventually(tracks, timeout=20, message="the centre lists the tracks")
    assert sorted((t["role"], t["kind"]) for t in listed) == [
        ("agent", "audio"), ("agent", "video"), ("shopper", "audio"), ("shopper", "video")]
    for track in listed:
        assert track["state"] == "complete"
        record = server.app[RECORDER].get(track["recording_id"])
        assert record["node_id"] == "media-1" and record["pauses"]
        path = server.app[RECORDER].root / record["file"]
        probe = await asyncio.to_thread(lambda p=path: subprocess.run(
            ["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(p)],
            capture_output=True, text=True, check=True).stdout)
        assert ('"vp8"' if track["kind"] == "video" else '"opus"') in probe
        async with server.http.get(server.url + track["url"], headers={"Range": "bytes=0-99"}) as resp:
            assert resp.status == 206  # the centre serves a file the media node wrote

    async def composite() -> dict | None:  # the centre composes from the files media-1 wrote
        async with server.http.get(f"{server.url}/api/recordings/{call_id}",
                                   headers={"Authorization": f"Bearer {qa}"}) as resp:
            found = (await resp.json())["composite"]
        return found if found.get("state") in ("complete", "failed") else None

    made = await eventually(composite, timeout=120, interval=0.5, message="the QA playback file")
    assert made["state"] == "complete", made
    await close_sides(shopper, agent)


async def test_a_node_that_is_gone_is_unavailable_and_its_room_forgotten(cluster: Cluster):
    rooms = cluster.centre_media.rooms
    # a node the placement may still believe in, but nobody listens on its channel
    room = rooms.open_room("c_gone0000000001", to_node="media-gone")
    participant = room.add_participant("shopper-x", "shopper")
    started = time.monotonic()
    with pytest.raises(SignalingError) as gone:
        await participant.negotiate("v=0")
    assert gone.value.code is ErrorCode.SERVICE_UNAVAILABLE and "media-gone" in gone.value.message
    assert time.monotonic() - started < 5.5
    started = time.monotonic()
    await rooms.close_room("c_gone0000000001", CloseReason.ERROR)  # no exception: only forgotten
    assert time.monotonic() - started < 3.0
    assert rooms.node_of("c_gone0000000001") is None and "c_gone0000000001" not in rooms.rooms

    # the real media node stops listening (its process died): the same, within the timeout
    room = rooms.open_room("c_gone0000000002", to_node="media-1")
    await eventually(lambda: "c_gone0000000002" in cluster.media_sfu.rooms, message="opened on media-1")
    await cluster.media.channels.close()
    with pytest.raises(SignalingError) as away:
        await room.add_participant("shopper-y", "shopper").add_candidate(None)
    assert away.value.code is ErrorCode.SERVICE_UNAVAILABLE
    started = time.monotonic()
    await rooms.close_room("c_gone0000000002", CloseReason.ERROR)
    assert time.monotonic() - started < 3.0 and rooms.rooms == {}


async def test_when_every_node_is_full_the_next_call_waits_in_words_then_is_served(cluster: Cluster):
    server = cluster.centre
    cluster.centre_media.placement.limit = AdmissionLimit(max_calls=1, max_loop_lag_ms=0, max_cpu_pct=0)
    call_id, shopper, agent = await start_call(server)
    second_agent = await server.client()
    await second_agent.send("join", token=(await server.token("agent", name="Bo"))["token"])
    await second_agent.expect("joined")
    token = await server.token("shopper")
    waiting = await server.client()
    await waiting.send("join", token=token["token"], context={"product_id": "p", "title": "Ring"})
    held = await waiting.expect("call-state", state="waiting", reason="at_capacity", timeout=10)
    assert held["message"]
    assert not second_agent.seen("call-offered")
    await shopper.ws.send("hangup", call_id=call_id)
    await agent.ws.expect("call-ended", call_id=call_id)
    # the room closes on media-1, its heartbeat says so, and the waiting call rings the other agent
    await second_agent.expect("call-offered", call_id=token["call_id"], timeout=15)
    await waiting.close()
    await second_agent.close()
    await close_sides(shopper, agent)


async def test_a_node_that_refuses_after_all_gets_the_room_placed_on_another(tmp_path: Path, redis_url: str):
    """media-a's view is stale (it says active, it is draining): the open is refused there with
    at_capacity, and the room and its participant go to media-b, where media flows."""
    clock = SystemClock()
    limit = AdmissionLimit(max_calls=4, max_loop_lag_ms=0, max_cpu_pct=0)
    views = [NodeEntry(n, 1, "h", NodeState.ACTIVE, 0.0, clock.now()).view(clock.now(), alive=True)
             for n in ("media-a", "media-b")]

    async def read(now: float) -> list[dict]:
        return [dict(v, rooms=[], load={"rooms": 0}) if v["node_id"] == "media-a" else v for v in views]

    sfus = {n: SfuNode(media_timeout=2.0) for n in ("media-a", "media-b")}
    sfus["media-a"].admission.draining = True
    nodes = {n: ClusterMedia(redis_url, n, sfu, None, read, limit, clock) for n, sfu in sfus.items()}
    centre = ClusterMedia(redis_url, "centre-9", SfuNode(), None, read, limit, clock)
    peer = ClientPeer("shopper", True)
    try:
        for media in (*nodes.values(), centre):
            await media.open()
        room = centre.rooms.open_room("c_refused000001")
        assert room.node_id == "media-a"  # the tie goes to the first by name
        participant = room.add_participant("shopper-1", "shopper")
        await eventually(lambda: room.node_id == "media-b" and "c_refused000001" in sfus["media-b"].rooms,
                         message="placed again on media-b")
        remote = await eventually(lambda: sfus["media-b"].rooms["c_refused000001"].get("shopper-1"),
                                  message="the participant re-added on media-b")
        assert sfus["media-a"].rooms == {}
        assert centre.rooms.refusing() == {"media-a"}  # passed over for a while, its view says what it will
        assert centre.rooms.open_room("c_refused000002").node_id == "media-b"
        await centre.rooms.close_room("c_refused000002", CloseReason.HANG_UP)
        answer = await participant.negotiate(await peer.offer())
        await peer.accept_answer(answer)
        await eventually(lambda: set(participant.publishers) == {"audio", "video"}, timeout=15,
                         message="publishers mirrored from media-b")
        assert set(remote.publishers) == {"audio", "video"}
        jpeg = await eventually(participant.publishers["video"].snapshot_jpeg, timeout=15, message="a snapshot")
        assert jpeg[:2] == b"\xff\xd8"
        await centre.rooms.close_room("c_refused000001", CloseReason.HANG_UP)
        await eventually(lambda: sfus["media-b"].rooms == {}, message="closed on media-b")
    finally:
        await peer.close()
        for media in (centre, *nodes.values()):
            await media.close()
        for sfu in sfus.values():
            await sfu.close()


async def test_media_goes_on_through_a_redis_outage_and_the_mirror_catches_up_after(tmp_path: Path):
    """Redis killed mid-call: the media node keeps the media flowing; what it reported meanwhile
    (the peer went away: LOST) is lost with pub/sub, and is caught up once both nodes are
    subscribed again. A new centre adopting the room learns its publishers the same way. A node
    cut off while its room was taken from it closes the room when it is back."""

    process = RedisProcess(tmp_path / "redis")
    clock = SystemClock()
    limit = AdmissionLimit(max_calls=4, max_loop_lag_ms=0, max_cpu_pct=0)

    async def read(now: float) -> list[dict]:
        return [NodeEntry("media-r", 1, "h", NodeState.ACTIVE, 0.0, clock.now()).view(clock.now(), alive=True)]

    sfu = SfuNode(media_timeout=1.0)
    media = ClusterMedia(process.url, "media-r", sfu, None, read, limit, clock)
    centre = ClusterMedia(process.url, "centre-r", SfuNode(), None, read, limit, clock)
    adopter = ClusterMedia(process.url, "centre-s", SfuNode(), None, read, limit, clock)
    peer = ClientPeer("shopper", True)
    states: list[str] = []

    class Observer:
        def on_media_state(self, participant, state):
            states.append(state.value)

        def on_publisher(self, participant, publisher, added):
            pass

    try:
        for node in (media, centre, adopter):
            await node.open()
        room = centre.rooms.open_room("c_outage0000001")
        participant = room.add_participant("shopper-1", "shopper", observer=Observer())
        await peer.accept_answer(await participant.negotiate(await peer.offer()))
        await eventually(lambda: states == ["connected"], timeout=15, message="connected, as the centre hears it")

        # a new centre adopts the room: it re-adds the party and asks what the room holds
        adopted = adopter.rooms.open_room("c_outage0000001", to_node="media-r")
        mirror = adopted.add_participant("shopper-1", "shopper")
        await adopter.rooms.resync("c_outage0000001")
        assert set(mirror.publishers) == {"audio", "video"} and mirror.media_state.value == "connected"
        await adopter.close()

        publisher = sfu.rooms["c_outage0000001"].get("shopper-1").publishers["video"]
        port, folder = process.port, process.folder
        process.kill()
        before = publisher.frames
        await eventually(lambda: publisher.frames > before + 30, timeout=10, message="media on, Redis away")
        await peer.close()  # the shopper's peer goes: LOST on the media node, reported into the void
        remote = sfu.rooms["c_outage0000001"].get("shopper-1")
        await eventually(lambda: remote.media_state.value == "lost", timeout=10, message="lost on the node")
        assert states == ["connected"]
        process = RedisProcess(folder, port=port)
        await eventually(lambda: states == ["connected", "lost"], timeout=20,
                         message="the centre caught up after Redis came back")
        assert participant.media_state.value == "lost"

        # cut off again, and meanwhile declared dead: the centre forgets the room (a close
        # nobody answers). Back, the node asks its rooms' centre and closes what moved away.
        process.kill()
        await centre.rooms.close_room("c_outage0000001", CloseReason.ERROR)
        assert "c_outage0000001" in sfu.rooms
        process = RedisProcess(folder, port=port)
        await eventually(lambda: sfu.rooms == {}, timeout=20, message="the node closed the room that moved")
    finally:
        await peer.close()
        for node in (centre, adopter, media):
            await node.close()
        await sfu.close()
        process.stop()


async def test_a_centre_that_took_over_finishes_the_recordings_its_predecessor_started(tmp_path: Path,
                                                                                      redis_url: str):
    clock = SystemClock()
    limit = AdmissionLimit(max_calls=4, max_loop_lag_ms=0, max_cpu_pct=0)

    async def read(now: float) -> list[dict]:
        return [NodeEntry("media-t", 1, "h", NodeState.ACTIVE, 0.0, clock.now()).view(clock.now(), alive=True)]

    shared = tmp_path / "recordings"
    sfu = SfuNode(media_timeout=2.0)
    media_recorder = Recorder(shared, clock=clock, node_id="media-t")
    media = ClusterMedia(redis_url, "media-t", sfu, media_recorder, read, limit, clock)
    old = ClusterMedia(redis_url, "centre-old", SfuNode(), Recorder(shared, clock=clock), read, limit, clock)
    new_recorder = Recorder(shared, clock=clock)
    new = ClusterMedia(redis_url, "centre-new", SfuNode(), new_recorder, read, limit, clock)
    peer = ClientPeer("shopper", True)
    try:
        for node in (media, old, new):
            await node.open()
        room = old.rooms.open_room("c_takeover00001")
        participant = room.add_participant("shopper-1", "shopper")
        await peer.accept_answer(await participant.negotiate(await peer.offer()))
        await eventually(lambda: "video" in participant.publishers, timeout=15, message="publishing")
        assert old.recorder is not None and new.recorder is not None
        track = old.recorder.start_track("c_takeover00001", "shopper-1", "shopper", "video")
        participant.publishers["video"].add_sink(track)
        await eventually(lambda: media_recorder.tracks("c_takeover00001"), message="tapped on media-t")
        await asyncio.sleep(1.0)
        # the old centre is gone; the new one adopts the room and ends the call
        await old.close()
        new.rooms.open_room("c_takeover00001", to_node="media-t")
        records = await new.recorder.finish("c_takeover00001")
        assert [(r["kind"], r["state"], r["node_id"]) for r in records] == [("video", "complete", "media-t")]
        assert media_recorder.tracks("c_takeover00001") == []
        assert [r["state"] for r in new_recorder.list(call_id="c_takeover00001")] == ["complete"]
        await new.rooms.close_room("c_takeover00001", CloseReason.HANG_UP)
    finally:
        await peer.close()
        for node in (new, old, media):
            await node.close()
        await sfu.close()
        await media_recorder.close()
        await new_recorder.close()
