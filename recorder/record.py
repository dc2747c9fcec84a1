"""What the index knows about a recording: typed records, serialised only at the edge.

Two kinds of record live in the index, one JSON file each:

* :class:`TrackRecord` — one track file (a *segment*: one participant, one kind, from one
  publisher; a returning party gets a new one). States ``recording`` → ``complete`` |
  ``failed``; ``interrupted`` when a crash cut it off.
* :class:`CompositeRecord` — a composed QA playback file. States ``composing`` →
  ``complete`` | ``failed``.

State changes go through their methods. :meth:`to_json` gives the wire shape the index file,
``Recorder.list``/``get`` and the QA API use — the keys every record has always had, plus the
ones learnt later (``width``, ``clock_rate``, ``repaired``…) once they are known — and
:func:`record_from_json` reads it back (unknown keys are kept, not lost).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, ClassVar, Self

from recorder.paths import check_id


class RecordingState(StrEnum):
    RECORDING = "recording"
    COMPLETE = "complete"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    COMPOSING = "composing"


LIVE_STATES = frozenset({RecordingState.RECORDING, RecordingState.COMPOSING})


@dataclass(frozen=True, slots=True)
class Pause:
    """A span (wall-clock epoch seconds) during which the call's media was not kept."""

    start: float
    end: float | None = None  # None: still paused

    def to_json(self) -> dict[str, float | None]:
        return {"start": self.start, "end": self.end}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Pause:
        end = data.get("end")
        return cls(float(data["start"]), float(end) if end is not None else None)


@dataclass
class StoredRecord:
    """What every record of the index has."""

    ALWAYS: ClassVar[tuple[str, ...]] = ()  # keys written even when empty

    recording_id: str
    call_id: str
    kind: str = ""
    role: str | None = None
    state: RecordingState = RecordingState.RECORDING
    reason: str | None = None
    created_at: float = 0.0
    started_at: float | None = None
    ended_at: float | None = None
    duration: float = 0.0
    file: str | None = None  # the main file, relative to the recordings directory
    files: list[str] = field(default_factory=list)  # every file it owns, if more than ``file``
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know

    @property
    def time(self) -> float:
        """When it started (else when it was created): listings sort and retention ages by it."""
        return float(self.started_at or self.created_at or 0.0)

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES

    def owned_files(self) -> list[str]:
        names = list(self.files)
        if self.file and self.file not in names:
            names.append(self.file)
        return names

    def fail(self, reason: str) -> None:
        self.state, self.reason = RecordingState.FAILED, reason

    def copy(self) -> Self:
        return copy.deepcopy(self)

    def _known(self, name: str, value: Any) -> bool:
        """Whether a key outside ``ALWAYS`` belongs in the JSON form."""
        return value is not None and not (name == "files" and value == [])

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra)
        for f in fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if f.name not in self.ALWAYS and not self._known(f.name, value):
                continue
            if isinstance(value, RecordingState):
                value = value.value
            elif f.name == "pauses":
                value = [p.to_json() for p in value]
            elif isinstance(value, (list, dict)):
                value = copy.deepcopy(value)
            out[f.name] = value
        return out


@dataclass
class TrackRecord(StoredRecord):
    """One track file of one participant."""

    ALWAYS: ClassVar[tuple[str, ...]] = (
        "recording_id", "call_id", "participant_id", "role", "kind", "codec", "state", "reason",
        "created_at", "started_at", "ended_at", "duration", "frames", "bytes", "file", "paused",
        "pauses")

    participant_id: str | None = None
    codec: str | None = None
    frames: int = 0
    bytes: int = 0
    paused: bool = False
    pauses: list[Pause] = field(default_factory=list)  # the call's pauses while this track lived
    # known once the first frame is in the file
    clock_rate: int | None = None
    format: str | None = None
    width: int | None = None
    height: int | None = None
    rebases: int | None = None
    dropped: dict[str, int] | None = None  # frames not kept, by reason
    finished_at: float | None = None
    repaired: bool | None = None  # remuxed with an index after a crash
    node_id: str | None = None  # the cluster node whose recorder writes it (None: a single node)

    def _known(self, name: str, value: Any) -> bool:
        # the picture size is noted with the file (None for audio), as it always was
        return super()._known(name, value) or name in ("width", "height") and self.format is not None

    def note_file(self, *, codec: str, clock_rate: int, file: str, format: str,
                  width: int | None, height: int | None, started_at: float) -> None:
        """The first frame is in the file: what it is and where it sits on the call clock."""
        self.codec, self.clock_rate, self.file, self.format = codec, clock_rate, file, format
        self.width, self.height, self.started_at = width, height, started_at

    def note_progress(self, *, frames: int, bytes: int, duration: float, rebases: int) -> None:
        self.frames, self.bytes, self.duration, self.rebases = frames, bytes, round(duration, 3), rebases
        if self.started_at is not None:
            self.ended_at = round(self.started_at + self.duration, 3)

    def finish(self, at: float, failed: str | None = None) -> None:
        """The writer is done: ``complete``, or ``failed`` with the reason."""
        self.paused = False
        self.finished_at = at
        if failed is not None:
            self.fail(failed)
        else:
            self.state = RecordingState.COMPLETE

    def interrupt(self, *, frames: int, duration: float, repaired: bool) -> None:
        """A crash cut it off: what the file holds is what there is."""
        self.state, self.reason = RecordingState.INTERRUPTED, "the server stopped while recording"
        self.frames, self.duration, self.paused = frames, duration, False
        if repaired:
            self.repaired = True
        if self.started_at:
            self.ended_at = round(self.started_at + duration, 3)
        self.pauses = [p if p.end is not None else Pause(p.start, self.ended_at or p.start)
                       for p in self.pauses]


@dataclass
class CompositeRecord(StoredRecord):
    """A composed QA playback file (mp4, poster, thumbnail sprite) of one call."""

    ALWAYS: ClassVar[tuple[str, ...]] = (
        "recording_id", "call_id", "kind", "role", "state", "reason", "created_at", "started_at",
        "ended_at", "duration", "layout", "sources", "file", "files")

    kind: str = "composite"
    state: RecordingState = RecordingState.COMPOSING
    layout: str | None = None
    sources: list[str] = field(default_factory=list)  # the track records it was made from
    poster: str | None = None
    thumbnails: str | None = None
    thumbnail_times: list[float] | None = None
    thumbnail_size: list[int] | None = None
    frames: int | None = None
    width: int | None = None
    height: int | None = None
    fps: int | None = None
    compose_seconds: float | None = None
    compose_speed: float | None = None
    bytes: int | None = None

    def complete(self, files: dict[str, str], result: dict[str, Any], size: int) -> None:
        """``files``: video/poster/thumbnails paths; ``result``: what ``compose_call`` said."""
        self.state = RecordingState.COMPLETE
        self.file, self.poster, self.thumbnails = files["video"], files["poster"], files["thumbnails"]
        self.files = list(files.values())
        self.thumbnail_times, self.thumbnail_size = result["thumbnail_times"], result["thumbnail_size"]
        self.frames, self.width, self.height, self.fps = (
            result["frames"], result["width"], result["height"], result["fps"])
        self.compose_seconds, self.compose_speed = result["wall_seconds"], result["speed"]
        self.bytes = size

    def cancel(self) -> None:
        self.fail("cancelled")


AnyRecord = TrackRecord | CompositeRecord


def record_from_json(data: dict[str, Any]) -> AnyRecord:
    """Read a record as the index stores it; raises ValueError (or KeyError/TypeError) if it is
    not one."""
    if not isinstance(data, dict):
        raise TypeError("a record is a JSON object")
    check_id(data.get("recording_id"), "recording id")
    check_id(data.get("call_id"), "call id")
    try:
        state = RecordingState(str(data.get("state")))
    except ValueError:
        raise ValueError(f"unknown recording state {data.get('state')!r}") from None
    cls: type[AnyRecord] = CompositeRecord if data.get("kind") == "composite" else TrackRecord
    known = {f.name for f in fields(cls)} - {"extra"}
    values: dict[str, Any] = {k: copy.deepcopy(v) for k, v in data.items() if k in known}
    values["state"] = state
    if "pauses" in values:
        values["pauses"] = [Pause.from_json(p) for p in values["pauses"] or []]
    for key in ("files", "sources"):
        if key in values and values[key] is None:
            values[key] = []
    for key in ("duration",):
        if values.get(key) is None:
            values.pop(key, None)
    for key in ("frames", "bytes") if cls is TrackRecord else ():
        if values.get(key) is None:
            values.pop(key, None)
    extra = {k: copy.deepcopy(v) for k, v in data.items() if k not in known}
    return cls(**values, extra=extra)
