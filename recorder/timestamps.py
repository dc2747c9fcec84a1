"""The timestamp policy: how encoded frames' RTP timestamps become container presentation
times.

A frame's RTP timestamp (``clock_rate`` units) gives its position; the file starts at 0 at the
first recorded frame, whose arrival time on the wall clock is the record's ``started_at``.
32-bit wrap-around is unwrapped; a jump that disagrees with the arrival clock by more than
``max_jump`` seconds (a restarted publisher, a new SSRC) is re-based onto the arrival clock;
duplicated or reordered frames are dropped. Gaps (a muted camera, a recording pause: the sink
drops the frames, the timestamps run on) stay gaps in the file: the file's timeline is the
call's. Matroska counts in milliseconds, so :class:`MillisecondPts` keeps those strictly
increasing.
"""

from __future__ import annotations

import logging

from media.throttled_log import ThrottledLog

logger = logging.getLogger(__name__)

_WRAP = 1 << 32


class PtsMapper:
    """Turns RTP timestamps (+ arrival times) into strictly increasing presentation times.

    The RTP clock is trusted while it agrees with the arrival clock. Three disagreements:

    * the timestamp jumps *ahead* of the arrival clock by more than ``max_jump`` (a
      restarted encoder, a new random timestamp base) or goes back beyond the reorder
      window: re-based at once onto the arrival clock;
    * frames arrive late, then in a burst (a network stall): the arrival clock catches up
      with the RTP clock again, nothing to do — the RTP clock was right;
    * frames keep arriving more than ``max_jump`` later than their timestamps say, for
      ``settle`` seconds (a sender whose clock stood still while its source paused): the
      lost time is inserted as a gap, so the track stays in step with the call.
    """

    def __init__(self, clock_rate: int, max_jump: float = 2.0, reorder_window: float = 1.0,
                 settle: float = 2.0) -> None:
        self.clock_rate = clock_rate
        self.max_jump = max_jump
        self.reorder_window = reorder_window * clock_rate
        self.settle = settle
        self._last_raw: int | None = None
        self._last_arrival = 0.0
        self._origin = 0.0  # arrival of the first frame
        self._baseline = 0.0  # smallest lag seen: the path's usual delay
        self._late_since: float | None = None
        self._late_min = 0.0
        self._last_pts = 0
        self._step = 1  # typical distance between frames, for re-basing
        self.rebases = 0
        self.dropped = 0
        self._log = ThrottledLog(logger, logging.INFO)  # a broken sender may jump every frame

    def map(self, timestamp: int, arrival: float) -> int | None:
        """Presentation time in clock units (0 for the first frame), or None to drop."""
        if self._last_raw is None:
            self._last_raw, self._last_arrival, self._origin = timestamp, arrival, arrival
            return 0
        delta = ((timestamp - self._last_raw + (_WRAP >> 1)) % _WRAP) - (_WRAP >> 1)
        wall = (arrival - self._last_arrival) * self.clock_rate
        if delta <= 0 and -delta <= self.reorder_window:
            self.dropped += 1  # duplicate or late (reordered) frame: already past it
            return None
        if delta <= 0 or delta - wall > self.max_jump * self.clock_rate:
            # the stream restarted or jumped: continue on the arrival clock
            self.rebases += 1
            delta = max(round(wall), self._step)
            self._log("timestamp discontinuity: re-based onto the arrival clock (+%d)", delta)
        elif delta < self.clock_rate:
            self._step = delta
        self._last_raw, self._last_arrival = timestamp, arrival
        self._last_pts += delta
        self._follow_arrival(arrival)
        return self._last_pts

    def _follow_arrival(self, arrival: float) -> None:
        lag = arrival - self._origin - self._last_pts / self.clock_rate
        self._baseline = min(self._baseline, lag)
        extra = lag - self._baseline
        if extra <= self.max_jump:
            self._late_since = None
            return
        if self._late_since is None:
            self._late_since, self._late_min = arrival, extra
            return
        self._late_min = min(self._late_min, extra)
        if arrival - self._late_since >= self.settle:
            self.rebases += 1
            self._last_pts += round(self._late_min * self.clock_rate)
            self._log("sender clock fell %.1f s behind arrivals: gap inserted", self._late_min)
            self._late_since = None


class MillisecondPts:
    """Keeps presentation times strictly increasing at Matroska's millisecond precision."""

    def __init__(self, clock_rate: int) -> None:
        self.clock_rate = clock_rate
        self._last_ms = -1

    def __call__(self, pts: int) -> int:
        ms = pts * 1000 // self.clock_rate
        if ms <= self._last_ms:
            pts = -((-(self._last_ms + 1) * self.clock_rate) // 1000)
            ms = self._last_ms + 1
        self._last_ms = ms
        return pts
