"""Each app has its own Prometheus registry: two nodes in one process never clash, and the
live figures are read from the node's own objects at scrape time."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from sfu import SfuNode
from signaling.centre.calls import CallService
from signaling.metrics.series import Metrics
from signaling.state.memory import MemoryStateStore


def samples(metrics: Metrics) -> dict[tuple[str, tuple], float]:
    body, content_type = metrics.exposition()
    assert content_type.startswith("text/plain; version=0.0.4")
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_two_apps_keep_separate_series():
    a = Metrics(CallService(SfuNode(), MemoryStateStore(None)))
    b = Metrics(CallService(SfuNode(), MemoryStateStore(None)))
    a.rejected("ws", "bad_json")
    a.rejected("ws", "bad_json")
    b.rejected("http", "unauthorized")
    sa, sb = samples(a), samples(b)
    assert sa[("silkline_rejected_inputs_total", (("code", "bad_json"), ("face", "ws")))] == 2
    assert ("silkline_rejected_inputs_total", (("code", "bad_json"), ("face", "ws"))) not in sb
    assert sb[("silkline_rejected_inputs_total", (("code", "unauthorized"), ("face", "http")))] == 1
    assert sa[("silkline_calls_active", (("state", "waiting"),))] == 0
    assert sa[("silkline_queue_waiting", (("queue", "general"),))] == 0


async def test_recorded_bytes_and_failures_are_counted_from_a_real_recorder(tmp_path):
    from media.clock import VirtualClock
    from media.encoded import EncodedFrame, is_keyframe
    from media.synthetic import encode_vp8_clip
    from recorder import Recorder
    from signaling.metrics.sampler import CallSampler

    recorder = Recorder(tmp_path / "recordings")
    calls = CallService(SfuNode(), MemoryStateStore(None))
    metrics = Metrics(calls, recorder)
    sampler = CallSampler(calls, metrics, VirtualClock())
    clip = encode_vp8_clip(frames=30, width=160, height=120, keyframe_interval=30)
    video = recorder.start_track("c_metrics0000001", "p1", "agent", "video", "VP8")
    broken = recorder.start_track("c_metrics0000001", "p2", "shopper", "audio")
    for i, data in enumerate(clip):
        video.on_frame(EncodedFrame("video", "VP8", data, i * 3000, 90000, is_keyframe("VP8", data),
                                    received_at=i / 30))
    broken.on_frame(EncodedFrame("audio", "PCMU", b"\xff" * 160, 0, 8000, True))
    sampler.sample_recordings()
    assert samples(metrics)[("silkline_recordings_active", ())] == 2
    records = {r["recording_id"]: r for r in await recorder.finish("c_metrics0000001")}
    sampler.sample_recordings()
    sampler.sample_recordings()  # nothing counted twice
    s = samples(metrics)
    assert s[("silkline_recording_bytes_total", ())] == records[video.recording_id]["bytes"] > 0
    assert records[broken.recording_id]["state"] == "failed"
    assert s[("silkline_recording_failures_total", ())] == 1
    assert s[("silkline_recordings_active", ())] == 0
    await recorder.close()

