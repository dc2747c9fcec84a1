"""A/V sync probe: flashes and beeps at known instants, and detectors that find them again.

A source shows a dim moving pattern with a white flash at chosen instants and plays a beep
at the same instants; after the media went through a pipeline (recording, composition…) the
detectors find the flash and beep onsets in the decoded pictures and samples, and
:func:`pair_offsets` gives each flash's distance to its beep (positive: audio late).
"""

from __future__ import annotations

import fractions
import math
from collections.abc import Iterable, Sequence

import av
import numpy as np

from media.synthetic import AUDIO_RATE, AUDIO_SAMPLES, test_pattern


def flash_image(width: int, height: int, counter: int, flash: bool) -> np.ndarray:
    """A white frame when ``flash``, else a dim test pattern (mean luma well below 128)."""
    if flash:
        return np.full((height, width, 3), 255, np.uint8)
    return test_pattern(width, height, counter) // 3


def beep_signal(duration: float, beep_times: Iterable[float], beep_length: float = 0.1,
                frequency: float = 1000.0, amplitude: float = 0.5,
                rate: int = AUDIO_RATE) -> np.ndarray:
    """Silence with a sine beep starting at each instant (int16 mono)."""
    samples = np.zeros(int(round(duration * rate)), np.float64)
    length = int(round(beep_length * rate))
    t = np.arange(length) / rate
    beep = np.sin(2 * math.pi * frequency * t) * amplitude
    for at in beep_times:
        start = int(round(at * rate))
        if start >= len(samples) or start + length <= 0:
            continue
        lo, hi = max(0, start), min(len(samples), start + length)
        samples[lo:hi] = beep[lo - start : hi - start]
    return (samples * 32767).astype(np.int16)


def encode_vp8(images: Iterable[np.ndarray], fps: int = 30, keyframe_interval: int = 15,
               bitrate: int = 800_000) -> list[bytes]:
    """Encode RGB images to VP8 frames (one output frame per image)."""
    codec: av.VideoCodecContext | None = None
    out: list[bytes] = []
    for i, image in enumerate(images):
        if codec is None:
            codec = av.CodecContext.create("libvpx", "w")
            codec.width, codec.height = image.shape[1], image.shape[0]
            codec.pix_fmt = "yuv420p"
            codec.time_base = fractions.Fraction(1, fps)
            codec.bit_rate = bitrate
            codec.gop_size = keyframe_interval
            codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        frame.pict_type = av.video.frame.PictureType.I if i % keyframe_interval == 0 else 0
        out.extend(bytes(p) for p in codec.encode(frame))
    if codec is not None:
        out.extend(bytes(p) for p in codec.encode(None))
    return out


def encode_opus(samples: np.ndarray) -> list[bytes]:
    """Encode int16 mono 48 kHz samples to 20 ms Opus packets (one per 960 samples)."""
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate = AUDIO_RATE
    codec.layout = "mono"
    codec.format = "s16"
    codec.bit_rate = 48000
    codec.time_base = fractions.Fraction(1, AUDIO_RATE)
    out: list[bytes] = []
    count = len(samples) // AUDIO_SAMPLES
    for i in range(count):
        chunk = samples[i * AUDIO_SAMPLES : (i + 1) * AUDIO_SAMPLES]
        frame = av.AudioFrame.from_ndarray(chunk[None, :], format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = i * AUDIO_SAMPLES
        out.extend(bytes(p) for p in codec.encode(frame))
    out.extend(bytes(p) for p in codec.encode(None))
    return out[:count]


def flash_onsets(times: Sequence[float], brightness: Sequence[float], threshold: float = 180.0,
                 min_gap: float = 0.3) -> list[float]:
    """Times at which the mean brightness rises above ``threshold`` (rising edges)."""
    onsets: list[float] = []
    previous = False
    for t, value in zip(times, brightness, strict=False):
        on = value > threshold
        if on and not previous and (not onsets or t - onsets[-1] >= min_gap):
            onsets.append(float(t))
        previous = on
    return onsets


def beep_onsets(samples: np.ndarray, rate: int = AUDIO_RATE, threshold: float = 0.1,
                window: float = 0.002, min_gap: float = 0.3, start: float = 0.0) -> list[float]:
    """Times at which the signal's envelope (peak per ``window``) rises above ``threshold``
    (``samples`` as floats in -1..1; ``start`` is the time of ``samples[0]``)."""
    size = max(1, int(rate * window))
    usable = len(samples) // size * size
    envelope = np.abs(samples[:usable]).reshape(-1, size).max(axis=1)
    onsets: list[float] = []
    above = envelope > threshold
    for i in np.flatnonzero(above & ~np.concatenate([[False], above[:-1]])):
        # refine within the window: first sample above the threshold
        block = np.abs(samples[i * size : (i + 1) * size])
        j = int(np.argmax(block > threshold))
        t = start + (i * size + j) / rate
        if not onsets or t - onsets[-1] >= min_gap:
            onsets.append(t)
    return onsets


def pair_offsets(flashes: Sequence[float], beeps: Sequence[float],
                 max_distance: float = 0.5) -> list[tuple[float, float]]:
    """For each flash, the nearest beep within ``max_distance``: (flash time, beep − flash)."""
    pairs = []
    for flash in flashes:
        if not beeps:
            break
        beep = min(beeps, key=lambda b: abs(b - flash))
        if abs(beep - flash) <= max_distance:
            pairs.append((flash, beep - flash))
    return pairs
