"""Offline composition of a call's per-track recordings into one QA playback file.

Input: the call's track files (one per participant, kind and segment — a participant who
reconnected has several) placed on the call's clock by a :class:`CallTimeline`. Output, in
``<recordings_dir>/<call_id>/composed/``:

* ``<id>.mp4`` — H.264 + AAC, ``+faststart``: the participants side by side (or picture in
  picture), both audio tracks mixed, the call id, agent name and wall-clock time burnt in;
* ``<id>.poster.jpg`` — a poster frame;
* ``<id>.thumbs.jpg`` — a horizontal sprite of thumbnails at evenly spaced times.

A/V sync: every decoded video frame and audio sample is placed at ``segment start + its
timestamp in the file`` on the call clock (the files keep the call's gaps, see
:mod:`recorder.track_writer`). The output is rendered frame by frame on that clock: a tile
shows the latest frame at or before the output time, held for ``hold_last`` seconds across
gaps, then black; missing audio is silence. Recording pauses show as a "recording paused"
card. Memory stays constant: decoding streams along with the output.

Run it in its own process (``python -m recorder compose …`` or :meth:`Recorder.compose`):
it is CPU-bound (decode, scale, encode). ``threads=1`` (the default) keeps it to one core so
that it never competes with the live SFU for more than that; the CLI also lowers its priority.
"""

from __future__ import annotations

import datetime
import fractions
import logging
import math
import os
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from recorder.index import RecordingIndex, check_id, resolve_inside

logger = logging.getLogger(__name__)

AUDIO_RATE = 48000
LAYOUTS = ("side_by_side", "pip")
ROLE_ORDER = ("shopper", "agent")


@dataclass
class ComposeOptions:
    layout: str = "side_by_side"  # or "pip": ``pip_main`` full frame, the others inset
    width: int = 1280
    height: int = 480
    fps: int = 25
    pip_main: str = "shopper"
    crf: int = 26
    preset: str = "superfast"
    threads: int = 1
    audio_bitrate: int = 64000
    hold_last: float = 2.0  # seconds a tile keeps its last frame across a gap
    thumbnails: int = 10
    thumb_width: int = 192
    burn_in: bool = True

    def check(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}")
        if self.width % 2 or self.height % 2 or self.width < 64 or self.height < 64:
            raise ValueError("width and height must be even and at least 64")
        if not 1 <= self.fps <= 60:
            raise ValueError("fps must be in 1..60")


@dataclass
class Segment:
    """One track file on the call clock."""

    recording_id: str
    role: str
    participant_id: str
    kind: str  # "audio" | "video"
    file: str  # relative to the recordings directory
    start: float  # seconds from the call's start
    duration: float


@dataclass
class CallTimeline:
    call_id: str
    start: float  # the call's time zero on the wall clock (epoch seconds)
    end: float
    agent_name: str | None = None
    segments: list[Segment] = field(default_factory=list)
    pauses: list[tuple[float, float]] = field(default_factory=list)  # call-relative seconds

    @property
    def duration(self) -> float:
        return max(0.0, self.end - self.start)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallTimeline:
        return cls(
            call_id=check_id(data["call_id"], "call id"),
            start=float(data["start"]),
            end=float(data["end"]),
            agent_name=data.get("agent_name"),
            segments=[Segment(**s) for s in data.get("segments", [])],
            pauses=[(float(a), float(b)) for a, b in data.get("pauses", [])],
        )


def timeline_for_call(
    index: RecordingIndex,
    records: list[dict[str, Any]],
    call_id: str,
    *,
    start: float | None = None,
    end: float | None = None,
    agent_name: str | None = None,
) -> CallTimeline:
    """The timeline of a call from its track records (any state: a failed or interrupted
    recording still holds the media before the failure)."""
    tracks = [r for r in records if r.get("call_id") == call_id and r.get("kind") in ("audio", "video")
              and r.get("file") and r.get("started_at") is not None and r.get("frames", 0) > 0]
    if not tracks:
        raise ValueError(f"call {call_id} has no recorded media")
    t0 = start if start is not None else min(r["started_at"] for r in tracks)
    t1 = end if end is not None else max(r["started_at"] + r.get("duration", 0.0) for r in tracks)
    segments = [
        Segment(recording_id=r["recording_id"], role=r.get("role") or "participant",
                participant_id=r.get("participant_id") or "", kind=r["kind"], file=r["file"],
                start=r["started_at"] - t0, duration=float(r.get("duration") or 0.0))
        for r in tracks
    ]
    pauses: list[tuple[float, float]] = []
    for r in records:
        if r.get("call_id") != call_id:
            continue
        for p in r.get("pauses") or []:
            a = p["start"] - t0
            b = (p["end"] if p.get("end") is not None else t1) - t0
            if b > a:
                pauses.append((a, b))
    return CallTimeline(call_id, t0, t1, agent_name, segments, _merge(pauses))


def _merge(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[list[float]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1] + 0.05:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


# --- video ---------------------------------------------------------------------------------------
class _VideoLane:
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
            self._tile = _fit(self.latest, width, height)
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
                        if frame.pts is None:
                            continue
                        yield segment.start + float(frame.pts * frame.time_base), frame
            except av.FFmpegError as exc:  # a cut-off file ends here
                logger.info("video %s ends early: %s", segment.file, exc)
    except (av.FFmpegError, OSError) as exc:
        logger.warning("cannot read video %s: %s", segment.file, exc)


def _fit(frame: av.VideoFrame, width: int, height: int) -> np.ndarray:
    """The frame scaled into a width×height BGR tile, aspect kept, black bars."""
    scale = min(width / frame.width, height / frame.height)
    w = max(2, int(frame.width * scale) & ~1)
    h = max(2, int(frame.height * scale) & ~1)
    image = frame.reformat(width=w, height=h, format="bgr24").to_ndarray()
    if (w, h) == (width, height):
        return image
    tile = np.zeros((height, width, 3), np.uint8)
    x, y = (width - w) // 2, (height - h) // 2
    tile[y : y + h, x : x + w] = image
    return tile


# --- audio ---------------------------------------------------------------------------------------
class _AudioSource:
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

    def fill(self, mixer: _Mixer, end: int) -> None:
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
                        if frame.pts is None:
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
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if frame.format.is_planar:
        mono = data.mean(axis=0) if data.shape[0] > 1 else data[0]
    else:
        mono = data.reshape(-1, channels).mean(axis=1)
    if np.issubdtype(mono.dtype, np.integer):
        mono = mono / float(np.iinfo(data.dtype).max + 1)
    return mono.astype(np.float32, copy=False)


class _Mixer:
    """Sums the audio sources on the call clock and hands out consecutive blocks."""

    def __init__(self, root: Path, segments: list[Segment]) -> None:
        self.sources = [_AudioSource(root, s) for s in sorted(segments, key=lambda s: s.start)]
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


# --- drawing -------------------------------------------------------------------------------------
def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode() or "?"


def _text(image: np.ndarray, text: str, org: tuple[int, int], scale: float = 0.5) -> None:
    cv2.putText(image, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(image, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)


def _centered(image: np.ndarray, rect: tuple[int, int, int, int], text: str) -> None:
    x, y, w, h = rect
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.6, 1)
    _text(image, text, (x + max(4, (w - tw) // 2), y + (h + th) // 2), 0.6)


def _layout(options: ComposeOptions, roles: list[str]) -> dict[str, tuple[int, int, int, int]]:
    """Tile rectangles (x, y, w, h) per role."""
    W, H = options.width, options.height
    if not roles:
        return {}
    if options.layout == "side_by_side" or len(roles) == 1:
        n = len(roles)
        tw = (W // n) & ~1
        return {role: (i * tw, 0, tw, H) for i, role in enumerate(roles)}
    main = options.pip_main if options.pip_main in roles else roles[0]
    rects = {main: (0, 0, W, H)}
    iw, ih = (W // 4) & ~1, (H // 4) & ~1
    margin = 16
    others = [r for r in roles if r != main]
    for i, role in enumerate(others):
        rects[role] = (W - margin - (i + 1) * (iw + margin) + margin, H - margin - ih, iw, ih)
    return rects


# --- the job -------------------------------------------------------------------------------------
def compose_call(
    root: str | os.PathLike[str],
    timeline: CallTimeline,
    out_dir: str | os.PathLike[str],
    name: str,
    options: ComposeOptions | None = None,
    progress: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Compose the call; returns what was written (paths relative to ``root``) and speed."""
    options = options or ComposeOptions()
    options.check()
    check_id(name, "output name")
    root = Path(os.path.realpath(root))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out_dir = Path(os.path.realpath(out_dir))
    if root not in out_dir.parents:
        raise ValueError("the output directory must be inside the recordings directory")
    if timeline.duration <= 0:
        raise ValueError("the call has no duration")

    wall0, cpu0 = time.perf_counter(), time.process_time()
    video_roles = {s.role for s in timeline.segments if s.kind == "video"}
    all_roles = {s.role for s in timeline.segments}
    roles = [r for r in ROLE_ORDER if r in all_roles]
    roles += sorted(r for r in video_roles if r not in ROLE_ORDER)
    rects = _layout(options, roles)
    lanes = {role: _VideoLane(root, role, [s for s in timeline.segments
                                           if s.kind == "video" and s.role == role], options.threads)
             for role in roles}
    mixer = _Mixer(root, [s for s in timeline.segments if s.kind == "audio"])

    final = {"video": out_dir / f"{name}.mp4", "poster": out_dir / f"{name}.poster.jpg",
             "thumbnails": out_dir / f"{name}.thumbs.jpg"}
    tmp = {key: path.with_name(f".{path.stem}.tmp{path.suffix}") for key, path in final.items()}

    fps = options.fps
    duration = timeline.duration
    n_frames = max(1, round(duration * fps))
    total_samples = round(duration * AUDIO_RATE)
    agent = f"  |  Agent {_ascii(timeline.agent_name)}" if timeline.agent_name else ""
    header = f"Call {timeline.call_id}{agent}"

    thumb_times = [(i + 0.5) * duration / options.thumbnails for i in range(options.thumbnails)]
    thumb_h = max(2, round(options.thumb_width * options.height / options.width) & ~1)
    thumbs: list[np.ndarray] = []
    poster: np.ndarray | None = None
    poster_fallback: np.ndarray | None = None
    poster_from = min(2.0, duration * 0.1)

    container = av.open(str(tmp["video"]), "w", format="mp4", options={"movflags": "+faststart"})
    try:
        vstream = container.add_stream("libx264", rate=fps)
        vstream.width, vstream.height = options.width, options.height
        vstream.pix_fmt = "yuv420p"
        vstream.codec_context.gop_size = fps * 2
        vstream.codec_context.thread_count = options.threads
        vstream.codec_context.options = {"preset": options.preset, "crf": str(options.crf)}
        astream = container.add_stream("aac", rate=AUDIO_RATE)
        astream.codec_context.layout = "mono"
        astream.codec_context.bit_rate = options.audio_bitrate
        audio_tb = fractions.Fraction(1, AUDIO_RATE)
        audio_done = 0
        block = 1024
        canvas = np.zeros((options.height, options.width, 3), np.uint8)
        last_report = -1.0

        for k in range(n_frames):
            t = k / fps
            paused = any(a <= t < b for a, b in timeline.pauses)
            canvas.fill(0)
            all_live = True
            for role, rect in rects.items():
                x, y, w, h = rect
                tile = lanes[role].tile(t, options.hold_last, w, h)
                if tile is None or paused:
                    all_live = False
                    if w < options.width:  # inset/side tile: mark its place
                        cv2.rectangle(canvas, (x, y), (x + w - 1, y + h - 1), (60, 60, 60), 1)
                    if not paused:
                        _centered(canvas, rect, "no video")
                else:
                    canvas[y : y + h, x : x + w] = tile
                    if w < options.width and options.layout == "pip":
                        cv2.rectangle(canvas, (x, y), (x + w - 1, y + h - 1), (255, 255, 255), 1)
                if options.burn_in:
                    _text(canvas, role, (x + 8, y + h - 10))
            if paused:
                _centered(canvas, (0, 0, options.width, options.height), "recording paused")
            if options.burn_in:
                now = datetime.datetime.fromtimestamp(timeline.start + t, datetime.timezone.utc)
                elapsed = f"{int(t // 3600):d}:{int(t // 60) % 60:02d}:{t % 60:04.1f}"
                _text(canvas, header, (8, 20))
                stamp = now.strftime("%Y-%m-%d %H:%M:%S UTC") + "  +" + elapsed
                (tw, _), _ = cv2.getTextSize(stamp, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
                _text(canvas, stamp, (options.width - tw - 8, 20))

            if poster is None and all_live and t >= poster_from:
                poster = canvas.copy()
            if poster_fallback is None and t >= duration * 0.25:
                poster_fallback = canvas.copy()
            while len(thumbs) < len(thumb_times) and t >= thumb_times[len(thumbs)] - 0.5 / fps:
                thumbs.append(cv2.resize(canvas, (options.thumb_width, thumb_h),
                                         interpolation=cv2.INTER_AREA))

            frame = av.VideoFrame.from_ndarray(canvas, format="bgr24").reformat(format="yuv420p")
            frame.pts = k
            frame.time_base = fractions.Fraction(1, fps)
            for packet in vstream.encode(frame):
                container.mux(packet)

            last = k == n_frames - 1
            target = total_samples if last else min(total_samples, round((k + 1) * AUDIO_RATE / fps))
            while audio_done + block <= target or (last and audio_done < target):
                count = min(block, target - audio_done)
                samples = mixer.read(count)
                if count < block:  # the encoder takes whole frames: pad the very last one
                    samples = np.concatenate([samples, np.zeros(block - count, np.float32)])
                aframe = av.AudioFrame.from_ndarray(samples[None, :], format="fltp", layout="mono")
                aframe.sample_rate = AUDIO_RATE
                aframe.pts = audio_done
                aframe.time_base = audio_tb
                for packet in astream.encode(aframe):
                    container.mux(packet)
                audio_done += count

            if progress is not None:
                fraction = (k + 1) / n_frames
                if fraction - last_report >= 0.01:
                    last_report = fraction
                    progress(min(fraction, 0.99))

        decoded_audio = sum(source.decoded for source in mixer.sources)
        if not decoded_audio and not any(lane.decoded for lane in lanes.values()):
            raise RuntimeError("no media could be decoded from the call's recordings")
        for packet in vstream.encode(None):
            container.mux(packet)
        for packet in astream.encode(None):
            container.mux(packet)
        container.close()

        poster_image = poster if poster is not None else poster_fallback
        if poster_image is None:
            poster_image = canvas
        _write_jpeg(tmp["poster"], poster_image, 88)
        while len(thumbs) < len(thumb_times):
            thumbs.append(cv2.resize(canvas, (options.thumb_width, thumb_h), interpolation=cv2.INTER_AREA))
        _write_jpeg(tmp["thumbnails"], np.hstack(thumbs), 80)
        for key in final:
            _fsync(tmp[key])
            os.replace(tmp[key], final[key])
    except BaseException:
        try:
            container.close()
        except Exception:  # noqa: BLE001
            pass
        for path in tmp.values():
            path.unlink(missing_ok=True)
        raise

    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    if progress is not None:
        progress(1.0)
    result = {
        "files": {key: path.relative_to(root).as_posix() for key, path in final.items()},
        "duration": round(duration, 3),
        "frames": n_frames,
        "fps": fps,
        "width": options.width,
        "height": options.height,
        "layout": options.layout,
        "roles": roles,
        "thumbnail_times": [round(t, 3) for t in thumb_times],
        "thumbnail_size": [options.thumb_width, thumb_h],
        "wall_seconds": round(wall, 3),
        "cpu_seconds": round(cpu, 3),
        "speed": round(duration / wall, 2) if wall > 0 else None,  # × real time
        "decoded_video_frames": {role: lane.decoded for role, lane in lanes.items()},
    }
    logger.info("composed call %s: %.1f s in %.1f s (%.1f× real time, %.1f s CPU)",
                timeline.call_id, duration, wall, result["speed"] or 0, cpu)
    return result


def _write_jpeg(path: Path, image: np.ndarray, quality: int) -> None:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    path.write_bytes(data.tobytes())


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
