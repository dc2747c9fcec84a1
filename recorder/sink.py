"""The recording sink: one track of one participant, as the SFU feeds it.

:class:`TrackRecording` is an :class:`~media.encoded.EncodedSink`. ``on_frame`` runs on the
event loop and only appends to a bounded queue (about 5 µs): it drops frames while the call's
recording is paused (it asks the call's :class:`~recorder.recording.Recording`, the one place
that knows), and video until the first keyframe. It never touches the disk; its
:class:`~recorder.writer.TrackWorker` thread does. It owns the track's record and that thread.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from media.clock import Clock
from media.encoded import EncodedFrame
from media.throttled_log import ThrottledLog
from recorder.index import RecordingIndex
from recorder.muxer import TrackWriter
from recorder.record import RecordingState, TrackRecord
from recorder.timestamps import PtsMapper
from recorder.writer import FrameQueue, TrackWorker

if TYPE_CHECKING:
    from recorder.recording import Recording

logger = logging.getLogger(__name__)


class TrackRecording:
    """Records one track of one participant. Hand it to ``Publisher.add_sink``.

    Thread model: ``on_frame``, ``stop`` and the pause notifications are called on the event
    loop and never block; the worker thread owns the file and writes the record (under
    ``_lock``, which both sides take to read or change it)."""

    def __init__(
        self,
        index: RecordingIndex,
        record: TrackRecord,
        call: Recording,
        clock: Clock,
        *,
        wall_offset: float,
        request_keyframe: Callable[[], None] | None = None,
        max_queue_frames: int = 600,
        max_queue_bytes: int = 32 << 20,
        cluster_ms: int = 1000,
        fsync_interval: float = 2.0,
        progress_interval: float = 5.0,
    ) -> None:
        self.index = index
        self.record = record
        self.call = call
        self.clock = clock
        self.recording_id = record.recording_id
        self.call_id = record.call_id
        self.kind = record.kind
        self.request_keyframe = request_keyframe
        # arrival times are on the clock's monotonic scale; this maps them onto its wall clock
        # (one offset per Recorder, so that all tracks of a call sit on one clock)
        self.wall_offset = wall_offset
        self._lock = threading.Lock()
        self._failed_reason: str | None = None
        self._stopping = False
        self._pause_mark = call.mark()
        self._last_pause: int | None = None  # how many pauses the call had when this track ended
        self._need_keyframe = self.kind == "video"
        self._last_keyframe_request = -1e9
        self._keyframe_failures = ThrottledLog(logger, logging.ERROR)
        self.frames_in = 0
        self.dropped: collections.Counter[str] = collections.Counter()
        self.queue = FrameQueue(max_queue_frames, max_queue_bytes)
        self.worker = TrackWorker(
            f"rec-{self.recording_id}", self.queue, self,
            index.call_dir(self.call_id) / self.recording_id, self.kind,
            cluster_ms=cluster_ms, fsync_interval=fsync_interval,
            progress_interval=progress_interval)
        self.index.stage(self.snapshot())  # listed now; on disk as soon as the worker starts
        self.worker.start()

    # --- event-loop side (never blocks) ------------------------------------------------------
    @property
    def state(self) -> RecordingState:
        if self._failed_reason is not None:
            return RecordingState.FAILED
        return self.record.state

    @property
    def reason(self) -> str | None:
        return self._failed_reason or self.record.reason

    @property
    def paused(self) -> bool:
        return self.call.paused

    @property
    def done(self) -> threading.Event:
        return self.worker.done

    def on_frame(self, frame: EncodedFrame) -> None:
        if self._stopping or self._failed_reason is not None:
            self.dropped["closed"] += 1
            return
        self.frames_in += 1
        if self.call.paused:
            self.dropped["paused"] += 1
            return
        if self._need_keyframe:
            if not frame.keyframe:
                self.dropped["before_keyframe"] += 1
                self._ask_keyframe(frame.received_at)
                return
            self._need_keyframe = False
        if not self.queue.offer(frame):
            self.dropped["overflow"] += 1
            self.fail(f"writer fell behind: queue full ({len(self.queue)} frames, "
                      f"{self.queue.bytes} bytes); disk too slow?")

    def _ask_keyframe(self, now: float) -> None:
        if self.request_keyframe is not None and now - self._last_keyframe_request >= 1.0:
            self._last_keyframe_request = now
            try:
                self.request_keyframe()
            except Exception:  # noqa: BLE001
                self._keyframe_failures("keyframe request failed for recording %s",
                                        self.recording_id, exc_info=True)

    def pause_changed(self) -> None:
        """The call's recording was paused or resumed: the record on disk says so soon."""
        self.queue.poke()

    def resumed(self) -> None:
        """After a pause video restarts on a keyframe (the decoder lost the dropped frames)."""
        self.queue.poke()
        if self.kind == "video":
            self._need_keyframe = True
            self._last_keyframe_request = -1e9
            self._ask_keyframe(self.clock.monotonic())

    def fail(self, reason: str) -> None:
        """Give up on this recording (keeps what was written; drops everything after)."""
        with self._lock:
            if self._failed_reason is not None or self.worker.done.is_set():
                return
            self._failed_reason = reason
        self.queue.abort()
        logger.error("recording %s of call %s (%s %s) failed: %s", self.recording_id,
                     self.call_id, self.record.role, self.kind, reason)

    def stop(self) -> None:
        """Finish after the queued frames are written (non-blocking)."""
        self._stopping = True
        self.queue.stop()

    async def finish(self) -> dict[str, Any]:
        """Stop, wait for the file to be finalised and the thread to end; the final record."""
        self.stop()
        await asyncio.to_thread(self.worker.join)
        return self.snapshot().to_json()

    def snapshot(self) -> TrackRecord:
        """The record as it stands, with the call's pauses over this track's life."""
        with self._lock:
            record = self.record.copy()
            last_pause = self._last_pause
        assert isinstance(record, TrackRecord)
        record.pauses = self.call.pauses_for(self._pause_mark, last_pause, record.created_at,
                                             record.finished_at)
        record.paused = record.finished_at is None and self.call.paused
        record.dropped = dict(self.dropped)
        if self._failed_reason is not None:
            record.fail(self._failed_reason)
        return record

    def stats(self) -> dict[str, Any]:
        return {
            "recording_id": self.recording_id,
            "state": self.state.value,
            "paused": self.call.paused,
            "frames_in": self.frames_in,
            "frames_written": self.record.frames,
            "queued": len(self.queue),
            "dropped": dict(self.dropped),
        }

    # --- TrackReport: called by the worker thread ----------------------------------------------
    @property
    def failed_reason(self) -> str | None:
        return self._failed_reason

    def count_drop(self, reason: str) -> None:
        self.dropped[reason] += 1

    def wrote_first(self, writer: TrackWriter, frame: EncodedFrame) -> None:
        with self._lock:
            self.record.note_file(codec=frame.codec, clock_rate=frame.clock_rate,
                                  file=self.index.relative(writer.path), format=writer.choice.format,
                                  width=writer.width, height=writer.height,
                                  started_at=frame.received_at + self.wall_offset)

    def progressed(self, writer: TrackWriter, mapper: PtsMapper | None) -> None:
        with self._lock:
            self.record.note_progress(frames=writer.packets, bytes=writer.bytes,
                                      duration=writer.duration,
                                      rebases=mapper.rebases if mapper else 0)

    def save(self) -> None:
        self.index.put(self.snapshot())

    def finalised(self) -> None:
        with self._lock:
            self.record.finish(self.clock.now(), self._failed_reason)
            self._last_pause = len(self.call.pauses)
        try:
            self.save()
        except Exception:
            logger.exception("could not write the final record of %s", self.recording_id)
        self._stopping = True
        record = self.record
        logger.info("recording %s of call %s (%s %s) %s: %s frames, %.1f s, dropped %s",
                    self.recording_id, self.call_id, record.role, self.kind, record.state.value,
                    record.frames, record.duration, dict(self.dropped))
