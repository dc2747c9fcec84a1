"""The composer's output: an H.264 + AAC MP4 with ``+faststart`` (PyAV), a poster frame and
a horizontal sprite of thumbnails at evenly spaced times (JPEG).

Everything is written to temp names first and moved into place, fsynced, only when all of it
is complete: a crash or a failure never leaves a half-written file under a final name.
"""

from __future__ import annotations

import contextlib
import fractions
import os
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from recorder.durable import fsync_file


class Mp4Output:
    """Video pictures and mono audio blocks in, one MP4 out."""

    def __init__(self, path: Path, *, width: int, height: int, fps: int, crf: int, preset: str,
                 threads: int, audio_rate: int, audio_bitrate: int) -> None:
        self.fps = fps
        self.audio_rate = audio_rate
        self._container: Any = av.open(str(path), "w", format="mp4",
                                       options={"movflags": "+faststart"})
        try:
            vstream = self._container.add_stream("libx264", rate=fps)
            vstream.width, vstream.height = width, height
            vstream.pix_fmt = "yuv420p"
            vstream.codec_context.gop_size = fps * 2
            vstream.codec_context.thread_count = threads
            vstream.codec_context.options = {"preset": preset, "crf": str(crf)}
            astream = self._container.add_stream("aac", rate=audio_rate)
            astream.codec_context.layout = "mono"
            astream.codec_context.bit_rate = audio_bitrate
        except BaseException:
            self._container.close()
            raise
        self._vstream, self._astream = vstream, astream
        self._video_tb = fractions.Fraction(1, fps)
        self._audio_tb = fractions.Fraction(1, audio_rate)

    def picture(self, index: int, canvas: np.ndarray) -> None:
        """Output picture number ``index`` (BGR)."""
        frame = av.VideoFrame.from_ndarray(canvas, format="bgr24").reformat(format="yuv420p")
        frame.pts = index
        frame.time_base = self._video_tb
        for packet in self._vstream.encode(frame):
            self._container.mux(packet)

    def audio(self, first_sample: int, samples: np.ndarray) -> None:
        """A block of mono float samples starting at ``first_sample``."""
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="fltp", layout="mono")
        frame.sample_rate = self.audio_rate
        frame.pts = first_sample
        frame.time_base = self._audio_tb
        for packet in self._astream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        """Flush both encoders and write the index (moved to the front: faststart)."""
        for packet in self._vstream.encode(None):
            self._container.mux(packet)
        for packet in self._astream.encode(None):
            self._container.mux(packet)
        self._container.close()

    def abandon(self) -> None:
        with contextlib.suppress(Exception):  # failing already: the first error is the one to tell
            self._container.close()


class Stills:
    """Picks the poster (the first picture with every role live, after ``poster_from``
    seconds; else the one at a quarter of the call) and the thumbnails."""

    def __init__(self, duration: float, count: int, width: int, height: int) -> None:
        self.duration = duration
        self.times = [(i + 0.5) * duration / count for i in range(count)]
        self.size = (width, height)
        self.thumbs: list[np.ndarray] = []
        self.poster: np.ndarray | None = None
        self._fallback: np.ndarray | None = None
        self._poster_from = min(2.0, duration * 0.1)

    def offer(self, t: float, canvas: np.ndarray, all_live: bool, fps: int) -> None:
        if self.poster is None and all_live and t >= self._poster_from:
            self.poster = canvas.copy()
        if self._fallback is None and t >= self.duration * 0.25:
            self._fallback = canvas.copy()
        while len(self.thumbs) < len(self.times) and t >= self.times[len(self.thumbs)] - 0.5 / fps:
            self.thumbs.append(self._thumb(canvas))

    def _thumb(self, canvas: np.ndarray) -> np.ndarray:
        return cv2.resize(canvas, self.size, interpolation=cv2.INTER_AREA)

    def write(self, poster_path: Path, sprite_path: Path, last: np.ndarray) -> None:
        poster = self.poster if self.poster is not None else self._fallback
        write_jpeg(poster_path, poster if poster is not None else last, 88)
        while len(self.thumbs) < len(self.times):
            self.thumbs.append(self._thumb(last))
        write_jpeg(sprite_path, np.hstack(self.thumbs), 80)


def write_jpeg(path: Path, image: np.ndarray, quality: int) -> None:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    path.write_bytes(data.tobytes())


def move_into_place(tmp: dict[str, Path], final: dict[str, Path]) -> None:
    for key, path in final.items():
        fsync_file(tmp[key])
        os.replace(tmp[key], path)
