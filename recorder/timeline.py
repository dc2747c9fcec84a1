"""The call timeline: where each track file sits on the call's clock, and when recording was
paused, and the marks drawn on the parties' videos (annotation events of the call record,
:mod:`media.annotation`). Composition renders along it; the QA page lays its markers on the same
origin.

Built from the track records of the index (any state: a failed or interrupted recording still
holds the media before the failure). It crosses a process boundary (the compose job's spec
file), hence :meth:`CallTimeline.to_dict` / :meth:`CallTimeline.from_dict`; a spec file written
before annotations existed reads as a timeline without them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from media.annotation import EVENT_TYPE, Annotation, parse_annotation
from recorder.paths import check_id
from recorder.record import TrackRecord, record_from_json


@dataclass
class Segment:
    """One track file on the call clock."""

    recording_id: str
    role: str
    participant_id: str
    kind: str  # "audio" | "video"
    file: str  # relative to the recordings directory
    start: float  # seconds from the call's start
    duration: float


@dataclass
class CallTimeline:
    call_id: str
    start: float  # the call's time zero on the wall clock (epoch seconds)
    end: float
    agent_name: str | None = None
    segments: list[Segment] = field(default_factory=list)
    pauses: list[tuple[float, float]] = field(default_factory=list)  # call-relative seconds
    annotations: list[Annotation] = field(default_factory=list)  # their ``at``: epoch seconds

    @property
    def duration(self) -> float:
        return max(0.0, self.end - self.start)

    def paused_at(self, t: float) -> bool:
        """Whether call time ``t`` falls in a recording pause."""
        return any(a <= t < b for a, b in self.pauses)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["annotations"] = [a.to_event() for a in self.annotations]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallTimeline:
        return cls(
            call_id=check_id(data["call_id"], "call id"),
            start=float(data["start"]),
            end=float(data["end"]),
            agent_name=data.get("agent_name"),
            segments=[Segment(**s) for s in data.get("segments", [])],
            pauses=[(float(a), float(b)) for a, b in data.get("pauses", [])],
            annotations=[parse_annotation(e) for e in data.get("annotations", [])],
        )


def timeline_for_call(
    records: Iterable[TrackRecord | dict[str, Any] | Any],
    call_id: str,
    *,
    start: float | None = None,
    end: float | None = None,
    agent_name: str | None = None,
    events: Iterable[Mapping[str, Any]] = (),
) -> CallTimeline:
    """The timeline of a call from its track records. ``start``/``end``: the call's wall-clock
    bounds (e.g. connected_at / ended_at); by default the span of its recordings. ``records``
    may be typed or as the index serialises them (``Recorder.list``). ``events``: the call
    record's events; the annotations among them travel with the timeline."""
    typed = [record_from_json(r) if isinstance(r, dict) else r for r in records]
    mine = [r for r in typed if isinstance(r, TrackRecord) and r.call_id == call_id]
    tracks = [r for r in mine if r.kind in ("audio", "video") and r.file
              and r.started_at is not None and r.frames > 0]
    if not tracks:
        raise ValueError(f"call {call_id} has no recorded media")
    t0 = start if start is not None else min(r.started_at or 0.0 for r in tracks)
    t1 = end if end is not None else max((r.started_at or 0.0) + r.duration for r in tracks)
    segments = [
        Segment(recording_id=r.recording_id, role=r.role or "participant",
                participant_id=r.participant_id or "", kind=r.kind, file=r.file or "",
                start=(r.started_at or 0.0) - t0, duration=float(r.duration or 0.0))
        for r in tracks
    ]
    pauses: list[tuple[float, float]] = []
    for r in mine:
        for p in r.pauses:
            a = p.start - t0
            b = (p.end if p.end is not None else t1) - t0
            if b > a:
                pauses.append((a, b))
    return CallTimeline(call_id, t0, t1, agent_name, segments, _merge(pauses), annotations_of(events))


def annotations_of(events: Iterable[Mapping[str, Any]]) -> list[Annotation]:
    """The valid annotation events among a call's events. One the edge should have refused
    (an old record, a hand edit) is left out rather than failing the composition."""
    out: list[Annotation] = []
    for event in events:
        if isinstance(event, Mapping) and event.get("type") == EVENT_TYPE:
            try:
                out.append(parse_annotation(event))
            except ValueError:
                continue
    return out


def _merge(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[list[float]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1] + 0.05:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]
