"""Recordings of a cluster share one directory: each record names the node writing it, a node's
recovery at start never marks another live node's recordings interrupted (nor deletes the temp
files in their folders), and a recorder re-reads a call another node wrote."""

from __future__ import annotations

from pathlib import Path

from recorder import Recorder, RecordingIndex


def recording(index: RecordingIndex, call_id: str, recording_id: str, node_id: str | None) -> None:
    call_dir = index.call_dir(call_id, create=True)
    (call_dir / f"{recording_id}.webm").write_bytes(b"")
    record = {"recording_id": recording_id, "call_id": call_id, "kind": "audio", "state": "recording",
              "created_at": 1.0, "file": f"{call_id}/{recording_id}.webm"}
    if node_id is not None:
        record["node_id"] = node_id
    index.put(record)


def states(root: Path) -> dict[str, str]:
    return {r["recording_id"]: r["state"] for r in RecordingIndex(root).list()}


def test_a_node_recovers_only_its_own_recordings_and_those_of_no_node(tmp_path: Path):
    index = RecordingIndex(tmp_path)
    recording(index, "c_a", "r_mine", "node-a")
    recording(index, "c_b", "r_other", "node-b")
    recording(index, "c_x", "r_single", None)
    temp = index.call_dir("c_b") / ".r_other.json.tmp"
    temp.write_text("{}")  # node-b's atomic write in flight
    changed = Recorder(tmp_path, node_id="node-a").recover(repair=False)
    assert sorted(r["recording_id"] for r in changed) == ["r_mine", "r_single"]
    assert states(tmp_path) == {"r_mine": "interrupted", "r_other": "recording", "r_single": "interrupted"}
    assert temp.exists()


def test_the_recordings_of_a_node_known_dead_are_recovered_those_of_live_ones_not(tmp_path: Path):
    index = RecordingIndex(tmp_path)
    recording(index, "c_b", "r_b", "node-b")
    recording(index, "c_c", "r_c", "node-c")
    changed = Recorder(tmp_path, node_id="node-a").recover(repair=False, live_nodes={"node-a", "node-b"})
    assert [r["recording_id"] for r in changed] == ["r_c"]
    assert states(tmp_path) == {"r_b": "recording", "r_c": "interrupted"}


async def test_a_recorder_names_its_node_and_another_rereads_the_call_it_wrote(tmp_path: Path):
    centre = Recorder(tmp_path)
    media = Recorder(tmp_path, node_id="media-1")
    track = media.start_track("c_1", "shopper-1", "shopper", "audio")
    assert track.record.node_id == "media-1"
    finished = await media.finish("c_1")
    assert centre.list(call_id="c_1") == []  # written after the centre loaded its index
    reread = centre.refresh_call("c_1")
    assert [(r["recording_id"], r["node_id"]) for r in reread] == [(finished[0]["recording_id"], "media-1")]
    assert centre.list(call_id="c_1") == reread
    await media.close()
    await centre.close()
