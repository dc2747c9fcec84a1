"""Retention and erasure: recordings are deleted when they expire or on request.

Every deletion is logged (the ``recorder.retention`` logger) and appended, fsynced, to
``<recordings_dir>/deletions.jsonl`` — who was deleted, when, why, which files — so a
compliance audit can show that an erasure request was honoured. Files are removed before
their record, so a crash mid-way leaves a record whose files are (partly) gone, and the next
run finishes the job. Files are resolved with :func:`recorder.index.resolve_inside`: a
tampered record cannot make us delete anything outside the recordings directory.

All functions here do blocking disk I/O: call them from a thread (``RetentionTask`` does).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from recorder.index import RecordingIndex, UnsafePath, check_id, record_time

logger = logging.getLogger(__name__)

DELETIONS_LOG = "deletions.jsonl"
LIVE_STATES = ("recording", "composing")


def _journal(index: RecordingIndex, entry: dict[str, Any]) -> None:
    line = (json.dumps(entry, sort_keys=True) + "\n").encode()
    fd = os.open(index.root / DELETIONS_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def delete_recording(index: RecordingIndex, record: dict[str, Any], reason: str) -> bool:
    """Delete one recording's files and record; log and journal it."""
    removed = []
    try:
        paths = index.files_of(record)
    except UnsafePath as exc:
        logger.error("recording %s has an unsafe path, deleting its record only: %s",
                     record.get("recording_id"), exc)
        paths = []
    for path in paths:
        try:
            path.unlink()
            removed.append(path.name)
        except FileNotFoundError:
            pass
    _journal(index, {
        "at": time.time(),
        "recording_id": record["recording_id"],
        "call_id": record["call_id"],
        "kind": record.get("kind"),
        "started_at": record.get("started_at"),
        "reason": reason,
        "files": removed,
    })
    index.remove(record["recording_id"])
    call_dir = index.call_dir(record["call_id"])
    for directory in (call_dir / "composed", call_dir):
        try:
            directory.rmdir()  # only when empty
        except OSError:
            pass
    logger.info("deleted recording %s of call %s (%s): %s", record["recording_id"],
                record["call_id"], record.get("kind"), reason)
    return True


def purge_expired(index: RecordingIndex, max_age_days: float, now: float | None = None,
                  active: Iterable[str] = ()) -> list[str]:
    """Delete recordings that started more than ``max_age_days`` ago — never the ``active``
    ones (being written by this process) nor, for a day past the cutoff, any still marked
    ``recording``/``composing`` (another process may be writing them)."""
    if max_age_days <= 0:
        raise ValueError("max_age_days must be positive")
    cutoff = (now if now is not None else time.time()) - max_age_days * 86400
    skip = set(active)
    deleted = []
    for record in index.list(started_before=cutoff):
        if record["recording_id"] in skip:
            continue
        if record.get("state") in LIVE_STATES and record_time(record) > cutoff - 86400:
            continue
        delete_recording(index, record, f"retention: older than {max_age_days:g} days")
        deleted.append(record["recording_id"])
    if deleted:
        logger.info("retention: deleted %d recordings older than %g days", len(deleted),
                    max_age_days)
    return deleted


def erase(index: RecordingIndex, *, call_ids: Iterable[str] = (),
          recording_ids: Iterable[str] = (), reason: str = "erasure request") -> list[str]:
    """Delete the given recordings and every recording of the given calls (including their
    composed files). For a customer's erasure request the server maps the customer to their
    call ids. Stop live recordings first (``Recorder.erase`` does)."""
    wanted = {check_id(r, "recording id") for r in recording_ids}
    calls = {check_id(c, "call id") for c in call_ids}
    deleted = []
    for record in index.list():
        if record["recording_id"] in wanted or record["call_id"] in calls:
            delete_recording(index, record, reason)
            deleted.append(record["recording_id"])
    missing = wanted - set(deleted)
    if missing:
        logger.info("erasure: no recordings %s", sorted(missing))
    return deleted


class RetentionTask:
    """Runs :func:`purge_expired` every ``interval`` seconds (first run right away).

    ``start()`` on the event loop when the server starts, ``await stop()`` when it stops."""

    def __init__(self, index: RecordingIndex, max_age_days: float, interval: float = 3600.0,
                 active: Callable[[], Iterable[str]] | None = None) -> None:
        if max_age_days <= 0:
            raise ValueError("max_age_days must be positive")
        self.index = index
        self.active = active
        self.max_age_days = max_age_days
        self.interval = interval
        self.runs = 0
        self.deleted = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._loop(),
                                                                name="recording-retention")

    async def run_once(self) -> list[str]:
        active = set(self.active()) if self.active is not None else set()
        deleted = await asyncio.to_thread(purge_expired, self.index, self.max_age_days, None, active)
        self.runs += 1
        self.deleted += len(deleted)
        return deleted

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - try again next time
                logger.exception("retention run failed")
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
