"""Offline composition of a call's per-track recordings into one QA playback file.

Input: the call's track files (one per participant, kind and segment) placed on the call's
clock by a :class:`~recorder.timeline.CallTimeline`. Output, in
``<recordings_dir>/<call_id>/composed/``: ``<id>.mp4`` (:mod:`recorder.mp4`: H.264 + AAC,
faststart), ``<id>.poster.jpg`` and ``<id>.thumbs.jpg``.

The output is rendered frame by frame on the call clock (:mod:`recorder.render`, with the
timeline's annotation marks on the tiles they were drawn on) from the
track files read forward along it (:mod:`recorder.lanes`): a tile shows the latest frame at
or before the output time, held for ``hold_last`` seconds across gaps, then black; missing
audio is silence.

Run it in its own process (``python -m recorder compose …`` or ``Recorder.compose``): it is
CPU-bound. ``threads=1`` (the default) keeps it to one core so that it never competes with
the live SFU for more than that; the CLI also lowers its priority.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from media.annotation import AnnotationLayer
from recorder.lanes import AUDIO_RATE, Mixer, VideoLane
from recorder.mp4 import Mp4Output, Stills, move_into_place
from recorder.paths import check_id
from recorder.render import LAYOUTS, Renderer, ascii_text
from recorder.timeline import CallTimeline, Segment, timeline_for_call

logger = logging.getLogger(__name__)

ROLE_ORDER = ("shopper", "agent")
AUDIO_BLOCK = 1024  # samples per AAC frame

__all__ = ["CallTimeline", "ComposeOptions", "Segment", "compose_call", "timeline_for_call"]


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


def _roles(timeline: CallTimeline) -> list[str]:
    video_roles = {s.role for s in timeline.segments if s.kind == "video"}
    all_roles = {s.role for s in timeline.segments}
    roles = [r for r in ROLE_ORDER if r in all_roles]
    return roles + sorted(r for r in video_roles if r not in ROLE_ORDER)


def _out_dir(root: Path, out_dir: str | os.PathLike[str]) -> Path:
    path = Path(out_dir)
    path.mkdir(parents=True, exist_ok=True)
    path = Path(os.path.realpath(path))
    if root not in path.parents:
        raise ValueError("the output directory must be inside the recordings directory")
    return path


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
    out = _out_dir(root, out_dir)
    if timeline.duration <= 0:
        raise ValueError("the call has no duration")

    wall0, cpu0 = time.perf_counter(), time.process_time()
    roles = _roles(timeline)
    lanes = {role: VideoLane(root, role, [s for s in timeline.segments
                                          if s.kind == "video" and s.role == role], options.threads)
             for role in roles}
    mixer = Mixer(root, [s for s in timeline.segments if s.kind == "audio"])
    agent = f"  |  Agent {ascii_text(timeline.agent_name)}" if timeline.agent_name else ""
    renderer = Renderer(options.layout, options.width, options.height, roles,
                        pip_main=options.pip_main, header=f"Call {timeline.call_id}{agent}",
                        burn_in=options.burn_in,
                        annotations=AnnotationLayer(timeline.annotations, timeline.start))

    final = {"video": out / f"{name}.mp4", "poster": out / f"{name}.poster.jpg",
             "thumbnails": out / f"{name}.thumbs.jpg"}
    tmp = {key: path.with_name(f".{path.stem}.tmp{path.suffix}") for key, path in final.items()}

    fps = options.fps
    duration = timeline.duration
    n_frames = max(1, round(duration * fps))
    total_samples = round(duration * AUDIO_RATE)
    thumb_h = max(2, round(options.thumb_width * options.height / options.width) & ~1)
    stills = Stills(duration, options.thumbnails, options.thumb_width, thumb_h)

    def tile(role: str, w: int, h: int) -> np.ndarray | None:
        return lanes[role].tile(t, options.hold_last, w, h)

    def picture(role: str) -> tuple[int, int, int, int] | None:
        return lanes[role].picture

    output = Mp4Output(tmp["video"], width=options.width, height=options.height, fps=fps,
                       crf=options.crf, preset=options.preset, threads=options.threads,
                       audio_rate=AUDIO_RATE, audio_bitrate=options.audio_bitrate)
    try:
        audio_done = 0
        last_report = -1.0
        for k in range(n_frames):
            t = k / fps
            all_live = renderer.draw(t, timeline.start + t, timeline.paused_at(t), tile, picture)
            stills.offer(t, renderer.canvas, all_live, fps)
            output.picture(k, renderer.canvas)

            last = k == n_frames - 1
            target = total_samples if last else min(total_samples, round((k + 1) * AUDIO_RATE / fps))
            while audio_done + AUDIO_BLOCK <= target or (last and audio_done < target):
                count = min(AUDIO_BLOCK, target - audio_done)
                samples = mixer.read(count)
                if count < AUDIO_BLOCK:  # the encoder takes whole frames: pad the very last one
                    samples = np.concatenate([samples, np.zeros(AUDIO_BLOCK - count, np.float32)])
                output.audio(audio_done, samples)
                audio_done += count

            if progress is not None:
                fraction = (k + 1) / n_frames
                if fraction - last_report >= 0.01:
                    last_report = fraction
                    progress(min(fraction, 0.99))

        decoded_audio = sum(source.decoded for source in mixer.sources)
        if not decoded_audio and not any(lane.decoded for lane in lanes.values()):
            raise RuntimeError("no media could be decoded from the call's recordings")
        output.close()
        stills.write(tmp["poster"], tmp["thumbnails"], renderer.canvas)
        move_into_place(tmp, final)
    except BaseException:
        output.abandon()
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
        "thumbnail_times": [round(t, 3) for t in stills.times],
        "thumbnail_size": [options.thumb_width, thumb_h],
        "wall_seconds": round(wall, 3),
        "cpu_seconds": round(cpu, 3),
        "speed": round(duration / wall, 2) if wall > 0 else None,  # × real time
        "decoded_video_frames": {role: lane.decoded for role, lane in lanes.items()},
    }
    logger.info("composed call %s: %.1f s in %.1f s (%.1f× real time, %.1f s CPU)",
                timeline.call_id, duration, wall, result["speed"] or 0, cpu)
    return result
