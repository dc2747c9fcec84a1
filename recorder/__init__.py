"""Recorder: taps the SFU's encoded frames into per-track files, composes QA playback files,
keeps the recordings index and applies retention. Imports ``media`` only, never ``sfu`` or
``signaling`` (tests/test_recorder_index.py and tests/test_architecture.py check): the server
hands it frames through :class:`media.encoded.EncodedSink`.

API the server wires in
-----------------------
``Recorder(recordings_dir, *, max_queue_frames=600, max_queue_bytes=32 MiB, cluster_ms=1000,
fsync_interval=2.0, max_compose_jobs=1, compose_options=None)`` — one per process.

Event loop, never block (no disk I/O):

* ``start_track(call_id, participant_id, role, kind, codec=None, *, request_keyframe=None)
  -> TrackRecording`` — an ``EncodedSink``; give it to ``publisher.add_sink``. ``kind`` is
  "audio" | "video"; ``codec`` may be None (taken from the first frame); pass
  ``request_keyframe=publisher.request_keyframe`` (used at the start and after a resume).
* ``pause(call_id, at=None)`` / ``resume(call_id, at=None)`` / ``is_paused(call_id)`` — while
  paused frames are dropped; the pause (wall-clock times) is kept for the timeline; tracks
  started during a pause start paused.
* ``tracks(call_id=None) -> list[TrackRecording]``, ``stats() -> dict``,
  ``TrackRecording.state`` ("recording" | "complete" | "failed"), ``.reason``, ``.stats()``.
* ``list(call_id=, state=, kind=, started_after=, started_before=, limit=) -> list[dict]``,
  ``get(recording_id) -> dict | None`` (in-memory copies of the records).
* ``media_path(recording_id) -> Path | None`` and ``resolve(relative) -> Path`` — resolved
  only inside the recordings directory; raise ``UnsafePath`` on ``../``, absolute paths,
  bad ids or symlinks that lead out. Use these to serve files (the QA page).

Coroutines:

* ``await stop_track(track) -> dict`` — a publisher went away while the call goes on
  (``publisher.remove_sink(track)`` first); a returning party gets a new track (segment).
* ``await finish(call_id) -> list[dict]`` — call ended: every file finalised with its index,
  records "complete" (or "failed" with a reason).
* ``compose(call_id, *, start=None, end=None, agent_name=None, layout=None, options=None,
  timeline=None) -> ComposeJob`` (plain call, on the loop) — runs ``python -m recorder
  compose-job`` in a child process (niced, one core); ``job.progress`` 0..1, ``job.state``,
  ``job.to_dict()``, ``await job.wait() -> dict`` (the "composite" record: ``file`` mp4,
  ``poster``, ``thumbnails``, ``thumbnail_times``), ``job.cancel()``. ``start``/``end``: the
  call's wall-clock bounds (e.g. ``connected_at`` / ``ended_at``); layout "side_by_side" or
  "pip".
* ``await erase(call_ids=[...], recording_ids=[...], reason=...) -> list[str]`` — erasure
  request: stops live tracks of those calls first; deletes media, composites, records;
  journals every deletion to ``deletions.jsonl``.
* ``await close()`` — shutdown: cancels composition jobs, finalises every live track.

Blocking (run with ``asyncio.to_thread``):

* ``recover(repair=True) -> list[dict]`` — at startup, before recording: tracks left
  "recording" by a crash become "interrupted" (and are remuxed with an index), compositions
  left "composing" become "failed", temp files go.
* ``purge_expired(max_age_days, now=None) -> list[str]``.

Retention: ``retention_task(max_age_days, interval=3600.0) -> RetentionTask`` with
``start()`` (on the loop) and ``await stop()``.

Wiring sketch::

    recorder = Recorder(config.recordings_dir)
    await asyncio.to_thread(recorder.recover)
    retention = recorder.retention_task(max_age_days=90); retention.start()
    sink = recorder.start_track(call_id, pub.participant_id, role, pub.kind, pub.codec,
                                request_keyframe=pub.request_keyframe)
    pub.add_sink(sink)                       # add_sink also requests a keyframe
    ...
    for pub, sink in sinks: pub.remove_sink(sink)
    await recorder.finish(call_id)
    job = recorder.compose(call_id, start=call.connected_at, end=call.ended_at,
                           agent_name=agent.name)
    ...
    await retention.stop(); await recorder.close()

Guarantees
----------
* ``TrackRecording.on_frame`` only appends to a bounded queue (about 5 µs); a worker thread
  per track muxes (PyAV, stream copy into WebM, or Matroska for H.264) and writes. Queue
  full (disk too slow) or a disk error → that recording becomes "failed" (reason in the
  record and the log), what was written stays playable, later frames are dropped, the call
  goes on.
* ``kill -9`` mid-call: the files play up to about one second (one Matroska cluster) before
  the kill; the record says "recording" until ``recover()`` marks it "interrupted".
* Video starts on a keyframe (and again after a resume); RTP timestamps are unwrapped and
  re-based on discontinuities; the file's timeline is the call's (gaps stay gaps), and each
  record's ``started_at`` places its file on the call's wall clock.

Files: ``<recordings_dir>/<call_id>/<recording_id>.{webm,mkv,json}``, composed files in
``<call_id>/composed/``; ``python -m recorder --help`` for the offline tools and
``python -m recorder.bench`` to measure.
"""

from recorder.compose import CallTimeline, ComposeOptions, Segment, compose_call, timeline_for_call
from recorder.index import RecordingIndex, UnsafePath, check_id, resolve_inside
from recorder.recorder import ComposeJob, Recorder, recover
from recorder.retention import RetentionTask, erase, purge_expired
from recorder.track_writer import TrackRecording, TrackWriter, probe, remux

__all__ = [
    "CallTimeline",
    "ComposeJob",
    "ComposeOptions",
    "Recorder",
    "RecordingIndex",
    "RetentionTask",
    "Segment",
    "TrackRecording",
    "TrackWriter",
    "UnsafePath",
    "check_id",
    "compose_call",
    "erase",
    "probe",
    "purge_expired",
    "recover",
    "remux",
    "resolve_inside",
    "timeline_for_call",
]
