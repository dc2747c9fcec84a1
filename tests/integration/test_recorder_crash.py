"""Crash safety, for real: a child process records a call (video + audio, paced in real
time, frames delivered on its event loop as the SFU does), we ``kill -9`` it mid-call, and
the files on disk must play — ffprobe reads them, PyAV decodes every frame — up to within
a few seconds of the kill. The next start's ``recover()`` marks them ``interrupted`` and
remuxes them with an index and a duration.

Run as a script (``python tests/integration/test_recorder_crash.py child DIR CALL``) it is the child.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

ROOT = Path(__file__).resolve().parents[2]
CALL = "c_crash000000001"
KILL_AFTER = 4.0  # seconds of media recorded before the kill


async def child(recordings_dir: str, call_id: str) -> None:
    from media.encoded import EncodedFrame
    from media.synthetic import encode_opus_clip, encode_vp8_clip
    from recorder import Recorder

    video = encode_vp8_clip(frames=60, width=320, height=240, keyframe_interval=30)
    audio = encode_opus_clip(packets=100)
    recorder = Recorder(recordings_dir, fsync_interval=1.0)
    sinks = {
        "video": recorder.start_track(call_id, "p-shopper", "shopper", "video", "VP8"),
        "audio": recorder.start_track(call_id, "p-shopper", "shopper", "audio", "opus"),
    }
    loop = asyncio.get_running_loop()
    start = loop.time()
    print(json.dumps({"started": time.monotonic()}), flush=True)
    counts = {"video": 0, "audio": 0}
    period = {"video": 1 / 30, "audio": 0.020}
    reported = 0
    while True:
        kind = min(counts, key=lambda k: counts[k] * period[k])
        due = start + counts[kind] * period[kind]
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        i = counts[kind]
        if kind == "video":
            data = video[i % len(video)]
            frame = EncodedFrame("video", "VP8", data, i * 3000, 90000, (data[0] & 1) == 0)
        else:
            frame = EncodedFrame("audio", "opus", audio[i % len(audio)], i * 960, 48000, True)
        sinks[kind].on_frame(frame)
        counts[kind] += 1
        fed = counts["video"] / 30
        if fed - reported >= 0.5:
            reported = fed
            print(json.dumps({"fed": fed, "at": time.monotonic()}), flush=True)


def ffprobe(path: Path) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-show_entries",
         "stream=codec_name,nb_read_frames:format=duration", "-of", "json", str(path)],
        capture_output=True, text=True, timeout=30,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def decode_all(path: Path) -> tuple[int, float]:
    """Decode every frame with PyAV; returns (frames, time of the end of the last frame)."""
    count, end = 0, 0.0
    with av.open(str(path)) as container:
        stream = container.streams[0]
        for frame in container.decode(stream):
            count += 1
            duration = (frame.samples / frame.sample_rate) if stream.type == "audio" else 1 / 30
            end = max(end, float(frame.pts * frame.time_base) + duration)
    return count, end


def test_kill_9_mid_call_leaves_playable_files(tmp_path):
    from recorder import Recorder, RecordingIndex

    rec_dir = tmp_path / "rec"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, __file__, "child", str(rec_dir), CALL],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        started = None
        deadline = time.monotonic() + 60
        for line in process.stdout:
            event = json.loads(line)
            started = event.get("started", started)
            if event.get("fed", 0) >= KILL_AFTER:
                break
            assert time.monotonic() < deadline, "child too slow"
        assert started is not None, process.stderr.read()
        killed_at = time.monotonic()
        process.send_signal(signal.SIGKILL)  # the process we started, by its pid
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    recorded_for = killed_at - started  # media the child had been given when it died

    records = RecordingIndex(rec_dir).list(call_id=CALL)
    assert {r["kind"]: r["state"] for r in records} == {"video": "recording", "audio": "recording"}
    lost = {}
    for record in records:
        path = rec_dir / record["file"]
        info = ffprobe(path)
        stream = info["streams"][0]
        assert stream["codec_name"] == {"video": "vp8", "audio": "opus"}[record["kind"]]
        frames, end = decode_all(path)
        assert frames == int(stream["nb_read_frames"]) > 0
        lost[record["kind"]] = recorded_for - end
        print(f"{record['kind']}: {frames} frames decoded up to {end:.2f} s; killed after "
              f"{recorded_for:.2f} s of media: last {lost[record['kind']]:.2f} s lost")
        assert lost[record["kind"]] <= 2.5, "more than a couple of seconds lost"

    # the next start: recover() marks the recordings interrupted and gives them an index
    recorder = Recorder(rec_dir)
    changed = recorder.recover()
    assert {r["recording_id"] for r in changed} == {r["recording_id"] for r in records}
    for record in recorder.list(call_id=CALL):
        assert record["state"] == "interrupted" and record["repaired"] is True
        assert "stopped while recording" in record["reason"]
        path = recorder.media_path(record["recording_id"])
        duration = float(ffprobe(path)["format"]["duration"])  # known again after the remux
        assert duration == pytest.approx(record["duration"], abs=0.1)
        assert duration >= recorded_for - 2.5
    assert recorder.recover() == []  # idempotent
    assert not list(rec_dir.glob(f"{CALL}/.*"))  # no temp files left behind


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "child":
    sys.path.insert(0, str(ROOT))
    asyncio.run(child(sys.argv[2], sys.argv[3]))
