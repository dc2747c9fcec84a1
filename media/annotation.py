"""Marks drawn on a party's live video, as call events: the contract between signaling (which
checks them at the edge and stores them in the call record), the browsers, and the recorder
(which draws them onto the QA composition). Pure data, no I/O.

An annotation event in the call record::

    {"type": "annotation", "at": <epoch seconds>, "by": "agent"|"shopper", "by_name": "Ann",
     "annotation_id": "an_…", "target": "shopper"|"agent",   # whose video the mark is on
     "shape": "pointer"|"arrow"|"circle"|"pen"|"text"|"undo"|"clear",
     "color": "#ff3b30", "points": [[x, y], ...], "text": "…", "pinned": false, "fade_s": 4.0}

``points`` are normalized to the picture as the target SENDS it (not mirrored): 0..1, origin
top-left. Per shape: pointer 1 point; arrow 2 (tail → head); circle 2 (centre, a point on the
rim); pen 2..256; text 1 (anchor: top-left of the label) plus ``text``; undo and clear none.
``undo`` removes the author's latest mark on that target that is still shown; ``clear`` removes
every mark on that target, whoever drew it. A pointer is a laser pointer: the author's newer
pointer on the same target replaces the older one (so pointer moves may be sent as new pointer
events, rate-limited by the sender). A mark fades out over the last
:data:`FADE_TAIL` seconds of ``fade_s`` unless pinned; a pinned mark stays until undone or
cleared.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

EVENT_TYPE = "annotation"
PARTIES = ("agent", "shopper")
SHAPES = ("pointer", "arrow", "circle", "pen", "text", "undo", "clear")
MARK_SHAPES = SHAPES[:5]  # the shapes that draw something
MAX_POINTS = 256
MAX_TEXT = 80
MAX_NAME = 80
DEFAULT_COLOR = "#ff3b30"
DEFAULT_FADE_S = 4.0
MAX_FADE_S = 60.0
FADE_TAIL = 0.5  # seconds over which a mark's opacity goes 1 → 0 at the end of fade_s

_POINT_COUNT: dict[str, tuple[int, int]] = {
    "pointer": (1, 1), "arrow": (2, 2), "circle": (2, 2), "pen": (2, MAX_POINTS),
    "text": (1, 1), "undo": (0, 0), "clear": (0, 0),
}
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
_ID = re.compile(r"an_[A-Za-z0-9_-]{1,64}")

Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Annotation:
    """One annotation event, checked."""

    at: float  # epoch seconds
    by: str  # "agent" | "shopper"
    annotation_id: str
    target: str  # whose video: "agent" | "shopper"
    shape: str
    color: str = DEFAULT_COLOR  # "#rrggbb", lower case
    points: tuple[Point, ...] = ()
    text: str | None = None
    pinned: bool = False
    fade_s: float = DEFAULT_FADE_S
    by_name: str | None = None

    @property
    def draws(self) -> bool:
        """Whether this is a mark (not an undo or clear)."""
        return self.shape in MARK_SHAPES

    @property
    def bgr(self) -> tuple[int, int, int]:
        """The colour as OpenCV wants it."""
        r, g, b = (int(self.color[i : i + 2], 16) for i in (1, 3, 5))
        return b, g, r

    def to_event(self) -> dict[str, Any]:
        """The call-record form (what :func:`parse_annotation` reads back)."""
        event: dict[str, Any] = {
            "type": EVENT_TYPE, "at": self.at, "by": self.by, "annotation_id": self.annotation_id,
            "target": self.target, "shape": self.shape,
        }
        if self.by_name is not None:
            event["by_name"] = self.by_name
        if self.draws:
            event.update(color=self.color, points=[[x, y] for x, y in self.points],
                         pinned=self.pinned, fade_s=self.fade_s)
            if self.shape == "text":
                event["text"] = self.text
        return event


def parse_annotation(data: Mapping[str, Any]) -> Annotation:
    """An annotation from its event form; ``ValueError`` saying what is wrong otherwise."""
    if not isinstance(data, Mapping):
        raise ValueError("an annotation must be an object")  # noqa: TRY004 (one error type for bad input)
    if data.get("type", EVENT_TYPE) != EVENT_TYPE:
        raise ValueError(f"an annotation event has type {EVENT_TYPE!r}")
    at = _number(data.get("at"), "at")
    if at < 0:
        raise ValueError("at must be epoch seconds, not negative")
    by = _choice(data.get("by"), PARTIES, "by")
    target = _choice(data.get("target"), PARTIES, "target")
    shape = _choice(data.get("shape"), SHAPES, "shape")
    annotation_id = data.get("annotation_id")
    if not isinstance(annotation_id, str) or not _ID.fullmatch(annotation_id):
        raise ValueError("annotation_id must look like 'an_' followed by up to 64 letters, digits, _ or -")
    by_name = data.get("by_name")
    if by_name is not None and (not isinstance(by_name, str) or len(by_name) > MAX_NAME):
        raise ValueError(f"by_name must be a string of at most {MAX_NAME} characters")
    points = _points(data.get("points", []), shape)
    if shape not in MARK_SHAPES:
        return Annotation(at, by, annotation_id, target, shape, points=(), by_name=by_name)

    color = data.get("color", DEFAULT_COLOR)
    if not isinstance(color, str) or not _COLOR.fullmatch(color):
        raise ValueError("color must be '#rrggbb'")
    text = data.get("text")
    if shape == "text":
        if not isinstance(text, str) or not text.strip():
            raise ValueError("a text mark needs a non-empty text")
        if len(text) > MAX_TEXT:
            raise ValueError(f"text must be at most {MAX_TEXT} characters")
    elif text is not None:
        raise ValueError(f"only a text mark has a text, not a {shape}")
    pinned = data.get("pinned", False)
    if not isinstance(pinned, bool):
        raise ValueError("pinned must be true or false")  # noqa: TRY004
    fade_s = _number(data.get("fade_s", DEFAULT_FADE_S), "fade_s")
    if not 0 < fade_s <= MAX_FADE_S:
        raise ValueError(f"fade_s must be more than 0 and at most {MAX_FADE_S:g} seconds")
    return Annotation(at, by, annotation_id, target, shape, color.lower(), points,
                      text if shape == "text" else None, pinned, fade_s, by_name)


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number")
    return float(value)


def _choice(value: Any, allowed: tuple[str, ...], name: str) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}")
    return str(value)


def _points(value: Any, shape: str) -> tuple[Point, ...]:
    if not isinstance(value, (list, tuple)):
        raise ValueError("points must be a list of [x, y] pairs")  # noqa: TRY004
    low, high = _POINT_COUNT[shape]
    if not low <= len(value) <= high:
        wanted = f"{low}" if low == high else f"{low} to {high}"
        raise ValueError(f"a {shape} takes {wanted} points, not {len(value)}")
    out: list[Point] = []
    for p in value:
        if not isinstance(p, (list, tuple)) or len(p) != 2:
            raise ValueError("each point must be an [x, y] pair")
        x, y = _number(p[0], "a point's x"), _number(p[1], "a point's y")
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ValueError("point coordinates must be in [0, 1] (normalized to the picture)")
        out.append((x, y))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class VisibleMark:
    annotation: Annotation
    opacity: float  # 0 < opacity <= 1


@dataclass(slots=True)
class _Span:
    annotation: Annotation
    start: float  # call-relative seconds
    fade_end: float  # where its natural fade ends (inf when pinned)
    end: float  # when it is gone: fade_end, or the undo/clear that removed it


class AnnotationLayer:
    """Which marks show on which party's video at a moment of the call.

    Built once from the call's events (anything that is not a valid annotation is skipped and
    counted in ``skipped``); ``origin`` is the epoch second that is call time 0 (the timeline's
    start). Undo and clear are resolved up front, so :meth:`visible` costs a bisect when
    nothing shows."""

    def __init__(self, events: Iterable[Mapping[str, Any] | Annotation], origin: float) -> None:
        self.origin = origin
        self.skipped = 0
        parsed: list[Annotation] = []
        for event in events:
            if isinstance(event, Annotation):
                parsed.append(event)
                continue
            if not isinstance(event, Mapping) or event.get("type") != EVENT_TYPE:
                continue
            try:
                parsed.append(parse_annotation(event))
            except ValueError:
                self.skipped += 1
        parsed.sort(key=lambda a: a.at)  # stable: same-instant events keep their record order
        spans: list[_Span] = []
        for a in parsed:
            t = a.at - origin
            if a.draws:
                if a.shape == "pointer":  # it moves: the author's previous pointer there goes
                    for s in spans:
                        if (s.annotation.shape == "pointer" and s.annotation.by == a.by
                                and s.annotation.target == a.target and s.start <= t < s.end):
                            s.end = t
                fade_end = math.inf if a.pinned else t + a.fade_s
                spans.append(_Span(a, t, fade_end, fade_end))
                continue
            shown = [s for s in spans if s.annotation.target == a.target and s.start <= t < s.end]
            if a.shape == "undo":
                shown = [s for s in shown if s.annotation.by == a.by][-1:]
            for s in shown:
                s.end = t
        self._spans = [s for s in spans if s.end > s.start]
        self._starts = [s.start for s in self._spans]
        # the latest end among spans[:i+1], to stop the scan back early
        self._reach: list[float] = []
        reach = -math.inf
        for s in self._spans:
            reach = max(reach, s.end)
            self._reach.append(reach)

    def __len__(self) -> int:
        return len(self._spans)

    @property
    def marks(self) -> list[Annotation]:
        """The marks that show at some moment, in order of time."""
        return [s.annotation for s in self._spans]

    def visible(self, t: float, target: str | None = None) -> list[VisibleMark]:
        """The marks showing at call time ``t`` (on ``target``'s video, or on any), oldest
        first so that newer marks are drawn on top."""
        i = bisect.bisect_right(self._starts, t)
        if i == 0 or self._reach[i - 1] <= t:
            return []
        out: list[VisibleMark] = []
        for k in range(i):
            s = self._spans[k]
            if t >= s.end or (target is not None and s.annotation.target != target):
                continue
            opacity = min(1.0, (s.fade_end - t) / FADE_TAIL) if FADE_TAIL > 0 else 1.0
            if opacity > 0:
                out.append(VisibleMark(s.annotation, opacity))
        return out

    def targets_at(self, t: float) -> dict[str, list[VisibleMark]]:
        """The visible marks grouped by the party whose video they are on."""
        grouped: dict[str, list[VisibleMark]] = {}
        for mark in self.visible(t):
            grouped.setdefault(mark.annotation.target, []).append(mark)
        return grouped
