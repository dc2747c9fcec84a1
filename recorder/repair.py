"""Offline repair after a crash: run at startup, before recording (blocking disk I/O — use
``asyncio.to_thread``).

A ``kill -9`` mid-call leaves track files that play up to about one Matroska cluster before
the kill but have no index or duration, and records that still say ``recording``:
:func:`recover` marks them ``interrupted`` (remuxing the file with an index when asked),
marks compositions left ``composing`` ``failed`` and removes stale temp files.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import av

from recorder.durable import fsync_file
from recorder.index import RecordingIndex
from recorder.record import AnyRecord, RecordingState, TrackRecord

logger = logging.getLogger(__name__)


def probe(path: Path) -> dict[str, Any]:
    """Read a (possibly cut-off) track file to its end: packets, duration, decodability."""
    packets = 0
    last = 0.0
    first: float | None = None
    error = None
    try:
        with av.open(str(path)) as container:
            stream = container.streams[0]
            try:
                for packet in container.demux(stream):
                    if packet.pts is None or packet.size == 0:
                        continue
                    t = float(packet.pts * packet.time_base)
                    first = t if first is None else first
                    end = t + float((packet.duration or 0) * packet.time_base)
                    last = max(last, end)
                    packets += 1
            except av.FFmpegError as exc:  # truncated tail
                error = str(exc)
    except av.FFmpegError as exc:
        return {"packets": 0, "duration": 0.0, "error": str(exc)}
    return {"packets": packets, "duration": round(last - (first or 0.0), 3), "error": error}


def remux(path: Path) -> dict[str, Any]:
    """Rewrite a cut-off file with an index and a duration (stream copy). The original is
    replaced only after the copy is complete and holds every packet the original had."""
    tmp = path.with_name(f".{path.stem}.remux{path.suffix}")
    copied = 0
    with av.open(str(path)) as source:
        in_stream = source.streams[0]
        fmt = "webm" if path.suffix == ".webm" else "matroska"
        with av.open(str(tmp), "w", format=fmt) as target:
            out_stream = target.add_stream_from_template(in_stream)
            try:
                for packet in source.demux(in_stream):
                    if packet.dts is None or packet.size == 0:
                        continue
                    packet.stream = out_stream
                    target.mux(packet)
                    copied += 1
            except av.FFmpegError:
                pass  # the cut-off tail: keep everything before it
    before = probe(path)["packets"]
    if copied < before or copied == 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"remux of {path.name} kept {copied} of {before} packets")
    fsync_file(tmp)
    os.replace(tmp, path)
    return probe(path)


def recover(index: RecordingIndex | str | os.PathLike[str], repair: bool = True,
            active: Iterable[str] = (), writer: str | None = None,
            live_nodes: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Mark what a crash cut off (``index``: a RecordingIndex or the recordings directory);
    never the ``active`` recordings of this process, nor those of another node still writing
    (:func:`written_elsewhere`). Returns the changed records (JSON)."""
    if not isinstance(index, RecordingIndex):
        index = RecordingIndex(index)
    skip = set(active)
    live = set(live_nodes)
    candidates = index.records(state=(RecordingState.RECORDING, RecordingState.COMPOSING))
    busy_calls = {r.call_id for r in candidates if written_elsewhere(r, writer, live)}
    changed: list[AnyRecord] = []
    # temp files (atomic writes, remux copies, job specs, half-written compositions), except in
    # the folders of calls another node is writing now
    for path in list(index.root.glob("*/.*")) + list(index.root.glob("*/composed/.*")):
        call_id = path.parent.name if path.parent.name != "composed" else path.parent.parent.name
        if call_id in busy_calls:
            continue
        if path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)
    for record in candidates:
        if record.recording_id in skip or written_elsewhere(record, writer, live):
            continue
        if record.state == RecordingState.COMPOSING:
            record.fail("interrupted: the server stopped while composing")
        elif isinstance(record, TrackRecord):
            _interrupt_track(index, record, repair)
        index.put(record)
        changed.append(record)
    return [r.to_json() for r in changed]


def written_elsewhere(record: AnyRecord, writer: str | None, live_nodes: set[str]) -> bool:
    """Whether another node may still be writing ``record``: its node is known alive, or
    (nobody said which nodes are alive) it is a node other than ``writer``."""
    node = getattr(record, "node_id", None) or record.extra.get("node_id")
    if node is None or node == writer:
        return False
    if node in live_nodes:
        return True
    return writer is not None and not live_nodes


def _interrupt_track(index: RecordingIndex, record: TrackRecord, repair: bool) -> None:
    info: dict[str, Any] = {"packets": 0, "duration": 0.0}
    if not record.file:  # died between creating the file and noting it
        found = sorted(index.call_dir(record.call_id).glob(f"{record.recording_id}.*"))
        media = [p for p in found if p.suffix in (".webm", ".mkv") and not p.is_symlink()]
        if media:
            record.file = index.relative(media[0])
    path = index.resolve(record.file) if record.file else None
    repaired = False
    if path is not None and path.exists():
        info = probe(path)
        if repair and info["packets"]:
            try:
                info = remux(path)
                repaired = True
            except Exception as exc:  # noqa: BLE001 - keep the original as it is
                logger.warning("could not remux %s: %s", path, exc)
    record.interrupt(frames=info["packets"], duration=info["duration"], repaired=repaired)
    logger.warning("recording %s of call %s was interrupted; %d frames, %.1f s kept",
                   record.recording_id, record.call_id, info["packets"], info["duration"])
