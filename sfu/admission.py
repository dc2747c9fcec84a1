"""Admission: the node knows its limit and refuses new rooms above it, instead of collapsing.

The defaults are the node's measured capacity (docs/performance.md, "Admission defaults"):

- ``max_calls`` = :data:`RATED_CALLS`, the rated capacity of one node process on the RTP path:
  the most 1:1 A/V calls a ``python -m load_tests sweep`` held with join p95 < 600 ms, loss
  < 0.5 % and no failed call. Rooms are what a contact centre can plan with, so this is the
  limit that binds on a machine like the reference one.
- ``max_tracks`` = 4 tracks per call (two parties × audio + video) at that many calls: a room
  with monitors or more parties counts by what it publishes.
- ``max_cpu_pct`` 85 % of a core and ``max_loop_lag_ms`` 50 ms: where one event loop stops
  keeping up. On the frame path at 28 calls the loop sat at ≈ 99 % and media collapsed; the load
  report flags a loop lag above 50 ms. These two bind on a slower or busier machine than the
  reference one, where the call count alone would let the node collapse.

Any limit set to 0 is off. Rooms and tracks are read from the node at the moment of asking.
Loop lag and CPU are sampled: whoever runs the loop-lag probe calls :meth:`Admission.observe`
on each tick, and the CPU share is the process's user + system time (``os.times``) over the
injected clock's monotonic time, across a window of a few seconds.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from media.clock import Clock, SystemClock

if TYPE_CHECKING:
    from sfu.node import SfuNode

# The rated capacity of one node process (docs/performance.md, "Admission defaults").
RATED_CALLS = 40
TRACKS_PER_CALL = 4  # two parties, each publishing audio and video
CPU_WINDOW_S = 5.0
LAG_SAMPLES = 8  # the probe ticks every 0.25 s: the mean of the last 2 s


class Refusal(str, Enum):
    """Why the node takes no new room right now (also the `/readyz` and metrics words)."""

    DRAINING = "draining"
    CALLS = "max_calls"
    TRACKS = "max_tracks"
    LOOP_LAG = "max_loop_lag"
    CPU = "max_cpu"


@dataclass(frozen=True)
class AdmissionLimit:
    max_calls: int = RATED_CALLS
    max_tracks: int = RATED_CALLS * TRACKS_PER_CALL
    max_loop_lag_ms: float = 50.0
    max_cpu_pct: float = 85.0


@dataclass(frozen=True)
class Load:
    """What the node carries and how hard its loop works, as the registry and /api/nodes show it."""

    rooms: int
    tracks: int
    loop_lag_ms: float
    cpu_pct: float

    def as_dict(self) -> dict[str, float | int]:
        return {"rooms": self.rooms, "tracks": self.tracks,
                "loop_lag_ms": round(self.loop_lag_ms, 2), "cpu_pct": round(self.cpu_pct, 1)}


def process_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


class Admission:
    def __init__(self, limit: AdmissionLimit | None = None, clock: Clock | None = None,
                 cpu_seconds: Callable[[], float] = process_cpu_seconds) -> None:
        self.limit = limit or AdmissionLimit()
        self.clock = clock or SystemClock()
        self.cpu_seconds = cpu_seconds
        self.draining = False
        self.drain_until: float | None = None  # in a cluster: when the remaining calls move away
        self._lags: deque[float] = deque(maxlen=LAG_SAMPLES)
        self._cpu: deque[tuple[float, float]] = deque()  # (monotonic, cpu seconds)
        self.node: SfuNode | None = None  # set by the node that owns this

    def observe(self, loop_lag_s: float) -> None:
        """One probe tick: the loop's lag and, with it, a CPU reading."""
        self._lags.append(max(0.0, loop_lag_s))
        now = self.clock.monotonic()
        self._cpu.append((now, self.cpu_seconds()))
        while len(self._cpu) > 2 and now - self._cpu[1][0] >= CPU_WINDOW_S:
            self._cpu.popleft()

    @property
    def loop_lag_ms(self) -> float:
        return 1000.0 * sum(self._lags) / len(self._lags) if self._lags else 0.0

    @property
    def cpu_pct(self) -> float:
        if len(self._cpu) < 2:
            return 0.0
        (t0, c0), (t1, c1) = self._cpu[0], self._cpu[-1]
        return 100.0 * (c1 - c0) / (t1 - t0) if t1 > t0 else 0.0

    def load(self) -> Load:
        rooms = list(self.node.rooms.values()) if self.node is not None else []
        tracks = sum(len(p.publishers) for room in rooms for p in room.participants.values())
        return Load(len(rooms), tracks, self.loop_lag_ms, self.cpu_pct)

    def refusal(self, pending: int = 0, replacing: bool = False) -> Refusal | None:
        """None when a new room may open here; else the first limit that says no.
        ``pending`` rooms are promised but not open yet (calls ringing an agent). A room
        ``replacing`` one this node closed a moment ago to move its call adds no load that
        the figures had not counted: only a drain refuses it (refused, the call would end)."""
        if self.draining:
            return Refusal.DRAINING
        if replacing:
            return None
        load, limit = self.load(), self.limit
        if limit.max_calls and load.rooms + pending >= limit.max_calls:
            return Refusal.CALLS
        if limit.max_tracks and load.tracks >= limit.max_tracks:
            return Refusal.TRACKS
        if limit.max_loop_lag_ms and load.loop_lag_ms >= limit.max_loop_lag_ms:
            return Refusal.LOOP_LAG
        if limit.max_cpu_pct and load.cpu_pct >= limit.max_cpu_pct:
            return Refusal.CPU
        return None


class AdmissionRefused(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(f"the node takes no new room: {refusal.value}")
        self.refusal = refusal
