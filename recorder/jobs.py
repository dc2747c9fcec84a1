"""Composition jobs: a call's QA playback file is made in a child process
(``python -m recorder compose-job``, niced, one core), so that decoding and encoding never
compete with the event loop that forwards live media. The job follows its progress (JSON lines
on the child's stdout) and reads the composite record the child registered in the index.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from recorder.compose import ComposeOptions
from recorder.durable import atomic_write_json
from recorder.index import RecordingIndex
from recorder.record import CompositeRecord, RecordingState
from recorder.timeline import CallTimeline, timeline_for_call

logger = logging.getLogger(__name__)


class ComposeJob:
    """An offline composition running in its own process.

    ``progress`` goes 0 → 1; ``state`` is ``queued``, ``running``, ``complete``, ``failed``
    or ``cancelled``; ``await job.wait()`` returns the composite record (JSON). The job owns
    its task, its child process and the reader of the child's stderr."""

    def __init__(self, job_id: str, call_id: str) -> None:
        self.job_id = job_id
        self.call_id = call_id
        self.state = "queued"
        self.progress = 0.0
        self.result: dict[str, Any] | None = None
        self.error: str | None = None
        self.task: asyncio.Task[dict[str, Any]] | None = None
        self._process: asyncio.subprocess.Process | None = None

    def start(self, index: RecordingIndex, slots: asyncio.Semaphore, options: ComposeOptions,
              *, start: float | None, end: float | None, agent_name: str | None,
              timeline: CallTimeline | None, events: Sequence[Mapping[str, Any]] = ()) -> None:
        self.task = asyncio.get_running_loop().create_task(
            self._run(index, slots, options, start, end, agent_name, timeline, events),
            name=f"compose-{self.job_id}")

    async def wait(self) -> dict[str, Any]:
        assert self.task is not None
        return await asyncio.shield(self.task)

    def cancel(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.kill()
        if self.task is not None:
            self.task.cancel()

    def to_dict(self) -> dict[str, Any]:
        return {"job_id": self.job_id, "call_id": self.call_id, "state": self.state,
                "progress": round(self.progress, 3), "error": self.error}

    async def _run(self, index: RecordingIndex, slots: asyncio.Semaphore, opts: ComposeOptions,
                   start: float | None, end: float | None, agent_name: str | None,
                   timeline: CallTimeline | None, events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        try:
            async with slots:
                self.state = "running"
                opts.check()
                if timeline is None:
                    timeline = timeline_for_call(index.records(call_id=self.call_id), self.call_id,
                                                 start=start, end=end, agent_name=agent_name,
                                                 events=events)
                elif timeline.call_id != self.call_id:
                    raise ValueError("the timeline is of another call")
                spec = self._spec_path(index)
                await asyncio.to_thread(atomic_write_json, spec,
                                        {"timeline": timeline.to_dict(), "options": opts.__dict__})
                code, stderr = await self._child(index, spec)
                await asyncio.to_thread(spec.unlink, True)
                record = await asyncio.to_thread(index.refresh, self.job_id, self.call_id)
                if code != 0 or record is None or record.state != RecordingState.COMPLETE:
                    self.state = "failed"
                    self.error = (record.reason if record else None) or stderr.strip()[-500:] \
                        or f"exit {code}"
                    raise RuntimeError(f"composition of call {self.call_id} failed: {self.error}")
                self.state, self.progress = "complete", 1.0
                self.result = record.to_json()
                return self.result
        except asyncio.CancelledError:
            self.state = "cancelled"
            if self._process is not None and self._process.returncode is None:
                self._process.kill()
                await self._process.wait()
            await asyncio.to_thread(self._mark_cancelled, index)
            raise
        except Exception as exc:
            if self.state != "failed":
                self.state, self.error = "failed", str(exc)
            logger.error("compose job %s for call %s failed: %s", self.job_id, self.call_id, exc)
            raise

    async def _child(self, index: RecordingIndex, spec: Path) -> tuple[int, str]:
        """Run the child to its end, following its progress; its exit code and stderr."""
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "recorder", "compose-job",
            "--recordings-dir", str(index.root), "--job", str(spec),
            "--composite-id", self.job_id,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": _pythonpath()},
        )
        self._process = process
        assert process.stdout is not None and process.stderr is not None
        stderr_task = asyncio.get_running_loop().create_task(process.stderr.read())
        try:
            async for line in process.stdout:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if "progress" in event:
                    self.progress = float(event["progress"])
                if event.get("event") == "done":
                    self.result = event.get("result")
            code = await process.wait()
            return code, (await stderr_task).decode(errors="replace")
        finally:
            if not stderr_task.done():
                stderr_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await stderr_task

    def _spec_path(self, index: RecordingIndex) -> Path:
        return index.call_dir(self.call_id, create=False) / f".{self.job_id}.job.json"

    def _mark_cancelled(self, index: RecordingIndex) -> None:
        record = index.refresh(self.job_id, self.call_id)
        if isinstance(record, CompositeRecord) and record.state == RecordingState.COMPOSING:
            record.cancel()
            index.put(record)
        for path in index.call_dir(self.call_id).glob(f"composed/.{self.job_id}.*"):
            path.unlink(missing_ok=True)
        self._spec_path(index).unlink(missing_ok=True)


def _pythonpath() -> str:
    here = str(Path(__file__).resolve().parent.parent)
    existing = os.environ.get("PYTHONPATH")
    return here + (os.pathsep + existing if existing else "")
