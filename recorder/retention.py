"""Retention and erasure: recordings are deleted when they expire or on request.

Every deletion is logged (the ``recorder.retention`` logger) and appended, fsynced, to
``<recordings_dir>/deletions.jsonl`` — who was deleted, when, why, which files — so a
compliance audit can show that an erasure request was honoured. Files are removed before
their record, so a crash mid-way leaves a record whose files are (partly) gone, and the next
run finishes the job. Files are resolved with :func:`recorder.paths.resolve_inside`: a
tampered record cannot make us delete anything outside the recordings directory.

The functions do blocking disk I/O: call them from a thread (``RetentionTask`` does). Ages
and journal times come from the injected :class:`~media.clock.Clock`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from media.clock import Clock, SystemClock
from recorder.durable import append_json_line
from recorder.index import RecordingIndex
from recorder.paths import UnsafePath, check_id
from recorder.record import AnyRecord

logger = logging.getLogger(__name__)

DELETIONS_LOG = "deletions.jsonl"
_SYSTEM_CLOCK = SystemClock()


def delete_recording(index: RecordingIndex, record: AnyRecord, reason: str,
                     clock: Clock = _SYSTEM_CLOCK) -> bool:
    """Delete one recording's files and record; log and journal it."""
    removed = []
    try:
        paths = index.files_of(record)
    except UnsafePath as exc:
        logger.error("recording %s has an unsafe path, deleting its record only: %s",
                     record.recording_id, exc)
        paths = []
    for path in paths:
        try:
            path.unlink()
            removed.append(path.name)
        except FileNotFoundError:
            pass
    append_json_line(index.root / DELETIONS_LOG, {
        "at": clock.now(),
        "recording_id": record.recording_id,
        "call_id": record.call_id,
        "kind": record.kind,
        "started_at": record.started_at,
        "reason": reason,
        "files": removed,
    })
    index.remove(record.recording_id)
    call_dir = index.call_dir(record.call_id)
    for directory in (call_dir / "composed", call_dir):
        try:
            directory.rmdir()  # only when empty
        except OSError:
            pass
    logger.info("deleted recording %s of call %s (%s): %s", record.recording_id,
                record.call_id, record.kind, reason)
    return True


def purge_expired(index: RecordingIndex, max_age_days: float, now: float | None = None,
                  active: Iterable[str] = (), clock: Clock = _SYSTEM_CLOCK) -> list[str]:
    """Delete recordings that started more than ``max_age_days`` ago — never the ``active``
    ones (being written by this process) nor, for a day past the cutoff, any still marked
    ``recording``/``composing`` (another process may be writing them)."""
    if max_age_days <= 0:
        raise ValueError("max_age_days must be positive")
    cutoff = (now if now is not None else clock.now()) - max_age_days * 86400
    skip = set(active)
    deleted = []
    for record in index.records(started_before=cutoff):
        if record.recording_id in skip:
            continue
        if record.live and record.time > cutoff - 86400:
            continue
        delete_recording(index, record, f"retention: older than {max_age_days:g} days", clock)
        deleted.append(record.recording_id)
    if deleted:
        logger.info("retention: deleted %d recordings older than %g days", len(deleted),
                    max_age_days)
    return deleted


def erase(index: RecordingIndex, *, call_ids: Iterable[str] = (),
          recording_ids: Iterable[str] = (), reason: str = "erasure request",
          clock: Clock = _SYSTEM_CLOCK) -> list[str]:
    """Delete the given recordings and every recording of the given calls (including their
    composed files). For a customer's erasure request the server maps the customer to their
    call ids. Stop live recordings first (``Recorder.erase`` does)."""
    wanted = {check_id(r, "recording id") for r in recording_ids}
    calls = {check_id(c, "call id") for c in call_ids}
    deleted = []
    for record in index.records():
        if record.recording_id in wanted or record.call_id in calls:
            delete_recording(index, record, reason, clock)
            deleted.append(record.recording_id)
    missing = wanted - set(deleted)
    if missing:
        logger.info("erasure: no recordings %s", sorted(missing))
    return deleted


class RetentionTask:
    """Runs :func:`purge_expired` every ``interval`` seconds (first run right away).

    ``start()`` on the event loop when the server starts, ``await stop()`` when it stops: the
    task is its own, cancelled and awaited there."""

    def __init__(self, index: RecordingIndex, max_age_days: float, interval: float = 3600.0,
                 active: Callable[[], Iterable[str]] | None = None,
                 clock: Clock = _SYSTEM_CLOCK) -> None:
        if max_age_days <= 0:
            raise ValueError("max_age_days must be positive")
        self.index = index
        self.active = active
        self.max_age_days = max_age_days
        self.interval = interval
        self.clock = clock
        self.runs = 0
        self.deleted = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._loop(),
                                                                name="recording-retention")

    async def run_once(self) -> list[str]:
        active = set(self.active()) if self.active is not None else set()
        now = self.clock.now()
        deleted = await asyncio.to_thread(purge_expired, self.index, self.max_age_days, now, active,
                                          self.clock)
        self.runs += 1
        self.deleted += len(deleted)
        return deleted

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("retention run failed")
            await self.clock.sleep(self.interval)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
