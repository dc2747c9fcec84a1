"""``python -m recorder …``: offline tools over a recordings directory.

    compose   --recordings-dir D --call-id C [--layout side_by_side|pip] [--agent-name N]
              [--start EPOCH --end EPOCH] [--fps 25] [--width 1280 --height 480]
    list      --recordings-dir D [--call-id C] [--state S]
    recover   --recordings-dir D [--no-repair]
    purge     --recordings-dir D --days N
    erase     --recordings-dir D [--call-id C …] [--recording-id R …] [--reason TEXT]

``compose`` (and ``compose-job``, which :meth:`Recorder.compose` runs) prints progress as
JSON lines on stdout — ``{"progress": 0.42}`` … ``{"event": "done", "result": {…}}`` — and
registers the composed files in the index as a ``composite`` record.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from media.clock import SystemClock
from recorder.compose import ComposeOptions, compose_call
from recorder.index import RecordingIndex
from recorder.paths import new_id
from recorder.record import CompositeRecord
from recorder.repair import recover
from recorder.retention import erase, purge_expired
from recorder.timeline import CallTimeline, timeline_for_call


def _emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def run_compose(index: RecordingIndex, timeline: CallTimeline, options: ComposeOptions,
                composite_id: str) -> dict[str, Any]:
    """Compose and register the result as a ``composite`` record (composing → complete)."""
    out_dir = index.call_dir(timeline.call_id, create=True) / "composed"
    record = CompositeRecord(
        recording_id=composite_id, call_id=timeline.call_id, created_at=SystemClock().now(),
        started_at=timeline.start, ended_at=timeline.end, duration=round(timeline.duration, 3),
        layout=options.layout, sources=[s.recording_id for s in timeline.segments])
    index.put(record)
    last = [0.0]

    def progress(fraction: float) -> None:
        if fraction >= 1.0 or fraction - last[0] >= 0.02:
            last[0] = fraction
            _emit({"progress": round(fraction, 3)})

    try:
        result = compose_call(index.root, timeline, out_dir, composite_id, options, progress)
    except Exception as exc:
        record.fail(f"{type(exc).__name__}: {exc}")
        index.put(record)
        raise
    files = result["files"]
    record.complete(files, result, sum(index.resolve(f).stat().st_size for f in files.values()))
    index.put(record)
    return record.to_json()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recorder")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--recordings-dir", type=Path, required=True)
        p.add_argument("--log-level", default="WARNING")

    compose = sub.add_parser("compose", help="compose a call's QA playback file")
    common(compose)
    compose.add_argument("--call-id", required=True)
    compose.add_argument("--layout", choices=("side_by_side", "pip"), default="side_by_side")
    compose.add_argument("--pip-main", default="shopper")
    compose.add_argument("--agent-name")
    compose.add_argument("--start", type=float)
    compose.add_argument("--end", type=float)
    compose.add_argument("--fps", type=int, default=25)
    compose.add_argument("--width", type=int, default=1280)
    compose.add_argument("--height", type=int, default=480)
    compose.add_argument("--threads", type=int, default=1)

    job = sub.add_parser("compose-job", help="(internal) run a job spec written by Recorder")
    common(job)
    job.add_argument("--job", type=Path, required=True)
    job.add_argument("--composite-id", required=True)

    listing = sub.add_parser("list", help="list recordings as JSON")
    common(listing)
    listing.add_argument("--call-id")
    listing.add_argument("--state")

    rec = sub.add_parser("recover", help="mark recordings cut off by a crash interrupted")
    common(rec)
    rec.add_argument("--no-repair", action="store_true")

    purge = sub.add_parser("purge", help="delete recordings older than N days")
    common(purge)
    purge.add_argument("--days", type=float, required=True)

    er = sub.add_parser("erase", help="delete recordings by call or recording id")
    common(er)
    er.add_argument("--call-id", action="append", default=[])
    er.add_argument("--recording-id", action="append", default=[])
    er.add_argument("--reason", default="erasure request")

    args = parser.parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level.upper(), logging.WARNING),
                        stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    index = RecordingIndex(args.recordings_dir)

    if args.command in ("compose", "compose-job"):
        try:
            os.nice(10)  # QA work yields to live media
        except OSError:
            pass
        if args.command == "compose":
            options = ComposeOptions(layout=args.layout, pip_main=args.pip_main, fps=args.fps,
                                     width=args.width, height=args.height, threads=args.threads)
            timeline = timeline_for_call(index.records(call_id=args.call_id), args.call_id,
                                         start=args.start, end=args.end,
                                         agent_name=args.agent_name)
            composite_id = new_id("m")
        else:
            spec = json.loads(args.job.read_text())
            options = ComposeOptions(**spec["options"])
            timeline = CallTimeline.from_dict(spec["timeline"])
            composite_id = args.composite_id
        try:
            record = run_compose(index, timeline, options, composite_id)
        except Exception as exc:
            _emit({"event": "failed", "error": f"{type(exc).__name__}: {exc}"})
            logging.getLogger("recorder").exception("composition failed")
            return 1
        _emit({"event": "done", "result": record})
        return 0
    if args.command == "list":
        _emit({"recordings": index.list(call_id=args.call_id, state=args.state)})
        return 0
    if args.command == "recover":
        changed = recover(index, repair=not args.no_repair)
        _emit({"interrupted": [r["recording_id"] for r in changed]})
        return 0
    if args.command == "purge":
        _emit({"deleted": purge_expired(index, args.days)})
        return 0
    if args.command == "erase":
        _emit({"deleted": erase(index, call_ids=args.call_id, recording_ids=args.recording_id,
                                reason=args.reason)})
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
