"""One track's file: a stream-copy Matroska/WebM muxer (PyAV), run on the track's worker
thread. Never transcodes: the bytes in the file are the bytes received.

Crash safety: the muxer writes one Matroska cluster at least every ``cluster_ms`` (1 s) and
flushes every packet to the kernel (``flush_packets``), so a ``kill -9`` loses at most about
one cluster; :meth:`TrackWriter.sync` (fsync) bounds the loss on power failure. A Matroska
file cut off mid-way has no index or duration but plays and decodes up to the cut;
:func:`recorder.repair.remux` rewrites such a file with an index.
"""

from __future__ import annotations

import fractions
import logging
import os
from pathlib import Path
from typing import Any

import av

from recorder.codecs import container_for, opus_samples, vp8_dimensions
from recorder.timestamps import MillisecondPts

logger = logging.getLogger(__name__)


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
        self._container: Any = None  # av OutputContainer once the first frame arrives
        self._stream: Any = None
        self._fd: int | None = None
        self._time_base = fractions.Fraction(1, clock_rate)
        self._ms = MillisecondPts(clock_rate)

    @property
    def duration(self) -> float:
        """Seconds from the first packet to the end of the last one."""
        if self.last_pts is None:
            return 0.0
        return (self.last_pts + self.last_duration) / self.clock_rate

    def _open(self, data: bytes) -> None:
        options = {
            "cluster_time_limit": str(self.cluster_ms),  # a cluster reaches the file every ~1 s
            "flush_packets": "1",  # …and every packet reaches the kernel
        }
        container = av.open(str(self.path), "w", format=self.choice.format, options=options)
        stream: Any  # PyAV's stubs type the mux streams loosely
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
        decoder: Any = av.CodecContext.create(self.choice.codec, "r")
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
        pts = self._ms(pts)
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
