"""The load tool against a cluster it starts itself (real redis-server, three real node processes),
with its fault mode: a kill -9 of the node carrying a call, by the pid /api/nodes gave."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from load_tests.cluster_watch import pid_gone

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(120)
def test_a_cluster_run_kills_the_busiest_node_and_its_call_resumes_on_another(tmp_path: Path) -> None:
    """Three nodes: the centre's holder carries media only when no other node can, so each of
    the two calls has its room on one of the two others; killing the busiest moves its call."""
    out = tmp_path / "report"
    proc = subprocess.run(
        [sys.executable, "-m", "load_tests", "run", "--spawn-cluster", "3", "--cluster-mode", "separate",
         "--calls", "2", "--ramp", "1", "--kill-node-at", "4", "--out", str(out),
         # the run goes on 13 s after the kill: the heartbeat's TTL (5 s), the move, the renegotiation
         "--duration", "16",
         # each call's agent and shopper on different nodes (the default spread): one contact centre
         "--verify-interval", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=100, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rep = json.loads((out / "report.json").read_text())

    # the cluster: three nodes, each seen in /api/nodes with its pid, CPU sampled per pid
    cluster = rep["cluster"]
    first = ("n1", "n2", "n3")
    assert cluster["mode"] == "separate" and len(cluster["urls"]) == 3
    listed_pids = {n["pid"] for s in cluster["timeline"] for n in s["nodes"]}
    nodes = {n["node_id"]: n for n in cluster["per_node"]}
    assert set(first) <= set(nodes), _node_logs(out)
    assert all(nodes[n]["cpu_pct_max"] is not None and nodes[n]["cpu_pct_max"] > 0 for n in first)
    assert rep["server_cpu_pct"] is not None  # the nodes' CPU summed
    # the calls were spread over the two nodes that are not the centre's (one room each before the kill)
    assert sorted(nodes[n]["rooms_max"] for n in first) == [0, 1, 1]

    # one kill, of a node of this cluster, by the pid /api/nodes gave; the process is gone
    faults = rep["faults"]
    [kill] = faults["events"]
    assert kill.get("refused") is None and kill["pid"] in listed_pids
    assert 4.0 <= kill["at_s"] < 6.0 and kill["pid_gone"] is True and pid_gone(kill["pid"])
    assert cluster["killed_pids"] == [kill["pid"]]
    # a fresh node took the killed one's port, under a new id, and joined the registry
    assert kill["replacement"] in ("n1-2", "n2-2", "n3-2") and kill["replacement"] in nodes
    assert set(nodes) == {*first, kill["replacement"]}
    call_ids = {c["call_id"] for c in rep["per_call"]}
    assert len(kill["rooms"]) == 1 and set(kill["rooms"]) <= call_ids  # it carried one of our calls

    # a result for every call, in the shape the figures need
    per_call = faults["per_call"]
    assert sorted(c["index"] for c in per_call) == [0, 1]
    for c in per_call:
        assert set(c) >= {"call_id", "affected", "survived", "resumed", "record", "kills", "loss_pct",
                          "renegotiations", "reconnects"}
        assert c["affected"] == (c["call_id"] in kill["rooms"])
    [hit] = [c for c in per_call if c["affected"]]
    [spared] = [c for c in per_call if not c["affected"]]
    assert spared["survived"] is True and spared["loss_pct"] is not None and spared["loss_pct"] < 5
    assert [k["kill"] for k in hit["kills"]] == [0] and set(hit["kills"][0]["sides"]) == {"shopper", "agent"}
    # the peers of the hit call noticed: at least one side reconnected or renegotiated
    assert sum(hit["reconnects"].values()) + sum(hit["renegotiations"].values()) >= 1
    # the record of the hit call was read from the cluster just before the hang-up
    assert set(faults["records_before_hangup"]) == set(kill["rooms"]) and hit["record"] is not None
    s = faults["summary"]
    assert (s["kills"], s["calls"], s["calls_affected"]) == (1, 2, 1)
    # the killed node's call went on: media back on both sides within 10 s, the record says it moved
    assert hit["survived"] and hit["resumed"], (hit, _node_logs(out))
    assert hit["record"]["migrated"] >= 1 and hit["record"]["state"] != "ended", hit["record"]
    assert s["calls_survived"] == 1 and s["calls_resumed"] == 1
    assert s["resume_s"]["max"] < 10, (s, hit["kills"])

    for name in ("report.md", "kills.png", "timeline.png"):
        assert (out / name).stat().st_size > 0
    assert "Node kills" in (out / "report.md").read_text()


def _node_logs(out: Path, tail: int = 40) -> str:
    """The last lines of every node's log (the tool keeps them in ``out/cluster/``), for a failure."""
    parts = []
    for log in sorted((out / "cluster").glob("*.log")):
        lines = log.read_text(errors="replace").splitlines()[-tail:]
        parts.append(f"--- {log.name}\n" + "\n".join(lines))
    return "\n".join(parts)


async def test_the_load_peers_follow_a_moved_call_and_a_dropped_socket_through_the_client(server) -> None:
    """The seam the load tool follows a moving call with (load_tests/migration.py), on one real
    node: the sides' clients (``open_socket``) and followers (``follow_media``) bring media back
    on both sides after a move (``migrated``: both renew their peer connection) and after a
    dropped socket (reconnected with the same join, ``resumed``, then renewed)."""
    import asyncio
    import time

    from client import negotiate
    from load_tests.migration import follow_media, open_socket
    from load_tests.pacer import PacedSender
    from load_tests.rtp_peer import RtpClips, RtpLoadPeer
    from media.aiortc_hooks import restrict_host_addresses
    from media.synthetic import encode_opus_clip, encode_vp8_clip
    from signaling.auth import Role
    from tests.support.eventually import eventually

    restrict_host_addresses(["127.0.0.1"])
    clips = RtpClips(encode_vp8_clip(frames=30, width=320, height=240, fps=30, keyframe_interval=10,
                                     bitrate=300_000), encode_opus_clip(50))
    pacer = PacedSender()
    pacer.start()
    shopper, agent = RtpLoadPeer("shopper", clips, pacer), RtpLoadPeer("agent", clips, pacer)
    shopper.remote, agent.remote = agent, shopper
    agent_ws = open_socket(server.http, server.url, [server.url], on_message=None)
    shopper_ws = open_socket(server.http, server.url, [server.url], on_message=None)
    try:
        agent_token = await server.token("agent", name="Ann")
        await agent_ws.connect()
        await agent_ws.join(agent_token["token"])
        shopper_token = await server.token("shopper")
        call_id = shopper_token["call_id"]
        await shopper_ws.connect()
        await shopper_ws.join(shopper_token["token"], context={"title": "Ring"})
        await agent_ws.expect("call-offered", call_id=call_id)
        await agent_ws.accept(call_id)
        await asyncio.gather(negotiate(shopper_ws, shopper, call_id), negotiate(agent_ws, agent, call_id))
        follows = {"shopper": follow_media(shopper_ws, shopper, call_id),
                   "agent": follow_media(agent_ws, agent, call_id)}

        def both_receive_since(t: float) -> bool:
            return all(p.video_in.last_at is not None and p.video_in.last_at > t + 0.3 for p in (shopper, agent))

        started_at = time.monotonic()
        await eventually(lambda: both_receive_since(started_at), timeout=15, message="first media")

        moved_at = time.monotonic()
        admin = server.tokens.issue(Role.ADMIN, "ops")
        async with server.http.post(f"{server.url}/api/calls/{call_id}/move",
                                    headers={"Authorization": f"Bearer {admin}"}) as resp:
            assert resp.status == 202, await resp.text()
        await asyncio.gather(*(f.wait(1, timeout=15) for f in follows.values()))
        assert (shopper.renegotiations, agent.renegotiations) == (1, 1)
        await eventually(lambda: both_receive_since(moved_at), timeout=15, message="media after the move")

        dropped_at = time.monotonic()
        await server.calls.agents[agent_token["agent_id"]].session.close(1012, "the node restarts")
        await follows["agent"].wait(2, timeout=15)  # reconnected, joined resumed, renegotiated
        assert agent_ws.reconnects == 1 and shopper_ws.reconnects == 0 and agent.renegotiations == 2
        await eventually(lambda: both_receive_since(dropped_at), timeout=15, message="media after the drop")
        # the side's received-video accounting runs on across its peer connections (waited for:
        # on a loaded machine the frames after the drop arrive a little later)
        await eventually(lambda: shopper.video_in.frames > 20, timeout=15, message="frames counted on")
        assert shopper.video_in.epochs and agent.video_in.epochs and shopper.video_in.frames > 20
        assert not any(f.errors for f in follows.values())
    finally:
        for ws in (agent_ws, shopper_ws):
            await ws.close()
        for peer in (shopper, agent):
            await peer.close()
        await pacer.close()
        restrict_host_addresses(None)
