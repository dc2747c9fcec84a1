"""Track recordings: stream copy (the bytes in the file are the bytes received), keyframe
start, pause/resume, timestamp wrap and discontinuities, and failure without harm to the
call (slow disk → bounded queue overflow, full disk → ENOSPC)."""

from __future__ import annotations

import asyncio
import fractions
import time
from pathlib import Path

import av
import pytest

from media import framestamp
from media.encoded import EncodedFrame, is_keyframe
from media.synthetic import encode_opus_clip, encode_vp8_clip
from media.synthetic import test_pattern as pattern
from recorder import Recorder, probe
from recorder.codecs import opus_samples, vp8_dimensions
from recorder.muxer import TrackWriter
from recorder.timestamps import PtsMapper

CALL = "c_writer00000001"


@pytest.fixture(scope="module")
def vp8_clip():
    return encode_vp8_clip(frames=90, width=320, height=240, keyframe_interval=30)


@pytest.fixture(scope="module")
def opus_clip():
    return encode_opus_clip(packets=100)


def video_frame(clip, i, base=0.0, ts0=0):
    data = clip[i % len(clip)]
    return EncodedFrame("video", "VP8", data, (ts0 + i * 3000) % (1 << 32), 90000,
                        is_keyframe("VP8", data), received_at=base + i / 30)


def audio_frame(clip, i, base=0.0, ts0=0):
    return EncodedFrame("audio", "opus", clip[i % len(clip)], (ts0 + i * 960) % (1 << 32), 48000,
                        True, received_at=base + i * 0.02)


def packets_of(path: Path) -> list[tuple[float, bytes]]:
    with av.open(str(path)) as container:
        return [(float(p.pts * p.time_base), bytes(p)) for p in container.demux(container.streams[0])
                if p.size]


def counters_of(path: Path) -> list[int | None]:
    with av.open(str(path)) as container:
        return [framestamp.read(f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]


# --- pure pieces ---------------------------------------------------------------------------------
def test_codec_helpers(vp8_clip, opus_clip):
    assert vp8_dimensions(vp8_clip[0]) == (320, 240)
    assert vp8_dimensions(vp8_clip[1]) is None  # inter frame
    assert {opus_samples(p) for p in opus_clip} == {960}  # 20 ms
    assert opus_samples(bytes([0b00001011, 3])) == 3 * 960  # code 3: three 20 ms SILK frames
    assert opus_samples(bytes([0b11111001])) == 2 * 960  # code 1: two 20 ms CELT frames
    assert opus_samples(b"") is None


def test_pts_mapper_unwraps_drops_and_rebases():
    m = PtsMapper(90000)
    ts = (1 << 32) - 6000
    assert m.map(ts, 0.0) == 0
    assert m.map((ts + 3000) % (1 << 32), 1 / 30) == 3000
    assert m.map((ts + 6000) % (1 << 32), 2 / 30) == 6000  # wrapped to 0: unwrapped
    assert m.map((ts + 9000) % (1 << 32), 3 / 30) == 9000
    assert m.map((ts + 6000) % (1 << 32), 3.1 / 30) is None  # late duplicate: dropped
    assert m.rebases == 0
    # a 10-minute jump that the arrival clock does not show: a restarted stream
    assert m.map(ts + 90000 * 600, 4 / 30) == 12000
    assert m.rebases == 1
    # the stream restarted from 0 (backwards) one second later: continue on the arrival clock
    pts = m.map(0, 4 / 30 + 1.0)
    assert pts == 12000 + 90000 and m.rebases == 2
    assert m.map(3000, 5 / 30 + 1.0) == pts + 3000  # and from there on its own timestamps
    # a real gap (camera off for 5 s) shows on both clocks: kept as a gap
    assert m.map(3000 + 5 * 90000, 5 / 30 + 6.0) == pts + 3000 + 5 * 90000
    assert m.rebases == 2


def test_pts_mapper_trusts_rtp_through_a_network_stall_but_not_a_stopped_sender_clock():
    # a 3 s stall, then the delayed frames arrive in a burst: the RTP clock was right
    m = PtsMapper(90000)
    out = [m.map(i * 3000, i / 30) for i in range(30)]
    out += [m.map(i * 3000, 4.0 + (i - 30) * 0.001) for i in range(30, 120)]
    out += [m.map(i * 3000, i / 30) for i in range(120, 200)]
    assert out == [i * 3000 for i in range(200)] and m.rebases == 0
    # a sender whose timestamps stood still for 10 s (its source paused): after ``settle``
    # seconds of frames that all arrive 10 s "late", the missing 10 s become a gap
    m = PtsMapper(90000)
    out = [m.map(i * 3000, i / 30) for i in range(30)]
    out += [m.map(i * 3000, 10.0 + i / 30) for i in range(30, 150)]
    assert m.rebases == 1
    jump = next(i for i in range(1, len(out)) if out[i] - out[i - 1] > 3000)
    assert 30 + 2 * 30 <= jump <= 30 + 2 * 30 + 1  # detected after settle (2 s)
    assert out[-1] / 90000 == pytest.approx(10.0 + 149 / 30, abs=0.05)  # back in step


# --- recordings ----------------------------------------------------------------------------------
async def test_video_is_stream_copied_and_starts_on_a_keyframe(tmp_path, vp8_clip):
    recorder = Recorder(tmp_path)
    requests = []
    track = recorder.start_track(CALL, "p1", "agent", "video", "VP8",
                                 request_keyframe=lambda: requests.append(time.monotonic()))
    base = time.monotonic()
    for i in range(10, 90):  # joins mid-stream: frames 10..29 are inter frames
        track.on_frame(video_frame(vp8_clip, i, base))
    [record] = await recorder.finish(CALL)
    assert record["state"] == "complete" and record["frames"] == 60
    assert record["dropped"]["before_keyframe"] == 20 and len(requests) == 1
    assert (record["width"], record["height"], record["codec"]) == (320, 240, "VP8")
    path = recorder.media_path(record["recording_id"])
    packets = packets_of(path)
    assert [data for _, data in packets] == vp8_clip[30:90]  # byte for byte: no transcoding
    assert packets[0][0] == 0.0 and packets[-1][0] == pytest.approx(59 / 30, abs=0.002)
    assert counters_of(path) == list(range(30, 90))  # and every frame decodes
    assert record["started_at"] == pytest.approx(base + 30 / 30 + recorder.wall_offset, abs=1e-6)
    assert record["duration"] == pytest.approx(59 / 30, abs=0.002)


async def test_opus_file_has_opus_head_and_decodes(tmp_path, opus_clip):
    recorder = Recorder(tmp_path)
    track = recorder.start_track(CALL, "p1", "shopper", "audio")  # codec from the first frame
    base = time.monotonic()
    for i in range(100):
        track.on_frame(audio_frame(opus_clip, i, base, ts0=4_000_000_000))  # wraps at ~6.3 s
    [record] = await recorder.finish(CALL)
    path = recorder.media_path(record["recording_id"])
    assert record["codec"] == "opus" and path.suffix == ".webm"
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.extradata[:8] == b"OpusHead"
        samples = sum(f.samples for f in container.decode(stream))
    assert samples >= 100 * 960 - 312  # all of it (less the decoder's pre-skip)
    assert [d for _, d in packets_of(path)] == opus_clip[:100]
    assert record["duration"] == pytest.approx(2.0, abs=0.001)


async def test_pause_and_resume(tmp_path, vp8_clip, opus_clip):
    recorder = Recorder(tmp_path)
    requests = []
    video = recorder.start_track(CALL, "p1", "agent", "video", "VP8",
                                 request_keyframe=lambda: requests.append(1))
    audio = recorder.start_track(CALL, "p1", "agent", "audio", "opus")
    base = time.monotonic()
    for i in range(30):
        video.on_frame(video_frame(vp8_clip, i, base))
    for i in range(50):
        audio.on_frame(audio_frame(opus_clip, i, base))
    recorder.pause(CALL)
    assert recorder.is_paused(CALL) and video.paused
    late = recorder.start_track(CALL, "p2", "shopper", "audio", "opus")  # joins while paused
    for i in range(30, 45):
        video.on_frame(video_frame(vp8_clip, i, base))
    for i in range(50, 75):
        audio.on_frame(audio_frame(opus_clip, i, base))
        late.on_frame(audio_frame(opus_clip, i, base))
    recorder.resume(CALL)
    assert len(requests) == 1  # resuming video asks for a keyframe
    for i in range(45, 90):  # 45..59 are inter frames: dropped until the keyframe at 60
        video.on_frame(video_frame(vp8_clip, i, base))
    for i in range(75, 100):
        audio.on_frame(audio_frame(opus_clip, i, base))
        late.on_frame(audio_frame(opus_clip, i, base))
    records = {r["recording_id"]: r for r in await recorder.finish(CALL)}
    v, a, lt = records[video.recording_id], records[audio.recording_id], records[late.recording_id]
    assert v["dropped"] == {"paused": 15, "before_keyframe": 15}
    assert v["frames"] == 30 + 30 and a["frames"] == 75 and lt["frames"] == 25
    assert len(v["pauses"]) == 1 and v["pauses"][0]["end"] >= v["pauses"][0]["start"]
    assert lt["pauses"][0]["start"] <= lt["created_at"]
    # the pause is a gap in the file: after it the timestamps continue on the call's clock
    times = [t for t, _ in packets_of(recorder.media_path(v["recording_id"]))]
    assert times[29] == pytest.approx(29 / 30, abs=0.002)
    assert times[30] == pytest.approx(60 / 30, abs=0.002)
    assert counters_of(recorder.media_path(v["recording_id"])) == list(range(30)) + list(range(60, 90))


async def test_slow_disk_overflows_the_queue_and_fails_the_recording_only(tmp_path, vp8_clip,
                                                                           monkeypatch):
    original = TrackWriter.write

    def slow_write(self, data, pts, keyframe):
        time.sleep(0.05)  # a disk that takes 50 ms per frame
        original(self, data, pts, keyframe)

    monkeypatch.setattr(TrackWriter, "write", slow_write)
    recorder = Recorder(tmp_path, max_queue_frames=20)
    track = recorder.start_track(CALL, "p1", "agent", "video", "VP8")
    base = time.monotonic()
    slowest = 0.0
    for i in range(200):  # 200 frames/s against a disk that takes 20
        t0 = time.perf_counter()
        track.on_frame(video_frame(vp8_clip, i, base))
        slowest = max(slowest, time.perf_counter() - t0)
        await asyncio.sleep(0.005)
    assert slowest < 0.02  # the event loop was never held up by the disk
    assert track.state == "failed" and "queue full" in track.reason
    [record] = await recorder.finish(CALL)
    assert record["state"] == "failed" and "disk too slow" in record["reason"]
    assert record["dropped"]["overflow"] == 1 and record["dropped"]["closed"] > 100
    assert 1 <= record["frames"] < 60
    on_disk = recorder.index.__class__(tmp_path).get(record["recording_id"])
    assert on_disk["state"] == "failed" and on_disk["reason"] == record["reason"]
    info = probe(recorder.media_path(record["recording_id"]))  # what was written still plays
    assert info["packets"] >= 1 and info["error"] is None


async def test_full_disk_fails_the_recording_only(tmp_path, vp8_clip, monkeypatch):
    original = TrackWriter.__init__

    def on_a_full_disk(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.path = Path("/dev/full")  # every write fails with ENOSPC, for real

    monkeypatch.setattr(TrackWriter, "__init__", on_a_full_disk)
    recorder = Recorder(tmp_path)
    track = recorder.start_track(CALL, "p1", "agent", "video", "VP8")
    base = time.monotonic()
    for i in range(30):
        track.on_frame(video_frame(vp8_clip, i, base))
        await asyncio.sleep(0.001)
    [record] = await recorder.finish(CALL)
    assert record["state"] == "failed"
    assert "No space left on device" in record["reason"]
    assert recorder.get(record["recording_id"])["state"] == "failed"


async def test_unsupported_codec_fails_cleanly(tmp_path):
    recorder = Recorder(tmp_path)
    track = recorder.start_track(CALL, "p1", "agent", "audio")
    track.on_frame(EncodedFrame("audio", "PCMU", b"\xff" * 160, 0, 8000, True))
    [record] = await recorder.finish(CALL)
    assert record["state"] == "failed" and "PCMU" in record["reason"]


async def test_h264_goes_to_matroska(tmp_path):
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 320, 240, "yuv420p"
    encoder.time_base = fractions.Fraction(1, 30)
    encoder.options = {"preset": "ultrafast", "tune": "zerolatency"}
    frames = []
    for i in range(30):
        frame = av.VideoFrame.from_ndarray(pattern(320, 240, i), format="rgb24")
        frame.pts = i
        frames.extend(bytes(p) for p in encoder.encode(frame.reformat(format="yuv420p")))
    frames.extend(bytes(p) for p in encoder.encode(None))
    recorder = Recorder(tmp_path)
    track = recorder.start_track(CALL, "p1", "agent", "video", "H264")
    base = time.monotonic()
    for i, data in enumerate(frames):
        track.on_frame(EncodedFrame("video", "H264", data, i * 3000, 90000,
                                    is_keyframe("H264", data), received_at=base + i / 30))
    [record] = await recorder.finish(CALL)
    assert record["state"] == "complete", record["reason"]
    path = recorder.media_path(record["recording_id"])
    assert path.suffix == ".mkv" and (record["width"], record["height"]) == (320, 240)
    assert counters_of(path) == list(range(len(frames)))


async def test_close_finalises_live_tracks(tmp_path, opus_clip):
    recorder = Recorder(tmp_path)
    track = recorder.start_track(CALL, "p1", "agent", "audio", "opus")
    for i in range(10):
        track.on_frame(audio_frame(opus_clip, i, time.monotonic()))
    await recorder.close()
    assert recorder.get(track.recording_id)["state"] == "complete"
    assert recorder.tracks() == []
    with pytest.raises(RuntimeError):
        recorder.start_track(CALL, "p1", "agent", "audio", "opus")


# --- the typed record, the clock, quiet per-frame logs --------------------------------------------
LIVE_KEYS = {"recording_id", "call_id", "participant_id", "role", "kind", "codec", "state", "reason",
             "created_at", "started_at", "ended_at", "duration", "frames", "bytes", "file", "paused",
             "pauses"}
WRITTEN_KEYS = LIVE_KEYS | {"clock_rate", "format", "width", "height", "rebases", "finished_at",
                            "dropped"}


async def test_track_record_keeps_its_json_shape(tmp_path, opus_clip):
    from recorder.record import TrackRecord, record_from_json

    recorder = Recorder(tmp_path)
    track = recorder.start_track(CALL, "p1", "shopper", "audio", "opus")
    assert set(recorder.get(track.recording_id)) == LIVE_KEYS | {"dropped"}
    for i in range(10):
        track.on_frame(audio_frame(opus_clip, i, time.monotonic()))
    [record] = await recorder.finish(CALL)
    assert set(record) == WRITTEN_KEYS and record["width"] is None
    on_disk = recorder.index.__class__(tmp_path).get(record["recording_id"])
    assert on_disk == record
    typed = record_from_json(record)
    assert isinstance(typed, TrackRecord) and typed.state == "complete" and typed.frames == 10
    assert typed.to_json() == record


async def test_recorder_takes_its_wall_time_from_the_clock(tmp_path, opus_clip):
    from media.clock import VirtualClock

    clock = VirtualClock(start=1_800_000_000.0)
    recorder = Recorder(tmp_path, clock=clock)
    track = recorder.start_track(CALL, "p1", "shopper", "audio", "opus")
    await clock.advance(5.0)
    recorder.pause(CALL)
    await clock.advance(2.0)
    recorder.resume(CALL)
    for i in range(10):
        track.on_frame(audio_frame(opus_clip, i, clock.monotonic()))
    [record] = await recorder.finish(CALL)
    assert record["created_at"] == 1_800_000_000.0
    assert record["pauses"] == [{"start": 1_800_000_005.0, "end": 1_800_000_007.0}]
    assert record["started_at"] == pytest.approx(1_800_000_007.0)
    assert record["finished_at"] == 1_800_000_007.0
    # retention ages recordings on the same clock
    await clock.advance(8 * 86400)
    assert recorder.purge_expired(7) == [record["recording_id"]]


def test_a_failing_keyframe_request_is_logged_once_then_summed_up(tmp_path, vp8_clip, caplog):
    import logging

    from media.throttled_log import ThrottledLog

    def broken() -> None:
        raise RuntimeError("publisher gone")

    recorder = Recorder(tmp_path)
    track = recorder.start_track(CALL, "p1", "agent", "video", "VP8", request_keyframe=broken)
    with caplog.at_level(logging.ERROR, logger="recorder.sink"):
        for i in range(1, 29):  # inter frames, over more than 9 s: one request per second
            track.on_frame(video_frame(vp8_clip, i, base=i * 0.3))
    assert track._keyframe_failures.count == 9
    assert caplog.text.count("keyframe request failed") == 1 and caplog.text.count("Traceback") == 1
    asyncio.run(recorder.finish(CALL))
    log = ThrottledLog(logging.getLogger("test.throttle"), interval=0.0)
    with caplog.at_level(logging.WARNING, logger="test.throttle"):
        for _ in range(3):
            log("disk hiccup on %s", "r_1")
    assert "disk hiccup on r_1 (1 times" in caplog.text
