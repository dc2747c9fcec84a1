"""The recordings index: one JSON record per recording, written atomically beside its media.

Layout under ``recordings_dir``::

    <call_id>/<recording_id>.json     the record (a "sidecar"): who, what, when, state
    <call_id>/<recording_id>.webm     the media of one track (.mkv for H.264)
    <call_id>/composed/…              QA playback files made by recorder.compose
    deletions.jsonl                   append-only log of every deletion (retention, erasure)

Every record is rewritten whole with write-to-temp + fsync + ``os.replace`` + fsync of the
directory, so after a crash a record is either the old or the new version, never torn. The
index keeps the records in memory too (loaded at start), so listing never touches the disk.

Record states: ``recording`` → ``complete`` | ``failed``; a record still ``recording`` when a
new process starts was cut off by a crash and becomes ``interrupted`` (see
:func:`recorder.recorder.Recorder.recover`). Composed files use ``composing`` → ``complete`` |
``failed``.

Paths are never trusted: ids are checked against a strict pattern, and
:func:`resolve_inside` resolves a stored relative path only inside the recordings directory
(no absolute paths, no ``..``, no symlink that leads out).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import uuid
from collections.abc import Iterable
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

logger = logging.getLogger(__name__)

STATES = ("recording", "complete", "failed", "interrupted", "composing")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


class UnsafePath(ValueError):
    """A path or id that would leave the recordings directory (or is malformed)."""


def check_id(value: Any, what: str = "id") -> str:
    """Return ``value`` if it is a safe id (letters, digits, ``_``, ``-``; ≤ 128), else raise."""
    if not isinstance(value, str) or not _ID.match(value):
        raise UnsafePath(f"invalid {what}: {value!r}")
    return value


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


def resolve_inside(root: str | os.PathLike[str], relative: str | os.PathLike[str]) -> Path:
    """Resolve ``relative`` (a path stored in a record, or taken from a request) strictly
    inside ``root``. Rejects empty, absolute, drive-letter, backslash, NUL and ``..`` paths,
    and any path whose real location (symlinks followed) is not below ``root``'s real
    location. The file need not exist."""
    text = os.fspath(relative)
    if not isinstance(text, str) or not text or "\x00" in text or "\\" in text:
        raise UnsafePath(f"unsafe path: {text!r}")
    pure = PurePosixPath(text)
    if pure.is_absolute() or PureWindowsPath(text).drive or text.startswith("~"):
        raise UnsafePath(f"absolute path not allowed: {text!r}")
    if any(part in ("..", ".") for part in text.split("/")) or "" in text.split("/")[:-1]:
        raise UnsafePath(f"path traversal not allowed: {text!r}")
    real_root = os.path.realpath(root)
    candidate = os.path.realpath(os.path.join(real_root, *pure.parts))
    if candidate == real_root or os.path.commonpath([real_root, candidate]) != real_root:
        raise UnsafePath(f"path leaves the recordings directory: {text!r}")
    return Path(candidate)


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` so that a crash leaves the old or the new file."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    payload = json.dumps(data, indent=1, sort_keys=True).encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    try:
        os.write(fd, payload)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


class RecordingIndex:
    """All recordings under one directory. Thread-safe: track writers update it from their
    worker threads. Every method but the reads does disk I/O: keep it off the event loop."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.root = Path(os.path.realpath(self.root))
        self._lock = threading.Lock()
        self._records: dict[str, dict[str, Any]] = {}
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
        record = self.get(recording_id)
        if record is None or not record.get("file"):
            return None
        return self.resolve(record["file"])

    def files_of(self, record: dict[str, Any]) -> list[Path]:
        """Every file a record owns (media, composed outputs), resolved safely."""
        names = list(record.get("files") or [])
        if record.get("file") and record["file"] not in names:
            names.append(record["file"])
        return [self.resolve(name) for name in names]

    # records -----------------------------------------------------------------
    def reload(self) -> None:
        records: dict[str, dict[str, Any]] = {}
        for path in sorted(self.root.glob("*/*.json")):
            if path.name.startswith("."):
                continue
            try:
                record = json.loads(path.read_text())
                check_id(record["recording_id"], "recording id")
                check_id(record["call_id"], "call id")
            except (OSError, ValueError, KeyError, TypeError) as exc:
                logger.warning("skipping unreadable recording record %s: %s", path, exc)
                continue
            if path != self.record_path(record["call_id"], record["recording_id"]):
                logger.warning("skipping misplaced recording record %s", path)
                continue
            records[record["recording_id"]] = record
        with self._lock:
            self._records = records

    def refresh(self, recording_id: str, call_id: str) -> dict[str, Any] | None:
        """Re-read one record from disk (written by another process, e.g. a compose job)."""
        path = self.record_path(call_id, recording_id)
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        with self._lock:
            self._records[recording_id] = record
        return dict(record)

    def put(self, record: dict[str, Any]) -> None:
        """Store (create or replace) a record durably."""
        recording_id = check_id(record.get("recording_id"), "recording id")
        call_id = check_id(record.get("call_id"), "call id")
        if record.get("state") not in STATES:
            raise ValueError(f"unknown recording state {record.get('state')!r}")
        snapshot = json.loads(json.dumps(record))
        self.call_dir(call_id, create=True)
        atomic_write_json(self.record_path(call_id, recording_id), snapshot)
        with self._lock:
            self._records[recording_id] = snapshot

    def stage(self, record: dict[str, Any]) -> None:
        """Show a record in listings before it is on disk (its writer persists it soon)."""
        check_id(record.get("recording_id"), "recording id")
        check_id(record.get("call_id"), "call id")
        with self._lock:
            self._records[record["recording_id"]] = json.loads(json.dumps(record))

    def get(self, recording_id: str) -> dict[str, Any] | None:
        with self._lock:
            record = self._records.get(recording_id)
            return json.loads(json.dumps(record)) if record is not None else None

    def list(
        self,
        *,
        call_id: str | None = None,
        state: str | Iterable[str] | None = None,
        kind: str | None = None,
        started_after: float | None = None,
        started_before: float | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Records, oldest first by start time (``started_at``, else ``created_at``)."""
        states = {state} if isinstance(state, str) else set(state) if state is not None else None
        with self._lock:
            records = list(self._records.values())
        out = []
        for record in records:
            if call_id is not None and record.get("call_id") != call_id:
                continue
            if states is not None and record.get("state") not in states:
                continue
            if kind is not None and record.get("kind") != kind:
                continue
            started = record_time(record)
            if started_after is not None and started < started_after:
                continue
            if started_before is not None and started >= started_before:
                continue
            out.append(record)
        out.sort(key=lambda r: (record_time(r), r["recording_id"]))
        if limit is not None:
            out = out[:limit]
        return json.loads(json.dumps(out))

    def remove(self, recording_id: str) -> dict[str, Any] | None:
        """Delete a record's JSON (call after its files are gone). Returns the old record."""
        with self._lock:
            record = self._records.pop(recording_id, None)
        if record is None:
            return None
        path = self.record_path(record["call_id"], recording_id)
        path.unlink(missing_ok=True)
        fsync_dir(path.parent)
        return record


def record_time(record: dict[str, Any]) -> float:
    value = record.get("started_at") or record.get("created_at") or 0.0
    return float(value)
