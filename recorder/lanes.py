"""Reading a call's track files forward along the call clock, for composition.

Every decoded video frame and audio sample is placed at ``segment start + its timestamp in
the file`` on the call clock (the files keep the call's gaps, see :mod:`recorder.timestamps`).
A :class:`VideoLane` holds the latest frame of one role; the :class:`Mixer` sums the audio
sources into consecutive blocks. Memory stays constant: decoding streams along with the output.
A damaged packet is skipped, a cut-off file ends early: both are expected after a crash.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np

from recorder.paths import resolve_inside
from recorder.render import Rect
from recorder.timeline import Segment

logger = logging.getLogger(__name__)

AUDIO_RATE = 48000


# --- video ---------------------------------------------------------------------------------------
class VideoLane:
    """The video of one role across its segments, read forward along the output clock."""

    def __init__(self, root: Path, role: str, segments: list[Segment], threads: int) -> None:
        self.role = role
        self.root = root
        self.segments = sorted(segments, key=lambda s: s.start)
        self.threads = threads
        self._frames = self._all_frames()
        self._pending: tuple[float, av.VideoFrame] | None = None
        self._exhausted = False
        self.latest: av.VideoFrame | None = None
        self.latest_t = -math.inf
        self.decoded = 0
        self._tile_key: tuple[int, int, int] | None = None
        self._tile: np.ndarray | None = None
        self.picture: Rect | None = None  # where the picture sits inside the last tile

    def _all_frames(self) -> Iterator[tuple[float, av.VideoFrame]]:
        for segment in self.segments:
            yield from _decode_video(self.root, segment, self.threads)

    def advance(self, t: float) -> None:
        """Consume every frame at or before call time ``t``."""
        while True:
            if self._pending is None:
                if self._exhausted:
                    return
                self._pending = next(self._frames, None)
                if self._pending is None:
                    self._exhausted = True
                    return
                self.decoded += 1
            if self._pending[0] > t + 1e-6:
                return
            self.latest_t, self.latest = self._pending
            self._pending = None

    def tile(self, t: float, hold: float, width: int, height: int) -> np.ndarray | None:
        self.advance(t)
        if self.latest is None or t - self.latest_t > hold:
            return None
        key = (id(self.latest), width, height)
        if key != self._tile_key:
            self.picture = fit_rect(self.latest.width, self.latest.height, width, height)
            self._tile = _fit(self.latest, self.picture, width, height)
            self._tile_key = key
        return self._tile


def _decode_video(root: Path, segment: Segment, threads: int) -> Iterator[tuple[float, av.VideoFrame]]:
    path = resolve_inside(root, segment.file)
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.codec_context.thread_count = threads
            try:
                for packet in container.demux(stream):
                    try:
                        frames = packet.decode()
                    except av.FFmpegError:
                        continue  # one damaged frame: keep going
                    for frame in frames:
                        if frame.pts is None or frame.time_base is None:
                            continue
                        yield segment.start + float(frame.pts * frame.time_base), frame
            except av.FFmpegError as exc:  # a cut-off file ends here
                logger.info("video %s ends early: %s", segment.file, exc)
    except (av.FFmpegError, OSError) as exc:
        logger.warning("cannot read video %s: %s", segment.file, exc)


def fit_rect(source_w: int, source_h: int, width: int, height: int) -> Rect:
    """Where a source_w×source_h picture lands in a width×height tile: scaled with its aspect
    kept, centred (x, y, w, h within the tile; the rest is black bars)."""
    scale = min(width / source_w, height / source_h)
    w = max(2, int(source_w * scale) & ~1)
    h = max(2, int(source_h * scale) & ~1)
    return (width - w) // 2, (height - h) // 2, w, h


def _fit(frame: av.VideoFrame, picture: Rect, width: int, height: int) -> np.ndarray:
    """The frame scaled into a width×height BGR tile at ``picture``, black bars around."""
    x, y, w, h = picture
    image = frame.reformat(width=w, height=h, format="bgr24").to_ndarray()
    if (w, h) == (width, height):
        return image
    tile = np.zeros((height, width, 3), np.uint8)
    tile[y : y + h, x : x + w] = image
    return tile


# --- audio ---------------------------------------------------------------------------------------
class AudioSource:
    """One audio segment, decoded forward into the mixer at its place on the call clock."""

    SNAP = AUDIO_RATE // 100  # within 10 ms of where the previous frame ended = contiguous

    def __init__(self, root: Path, segment: Segment) -> None:
        self.segment = segment
        self.root = root
        self.start_sample = round(segment.start * AUDIO_RATE)
        self.next_pos: int | None = None
        self._frames: Iterator[tuple[float, np.ndarray]] | None = None
        self.exhausted = False
        self.decoded = 0

    def fill(self, mixer: Mixer, end: int) -> None:
        """Add decoded audio to the mix until this source has covered sample ``end``."""
        if self.exhausted or self.start_sample >= end + AUDIO_RATE:
            return
        if self._frames is None:
            self._frames = _decode_audio(self.root, self.segment)
        while self.next_pos is None or self.next_pos < end:
            item = next(self._frames, None)
            if item is None:
                self.exhausted = True
                return
            t, samples = item
            self.decoded += 1
            pos = self.start_sample + round(t * AUDIO_RATE)
            if self.next_pos is not None and abs(pos - self.next_pos) <= self.SNAP:
                pos = self.next_pos
            mixer.add(pos, samples)
            self.next_pos = pos + len(samples)


def _decode_audio(root: Path, segment: Segment) -> Iterator[tuple[float, np.ndarray]]:
    path = resolve_inside(root, segment.file)
    resampler: av.AudioResampler | None = None
    try:
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            try:
                for packet in container.demux(stream):
                    try:
                        frames = packet.decode()
                    except av.FFmpegError:
                        continue
                    for frame in frames:
                        if frame.pts is None or frame.time_base is None:
                            continue
                        t = float(frame.pts * frame.time_base)
                        if frame.sample_rate != AUDIO_RATE:
                            resampler = resampler or av.AudioResampler("fltp", "mono", AUDIO_RATE)
                            out = [_mono(f) for f in resampler.resample(frame)]
                            if out:
                                yield t, np.concatenate(out)
                        else:
                            yield t, _mono(frame)
            except av.FFmpegError as exc:
                logger.info("audio %s ends early: %s", segment.file, exc)
    except (av.FFmpegError, OSError) as exc:
        logger.warning("cannot read audio %s: %s", segment.file, exc)


def _mono(frame: av.AudioFrame) -> np.ndarray:
    data: np.ndarray[Any, Any] = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if frame.format.is_planar:
        mono = data.mean(axis=0) if data.shape[0] > 1 else data[0]
    else:
        mono = data.reshape(-1, channels).mean(axis=1)
    if np.issubdtype(mono.dtype, np.integer):
        mono = mono / float(np.iinfo(data.dtype).max + 1)
    return mono.astype(np.float32, copy=False)


class Mixer:
    """Sums the audio sources on the call clock and hands out consecutive blocks."""

    def __init__(self, root: Path, segments: list[Segment]) -> None:
        self.sources = [AudioSource(root, s) for s in sorted(segments, key=lambda s: s.start)]
        self.buffer = np.zeros(AUDIO_RATE, np.float32)
        self.start = 0  # call-clock sample of buffer[0]

    def add(self, pos: int, samples: np.ndarray) -> None:
        if pos < self.start:
            samples = samples[self.start - pos :]
            pos = self.start
        if not len(samples):
            return
        offset = pos - self.start
        need = offset + len(samples)
        if need > len(self.buffer):
            grown = np.zeros(max(need, 2 * len(self.buffer)), np.float32)
            grown[: len(self.buffer)] = self.buffer
            self.buffer = grown
        self.buffer[offset:need] += samples

    def read(self, count: int) -> np.ndarray:
        end = self.start + count
        for source in self.sources:
            source.fill(self, end)
        if count > len(self.buffer):
            self.add(end - 1, np.zeros(1, np.float32))  # grow
        block = np.clip(self.buffer[:count], -1.0, 1.0)
        self.buffer = np.concatenate([self.buffer[count:], np.zeros(count, np.float32)])
        self.start = end
        return block
