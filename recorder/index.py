"""The recordings index: one JSON record per recording, written atomically beside its media.

Layout under ``recordings_dir``::

    <call_id>/<recording_id>.json     the record (a "sidecar"): who, what, when, state
    <call_id>/<recording_id>.webm     the media of one track (.mkv for H.264)
    <call_id>/composed/…              QA playback files made by recorder.compose
    deletions.jsonl                   append-only log of every deletion (retention, erasure)

Every record is rewritten whole with write-to-temp + fsync + ``os.replace`` + fsync of the
directory (:mod:`recorder.durable`), so after a crash a record is either the old or the new
version, never torn. The index keeps the typed records (:mod:`recorder.record`) in memory too
(loaded at start), so listing never touches the disk. ``get``/``list`` serialise them — the
edge; ``record``/``records`` hand out typed copies for the recorder's own use.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from recorder.durable import atomic_write_json, fsync_dir
from recorder.paths import check_id, resolve_inside
from recorder.record import AnyRecord, record_from_json

logger = logging.getLogger(__name__)


class RecordingIndex:
    """All recordings under one directory. Thread-safe: track writers update it from their
    worker threads. Every method but the reads does disk I/O: keep it off the event loop."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.root = Path(os.path.realpath(self.root))
        self._lock = threading.Lock()
        self._records: dict[str, AnyRecord] = {}
        self.reload()

    # paths -------------------------------------------------------------------
    def call_dir(self, call_id: str, create: bool = False) -> Path:
        path = self.root / check_id(call_id, "call id")
        if create:
            path.mkdir(parents=True, exist_ok=True)
        return path

    def record_path(self, call_id: str, recording_id: str) -> Path:
        return self.call_dir(call_id) / f"{check_id(recording_id, 'recording id')}.json"

    def relative(self, path: Path) -> str:
        """The path of a file below the root as stored in records (POSIX, relative)."""
        return Path(os.path.realpath(path)).relative_to(self.root).as_posix()

    def resolve(self, relative: str) -> Path:
        return resolve_inside(self.root, relative)

    def media_path(self, recording_id: str) -> Path | None:
        """The main media file of a recording, resolved safely; None if it has none."""
        with self._lock:
            record = self._records.get(recording_id)
            file = record.file if record is not None else None
        return self.resolve(file) if file else None

    def files_of(self, record: AnyRecord) -> list[Path]:
        """Every file a record owns (media, composed outputs), resolved safely."""
        return [self.resolve(name) for name in record.owned_files()]

    # records -----------------------------------------------------------------
    def reload(self) -> None:
        records: dict[str, AnyRecord] = {}
        for path in sorted(self.root.glob("*/*.json")):
            if path.name.startswith("."):
                continue
            try:
                data = json.loads(path.read_text())
                placed = self.record_path(check_id(data["call_id"], "call id"),
                                          check_id(data["recording_id"], "recording id"))
                if path == placed:
                    record = record_from_json(data)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                logger.warning("skipping unreadable recording record %s: %s", path, exc)
                continue
            if path != placed:
                logger.warning("skipping misplaced recording record %s", path)
                continue
            records[record.recording_id] = record
        with self._lock:
            self._records = records

    def refresh(self, recording_id: str, call_id: str) -> AnyRecord | None:
        """Re-read one record from disk (written by another process, e.g. a compose job)."""
        path = self.record_path(call_id, recording_id)
        try:
            record = record_from_json(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        with self._lock:
            self._records[recording_id] = record
        return record.copy()

    def refresh_call(self, call_id: str) -> list[AnyRecord]:
        """Re-read every record of one call from disk (written by another node's recorder)."""
        found: list[AnyRecord] = []
        for path in sorted(self.call_dir(call_id).glob("*.json")):
            if path.name.startswith("."):
                continue
            record = self.refresh(path.stem, call_id)
            if record is not None:
                found.append(record)
        return found

    def put(self, record: AnyRecord | dict[str, Any]) -> None:
        """Store (create or replace) a record durably. A dict is read as its JSON form."""
        typed = record_from_json(record) if isinstance(record, dict) else record.copy()
        check_id(typed.recording_id, "recording id")
        self.call_dir(typed.call_id, create=True)
        atomic_write_json(self.record_path(typed.call_id, typed.recording_id), typed.to_json())
        with self._lock:
            self._records[typed.recording_id] = typed

    def stage(self, record: AnyRecord) -> None:
        """Show a record in listings before it is on disk (its writer persists it soon)."""
        check_id(record.recording_id, "recording id")
        check_id(record.call_id, "call id")
        with self._lock:
            self._records[record.recording_id] = record.copy()

    def record(self, recording_id: str) -> AnyRecord | None:
        """A typed copy of one record."""
        with self._lock:
            record = self._records.get(recording_id)
            return record.copy() if record is not None else None

    def records(
        self,
        *,
        call_id: str | None = None,
        state: str | Iterable[str] | None = None,
        kind: str | None = None,
        started_after: float | None = None,
        started_before: float | None = None,
        limit: int | None = None,
    ) -> list[AnyRecord]:
        """Typed copies, oldest first by start time (``started_at``, else ``created_at``)."""
        states = {state} if isinstance(state, str) else set(state) if state is not None else None
        with self._lock:
            records = list(self._records.values())
        out = []
        for record in records:
            if call_id is not None and record.call_id != call_id:
                continue
            if states is not None and record.state not in states:
                continue
            if kind is not None and record.kind != kind:
                continue
            if started_after is not None and record.time < started_after:
                continue
            if started_before is not None and record.time >= started_before:
                continue
            out.append(record)
        out.sort(key=lambda r: (r.time, r.recording_id))
        if limit is not None:
            out = out[:limit]
        return [r.copy() for r in out]

    def get(self, recording_id: str) -> dict[str, Any] | None:
        """One record in its JSON form (a copy)."""
        record = self.record(recording_id)
        return record.to_json() if record is not None else None

    def list(self, **filters: Any) -> list[dict[str, Any]]:
        """Records in their JSON form; filters as :meth:`records`."""
        return [r.to_json() for r in self.records(**filters)]

    def remove(self, recording_id: str) -> AnyRecord | None:
        """Delete a record's JSON (call after its files are gone). Returns the old record."""
        with self._lock:
            record = self._records.pop(recording_id, None)
        if record is None:
            return None
        path = self.record_path(record.call_id, recording_id)
        path.unlink(missing_ok=True)
        fsync_dir(path.parent)
        return record
