"""The writing half of a track recording: a bounded queue filled on the event loop and the
worker thread that drains it into the track's file.

When the writer cannot keep up (the queue passes its frame or byte bound) the sink fails the
recording; when the disk fails (``ENOSPC``, ``EIO``…) the worker does. Either way the file is
closed so what was written stays playable, and every later frame is dropped. The call goes on.

The worker fsyncs the file every ``fsync_interval`` seconds and keeps the JSON record up to
date through its :class:`TrackReport` (the sink, which owns the record).
"""

from __future__ import annotations

import collections
import threading
import time
from pathlib import Path
from typing import Protocol

from media.encoded import EncodedFrame
from recorder.muxer import TrackWriter
from recorder.timestamps import PtsMapper

_STOP = object()


class FrameQueue:
    """Frames from the event loop to the worker thread, bounded in count and bytes."""

    def __init__(self, max_frames: int, max_bytes: int) -> None:
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self._cond = threading.Condition()
        self._items: collections.deque[object] = collections.deque()
        self._bytes = 0
        self._dirty = False  # the record changed (a pause): the worker should save it
        self._aborted = False

    def __len__(self) -> int:
        return len(self._items)

    @property
    def bytes(self) -> int:
        return self._bytes

    def offer(self, frame: EncodedFrame) -> bool:
        """Queue a frame without blocking; False when the queue is full."""
        size = len(frame.data)
        with self._cond:
            if len(self._items) >= self.max_frames or self._bytes + size > self.max_bytes:
                return False
            self._items.append(frame)
            self._bytes += size
            self._cond.notify()
        return True

    def stop(self) -> None:
        """The worker finishes after the frames queued so far."""
        with self._cond:
            self._items.append(_STOP)
            self._cond.notify()

    def poke(self) -> None:
        """The record changed: wake the worker to save it."""
        with self._cond:
            self._dirty = True
            self._cond.notify()

    def abort(self) -> None:
        """Drop everything queued and wake the worker (the recording failed)."""
        with self._cond:
            self._aborted = True
            self._items.clear()
            self._bytes = 0
            self._cond.notify()

    def take(self, deadline: float) -> tuple[list[object], bool]:
        """Everything queued (waiting until something is, or ``deadline`` on the monotonic
        clock), and whether the record changed meanwhile."""
        with self._cond:
            while not self._items and not self._aborted and not self._dirty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(timeout=remaining)
            batch = list(self._items)
            self._items.clear()
            self._bytes = 0
            dirty, self._dirty = self._dirty, False
        return batch, dirty


class TrackReport(Protocol):
    """What the worker tells the owner of the record (called on the worker thread)."""

    @property
    def failed_reason(self) -> str | None: ...
    def fail(self, reason: str) -> None: ...
    def count_drop(self, reason: str) -> None: ...
    def wrote_first(self, writer: TrackWriter, frame: EncodedFrame) -> None: ...
    def progressed(self, writer: TrackWriter, mapper: PtsMapper | None) -> None: ...
    def save(self) -> None: ...
    def finalised(self) -> None: ...


class TrackWorker:
    """The thread that writes one track. Its owner (the sink) starts it, stops it through the
    queue and joins it.

    Paces itself with ``time.monotonic`` rather than the injected Clock: it waits on a
    threading.Condition, which only real time wakes, and a virtual clock is not thread-safe."""

    def __init__(self, name: str, queue: FrameQueue, report: TrackReport, base_path: Path,
                 kind: str, *, cluster_ms: int = 1000, fsync_interval: float = 2.0,
                 progress_interval: float = 5.0) -> None:
        self.queue = queue
        self.report = report
        self.base_path = base_path
        self.kind = kind
        self.cluster_ms = cluster_ms
        self.fsync_interval = fsync_interval
        self.progress_interval = progress_interval
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        writer: TrackWriter | None = None
        mapper: PtsMapper | None = None
        last_sync = last_progress = time.monotonic()
        synced_bytes = 0
        try:
            self.report.save()  # durable before the first frame: "recording"
            while True:
                batch, dirty = self.queue.take(last_sync + self.fsync_interval)
                if self.report.failed_reason is not None:
                    break
                stop = False
                for item in batch:
                    if self.report.failed_reason is not None:
                        break
                    if item is _STOP:
                        stop = True
                        break
                    assert isinstance(item, EncodedFrame)
                    frame = item
                    if writer is None:
                        self.base_path.parent.mkdir(parents=True, exist_ok=True)
                        writer = TrackWriter(self.base_path, self.kind, frame.codec,
                                             frame.clock_rate, self.cluster_ms)
                        mapper = PtsMapper(frame.clock_rate)
                    elif frame.codec != writer.codec:  # renegotiated mid-track: not this file
                        self.report.count_drop("codec_changed")
                        continue
                    assert mapper is not None
                    pts = mapper.map(frame.timestamp, frame.received_at)
                    if pts is None:
                        self.report.count_drop("reordered")
                        continue
                    first_open = not writer.opened
                    writer.write(frame.data, pts, frame.keyframe)
                    if first_open:
                        self.report.wrote_first(writer, frame)
                        dirty = True
                now = time.monotonic()
                if writer is not None and writer.opened:
                    self.report.progressed(writer, mapper)
                    if now - last_sync >= self.fsync_interval and writer.bytes != synced_bytes:
                        writer.sync()
                        synced_bytes = writer.bytes
                if now - last_sync >= self.fsync_interval:
                    last_sync = now
                if dirty or now - last_progress >= self.progress_interval or stop:
                    last_progress = now
                    self.report.save()
                if stop:
                    break
        except Exception as exc:  # noqa: BLE001 - disk full, I/O error, muxer error
            self.report.fail(f"{type(exc).__name__}: {exc}")
        finally:
            try:
                self._close(writer, mapper)
            finally:
                self.done.set()

    def _close(self, writer: TrackWriter | None, mapper: PtsMapper | None) -> None:
        if writer is not None:
            if self.report.failed_reason is None:
                try:
                    writer.close()
                except Exception as exc:  # noqa: BLE001
                    self.report.fail(f"finalising the file failed: {type(exc).__name__}: {exc}")
                    writer.abandon()
            else:
                writer.abandon()
            self.report.progressed(writer, mapper)
        self.report.finalised()
