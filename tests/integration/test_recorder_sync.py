"""The sync proof: a synthetic call whose video flashes and whose audio beeps at the same
instants goes through the track writers and the composition; in the composed MP4 every
flash has its beep within 80 ms, and the file lasts as long as the call.

The call (12 s on the call clock): events every second; at even seconds the shopper's video
flashes and the agent's audio beeps, at odd seconds the agent's video flashes and the
shopper's audio beeps — so sync is checked across participants and across files. The four
tracks start at different moments (0.0, 0.3, 0.8, 1.4 s), the agent's video has a gap
(5.2–6.6 s: camera off, resumes on a keyframe), the recording is paused 8.3–9.4 s, and the
shopper's video RTP timestamps wrap around 2**32 two seconds in.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time

import av
import numpy as np
import pytest

from media.avsync import beep_onsets, beep_signal, encode_opus, encode_vp8, flash_image, flash_onsets, pair_offsets
from media.encoded import EncodedFrame, is_keyframe
from recorder import ComposeOptions, Recorder
from recorder.compose import compose_call, timeline_for_call

CALL = "c_sync0000000001"
DURATION = 12.0
FPS = 30
WIDTH, HEIGHT = 320, 240
EVENTS = [float(t) for t in range(1, 12)]
SHOPPER_FLASHES = [t for t in EVENTS if t % 2 == 0]  # and the agent beeps
AGENT_FLASHES = [t for t in EVENTS if t % 2 == 1]  # and the shopper beeps
PAUSE = (8.3, 9.4)
AGENT_VIDEO_RUNS = [(1.4, 5.2), (6.6, DURATION)]


def video_frames(runs, flashes, ts0):
    """(call time, EncodedFrame) for VP8 runs; each run starts on a keyframe."""
    out = []
    for start, end in runs:
        count = int(round((end - start) * FPS))
        times = [start + i / FPS for i in range(count)]
        images = [flash_image(WIDTH, HEIGHT, i, any(f <= t < f + 0.1 for f in flashes))
                  for i, t in enumerate(times)]
        for t, data in zip(times, encode_vp8(images, FPS, keyframe_interval=15), strict=False):
            ts = (ts0 + round(t * 90000)) % (1 << 32)
            out.append((t, EncodedFrame("video", "VP8", data, ts, 90000, is_keyframe("VP8", data))))
    return out


def audio_frames(start, end, beeps, ts0):
    samples = beep_signal(end - start, [b - start for b in beeps])
    out = []
    for i, data in enumerate(encode_opus(samples)):
        t = start + i * 0.020
        ts = (ts0 + i * 960) % (1 << 32)
        out.append((t, EncodedFrame("audio", "opus", data, ts, 48000, True)))
    return out


async def record_call(tmp_path):
    recorder = Recorder(tmp_path / "rec")
    base = time.monotonic()
    wall = lambda t: base + t + recorder.wall_offset  # noqa: E731 - call clock → wall clock
    tracks = {
        ("shopper", "video"): video_frames([(0.0, DURATION)], SHOPPER_FLASHES, (1 << 32) - 2 * 90000),
        ("shopper", "audio"): audio_frames(0.3, DURATION, AGENT_FLASHES, 123456),
        ("agent", "audio"): audio_frames(0.8, 11.7, SHOPPER_FLASHES, 987654321),
        ("agent", "video"): video_frames(AGENT_VIDEO_RUNS, AGENT_FLASHES, 5555),
    }
    sinks = {key: recorder.start_track(CALL, f"p-{key[0]}", key[0], key[1], None)
             for key in tracks}
    events = sorted((t, key, frame) for key, frames in tracks.items() for t, frame in frames)
    paused = resumed = False
    fed_until = 0.0
    for t, key, frame in events:
        if not paused and t >= PAUSE[0]:
            recorder.pause(CALL, at=wall(PAUSE[0]))
            paused = True
        if not resumed and t >= PAUSE[1]:
            recorder.resume(CALL, at=wall(PAUSE[1]))
            resumed = True
        frame.received_at = base + t + 0.004  # network + jitter buffer delay
        sinks[key].on_frame(frame)
        if t - fed_until >= 0.1:  # about 20x real time: the writers keep up
            fed_until = t
            await asyncio.sleep(0.005)
    records = await recorder.finish(CALL)
    return recorder, wall, records


def analyse(path, tile_rects):
    """Flash onsets per tile and beep onsets of the mix, on the composed file's clock."""
    times, brightness = [], {name: [] for name in tile_rects}
    audio = []
    audio_start = None
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            image = frame.to_ndarray(format="gray")
            times.append(float(frame.pts * frame.time_base))
            for name, (x, y, w, h) in tile_rects.items():
                # the middle of the tile: away from the burnt-in text
                brightness[name].append(image[y + h // 4 : y + 3 * h // 4, x + w // 4 : x + 3 * w // 4].mean())
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            if audio_start is None:
                audio_start = float(frame.pts * frame.time_base)
            audio.append(frame.to_ndarray().mean(axis=0))
    samples = np.concatenate(audio)
    flashes = {name: flash_onsets(times, values) for name, values in brightness.items()}
    beeps = beep_onsets(samples, 48000, threshold=0.1, start=audio_start)
    return flashes, beeps, times


def ffprobe_duration(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json",
                          str(path)], capture_output=True, text=True, check=True).stdout
    info = json.loads(out)
    return float(info["format"]["duration"]), info


@pytest.fixture(scope="module")
def composed(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("sync")
    recorder, wall, records = asyncio.run(record_call(tmp_path))
    timeline = timeline_for_call(records, CALL, start=wall(0.0),
                                 end=wall(DURATION), agent_name="Ann Agent")
    options = ComposeOptions(layout="side_by_side", width=1280, height=480, fps=25)
    progress = []
    result = compose_call(recorder.index.root, timeline, recorder.index.call_dir(CALL) / "composed",
                          "m_sync", options, progress.append)
    return recorder, records, timeline, result, progress


def test_tracks_recorded_on_one_clock(composed):
    recorder, records, timeline, _, _ = composed
    assert {r["state"] for r in records} == {"complete"}
    starts = {(s.role, s.kind): s.start for s in timeline.segments}
    assert starts[("shopper", "video")] == pytest.approx(0.0, abs=0.01)
    assert starts[("shopper", "audio")] == pytest.approx(0.3, abs=0.01)
    assert starts[("agent", "audio")] == pytest.approx(0.8, abs=0.01)
    assert starts[("agent", "video")] == pytest.approx(1.4, abs=0.01)
    assert timeline.pauses == [pytest.approx(PAUSE, abs=0.01)]
    by_kind = {(r["role"], r["kind"]): r for r in records}
    shopper_video = by_kind[("shopper", "video")]
    assert shopper_video["rebases"] == 0  # the 2**32 wrap was unwrapped, not re-based
    assert shopper_video["duration"] == pytest.approx(DURATION - 1 / FPS, abs=0.05)
    assert shopper_video["dropped"]["paused"] > 0
    for record in records:
        path = recorder.media_path(record["recording_id"])
        assert path.suffix == ".webm" and path.parent.name == CALL


def test_flashes_and_beeps_in_sync(composed):
    recorder, _, timeline, result, progress = composed
    path = recorder.resolve(result["files"]["video"])
    rects = {"shopper": (0, 0, 640, 480), "agent": (640, 0, 640, 480)}
    flashes, beeps, _ = analyse(path, rects)
    print("shopper flashes", flashes["shopper"], "agent flashes", flashes["agent"])
    print("beeps", beeps)

    # the flashes are where the call put them (none in the pause, none in the camera gap)
    assert flashes["shopper"] == pytest.approx([2.0, 4.0, 6.0, 8.0, 10.0], abs=0.07)
    assert flashes["agent"] == pytest.approx([3.0, 5.0, 7.0, 11.0], abs=0.07)
    # every beep but the paused one (9 s); beeps at 1 and 6 s have no flash (agent video off)
    assert beeps == pytest.approx([t for t in EVENTS if t != 9.0], abs=0.05)
    # the proof: each flash and its beep within 80 ms
    pairs = pair_offsets(flashes["shopper"] + flashes["agent"], beeps)
    assert len(pairs) == 9
    offsets = [offset for _, offset in pairs]
    print("A/V offsets (beep - flash), ms:", [round(o * 1000) for o in offsets])
    assert max(abs(o) for o in offsets) <= 0.080

    assert progress[-1] == 1.0 and progress == sorted(progress)


def test_composed_file_is_h264_aac_faststart_of_call_length(composed):
    recorder, _, timeline, result, _ = composed
    path = recorder.resolve(result["files"]["video"])
    duration, info = ffprobe_duration(path)
    assert abs(duration - DURATION) <= 0.5
    codecs = sorted(s["codec_name"] for s in info["streams"])
    assert codecs == ["aac", "h264"]
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    assert (video["width"], video["height"]) == (1280, 480)
    head = path.read_bytes()[:4096]
    assert head.find(b"moov") != -1 and head.find(b"moov") < max(head.find(b"mdat"), 4096)

    import cv2

    poster = cv2.imread(str(recorder.resolve(result["files"]["poster"])))
    assert poster.shape == (480, 1280, 3)
    sprite = cv2.imread(str(recorder.resolve(result["files"]["thumbnails"])))
    tw, th = result["thumbnail_size"]
    assert sprite.shape == (th, tw * len(result["thumbnail_times"]), 3)
    print(f"composition: {result['duration']} s of call in {result['wall_seconds']} s = "
          f"{result['speed']}x real time ({result['cpu_seconds']} s CPU)")
