"""The Recorder: the one object the server owns (``silkline/app.py`` makes it, signaling's
``RecordingService`` uses it through ``RecorderPort``). One per process.

Event loop, never blocks (no disk I/O): ``start_track(call_id, participant_id, role, kind,
codec=None, *, request_keyframe=None) -> TrackRecording`` (an ``EncodedSink`` for
``publisher.add_sink``; ``request_keyframe`` is used at the start and after a resume),
``pause``/``resume``/``is_paused`` (per call: frames are dropped, the pause is kept for the
timeline; tracks started during a pause start paused), ``tracks()``, ``stats()``, ``list()``
/ ``get()`` (records as JSON), ``media_path()`` / ``resolve()`` (only inside the recordings
directory, else ``UnsafePath``), ``compose(...) -> ComposeJob`` (a child process).

Coroutines: ``stop_track(track)`` (a publisher went away; a returning party gets a new
segment), ``finish(call_id)`` (every file finalised with its index), ``erase(...)`` (stops
live tracks first, journals every deletion), ``close()`` (cancels jobs, finalises tracks).

Blocking (``asyncio.to_thread``): ``recover()`` at startup, ``purge_expired()``; retention
runs as ``retention_task(max_age_days).start()`` / ``await .stop()``.

Guarantees: ``on_frame`` only appends to a bounded queue; a full queue or a disk error fails
that recording (reason in the record and the log), never the call; a ``kill -9`` leaves files
that play up to about one second before it, marked ``interrupted`` by the next ``recover()``.
Files: ``<recordings_dir>/<call_id>/<recording_id>.{webm,mkv,json}``, composed files in
``<call_id>/composed/``; ``python -m recorder --help`` for the offline tools.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from media.clock import Clock, SystemClock
from recorder.compose import ComposeOptions
from recorder.index import RecordingIndex
from recorder.jobs import ComposeJob
from recorder.paths import check_id, new_id, resolve_inside
from recorder.record import TrackRecord
from recorder.recording import Recording
from recorder.repair import recover
from recorder.retention import RetentionTask, erase, purge_expired
from recorder.sink import TrackRecording
from recorder.timeline import CallTimeline

logger = logging.getLogger(__name__)

# ``Recorder.list`` shadows the builtin in the class body: name the result types out here
RecordsJson = list[dict[str, Any]]
Ids = list[str]


class Recorder:
    """Per-track recordings, pause/resume per call, composition jobs, recovery, retention."""

    def __init__(
        self,
        recordings_dir: str | os.PathLike[str],
        *,
        max_queue_frames: int = 600,
        max_queue_bytes: int = 32 << 20,
        cluster_ms: int = 1000,
        fsync_interval: float = 2.0,
        max_compose_jobs: int = 1,
        compose_options: ComposeOptions | None = None,
        clock: Clock | None = None,
        node_id: str | None = None,
    ) -> None:
        # in a cluster every node records the media it carries into one shared directory; each
        # record names its node, so one node's recovery never touches another live node's files
        self.node_id = node_id
        self.index = RecordingIndex(recordings_dir)
        self.root = self.index.root
        self.clock: Clock = clock or SystemClock()
        self.track_options: dict[str, Any] = {
            "max_queue_frames": max_queue_frames, "max_queue_bytes": max_queue_bytes,
            "cluster_ms": cluster_ms, "fsync_interval": fsync_interval}
        self.compose_options = compose_options or ComposeOptions()
        # one monotonic → wall mapping for every track, so all tracks share one clock
        self.wall_offset = self.clock.now() - self.clock.monotonic()
        self._calls: dict[str, Recording] = {}
        self._tracks: dict[str, TrackRecording] = {}
        self._jobs: dict[str, ComposeJob] = {}
        self._compose_slots = asyncio.Semaphore(max_compose_jobs)
        self.closed = False

    # --- live recording (event loop; never blocks) ------------------------------------------
    def _call(self, call_id: str) -> Recording:
        call = self._calls.get(call_id)
        if call is None:
            call = self._calls[call_id] = Recording(call_id)
        return call

    def start_track(
        self,
        call_id: str,
        participant_id: str,
        role: str,
        kind: str,
        codec: str | None = None,
        *,
        request_keyframe: Callable[[], None] | None = None,
    ) -> TrackRecording:
        """Begin recording one track; hand the result to ``Publisher.add_sink``.

        No disk I/O here: the record is listed at once and written (state ``recording``)
        by the track's worker thread. ``codec`` may be None (taken from the first frame)."""
        if self.closed:
            raise RuntimeError("recorder is closed")
        check_id(call_id, "call id")
        if kind not in ("audio", "video"):
            raise ValueError(f"unknown track kind {kind!r}")
        record = TrackRecord(recording_id=new_id("r"), call_id=call_id,
                             participant_id=str(participant_id), role=str(role), kind=kind,
                             codec=codec, created_at=self.clock.now(), node_id=self.node_id)
        call = self._call(call_id)
        track = TrackRecording(self.index, record, call, self.clock, wall_offset=self.wall_offset,
                               request_keyframe=request_keyframe, **self.track_options)
        call.add(track)
        self._tracks[track.recording_id] = track
        logger.info("recording %s started: call %s %s %s %s", track.recording_id, call_id,
                    role, participant_id, kind)
        return track

    def tracks(self, call_id: str | None = None) -> list[TrackRecording]:
        return [t for t in list(self._tracks.values()) if call_id is None or t.call_id == call_id]

    def pause(self, call_id: str, at: float | None = None) -> None:
        """Stop keeping media of the call (frames are dropped) until :meth:`resume`.
        ``at``: wall-clock time of the pause for the timeline (default: now)."""
        if self._call(call_id).pause(at if at is not None else self.clock.now()):
            logger.info("recording of call %s paused", call_id)

    def resume(self, call_id: str, at: float | None = None) -> None:
        call = self._calls.get(call_id)
        if call is not None and call.resume(at if at is not None else self.clock.now()):
            logger.info("recording of call %s resumed", call_id)

    def is_paused(self, call_id: str) -> bool:
        call = self._calls.get(call_id)
        return call is not None and call.paused

    def _forget(self, track: TrackRecording) -> None:
        self._tracks.pop(track.recording_id, None)
        call = self._calls.get(track.call_id)
        if call is not None:
            call.discard(track)

    async def stop_track(self, track: TrackRecording) -> dict[str, Any]:
        """Finalise one track (its publisher went away); remove the sink first."""
        try:
            return await track.finish()
        finally:
            self._forget(track)

    async def finish(self, call_id: str) -> RecordsJson:
        """Finalise every track of the call (files get their index); returns the records."""
        tracks = self.tracks(call_id)
        try:
            return list(await asyncio.gather(*(t.finish() for t in tracks)))
        finally:
            for track in tracks:
                self._forget(track)
            self._calls.pop(call_id, None)

    def stats(self) -> dict[str, Any]:
        return {"tracks": [t.stats() for t in self.tracks()],
                "jobs": [j.to_dict() for j in self._jobs.values()]}

    # --- index (records as JSON: the edge) ----------------------------------------------------
    def list(self, **filters: Any) -> RecordsJson:
        return self.index.list(**filters)

    def get(self, recording_id: str) -> dict[str, Any] | None:
        return self.index.get(recording_id)

    def media_path(self, recording_id: str) -> Path | None:
        """The recording's main file, resolved only inside the recordings directory."""
        check_id(recording_id, "recording id")
        return self.index.media_path(recording_id)

    def resolve(self, relative: str) -> Path:
        return resolve_inside(self.root, relative)

    # --- composition ---------------------------------------------------------------------------
    def compose(
        self,
        call_id: str,
        *,
        start: float | None = None,
        end: float | None = None,
        agent_name: str | None = None,
        layout: str | None = None,
        options: ComposeOptions | None = None,
        timeline: CallTimeline | None = None,
        events: Sequence[Mapping[str, Any]] = (),
    ) -> ComposeJob:
        """Start composing the call's QA playback file in a child process (call it on the
        event loop). ``start``/``end``: the call's wall-clock bounds (epoch seconds, e.g.
        the call record's connected_at / ended_at); by default the span of its recordings.
        ``events``: the call record's events (its annotations are drawn onto the video).
        ``timeline`` overrides what is derived from the index (and carries its own annotations)."""
        check_id(call_id, "call id")
        opts = options or self.compose_options
        if layout is not None:
            opts = ComposeOptions(**{**opts.__dict__, "layout": layout})
        job = ComposeJob(new_id("m"), call_id)
        self._jobs[job.job_id] = job
        job.start(self.index, self._compose_slots, opts, start=start, end=end,
                  agent_name=agent_name, timeline=timeline, events=list(events))
        return job

    def job(self, job_id: str) -> ComposeJob | None:
        return self._jobs.get(job_id)

    # --- crash recovery, retention, erasure -------------------------------------------------
    def recover(self, repair: bool = True, live_nodes: Iterable[str] = ()) -> RecordsJson:
        """At startup (before any recording; blocking I/O — use ``asyncio.to_thread``):
        mark recordings a crash cut off ``interrupted`` (remuxing them with an index when
        ``repair``), mark unfinished compositions ``failed``, remove stale temp files.
        Never what another live node writes: a record of a node in ``live_nodes`` is skipped;
        with no ``live_nodes`` given, a recorder with a node id touches only its own records
        (and those of no node), since it cannot tell whether the others are alive."""
        return recover(self.index, repair=repair, active=set(self._tracks),
                       writer=self.node_id, live_nodes=set(live_nodes))

    def refresh_call(self, call_id: str) -> RecordsJson:
        """Re-read a call's records from disk (another node's recorder wrote them; blocking I/O)."""
        check_id(call_id, "call id")
        return [r.to_json() for r in self.index.refresh_call(call_id)]

    def purge_expired(self, max_age_days: float, now: float | None = None) -> Ids:
        """Delete recordings older than ``max_age_days`` (blocking I/O)."""
        return purge_expired(self.index, max_age_days, now=now, active=set(self._tracks),
                             clock=self.clock)

    def retention_task(self, max_age_days: float, interval: float = 3600.0) -> RetentionTask:
        """A periodic purge the server starts and stops with the app."""
        return RetentionTask(self.index, max_age_days, interval, active=lambda: set(self._tracks),
                             clock=self.clock)

    async def erase(self, *, call_ids: Sequence[str] = (), recording_ids: Sequence[str] = (),
                    reason: str = "erasure request") -> Ids:
        """Delete recordings (a customer's erasure request): stops live ones first."""
        for call_id in call_ids:
            check_id(call_id, "call id")
            await self.finish(call_id)
        for recording_id in recording_ids:
            track = self._tracks.get(recording_id)
            if track is not None:
                await self.stop_track(track)
        return await asyncio.to_thread(erase, self.index, call_ids=list(call_ids),
                                       recording_ids=list(recording_ids), reason=reason,
                                       clock=self.clock)

    async def close(self) -> None:
        """Shutdown: cancel composition jobs, finalise every live track (files complete)."""
        self.closed = True
        for job in list(self._jobs.values()):
            if job.state in ("queued", "running"):
                job.cancel()
        tasks = [j.task for j in self._jobs.values() if j.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
        tracks = self.tracks()
        await asyncio.gather(*(t.finish() for t in tracks), return_exceptions=True)
        for track in tracks:
            self._forget(track)
        self._calls.clear()
