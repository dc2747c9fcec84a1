"""Each app has its own Prometheus registry: two nodes in one process never clash, and the
live figures are read from the node's own objects at scrape time."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from recorder.index import RecordingIndex
from sfu import SfuNode
from signaling.calls import CallService
from signaling.metrics import Metrics
from signaling.store import MemoryStateStore


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


def test_recordings_are_counted_by_state_with_their_bytes(tmp_path):
    index = RecordingIndex(tmp_path / "recordings")
    for n, (state, size) in enumerate([("complete", 1000), ("complete", 24), ("failed", 7)]):
        index.put({"recording_id": f"r_{n}", "call_id": "c_1", "state": state, "bytes": size})
    s = samples(Metrics(CallService(SfuNode(), MemoryStateStore(None)), index))
    assert s[("silkline_recordings", (("state", "complete"),))] == 2
    assert s[("silkline_recording_bytes", (("state", "complete"),))] == 1024
    assert s[("silkline_recordings", (("state", "failed"),))] == 1
