"""The Recorder: the one object the server owns. See :mod:`recorder` for the wiring."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recorder.compose import CallTimeline, ComposeOptions, timeline_for_call
from recorder.index import RecordingIndex, atomic_write_json, check_id, new_id, resolve_inside
from recorder.retention import RetentionTask, erase, purge_expired
from recorder.track_writer import TrackRecording, probe, remux

logger = logging.getLogger(__name__)


class ComposeJob:
    """An offline composition running in its own process (``python -m recorder compose``).

    ``progress`` goes 0 → 1; ``state`` is ``queued``, ``running``, ``complete``, ``failed``
    or ``cancelled``; ``await job.wait()`` returns the composite record.
    """

    def __init__(self, job_id: str, call_id: str) -> None:
        self.job_id = job_id
        self.call_id = call_id
        self.state = "queued"
        self.progress = 0.0
        self.result: dict[str, Any] | None = None
        self.error: str | None = None
        self.task: asyncio.Task[dict[str, Any]] | None = None
        self._process: asyncio.subprocess.Process | None = None

    async def wait(self) -> dict[str, Any]:
        assert self.task is not None
        return await asyncio.shield(self.task)

    def cancel(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.kill()
        if self.task is not None:
            self.task.cancel()

    def to_dict(self) -> dict[str, Any]:
        return {"job_id": self.job_id, "call_id": self.call_id, "state": self.state,
                "progress": round(self.progress, 3), "error": self.error}


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
    ) -> None:
        self.index = RecordingIndex(recordings_dir)
        self.root = self.index.root
        self.track_options = dict(max_queue_frames=max_queue_frames,
                                  max_queue_bytes=max_queue_bytes, cluster_ms=cluster_ms,
                                  fsync_interval=fsync_interval)
        self.compose_options = compose_options or ComposeOptions()
        # one monotonic → wall mapping for every track, so all tracks share one clock
        self.wall_offset = time.time() - time.monotonic()
        self._tracks: dict[str, TrackRecording] = {}
        self._paused: dict[str, float] = {}  # call_id → pause start (wall clock)
        self._jobs: dict[str, ComposeJob] = {}
        self._compose_slots = asyncio.Semaphore(max_compose_jobs)
        self.closed = False

    # --- live recording (event loop; never blocks) ------------------------------------------
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
        by the track's worker thread. ``codec`` may be None (taken from the first frame).
        ``request_keyframe`` (``publisher.request_keyframe``) is called when video must
        restart on a keyframe: at the start and after ``resume``."""
        if self.closed:
            raise RuntimeError("recorder is closed")
        check_id(call_id, "call id")
        if kind not in ("audio", "video"):
            raise ValueError(f"unknown track kind {kind!r}")
        now = time.time()
        record: dict[str, Any] = {
            "recording_id": new_id("r"),
            "call_id": call_id,
            "participant_id": str(participant_id),
            "role": str(role),
            "kind": kind,
            "codec": codec,
            "state": "recording",
            "reason": None,
            "created_at": now,
            "started_at": None,
            "ended_at": None,
            "duration": 0.0,
            "frames": 0,
            "bytes": 0,
            "file": None,
            "paused": call_id in self._paused,
            "pauses": [{"start": now, "end": None}] if call_id in self._paused else [],
        }
        track = TrackRecording(self.index, record, request_keyframe=request_keyframe,
                               wall_offset=self.wall_offset,
                               **self.track_options)
        self._tracks[track.recording_id] = track
        logger.info("recording %s started: call %s %s %s %s", track.recording_id, call_id,
                    role, participant_id, kind)
        return track

    def tracks(self, call_id: str | None = None) -> list[TrackRecording]:
        return [t for t in list(self._tracks.values()) if call_id is None or t.call_id == call_id]

    def pause(self, call_id: str, at: float | None = None) -> None:
        """Stop keeping media of the call (frames are dropped) until :meth:`resume`.
        ``at``: wall-clock time of the pause for the timeline (default: now)."""
        if call_id in self._paused:
            return
        now = at if at is not None else time.time()
        self._paused[call_id] = now
        for track in self.tracks(call_id):
            track.pause(now)
        logger.info("recording of call %s paused", call_id)

    def resume(self, call_id: str, at: float | None = None) -> None:
        if self._paused.pop(call_id, None) is None:
            return
        now = at if at is not None else time.time()
        for track in self.tracks(call_id):
            track.resume(now)
        logger.info("recording of call %s resumed", call_id)

    def is_paused(self, call_id: str) -> bool:
        return call_id in self._paused

    async def stop_track(self, track: TrackRecording) -> dict[str, Any]:
        """Finalise one track (its publisher went away); remove the sink first."""
        try:
            return await track.finish()
        finally:
            self._tracks.pop(track.recording_id, None)

    async def finish(self, call_id: str) -> list[dict[str, Any]]:
        """Finalise every track of the call (files get their index); returns the records."""
        self._paused.pop(call_id, None)
        tracks = self.tracks(call_id)
        records = await asyncio.gather(*(t.finish() for t in tracks))
        for track in tracks:
            self._tracks.pop(track.recording_id, None)
        return list(records)

    def stats(self) -> dict[str, Any]:
        return {"tracks": [t.stats() for t in self.tracks()],
                "jobs": [j.to_dict() for j in self._jobs.values()]}

    # --- index ---------------------------------------------------------------------------------
    def list(self, **filters: Any) -> list[dict[str, Any]]:
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
    ) -> ComposeJob:
        """Start composing the call's QA playback file in a child process (call it on the
        event loop). ``start``/``end``: the call's wall-clock bounds (epoch seconds, e.g.
        the call record's connected_at / ended_at); by default the span of its recordings.
        ``timeline`` overrides what is derived from the index."""
        check_id(call_id, "call id")
        opts = options or self.compose_options
        if layout is not None:
            opts = ComposeOptions(**{**opts.__dict__, "layout": layout})
        job = ComposeJob(new_id("m"), call_id)
        self._jobs[job.job_id] = job
        job.task = asyncio.get_running_loop().create_task(
            self._run_compose(job, start, end, agent_name, opts, timeline))
        return job

    async def _run_compose(self, job: ComposeJob, start: float | None, end: float | None,
                           agent_name: str | None, opts: ComposeOptions,
                           timeline: CallTimeline | None) -> dict[str, Any]:
        try:
            async with self._compose_slots:
                job.state = "running"
                opts.check()
                if timeline is None:
                    records = self.index.list(call_id=job.call_id)
                    timeline = timeline_for_call(self.index, records, job.call_id, start=start,
                                                 end=end, agent_name=agent_name)
                elif timeline.call_id != job.call_id:
                    raise ValueError("the timeline is of another call")
                spec = self.index.call_dir(job.call_id, create=False) / f".{job.job_id}.job.json"
                await asyncio.to_thread(atomic_write_json, spec,
                                        {"timeline": timeline.to_dict(), "options": opts.__dict__})
                process = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "recorder", "compose-job",
                    "--recordings-dir", str(self.root), "--job", str(spec),
                    "--composite-id", job.job_id,
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                    env={**os.environ, "PYTHONPATH": _pythonpath()},
                )
                job._process = process
                assert process.stdout is not None and process.stderr is not None
                stderr_task = asyncio.ensure_future(process.stderr.read())
                async for line in process.stdout:
                    try:
                        event = json.loads(line)
                    except ValueError:
                        continue
                    if "progress" in event:
                        job.progress = float(event["progress"])
                    if event.get("event") == "done":
                        job.result = event.get("result")
                code = await process.wait()
                stderr = (await stderr_task).decode(errors="replace")
                await asyncio.to_thread(spec.unlink, True)
                record = await asyncio.to_thread(self.index.refresh, job.job_id, job.call_id)
                if code != 0 or record is None or record.get("state") != "complete":
                    job.state = "failed"
                    job.error = (record or {}).get("reason") or stderr.strip()[-500:] or f"exit {code}"
                    raise RuntimeError(f"composition of call {job.call_id} failed: {job.error}")
                job.state, job.progress = "complete", 1.0
                job.result = record
                return record
        except asyncio.CancelledError:
            job.state = "cancelled"
            if job._process is not None and job._process.returncode is None:
                job._process.kill()
                await job._process.wait()
            await asyncio.to_thread(self._mark_cancelled, job)
            raise
        except Exception as exc:
            if job.state != "failed":
                job.state, job.error = "failed", str(exc)
            logger.error("compose job %s for call %s failed: %s", job.job_id, job.call_id, exc)
            raise

    def _mark_cancelled(self, job: ComposeJob) -> None:
        record = self.index.refresh(job.job_id, job.call_id)
        if record is not None and record.get("state") == "composing":
            record.update(state="failed", reason="cancelled")
            self.index.put(record)
        for path in self.index.call_dir(job.call_id).glob(f"composed/.{job.job_id}.*"):
            path.unlink(missing_ok=True)
        (self.index.call_dir(job.call_id) / f".{job.job_id}.job.json").unlink(missing_ok=True)

    def job(self, job_id: str) -> ComposeJob | None:
        return self._jobs.get(job_id)

    # --- crash recovery, retention, erasure -------------------------------------------------
    def recover(self, repair: bool = True) -> list[dict[str, Any]]:
        """At startup (before any recording; blocking I/O — use ``asyncio.to_thread``):
        mark recordings a crash cut off ``interrupted`` (remuxing them with an index when
        ``repair``), mark unfinished compositions ``failed``, remove stale temp files."""
        return recover(self.index, repair=repair, active=set(self._tracks))

    def purge_expired(self, max_age_days: float, now: float | None = None) -> list[str]:
        """Delete recordings older than ``max_age_days`` (blocking I/O)."""
        return purge_expired(self.index, max_age_days, now=now, active=set(self._tracks))

    def retention_task(self, max_age_days: float, interval: float = 3600.0) -> RetentionTask:
        """A periodic purge the server starts and stops with the app."""
        return RetentionTask(self.index, max_age_days, interval, active=lambda: set(self._tracks))

    async def erase(self, *, call_ids: list[str] = (), recording_ids: list[str] = (),  # type: ignore[assignment]
                    reason: str = "erasure request") -> list[str]:
        """Delete recordings (a customer's erasure request): stops live ones first."""
        for call_id in call_ids:
            check_id(call_id, "call id")
            await self.finish(call_id)
        for recording_id in recording_ids:
            track = self._tracks.get(recording_id)
            if track is not None:
                await track.finish()
        return await asyncio.to_thread(erase, self.index, call_ids=list(call_ids),
                                       recording_ids=list(recording_ids), reason=reason)

    async def close(self) -> None:
        """Shutdown: finalise every live track (files complete), cancel composition jobs."""
        self.closed = True
        for job in list(self._jobs.values()):
            if job.state in ("queued", "running"):
                job.cancel()
        tasks = [j.task for j in self._jobs.values() if j.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
        tracks = self.tracks()
        await asyncio.gather(*(t.finish() for t in tracks), return_exceptions=True)
        for track in tracks:
            self._tracks.pop(track.recording_id, None)


def _pythonpath() -> str:
    here = str(Path(__file__).resolve().parent.parent)
    existing = os.environ.get("PYTHONPATH")
    return here + (os.pathsep + existing if existing else "")


def recover(index: RecordingIndex | str | os.PathLike[str], repair: bool = True,
            active: set[str] | None = None) -> list[dict[str, Any]]:
    """See :meth:`Recorder.recover` (``index``: a RecordingIndex or the recordings
    directory). Returns the records it changed."""
    if not isinstance(index, RecordingIndex):
        index = RecordingIndex(index)
    changed = []
    active = active or set()
    # temp files (atomic writes, remux copies, job specs, half-written compositions)
    for path in list(index.root.glob("*/.*")) + list(index.root.glob("*/composed/.*")):
        if path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)
    for record in index.list(state=("recording", "composing")):
        if record["recording_id"] in active:
            continue
        if record["state"] == "composing":
            record.update(state="failed", reason="interrupted: the server stopped while composing")
            index.put(record)
            changed.append(record)
            continue
        info: dict[str, Any] = {"packets": 0, "duration": 0.0}
        if not record.get("file"):  # died between creating the file and noting it
            found = sorted(index.call_dir(record["call_id"]).glob(f"{record['recording_id']}.*"))
            media = [p for p in found if p.suffix in (".webm", ".mkv") and not p.is_symlink()]
            if media:
                record["file"] = index.relative(media[0])
        path = index.resolve(record["file"]) if record.get("file") else None
        if path is not None and path.exists():
            info = probe(path)
            if repair and info["packets"]:
                try:
                    info = remux(path)
                    record["repaired"] = True
                except Exception as exc:  # noqa: BLE001 - keep the original as it is
                    logger.warning("could not remux %s: %s", path, exc)
        record.update(
            state="interrupted",
            reason="the server stopped while recording",
            frames=info["packets"],
            duration=info["duration"],
            paused=False,
        )
        if record.get("started_at"):
            record["ended_at"] = round(record["started_at"] + info["duration"], 3)
        for pause in record.get("pauses", []):
            if pause.get("end") is None:
                pause["end"] = record.get("ended_at") or pause["start"]
        index.put(record)
        logger.warning("recording %s of call %s was interrupted; %d frames, %.1f s kept",
                       record["recording_id"], record["call_id"], info["packets"],
                       info["duration"])
        changed.append(record)
    return changed
