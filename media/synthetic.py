"""Synthetic audio/video sources for tests and load tests.

Every video frame carries a frame counter (see :mod:`media.framestamp`) so a receiver can
prove which frame it decoded. Sources come in two flavours:

* raw (:class:`SyntheticVideoTrack`, :class:`SyntheticAudioTrack`): aiortc encodes them,
  and honours keyframe requests;
* pre-encoded (:class:`EncodedVideoTrack`, :class:`EncodedAudioTrack`): yield ``av.Packet``
  objects that aiortc only repacketizes. Cheap enough for load tests, and the payload bytes
  are known, so a receiver can check the SFU forwarded them unchanged.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time
from collections.abc import Callable

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media import framestamp
from media.encoded import is_keyframe

VIDEO_CLOCK = 90000
AUDIO_RATE = 48000
AUDIO_PTIME = 0.020
AUDIO_SAMPLES = int(AUDIO_RATE * AUDIO_PTIME)


def test_pattern(width: int, height: int, counter: int) -> np.ndarray:
    """A moving colour pattern with the counter stamped in; cheap to draw."""
    y = np.arange(height, dtype=np.uint16)[:, None]
    x = np.arange(width, dtype=np.uint16)[None, :]
    shift = (counter * 4) & 0xFF
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[..., 0] = ((x + shift) & 0xFF).astype(np.uint8)
    image[..., 1] = ((y + shift) & 0xFF).astype(np.uint8)
    image[..., 2] = 128
    framestamp.stamp(image, counter)
    return image


class _Pacer:
    """Releases one frame per period on the event loop's clock, catching up without bursts."""

    def __init__(self, period: float) -> None:
        self.period = period
        self._start: float | None = None
        self.index = 0

    async def wait(self) -> int:
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        else:
            self.index += 1
            delay = self._start + self.index * self.period - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        return self.index


class SyntheticVideoTrack(MediaStreamTrack):
    """Raw test-pattern frames with a frame counter; aiortc encodes them."""

    kind = "video"

    def __init__(self, width: int = 320, height: int = 240, fps: int = 30) -> None:
        super().__init__()
        self.width, self.height, self.fps = width, height, fps
        self._pacer = _Pacer(1 / fps)

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        index = await self._pacer.wait()
        frame = av.VideoFrame.from_ndarray(
            test_pattern(self.width, self.height, index), format="rgb24"
        )
        frame.pts = int(index * VIDEO_CLOCK / self.fps)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        return frame


def tone(samples: int, start: int, frequency: float = 440.0, amplitude: float = 0.3) -> np.ndarray:
    """A sine tone as int16 mono samples, continuing from sample index ``start``."""
    t = (np.arange(samples) + start) / AUDIO_RATE
    return (np.sin(2 * math.pi * frequency * t) * amplitude * 32767).astype(np.int16)


class SyntheticAudioTrack(MediaStreamTrack):
    """A continuous 20 ms-framed tone; aiortc encodes it to Opus."""

    kind = "audio"

    def __init__(self, frequency: float = 440.0) -> None:
        super().__init__()
        self.frequency = frequency
        self._pacer = _Pacer(AUDIO_PTIME)

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        index = await self._pacer.wait()
        start = index * AUDIO_SAMPLES
        samples = tone(AUDIO_SAMPLES, start, self.frequency)
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = start
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        return frame


def encode_vp8_clip(
    frames: int = 60,
    width: int = 320,
    height: int = 240,
    fps: int = 30,
    keyframe_interval: int = 30,
    bitrate: int = 600_000,
) -> list[bytes]:
    """Encode a test-pattern clip to VP8 once; frame ``i`` carries counter ``i``."""
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height = width, height
    codec.pix_fmt = "yuv420p"
    codec.time_base = fractions.Fraction(1, fps)
    codec.bit_rate = bitrate
    codec.gop_size = keyframe_interval
    codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    out: list[bytes] = []
    for i in range(frames):
        frame = av.VideoFrame.from_ndarray(test_pattern(width, height, i), format="rgb24")
        frame = frame.reformat(format="yuv420p")
        frame.pts = i
        frame.pict_type = av.video.frame.PictureType.I if i % keyframe_interval == 0 else 0
        out.extend(bytes(p) for p in codec.encode(frame))
    out.extend(bytes(p) for p in codec.encode(None))
    return out


def encode_opus_clip(packets: int = 50, frequency: float = 440.0) -> list[bytes]:
    """Encode a tone to 20 ms Opus packets once."""
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate = AUDIO_RATE
    codec.layout = "stereo"
    codec.format = "s16"
    codec.bit_rate = 32000
    codec.time_base = fractions.Fraction(1, AUDIO_RATE)
    out: list[bytes] = []
    for i in range(packets):
        mono = tone(AUDIO_SAMPLES, i * AUDIO_SAMPLES, frequency)
        stereo = np.repeat(mono[None, :], 2, axis=0).T.reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(stereo, format="s16", layout="stereo")
        frame.sample_rate = AUDIO_RATE
        frame.pts = i * AUDIO_SAMPLES
        out.extend(bytes(p) for p in codec.encode(frame))
    return out


class EncodedVideoTrack(MediaStreamTrack):
    """Loops a pre-encoded VP8 clip as ``av.Packet`` objects (aiortc only repacketizes).

    A keyframe request (wire it to ``RTCRtpSender._send_keyframe``) jumps to the clip's
    next keyframe. ``on_send(data, pts, monotonic_time)`` sees every packet handed out.
    """

    kind = "video"

    def __init__(
        self,
        clip: list[bytes],
        fps: int = 30,
        on_send: Callable[[bytes, int, float], None] | None = None,
    ) -> None:
        super().__init__()
        self.clip = clip
        self.fps = fps
        self.on_send = on_send
        self._keyframes = [i for i, data in enumerate(clip) if is_keyframe("VP8", data)]
        self._pacer = _Pacer(1 / fps)
        self._position = 0
        self._want_keyframe = False

    def request_keyframe(self) -> None:
        self._want_keyframe = True

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        index = await self._pacer.wait()
        if self._want_keyframe and self._keyframes:
            self._want_keyframe = False
            later = [k for k in self._keyframes if k >= self._position]
            self._position = later[0] if later else self._keyframes[0]
        data = self.clip[self._position]
        self._position = (self._position + 1) % len(self.clip)
        packet = av.Packet(data)
        packet.pts = int(index * VIDEO_CLOCK / self.fps)
        packet.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        if self.on_send is not None:
            self.on_send(data, packet.pts, time.monotonic())
        return packet


class EncodedAudioTrack(MediaStreamTrack):
    """Loops pre-encoded 20 ms Opus packets."""

    kind = "audio"

    def __init__(self, clip: list[bytes]) -> None:
        super().__init__()
        self.clip = clip
        self._pacer = _Pacer(AUDIO_PTIME)

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        index = await self._pacer.wait()
        packet = av.Packet(self.clip[index % len(self.clip)])
        packet.pts = index * AUDIO_SAMPLES
        packet.time_base = fractions.Fraction(1, AUDIO_RATE)
        return packet
