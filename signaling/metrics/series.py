"""The node's Prometheus series (``silkline_…``), from prometheus-client.

Each app has its own ``CollectorRegistry``, so many apps in one process (the tests) never
share or clash over a series. Figures that are a state of the node (calls, rooms, queues,
agents, live track recordings) are read when Prometheus scrapes, by :class:`LiveFigures`;
what happens between scrapes is counted as it happens (rejected inputs) or by the
:class:`~signaling.metrics.sampler.CallSampler` each tick (join times, call durations, queue
waits, forwarded frames, recorded bytes and failed recordings, event-loop lag).
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterator
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from sfu import Refusal, SfuNode
from signaling.centre.calls import CallService

CALL_STATES = ("waiting", "ringing", "connecting", "connected")


class LiveRecordings(Protocol):
    """What the metrics read of the recorder: its live track recordings (each with
    ``recording_id``, ``state`` and its ``record`` dict), and one finished record by id.
    Never the whole index: listing months of recordings on the event loop would stall media."""

    def tracks(self, call_id: str | None = None) -> list[Any]: ...

    def get(self, recording_id: str) -> dict[str, Any] | None: ...


class LiveFigures(Collector):
    """Gauges computed from the live objects at scrape time (nothing to keep in step)."""

    def __init__(self, calls: CallService, recordings: LiveRecordings | None, node: SfuNode | None = None) -> None:
        self.calls = calls
        self.recordings = recordings
        self.node = node or calls.sfu  # this process's media (in a cluster the centre's sfu is remote)

    def collect(self) -> Iterator[Metric]:
        by_state = Tally(call.state.value for call in self.calls.calls.values())
        active = GaugeMetricFamily("silkline_calls_active", "Live calls on this node, by state",
                                   labels=["state"])
        for state in CALL_STATES:
            active.add_metric([state], by_state.get(state, 0))
        yield active
        yield GaugeMetricFamily("silkline_rooms_active", "SFU rooms on this node",
                                value=len(self.node.rooms))
        participants = sum(len(room.participants) for room in self.node.rooms.values())
        yield GaugeMetricFamily("silkline_participants_active", "SFU participants on this node",
                                value=participants)
        agents = GaugeMetricFamily("silkline_agents", "Signed-in agents, by state", labels=["state"])
        for state, count in sorted(Tally(a.state.value for a in self.calls.agents.values()).items()):
            agents.add_metric([state], count)
        yield agents
        waiting = GaugeMetricFamily("silkline_queue_waiting", "Calls waiting, per queue",
                                    labels=["queue"])
        longest = GaugeMetricFamily("silkline_queue_longest_wait_seconds",
                                    "How long the oldest waiting call has waited, per queue",
                                    labels=["queue"])
        for figure in self.calls.dashboard.queue_figures():
            waiting.add_metric([figure.queue], figure.waiting)
            longest.add_metric([figure.queue], figure.longest_wait_s)
        yield waiting
        yield longest
        admission = self.node.admission
        refusal = admission.refusal()
        yield GaugeMetricFamily("silkline_node_admitting",
                                "1 while the node opens new rooms, 0 above its admission limit or draining",
                                value=0 if refusal is not None else 1)
        refused = GaugeMetricFamily("silkline_node_admission_refused",
                                    "1 for the limit that currently refuses new rooms", labels=["reason"])
        for reason in Refusal:
            refused.add_metric([reason.value], 1 if refusal is reason else 0)
        yield refused
        load = admission.load()
        yield GaugeMetricFamily("silkline_node_cpu_percent",
                                "Process CPU, % of one core, over the admission window",
                                value=load.cpu_pct)
        yield GaugeMetricFamily("silkline_node_tracks_active", "Published tracks on this node",
                                value=load.tracks)
        if self.recordings is not None:
            yield GaugeMetricFamily("silkline_recordings_active", "Track recordings being written",
                                    value=len(self.recordings.tracks()))


class Metrics:
    """The registry and every series the node keeps between scrapes."""

    def __init__(self, calls: CallService, recordings: LiveRecordings | None = None,
                 node: SfuNode | None = None) -> None:
        self.recordings = recordings
        self.registry = CollectorRegistry()
        registry = self.registry
        self.rejected_inputs = Counter(
            "silkline_rejected_inputs", "Inputs answered with an error code, by face (ws, http) and code",
            ["face", "code"], registry=registry)
        self.join_seconds = Histogram(
            "silkline_join_seconds", "Agent accepted → both sides' media flowing",
            buckets=(0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0), registry=registry)
        self.call_duration_seconds = Histogram(
            "silkline_call_duration_seconds", "Connected → ended, of calls that connected",
            buckets=(5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200), registry=registry)
        self.queue_wait_seconds = Histogram(
            "silkline_queue_wait_seconds", "Requested → answered, of answered calls",
            buckets=(1, 5, 10, 20, 30, 60, 120, 300, 600), registry=registry)
        self.loop_lag_seconds = Histogram(
            "silkline_event_loop_lag_seconds", "How late the event loop woke the lag probe",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5), registry=registry)
        self.loop_lag_last = Gauge(
            "silkline_event_loop_lag_last_seconds", "The lag probe's latest measurement",
            registry=registry)
        self.sfu_frames = Counter(
            "silkline_sfu_frames", "Encoded frames: received from publishers, forwarded to and "
            "dropped for subscribers", ["direction", "kind"], registry=registry)
        self.sfu_received_bytes = Counter(
            "silkline_sfu_received_bytes", "Encoded media bytes received from publishers",
            ["kind"], registry=registry)
        self.sfu_forwarded_packets = Counter(
            "silkline_sfu_forwarded_packets", "RTP packets sent to subscribers (the RTP path), "
            "retransmissions included", ["kind"], registry=registry)
        self.sfu_forwarded_bytes = Counter(
            "silkline_sfu_forwarded_bytes", "RTP payload bytes sent to subscribers (the RTP path)",
            ["kind"], registry=registry)
        self.sfu_keyframe_requests = Counter(
            "silkline_sfu_keyframe_requests", "Keyframe requests (PLI) sent to publishers",
            ["kind"], registry=registry)
        self.recording_bytes = Counter(
            "silkline_recording_bytes", "Bytes written by track recordings", registry=registry)
        self.recording_failures = Counter(
            "silkline_recording_failures", "Track recordings that failed (disk full or too slow, I/O error)",
            registry=registry)
        registry.register(LiveFigures(calls, recordings, node))

    def rejected(self, face: str, code: str) -> None:
        self.rejected_inputs.labels(face=face, code=code[:64]).inc()

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The series in the format the scraper asks for (classic text by default, or
        OpenMetrics), with its content type."""
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type
