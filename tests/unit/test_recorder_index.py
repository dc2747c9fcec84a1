"""The recordings index (durable, atomic, filterable), path safety, retention and erasure,
and the recorder's dependency rule (it imports ``media`` only)."""

from __future__ import annotations

import ast
import json
import logging
import os
import time
from pathlib import Path

import pytest

from recorder import Recorder, RecordingIndex, RetentionTask, UnsafePath, erase, purge_expired
from recorder.index import atomic_write_json, check_id, resolve_inside

ROOT = Path(__file__).resolve().parents[2]
DAY = 86400.0


def make_record(index: RecordingIndex, call_id: str, recording_id: str, started_at: float,
                state: str = "complete", kind: str = "audio", content: bytes = b"media") -> dict:
    call_dir = index.call_dir(call_id, create=True)
    media = call_dir / f"{recording_id}.webm"
    media.write_bytes(content)
    record = {"recording_id": recording_id, "call_id": call_id, "kind": kind, "state": state,
              "created_at": started_at, "started_at": started_at,
              "file": f"{call_id}/{recording_id}.webm"}
    index.put(record)
    return record


# --- path safety ---------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [
    "../secret", "c_1/../../secret", "c_1/../../../etc/passwd", "/etc/passwd", "//etc/passwd",
    "C:\\Windows\\win.ini", "c_1\\..\\..\\secret", "", ".", "./c_1/a.webm", "c_1//a.webm",
    "c_1/a.webm\x00.jpg", "~/secret", "..", "c_1/..",
])
def test_resolve_inside_rejects_traversal(tmp_path, bad):
    root = tmp_path / "rec"
    root.mkdir()
    with pytest.raises(UnsafePath):
        resolve_inside(root, bad)


def test_resolve_inside_rejects_symlinks_leading_out(tmp_path):
    root = tmp_path / "rec"
    (root / "c_1").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.webm").write_bytes(b"secret")
    (root / "c_1" / "link.webm").symlink_to(outside / "secret.webm")
    (root / "c_2").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafePath):
        resolve_inside(root, "c_1/link.webm")
    with pytest.raises(UnsafePath):
        resolve_inside(root, "c_2/secret.webm")
    # a symlink that stays inside is fine, and so is a plain file (existing or not)
    (root / "c_1" / "real.webm").write_bytes(b"x")
    (root / "c_1" / "alias.webm").symlink_to(root / "c_1" / "real.webm")
    assert resolve_inside(root, "c_1/alias.webm") == (root / "c_1" / "real.webm").resolve()
    assert resolve_inside(root, "c_1/new.webm") == (root / "c_1" / "new.webm").resolve()
    # the root itself may be reached through a symlink
    (tmp_path / "rec-link").symlink_to(root, target_is_directory=True)
    assert resolve_inside(tmp_path / "rec-link", "c_1/real.webm").read_bytes() == b"x"


@pytest.mark.parametrize("bad", ["", "..", ".", "../c", "a/b", "a\\b", "/abs", "x" * 129, "a b",
                                 "c_1\x00", None, 42, "-leading", "é"])
def test_ids_are_checked(bad):
    with pytest.raises(UnsafePath):
        check_id(bad)


def test_recorder_never_serves_a_tampered_path(tmp_path):
    recorder = Recorder(tmp_path / "rec")
    (tmp_path / "passwd").write_text("root:x:0:0")
    record = make_record(recorder.index, "c_1", "r_1", time.time())
    record["file"] = "../passwd"
    atomic_write_json(recorder.index.record_path("c_1", "r_1"), record)
    recorder.index.reload()
    with pytest.raises(UnsafePath):
        recorder.media_path("r_1")
    with pytest.raises(UnsafePath):
        recorder.media_path("../r_1")
    with pytest.raises(UnsafePath):
        recorder.start_track("../c_1", "p", "agent", "audio", "opus")


# --- the index -----------------------------------------------------------------------------------
def test_index_is_durable_and_filterable(tmp_path):
    index = RecordingIndex(tmp_path)
    now = time.time()
    make_record(index, "c_a", "r_1", now - 30, "complete", "audio")
    make_record(index, "c_a", "r_2", now - 20, "failed", "video")
    make_record(index, "c_b", "r_3", now - 10, "recording", "video")
    again = RecordingIndex(tmp_path)  # a new process sees the same records
    assert [r["recording_id"] for r in again.list()] == ["r_1", "r_2", "r_3"]
    assert [r["recording_id"] for r in again.list(call_id="c_a")] == ["r_1", "r_2"]
    assert [r["recording_id"] for r in again.list(state="recording")] == ["r_3"]
    assert [r["recording_id"] for r in again.list(state=("failed", "recording"))] == ["r_2", "r_3"]
    assert [r["recording_id"] for r in again.list(kind="video", started_after=now - 25)] == ["r_2", "r_3"]
    assert [r["recording_id"] for r in again.list(started_before=now - 15, limit=1)] == ["r_1"]
    assert again.get("r_2")["state"] == "failed" and again.get("nope") is None
    record = again.get("r_3")
    record["state"] = "complete"
    again.put(record)
    assert RecordingIndex(tmp_path).get("r_3")["state"] == "complete"
    assert not list(tmp_path.glob("*/.*"))  # atomic writes leave no temp files
    again.get("r_1")["state"] = "mutated"  # callers get copies
    assert again.get("r_1")["state"] == "complete"
    with pytest.raises(ValueError):
        again.put({**record, "state": "bogus"})


def test_index_skips_torn_or_misplaced_records(tmp_path, caplog):
    index = RecordingIndex(tmp_path)
    make_record(index, "c_a", "r_1", time.time())
    (tmp_path / "c_a" / "r_2.json").write_text('{"recording_id": "r_2", "call_')  # torn write
    (tmp_path / "c_a" / "r_9.json").write_text(json.dumps({"recording_id": "r_3", "call_id": "c_a"}))
    with caplog.at_level(logging.WARNING):
        assert [r["recording_id"] for r in RecordingIndex(tmp_path).list()] == ["r_1"]
    assert "unreadable" in caplog.text and "misplaced" in caplog.text


# --- retention and erasure -----------------------------------------------------------------------
def journal(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "deletions.jsonl").read_text().splitlines()]


def test_purge_deletes_old_recordings_only(tmp_path, caplog):
    index = RecordingIndex(tmp_path)
    now = time.time()
    make_record(index, "c_old", "r_old", now - 40 * DAY)
    make_record(index, "c_old", "r_old_video", now - 40 * DAY, kind="video")
    make_record(index, "c_new", "r_new", now - 5 * DAY)
    make_record(index, "c_live", "r_live", now - 30.5 * DAY, state="recording")  # still writing
    with caplog.at_level(logging.INFO, logger="recorder.retention"):
        deleted = purge_expired(index, 30, now=now)
    assert sorted(deleted) == ["r_old", "r_old_video"]
    assert not (tmp_path / "c_old").exists()  # files, records and the empty call directory
    assert (tmp_path / "c_new" / "r_new.webm").exists() and index.get("r_new")
    assert index.get("r_live") is not None
    assert RecordingIndex(tmp_path).get("r_old") is None
    assert caplog.text.count("deleted recording") == 2
    entries = journal(tmp_path)
    assert {e["recording_id"] for e in entries} == {"r_old", "r_old_video"}
    assert all(e["reason"].startswith("retention") and e["files"] for e in entries)
    with pytest.raises(ValueError):
        purge_expired(index, 0)


def test_erase_by_call_and_recording_ids(tmp_path):
    index = RecordingIndex(tmp_path)
    now = time.time()
    for rid, call in [("r_1", "c_a"), ("r_2", "c_a"), ("r_3", "c_b"), ("r_4", "c_c")]:
        make_record(index, call, rid, now)
    composed = index.call_dir("c_a") / "composed"
    composed.mkdir()
    (composed / "m_1.mp4").write_bytes(b"mp4")
    (composed / "m_1.poster.jpg").write_bytes(b"jpg")
    index.put({"recording_id": "m_1", "call_id": "c_a", "kind": "composite", "state": "complete",
               "created_at": now, "file": "c_a/composed/m_1.mp4",
               "files": ["c_a/composed/m_1.mp4", "c_a/composed/m_1.poster.jpg"]})
    deleted = erase(index, call_ids=["c_a"], recording_ids=["r_3", "r_missing"],
                    reason="customer erasure request #77")
    assert sorted(deleted) == ["m_1", "r_1", "r_2", "r_3"]
    assert not (tmp_path / "c_a").exists() and not (tmp_path / "c_b").exists()
    assert [r["recording_id"] for r in index.list()] == ["r_4"]
    assert {e["reason"] for e in journal(tmp_path)} == {"customer erasure request #77"}
    with pytest.raises(UnsafePath):
        erase(index, call_ids=["../c_c"])


def test_deletion_never_leaves_the_recordings_dir(tmp_path):
    root = tmp_path / "rec"
    index = RecordingIndex(root)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    record = make_record(index, "c_a", "r_1", time.time() - 100 * DAY)
    record["files"] = ["../victim.txt"]
    atomic_write_json(index.record_path("c_a", "r_1"), record)
    index.reload()
    assert purge_expired(index, 1) == ["r_1"]
    assert victim.read_text() == "keep me"
    assert index.get("r_1") is None


async def test_retention_task_runs_and_stops(tmp_path):
    recorder = Recorder(tmp_path)
    make_record(recorder.index, "c_old", "r_old", time.time() - 10 * DAY)
    task = recorder.retention_task(max_age_days=7, interval=0.05)
    task.start()
    for _ in range(100):
        if task.runs >= 2:
            break
        await __import__("asyncio").sleep(0.02)
    await task.stop()
    assert task.runs >= 2 and task.deleted == 1
    runs = task.runs
    await __import__("asyncio").sleep(0.1)
    assert task.runs == runs  # stopped for good
    assert isinstance(task, RetentionTask)


async def test_recorder_erase_stops_live_recordings_first(tmp_path):
    from media.encoded import EncodedFrame
    from media.synthetic import encode_opus_clip

    recorder = Recorder(tmp_path)
    track = recorder.start_track("c_live", "p", "shopper", "audio", "opus")
    for i, data in enumerate(encode_opus_clip(20)):
        track.on_frame(EncodedFrame("audio", "opus", data, i * 960, 48000, True))
    deleted = await recorder.erase(call_ids=["c_live"], reason="erasure")
    assert deleted == [track.recording_id]
    assert recorder.list() == [] and not (tmp_path / "c_live").exists()
    assert recorder.tracks() == []


# --- dependency rule -----------------------------------------------------------------------------
def test_recorder_imports_media_only():
    local = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert "media" in local and "recorder" in local
    problems = []
    for path in sorted((ROOT / "recorder").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module.split(".")[0]]
            for name in names:
                if name in local and name not in ("media", "recorder"):
                    problems.append(f"{path.relative_to(ROOT)} imports {name}")
    assert problems == []
    assert os.path.basename(__file__).startswith("test_recorder_")
