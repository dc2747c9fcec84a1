"""A call's recording in this process: its live track segments and its pauses.

This is the one place that knows whether a call's recording is paused. The sinks ask it
(frames are dropped while paused), each track record carries the pauses of its lifetime, the
timeline is built from those, and signaling's ``RecordingService`` asks ``Recorder.is_paused``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from recorder.record import Pause

if TYPE_CHECKING:
    from recorder.sink import TrackRecording


class Recording:
    """One call's recording: segments (a :class:`TrackRecording` per published track, a new one
    when a party comes back) and the pauses, wall-clock, that apply to all of them."""

    def __init__(self, call_id: str) -> None:
        self.call_id = call_id
        self.tracks: dict[str, TrackRecording] = {}
        # replaced whole, never changed in place: worker threads read it without a lock
        self._pauses: tuple[Pause, ...] = ()

    @property
    def paused(self) -> bool:
        pauses = self._pauses
        return bool(pauses) and pauses[-1].end is None

    @property
    def pauses(self) -> tuple[Pause, ...]:
        return self._pauses

    def pause(self, at: float) -> bool:
        """Stop keeping media from ``at``; False if it was paused already."""
        if self.paused:
            return False
        self._pauses = (*self._pauses, Pause(at))
        for track in list(self.tracks.values()):
            track.pause_changed()
        return True

    def resume(self, at: float) -> bool:
        """Keep media again from ``at``; False if it was not paused."""
        if not self.paused:
            return False
        self._pauses = (*self._pauses[:-1], Pause(self._pauses[-1].start, at))
        for track in list(self.tracks.values()):
            track.resumed()
        return True

    def mark(self) -> tuple[int, bool]:
        """Where a track joining now starts in the pauses, and whether it joins paused."""
        pauses = self._pauses
        if pauses and pauses[-1].end is None:
            return len(pauses) - 1, True
        return len(pauses), False

    def pauses_for(self, mark: tuple[int, bool], last: int | None, created_at: float,
                   finished_at: float | None) -> list[Pause]:
        """What a track that joined at ``mark`` (at ``created_at``) and, if it has finished,
        left with ``last`` pauses behind it records: a pause open when it joined starts at
        ``created_at`` for it, one open when it left ends at ``finished_at``."""
        first, joined_paused = mark
        out = []
        for i, p in enumerate(self._pauses[first:last], start=first):
            start = created_at if i == first and joined_paused else p.start
            end = p.end if p.end is not None else finished_at
            out.append(Pause(start, end))
        return out

    def add(self, track: TrackRecording) -> None:
        self.tracks[track.recording_id] = track

    def discard(self, track: TrackRecording) -> None:
        self.tracks.pop(track.recording_id, None)
