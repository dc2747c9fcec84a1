"""CallSampler: turns what the live calls and the SFU did since the last tick into metrics.

It reads, never changes: the CallService's live calls (answered/connected timestamps give
queue waits and join times; a connected call that has gone gives its duration, measured to
within one tick) and the SFU's per-publisher and per-subscriber frame counters (their growth
since the last tick is added to counters, so a room that closes never makes a counter go
back); the live track recordings (bytes written, failure; a recording that is gone is read
once from the index for its final size and state, so nothing written is missed). Each tick also records the
event-loop lag its :class:`LoopLagProbe` measured, and hands it to the SFU's admission limit.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

from media.clock import Clock
from sfu import SfuNode
from signaling.centre.call import Call
from signaling.centre.calls import CallService
from signaling.metrics.loop_lag import LoopLagProbe
from signaling.metrics.series import Metrics

TICK_S = 0.25


@dataclass
class _Recording:
    bytes: int = 0
    failed: bool = False


@dataclass(eq=False)
class _Seen:
    call: Call
    waited: bool = False
    joined: bool = False


class CallSampler:
    def __init__(self, calls: CallService, metrics: Metrics, clock: Clock, interval: float = TICK_S,
                 node: SfuNode | None = None) -> None:
        self.calls = calls
        self.node = node or calls.sfu  # this process's media (in a cluster the centre's sfu is remote)
        self.metrics = metrics
        self._seen: dict[str, _Seen] = {}
        self._counted: weakref.WeakKeyDictionary[Any, tuple[int, ...]] = weakref.WeakKeyDictionary()
        self._recordings: dict[str, _Recording] = {}
        self.probe = LoopLagProbe(clock, interval, self.tick)

    def start(self) -> None:
        self.probe.start()

    async def close(self) -> None:
        await self.probe.close()

    def tick(self, lag: float) -> None:
        self.metrics.loop_lag_seconds.observe(lag)
        self.metrics.loop_lag_last.set(lag)
        self.node.admission.observe(lag)  # the node's limit watches the same loop
        self.sample_calls()
        self.sample_sfu()
        self.sample_recordings()

    def sample_recordings(self) -> None:
        recorder = self.metrics.recordings
        if recorder is None:
            return
        live: set[str] = set()
        for track in recorder.tracks():
            live.add(track.recording_id)
            # the writer thread updates the record; one attribute read each is enough here
            self._count_recording(track.recording_id, {"bytes": track.record.bytes,
                                                       "state": track.state})
        for recording_id in [r for r in self._recordings if r not in live]:
            final = recorder.get(recording_id)
            if final is not None:
                self._count_recording(recording_id, final)
            del self._recordings[recording_id]

    def _count_recording(self, recording_id: str, record: dict[str, Any]) -> None:
        seen = self._recordings.setdefault(recording_id, _Recording())
        written = int(record.get("bytes") or 0)
        _add(self.metrics.recording_bytes, written - seen.bytes)
        seen.bytes = max(seen.bytes, written)
        if record.get("state") == "failed" and not seen.failed:
            seen.failed = True
            self.metrics.recording_failures.inc()

    def sample_calls(self) -> None:
        live = self.calls.calls
        for call_id, call in live.items():
            seen = self._seen.get(call_id)
            if seen is None or seen.call is not call:
                seen = self._seen[call_id] = _Seen(call)
            if not seen.waited and call.answered_at is not None:
                seen.waited = True
                self.metrics.queue_wait_seconds.observe(max(0.0, call.answered_at - call.created_at))
            if not seen.joined and call.connected_at is not None and call.answered_at is not None:
                seen.joined = True
                self.metrics.join_seconds.observe(max(0.0, call.connected_at - call.answered_at))
        now = self.calls.clock.now()
        for call_id in [c for c in self._seen if c not in live]:
            seen = self._seen.pop(call_id)
            if seen.call.connected_at is not None:
                self.metrics.call_duration_seconds.observe(max(0.0, now - seen.call.connected_at))

    def sample_sfu(self) -> None:
        frames, received, plis = (self.metrics.sfu_frames, self.metrics.sfu_received_bytes,
                                  self.metrics.sfu_keyframe_requests)
        for room in list(self.node.rooms.values()):
            for participant in list(room.participants.values()):
                for publisher in list(participant.publishers.values()):
                    published = (publisher.frames, publisher.bytes, publisher.keyframes.sent)
                    before = self._counted.get(publisher, (0, 0, 0))
                    self._counted[publisher] = published
                    kind = publisher.kind
                    _add(frames.labels(direction="received", kind=kind), published[0] - before[0])
                    _add(received.labels(kind=kind), published[1] - before[1])
                    _add(plis.labels(kind=kind), published[2] - before[2])
                for subscribers in participant.slots.values():
                    for subscriber in list(subscribers):
                        # the frame path counts on the Subscriber, the RTP path on its leg
                        leg = subscriber.leg
                        sent = (subscriber.frames_sent + (leg.frames_sent if leg else 0),
                                subscriber.frames_dropped + (leg.dropped if leg else 0),
                                leg.packets_sent if leg else 0, leg.octets_sent if leg else 0)
                        before = self._counted.get(subscriber, (0, 0, 0, 0))
                        self._counted[subscriber] = sent
                        kind = subscriber.kind
                        _add(frames.labels(direction="forwarded", kind=kind), sent[0] - before[0])
                        _add(frames.labels(direction="dropped", kind=kind), sent[1] - before[1])
                        _add(self.metrics.sfu_forwarded_packets.labels(kind=kind), sent[2] - before[2])
                        _add(self.metrics.sfu_forwarded_bytes.labels(kind=kind), sent[3] - before[3])


def _add(counter: Any, amount: int) -> None:
    if amount > 0:
        counter.inc(amount)
