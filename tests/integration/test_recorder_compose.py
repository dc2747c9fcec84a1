"""Composition as the server runs it: ``Recorder.compose`` starts a child process, reports
progress, registers the composed files; layouts; cut-off inputs; failures and cancellation.
(The A/V sync proof is in test_recorder_sync.py.)"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import pytest

from media.encoded import EncodedFrame, is_keyframe
from media.synthetic import encode_opus_clip, encode_vp8_clip
from recorder import ComposeOptions, Recorder
from recorder.compose import compose_call, timeline_for_call

ROOT = Path(__file__).resolve().parents[2]
CALL = "c_compose0000001"


async def record_small_call(recorder: Recorder, call_id: str = CALL, seconds: float = 3.0):
    video = encode_vp8_clip(frames=int(seconds * 30), width=320, height=240, keyframe_interval=30)
    audio = encode_opus_clip(packets=int(seconds * 50))
    base = time.monotonic()
    sinks = []
    for role, offset in (("shopper", 0.0), ("agent", 0.5)):
        v = recorder.start_track(call_id, f"p-{role}", role, "video", "VP8")
        a = recorder.start_track(call_id, f"p-{role}", role, "audio", "opus")
        sinks.append((v, a))
        for i, data in enumerate(video):
            v.on_frame(EncodedFrame("video", "VP8", data, i * 3000, 90000, is_keyframe("VP8", data),
                                    received_at=base + offset + i / 30))
        for i, data in enumerate(audio):
            a.on_frame(EncodedFrame("audio", "opus", data, i * 960, 48000, True,
                                    received_at=base + offset + i * 0.02))
        await asyncio.sleep(0.05)
    return await recorder.finish(call_id), base


def duration_of(path: Path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json",
                          str(path)], capture_output=True, text=True, check=True).stdout
    return float(json.loads(out)["format"]["duration"])


async def test_compose_job_in_a_child_process_with_progress(tmp_path):
    recorder = Recorder(tmp_path, compose_options=ComposeOptions(width=640, height=360, fps=15))
    records, _ = await record_small_call(recorder)
    assert len(records) == 4
    job = recorder.compose(CALL, layout="pip", agent_name="Zoë Agent")
    seen = []
    while not job.task.done():
        seen.append(job.progress)
        await asyncio.sleep(0.02)
    composite = await job.wait()
    assert job.state == "complete" and job.progress == 1.0
    assert seen == sorted(seen) and max(seen) > 0  # progress went up while it ran
    assert composite["kind"] == "composite" and composite["state"] == "complete"
    assert composite["layout"] == "pip" and sorted(composite["sources"]) == sorted(
        r["recording_id"] for r in records)
    assert recorder.get(composite["recording_id"]) == composite  # in the index
    video = recorder.resolve(composite["file"])
    assert video.suffix == ".mp4" and abs(duration_of(video) - 3.5) <= 0.5
    poster = cv2.imread(str(recorder.resolve(composite["poster"])))
    assert poster.shape == (360, 640, 3)
    sprite = cv2.imread(str(recorder.resolve(composite["thumbnails"])))
    assert sprite.shape[1] == composite["thumbnail_size"][0] * len(composite["thumbnail_times"])
    assert composite["compose_speed"] > 0
    assert not list((tmp_path / CALL).glob(".*"))  # the job spec is gone

    # the composite is a recording like the others: listed, erasable with the call
    assert [r["recording_id"] for r in recorder.list(call_id=CALL, kind="composite")] == [
        composite["recording_id"]]
    deleted = await recorder.erase(call_ids=[CALL])
    assert len(deleted) == 5 and not (tmp_path / CALL).exists()


async def test_compose_job_failure_is_reported(tmp_path):
    recorder = Recorder(tmp_path)
    records, base = await record_small_call(recorder, seconds=1.0)
    for record in records:  # the media vanished (disk trouble, manual deletion…)
        recorder.media_path(record["recording_id"]).write_bytes(b"not a matroska file")
    job = recorder.compose(CALL, start=base + recorder.wall_offset - 1.0)
    with pytest.raises(RuntimeError, match="no media could be decoded"):
        await job.wait()
    assert job.state == "failed" and "no media could be decoded" in job.error
    [composite] = recorder.list(kind="composite")
    assert composite["state"] == "failed" and "no media" in composite["reason"]
    job2 = recorder.compose("c_nothing_here")
    with pytest.raises(ValueError):
        await job2.wait()
    assert job2.state == "failed"


async def test_cancelled_job_and_recover(tmp_path):
    recorder = Recorder(tmp_path)
    await record_small_call(recorder, seconds=2.0)
    job = recorder.compose(CALL)
    while job.state != "running" or job._process is None:
        await asyncio.sleep(0.01)
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job.task
    assert job.state == "cancelled"
    for record in recorder.list(kind="composite"):  # if the child got as far as registering
        assert record["state"] == "failed" and record["reason"] == "cancelled"
    assert not list((tmp_path / CALL).glob("composed/.*")) and not list((tmp_path / CALL).glob(".*"))

    # a composition left "composing" (killed with the server) is failed by recover()
    recorder.index.put({"recording_id": "m_killed", "call_id": CALL, "kind": "composite",
                        "state": "composing", "created_at": time.time()})
    (tmp_path / CALL / "composed").mkdir(exist_ok=True)
    (tmp_path / CALL / "composed" / ".m_killed.tmp.mp4").write_bytes(b"half")
    changed = Recorder(tmp_path).recover()
    assert [r["recording_id"] for r in changed] == ["m_killed"]
    assert Recorder(tmp_path).get("m_killed")["state"] == "failed"
    assert not list((tmp_path / CALL / "composed").glob(".*"))


async def test_recover_finds_a_file_the_record_did_not_name_yet(tmp_path):
    recorder = Recorder(tmp_path)
    [record, *_], _ = await record_small_call(recorder, seconds=1.0)
    record.update(state="recording", file=None)  # as if killed right after the first frame
    recorder.index.put(record)
    [changed] = Recorder(tmp_path).recover()
    assert changed["state"] == "interrupted" and changed["file"].endswith(".webm")
    assert changed["frames"] > 0


async def test_compose_tolerates_a_cut_off_track(tmp_path):
    recorder = Recorder(tmp_path)
    records, base = await record_small_call(recorder, seconds=3.0)
    for record in records:
        if record["role"] == "agent":  # as a kill -9 leaves it: no index, truncated tail
            path = recorder.media_path(record["recording_id"])
            data = path.read_bytes()
            path.write_bytes(data[: len(data) * 6 // 10])
    t0 = base + recorder.wall_offset
    timeline = timeline_for_call(recorder.list(call_id=CALL), CALL, start=t0,
                                 end=t0 + 3.5)
    result = compose_call(recorder.root, timeline, recorder.index.call_dir(CALL) / "composed", "m_cut",
                          ComposeOptions(width=640, height=240, fps=10, thumbnails=4, hold_last=0.5))
    path = recorder.resolve(result["files"]["video"])
    assert abs(duration_of(path) - 3.5) <= 0.5
    assert 0 < result["decoded_video_frames"]["agent"] < result["decoded_video_frames"]["shopper"]
    # the agent tile holds its last frame for hold_last, then shows "no video" (black)
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="gray") for f in container.decode(video=0)]
    assert frames[5][60:180, 340:620].mean() > 20  # both tiles live at 0.5 s
    assert frames[-1][60:180, 340:620].mean() < 10  # agent tile black at the end


def test_cli_compose_and_list(tmp_path):
    recorder = Recorder(tmp_path)
    asyncio.run(record_small_call(recorder, seconds=1.0))
    env_run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "recorder", *args, "--recordings-dir", str(tmp_path)],
        capture_output=True, text=True, cwd=ROOT, timeout=60)
    out = env_run("compose", "--call-id", CALL, "--fps", "10", "--width", "320", "--height", "120")
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert events[-1]["event"] == "done" and events[-2] == {"progress": 1.0}
    assert events[-1]["result"]["state"] == "complete"
    listed = json.loads(env_run("list", "--call-id", CALL).stdout)["recordings"]
    assert len(listed) == 5
