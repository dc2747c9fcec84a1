"""Recording one track: an :class:`~media.encoded.EncodedSink` that stores encoded frames as
they arrive, without transcoding, in a crash-tolerant Matroska/WebM file.

Two halves:

* :class:`TrackRecording` is the sink. ``on_frame`` runs on the event loop and only appends
  to a bounded in-memory queue (it drops frames while paused, and video until the first
  keyframe). It never touches the disk.
* a worker thread per recording drains the queue into a :class:`TrackWriter` (PyAV's
  Matroska muxer, stream copy), fsyncs the file every ``fsync_interval`` seconds and keeps
  the JSON record up to date.

When the writer cannot keep up (the queue passes its frame or byte bound) or the disk fails
(``ENOSPC``, ``EIO``…), the recording is marked ``failed`` with the reason, logged, closed so
what was written stays playable, and every later frame is dropped. The call goes on.

Crash safety: the muxer writes one Matroska cluster at least every ``cluster_ms`` (1 s) and
flushes every packet to the kernel (``flush_packets``), so a ``kill -9`` loses at most about
one cluster; ``fsync`` bounds the loss on power failure to ``fsync_interval``. A Matroska
file cut off mid-way has no index or duration but plays and decodes up to the cut;
:func:`remux` rewrites such a file with an index.

Timestamps: a frame's RTP timestamp (``clock_rate`` units) gives its position; the file
starts at 0 at the first recorded frame, whose arrival time on the wall clock is the
record's ``started_at``. 32-bit wrap-around is unwrapped; a jump that disagrees with the
arrival clock by more than ``max_jump`` seconds (a restarted publisher, a new SSRC) is
re-based onto the arrival clock; duplicated or reordered frames are dropped. Gaps (a muted
camera, a pause) stay gaps in the file: the file's timeline is the call's.
"""

from __future__ import annotations

import asyncio
import collections
import fractions
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av

from media.encoded import EncodedFrame
from recorder.codecs import container_for, opus_samples, vp8_dimensions
from recorder.index import RecordingIndex

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
            logger.info("timestamp discontinuity: re-based onto the arrival clock (+%d)", delta)
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
            logger.info("sender clock fell %.1f s behind arrivals: gap inserted", self._late_min)
            self._late_since = None


class TrackWriter:
    """Synchronous stream-copy muxer for one track (runs on a worker thread)."""

    def __init__(self, base_path: Path, kind: str, codec: str, clock_rate: int,
                 cluster_ms: int = 1000) -> None:
        self.kind = kind
        self.codec = codec
        self.clock_rate = clock_rate
        self.choice = container_for(codec)
        self.path = base_path.with_suffix("." + self.choice.extension)
        self.cluster_ms = cluster_ms
        self.width: int | None = None
        self.height: int | None = None
        self.bytes = 0
        self.packets = 0
        self.last_pts: int | None = None  # clock units
        self.last_duration = 0
        self._container: av.container.OutputContainer | None = None
        self._stream: Any = None
        self._fd: int | None = None
        self._time_base = fractions.Fraction(1, clock_rate)
        self._last_ms = -1

    def _open(self, data: bytes) -> None:
        options = {
            "cluster_time_limit": str(self.cluster_ms),  # a cluster reaches the file every ~1 s
            "flush_packets": "1",  # …and every packet reaches the kernel
        }
        container = av.open(str(self.path), "w", format=self.choice.format, options=options)
        try:
            if self.kind == "audio":
                if self.choice.needs_encoder_header:
                    # libopus is opened only to write a correct OpusHead (CodecPrivate); it
                    # never encodes anything. WebRTC Opus is always 48 kHz, up to stereo.
                    stream = container.add_stream(self.choice.codec, rate=48000)
                    stream.codec_context.layout = "stereo"
                    stream.codec_context.bit_rate = 64000
                else:
                    stream = container.add_mux_stream(self.choice.codec, rate=self.clock_rate)
            else:
                size = self._video_size(data)
                if size is None:
                    raise ValueError("cannot tell the picture size of the first keyframe")
                self.width, self.height = size
                stream = container.add_mux_stream(self.choice.codec, width=size[0], height=size[1])
        except BaseException:
            container.close()
            raise
        self._container, self._stream = container, stream

    def _video_size(self, data: bytes) -> tuple[int, int] | None:
        if self.codec.upper() == "VP8":
            return vp8_dimensions(data)
        # H.264 / VP9: decode the first keyframe once to learn its size
        decoder = av.CodecContext.create(self.choice.codec, "r")
        try:
            for frame in decoder.decode(av.Packet(data)):
                return frame.width, frame.height
            for frame in decoder.decode(None):
                return frame.width, frame.height
        except av.FFmpegError:
            return None
        return None

    def write(self, data: bytes, pts: int, keyframe: bool) -> None:
        if self._container is None:
            self._open(data)
        # Matroska counts in milliseconds: keep them strictly increasing
        ms = pts * 1000 // self.clock_rate
        if ms <= self._last_ms:
            pts = -((-(self._last_ms + 1) * self.clock_rate) // 1000)
            ms = self._last_ms + 1
        self._last_ms = ms
        packet = av.Packet(data)
        packet.pts = packet.dts = pts
        packet.time_base = self._time_base
        if self.kind == "audio":
            samples = opus_samples(data) if self.codec.upper() == "OPUS" else None
            if samples:
                packet.duration = samples * self.clock_rate // 48000
                self.last_duration = packet.duration
        packet.is_keyframe = keyframe
        packet.stream = self._stream
        self._container.mux(packet)
        if self._fd is None:  # the muxer creates the file with its header on the first packet
            self._fd = os.open(self.path, os.O_RDONLY)  # for fsync: same file, own descriptor
        self.bytes += len(data)
        self.packets += 1
        self.last_pts = pts

    def sync(self) -> None:
        """Push what the kernel holds to the disk (power-loss safety)."""
        if self._fd is not None:
            os.fsync(self._fd)

    @property
    def opened(self) -> bool:
        return self._container is not None

    def close(self) -> None:
        """Write the index and duration; the file is complete afterwards."""
        container, self._container = self._container, None
        try:
            if container is not None:
                container.close()
        finally:
            if self._fd is not None:
                try:
                    os.fsync(self._fd)
                except OSError:
                    pass
                os.close(self._fd)
                self._fd = None

    def abandon(self) -> None:
        """Close after an error, ignoring further errors (the disk may be full)."""
        try:
            self.close()
        except Exception as exc:  # noqa: BLE001 - best effort
            logger.warning("closing %s after an error failed too: %s", self.path, exc)


_STOP = object()


class TrackRecording:
    """Records one track of one participant. Hand it to ``Publisher.add_sink``.

    Thread model: ``on_frame``, ``pause``, ``resume``, ``stop`` are called on the event loop
    and never block; the worker thread owns the file and the record on disk.
    """

    def __init__(
        self,
        index: RecordingIndex,
        record: dict[str, Any],
        *,
        request_keyframe: Callable[[], None] | None = None,
        wall_offset: float | None = None,
        max_queue_frames: int = 600,
        max_queue_bytes: int = 32 << 20,
        cluster_ms: int = 1000,
        fsync_interval: float = 2.0,
        progress_interval: float = 5.0,
        on_done: Callable[[TrackRecording], None] | None = None,
    ) -> None:
        self.index = index
        self.record = record
        self.recording_id: str = record["recording_id"]
        self.call_id: str = record["call_id"]
        self.kind: str = record["kind"]
        self.request_keyframe = request_keyframe
        # arrival times are monotonic; this maps them onto the wall clock (shared per Recorder
        # so that all tracks of a call sit on one clock)
        self.wall_offset = wall_offset if wall_offset is not None else time.time() - time.monotonic()
        self.max_queue_frames = max_queue_frames
        self.max_queue_bytes = max_queue_bytes
        self.cluster_ms = cluster_ms
        self.fsync_interval = fsync_interval
        self.progress_interval = progress_interval
        self.on_done = on_done

        self._cond = threading.Condition()
        self._queue: collections.deque[Any] = collections.deque()
        self._queued_bytes = 0
        self._stopping = False
        self._failed_reason: str | None = None
        self._record_dirty = False
        self._paused = bool(record.get("paused"))
        self._need_keyframe = self.kind == "video"
        self._last_keyframe_request = -1e9
        self.frames_in = 0
        self.dropped: dict[str, int] = collections.Counter()
        self.done = threading.Event()

        self.index.stage(self.record)  # listed now; on disk as soon as the worker starts
        self._thread = threading.Thread(
            target=self._run, name=f"rec-{self.recording_id}", daemon=True
        )
        self._thread.start()

    # --- event-loop side (never blocks) ------------------------------------------------------
    @property
    def state(self) -> str:
        if self._failed_reason is not None:
            return "failed"
        return self.record["state"]

    @property
    def reason(self) -> str | None:
        return self._failed_reason or self.record.get("reason")

    @property
    def paused(self) -> bool:
        return self._paused

    def on_frame(self, frame: EncodedFrame) -> None:
        if self._stopping or self._failed_reason is not None:
            self.dropped["closed"] += 1
            return
        self.frames_in += 1
        if self._paused:
            self.dropped["paused"] += 1
            return
        if self._need_keyframe:
            if not frame.keyframe:
                self.dropped["before_keyframe"] += 1
                self._ask_keyframe(frame.received_at)
                return
            self._need_keyframe = False
        size = len(frame.data)
        with self._cond:
            overflow = (len(self._queue) >= self.max_queue_frames
                        or self._queued_bytes + size > self.max_queue_bytes)
            if not overflow:
                self._queue.append(frame)
                self._queued_bytes += size
                self._cond.notify()
        if overflow:
            self.dropped["overflow"] += 1
            self.fail(f"writer fell behind: queue full ({len(self._queue)} frames, "
                      f"{self._queued_bytes} bytes); disk too slow?")

    def _ask_keyframe(self, now: float) -> None:
        if self.request_keyframe is not None and now - self._last_keyframe_request >= 1.0:
            self._last_keyframe_request = now
            try:
                self.request_keyframe()
            except Exception:  # noqa: BLE001
                logger.exception("keyframe request failed for recording %s", self.recording_id)

    def pause(self, at: float | None = None) -> None:
        """Drop frames from now on; the pause is kept in the record (wall-clock times)."""
        if self._paused:
            return
        self._paused = True
        with self._cond:
            self.record["paused"] = True
            self.record.setdefault("pauses", []).append({"start": at or time.time(), "end": None})
            self._record_dirty = True
            self._cond.notify()

    def resume(self, at: float | None = None) -> None:
        if not self._paused:
            return
        with self._cond:
            self.record["paused"] = False
            pauses = self.record.setdefault("pauses", [])
            if pauses and pauses[-1]["end"] is None:
                pauses[-1]["end"] = at or time.time()
            self._record_dirty = True
            self._cond.notify()
        if self.kind == "video":  # the decoder needs a fresh start after the dropped frames
            self._need_keyframe = True
            self._last_keyframe_request = -1e9
            self._ask_keyframe(time.monotonic())
        self._paused = False

    def fail(self, reason: str) -> None:
        """Give up on this recording (keeps what was written; drops everything after)."""
        with self._cond:
            if self._failed_reason is not None or self.done.is_set():
                return
            self._failed_reason = reason
            self._queue.clear()
            self._queued_bytes = 0
            self._cond.notify()
        logger.error("recording %s of call %s (%s %s) failed: %s", self.recording_id,
                     self.call_id, self.record.get("role"), self.kind, reason)

    def stop(self) -> None:
        """Finish after the queued frames are written (non-blocking)."""
        with self._cond:
            self._stopping = True
            self._queue.append(_STOP)
            self._cond.notify()

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    async def finish(self) -> dict[str, Any]:
        """Stop, wait for the file to be finalised, return the final record."""
        self.stop()
        if not self.done.is_set():
            await asyncio.get_running_loop().run_in_executor(None, self.done.wait)
        return self.snapshot()

    def snapshot(self) -> dict[str, Any]:
        with self._cond:
            record = {**self.record, "pauses": [dict(p) for p in self.record.get("pauses", [])]}
        record["dropped"] = dict(self.dropped)
        if self._failed_reason is not None:
            record["state"], record["reason"] = "failed", self._failed_reason
        return record

    def stats(self) -> dict[str, Any]:
        return {
            "recording_id": self.recording_id,
            "state": self.state,
            "paused": self._paused,
            "frames_in": self.frames_in,
            "frames_written": self.record.get("frames", 0),
            "queued": len(self._queue),
            "dropped": dict(self.dropped),
        }

    # --- worker thread -------------------------------------------------------------------------
    def _run(self) -> None:
        writer: TrackWriter | None = None
        mapper: PtsMapper | None = None
        first_pts_wall: float | None = None
        last_sync = last_progress = time.monotonic()
        synced_bytes = 0
        try:
            self.index.put(self.snapshot())  # durable before the first frame: "recording"
            while True:
                with self._cond:
                    while (not self._queue and self._failed_reason is None
                           and not self._record_dirty):
                        remaining = self.fsync_interval - (time.monotonic() - last_sync)
                        if remaining <= 0:
                            break
                        self._cond.wait(timeout=remaining)
                    batch = list(self._queue)
                    self._queue.clear()
                    self._queued_bytes = 0
                    dirty, self._record_dirty = self._record_dirty, False
                if self._failed_reason is not None:
                    break
                stop = False
                for item in batch:
                    if self._failed_reason is not None:
                        break
                    if item is _STOP:
                        stop = True
                        break
                    frame: EncodedFrame = item
                    if writer is None:
                        writer = TrackWriter(
                            self.index.call_dir(self.call_id, create=True) / self.recording_id,
                            self.kind, frame.codec, frame.clock_rate, self.cluster_ms,
                        )
                        mapper = PtsMapper(frame.clock_rate)
                    elif frame.codec != writer.codec:  # renegotiated mid-track: not this file
                        self.dropped["codec_changed"] += 1
                        continue
                    assert mapper is not None
                    pts = mapper.map(frame.timestamp, frame.received_at)
                    if pts is None:
                        self.dropped["reordered"] += 1
                        continue
                    first_open = not writer.opened
                    writer.write(frame.data, pts, frame.keyframe)
                    if first_open:
                        first_pts_wall = frame.received_at + self.wall_offset
                        self._update(codec=frame.codec, clock_rate=frame.clock_rate,
                                     file=self.index.relative(writer.path),
                                     format=writer.choice.format,
                                     width=writer.width, height=writer.height,
                                     started_at=first_pts_wall)
                        dirty = True
                now = time.monotonic()
                if writer is not None and writer.opened:
                    self._progress(writer, mapper)
                    if now - last_sync >= self.fsync_interval and writer.bytes != synced_bytes:
                        writer.sync()
                        synced_bytes = writer.bytes
                if now - last_sync >= self.fsync_interval:
                    last_sync = now
                if dirty or now - last_progress >= self.progress_interval or stop:
                    last_progress = now
                    self.index.put(self.snapshot())
                if stop:
                    break
        except Exception as exc:  # noqa: BLE001 - disk full, I/O error, muxer error
            self.fail(f"{type(exc).__name__}: {exc}")
        finally:
            self._finalise(writer, mapper)

    def _update(self, **fields: Any) -> None:
        with self._cond:
            self.record.update(fields)

    def _progress(self, writer: TrackWriter, mapper: PtsMapper | None) -> None:
        duration = 0.0
        if writer.last_pts is not None:
            duration = (writer.last_pts + writer.last_duration) / writer.clock_rate
        self._update(frames=writer.packets, bytes=writer.bytes, duration=round(duration, 3),
                     rebases=mapper.rebases if mapper else 0)
        if self.record.get("started_at") is not None:
            self._update(ended_at=round(self.record["started_at"] + duration, 3))

    def _finalise(self, writer: TrackWriter | None, mapper: PtsMapper | None) -> None:
        try:
            if writer is not None:
                if self._failed_reason is None:
                    try:
                        writer.close()
                    except Exception as exc:  # noqa: BLE001
                        self.fail(f"finalising the file failed: {type(exc).__name__}: {exc}")
                        writer.abandon()
                else:
                    writer.abandon()
                self._progress(writer, mapper)
            now = time.time()
            with self._cond:
                pauses = self.record.get("pauses", [])
                if pauses and pauses[-1]["end"] is None:
                    pauses[-1]["end"] = now
                self.record["paused"] = False
                self.record["finished_at"] = now
                if self._failed_reason is not None:
                    self.record["state"], self.record["reason"] = "failed", self._failed_reason
                else:
                    self.record["state"] = "complete"
            try:
                self.index.put(self.snapshot())
            except Exception:  # noqa: BLE001 - the disk may be gone; recover() will see "recording"
                logger.exception("could not write the final record of %s", self.recording_id)
            logger.info("recording %s of call %s (%s %s) %s: %s frames, %.1f s, dropped %s",
                        self.recording_id, self.call_id, self.record.get("role"), self.kind,
                        self.record["state"], self.record.get("frames", 0),
                        self.record.get("duration", 0.0), dict(self.dropped))
        finally:
            self._stopping = True
            self.done.set()
            if self.on_done is not None:
                try:
                    self.on_done(self)
                except Exception:  # noqa: BLE001
                    logger.exception("on_done callback failed")


def probe(path: Path) -> dict[str, Any]:
    """Read a (possibly cut-off) track file to its end: packets, duration, decodability."""
    packets = 0
    last = 0.0
    first: float | None = None
    error = None
    try:
        with av.open(str(path)) as container:
            stream = container.streams[0]
            try:
                for packet in container.demux(stream):
                    if packet.pts is None or packet.size == 0:
                        continue
                    t = float(packet.pts * packet.time_base)
                    first = t if first is None else first
                    end = t + float((packet.duration or 0) * packet.time_base)
                    last = max(last, end)
                    packets += 1
            except av.FFmpegError as exc:  # truncated tail
                error = str(exc)
    except av.FFmpegError as exc:
        return {"packets": 0, "duration": 0.0, "error": str(exc)}
    return {"packets": packets, "duration": round(last - (first or 0.0), 3), "error": error}


def remux(path: Path) -> dict[str, Any]:
    """Rewrite a cut-off file with an index and a duration (stream copy). The original is
    replaced only after the copy is complete and holds every packet the original had."""
    tmp = path.with_name(f".{path.stem}.remux{path.suffix}")
    copied = 0
    with av.open(str(path)) as source:
        in_stream = source.streams[0]
        fmt = "webm" if path.suffix == ".webm" else "matroska"
        with av.open(str(tmp), "w", format=fmt) as target:
            out_stream = target.add_stream_from_template(in_stream)
            try:
                for packet in source.demux(in_stream):
                    if packet.dts is None or packet.size == 0:
                        continue
                    packet.stream = out_stream
                    target.mux(packet)
                    copied += 1
            except av.FFmpegError:
                pass  # the cut-off tail: keep everything before it
    before = probe(path)["packets"]
    if copied < before or copied == 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"remux of {path.name} kept {copied} of {before} packets")
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return probe(path)
