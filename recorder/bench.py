"""``python -m recorder bench``: measure recording cost and composition speed.

Synthesises a two-party call (VP8 video of ``size`` at 30 fps and 20 ms Opus per party, the
second party joining half a second later), records it through the real sink path
(``TrackRecording.on_frame`` → worker threads → WebM), then composes it on one core and
prints JSON: the event-loop cost of ``on_frame`` per frame, and the composition speed in ×
real time, by wall clock and by CPU time (CPU time is the fair figure on a busy machine).
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from media.avsync import beep_signal, encode_opus, encode_vp8, flash_image
from media.encoded import EncodedFrame, is_keyframe
from recorder.compose import ComposeOptions, compose_call
from recorder.recorder import Recorder
from recorder.timeline import timeline_for_call


async def _record(root: Path, seconds: float, width: int, height: int) -> tuple[Recorder, float, dict]:
    recorder = Recorder(root)
    call_id = "c_bench"
    frames = int(seconds * 30)
    video = encode_vp8((flash_image(width, height, i, i % 60 == 0) for i in range(frames)),
                       fps=30, keyframe_interval=60, bitrate=1_000_000)
    audio = encode_opus(beep_signal(seconds, [float(t) for t in range(1, int(seconds))]))
    base = time.monotonic()
    events = []
    for role, offset in (("shopper", 0.0), ("agent", 0.5)):
        v = recorder.start_track(call_id, f"p-{role}", role, "video", "VP8")
        a = recorder.start_track(call_id, f"p-{role}", role, "audio", "opus")
        events += [(offset + i / 30, v, EncodedFrame("video", "VP8", d, i * 3000, 90000,
                                                     is_keyframe("VP8", d))) for i, d in enumerate(video)]
        events += [(offset + i * 0.02, a, EncodedFrame("audio", "opus", d, i * 960, 48000, True))
                   for i, d in enumerate(audio)]
    events.sort(key=lambda e: e[0])
    spent = 0.0
    fed = 0.0
    for t, sink, frame in events:
        frame.received_at = base + t
        t0 = time.perf_counter()
        sink.on_frame(frame)
        spent += time.perf_counter() - t0
        if t - fed >= 0.1:
            fed = t
            await asyncio.sleep(0.002)
    await recorder.finish(call_id)
    stats = {"frames": len(events), "on_frame_us": round(spent / len(events) * 1e6, 2)}
    return recorder, base + recorder.wall_offset, stats


def run(seconds: float = 60.0, size: str = "640x480", options: ComposeOptions | None = None) -> dict[str, Any]:
    width, height = (int(x) for x in size.split("x"))
    options = options or ComposeOptions()
    with tempfile.TemporaryDirectory(prefix="recorder-bench-") as tmp:
        recorder, t0, stats = asyncio.run(_record(Path(tmp), seconds, width, height))
        timeline = timeline_for_call(recorder.index.records(call_id="c_bench"), "c_bench",
                                     start=t0, end=t0 + seconds + 0.5, agent_name="Bench Agent")
        before = resource.getrusage(resource.RUSAGE_SELF)
        result = compose_call(recorder.root, timeline, recorder.index.call_dir("c_bench") / "composed",
                              "m_bench", options)
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        size_bytes = recorder.resolve(result["files"]["video"]).stat().st_size
    return {
        "call_seconds": result["duration"],
        "input": f"2 x VP8 {size} 30 fps + 2 x Opus",
        "output": f"H.264 {options.width}x{options.height} {options.fps} fps ({options.preset}, "
                  f"crf {options.crf}) + AAC, {options.layout}",
        "threads": options.threads,
        "record_on_frame_us": stats["on_frame_us"],
        "compose_wall_seconds": result["wall_seconds"],
        "compose_cpu_seconds": round(cpu, 2),
        "speed_wall_x_realtime": result["speed"],
        "speed_cpu_x_realtime": round(result["duration"] / cpu, 2) if cpu else None,
        "output_bytes": size_bytes,
    }


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m recorder.bench")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--preset", default=ComposeOptions.preset)
    parser.add_argument("--fps", type=int, default=ComposeOptions.fps)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.seconds, args.size, ComposeOptions(preset=args.preset, fps=args.fps)),
                     indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
