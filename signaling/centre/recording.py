"""Recording policy and consent for calls: when to record, the indicator, pause/resume.

The per-queue policy is ``always``, ``ask`` (the shopper is asked; the answer is stored with
the call) or ``never``. Recording attaches the recorder's sinks to every publisher of the
call's shopper and agent (a returning party's new publisher gets a new segment; a call whose
media moves to a new room closes every track as a complete segment first, ``end_segment``) and
asks for a keyframe so each file starts cleanly. When the call ends the files are finalised and a
composition job makes the QA playback file in the background.

Signaling talks to the recorder through the small ``RecorderPort`` interface; the composition
root hands it the real ``recorder.Recorder``.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from media.encoded import EncodedSink
from sfu import Participant
from sfu.publisher import Publisher
from sfu.tasks import TaskSet
from signaling.auth import Role
from signaling.centre.call import Call, Party
from signaling.errors import ErrorCode, SignalingError
from signaling.server_messages import RecordingConsentRequest, RecordingState
from signaling.state.store import StateStore

logger = logging.getLogger(__name__)


class ComposeJobPort(Protocol):
    """A QA composition under way (``recorder.jobs.ComposeJob``)."""

    state: str  # queued | running | complete | failed
    progress: float  # 0 → 1

    async def wait(self) -> dict[str, Any]: ...
    def to_dict(self) -> dict[str, Any]: ...


class RecorderPort(Protocol):
    """What the contact centre asks of the recorder (``recorder.Recorder``): a track is an
    ``EncodedSink`` the SFU's publisher feeds."""

    def start_track(self, call_id: str, participant_id: str, role: str, kind: str,
                    codec: str | None = None, *,
                    request_keyframe: Callable[[], None] | None = None) -> EncodedSink: ...
    def pause(self, call_id: str, at: float | None = None) -> None: ...
    def resume(self, call_id: str, at: float | None = None) -> None: ...
    def is_paused(self, call_id: str) -> bool: ...
    async def stop_track(self, track: Any) -> dict[str, Any]: ...  # the sink start_track gave
    async def finish(self, call_id: str) -> list[dict[str, Any]]: ...
    def compose(self, call_id: str, *, start: float | None = None, end: float | None = None,
                agent_name: str | None = None, layout: str | None = None,
                events: Sequence[Mapping[str, Any]] = ()) -> ComposeJobPort: ...
    def list(self, **filters: Any) -> builtins.list[dict[str, Any]]: ...
    def resolve(self, relative: str) -> Path: ...
    async def erase(self, *, call_ids: builtins.list[str] = ..., recording_ids: builtins.list[str] = ...,
                    reason: str = ...) -> builtins.list[str]: ...


@dataclass
class _Active:
    recording: bool = False  # whether it is paused, the recorder knows (is_paused)
    sinks: dict[int, tuple[Publisher, EncodedSink]] = field(default_factory=dict)
    finished: list[dict[str, Any]] = field(default_factory=list)  # segments closed before the end


class RecordingService:
    def __init__(self, recorder: RecorderPort, store: StateStore, clock: Callable[[], float],
                 layout: str = "side_by_side") -> None:
        self.recorder = recorder
        self.store = store
        self.clock = clock
        self.layout = layout
        self.calls: dict[str, _Active] = {}
        self.jobs: dict[str, ComposeJobPort] = {}
        self._tasks = TaskSet("recording")

    # ---- lifecycle hooks (called by the CallService) -----------------------------------
    async def call_answered(self, call: Call, policy: str) -> None:
        if call.call_id in self.calls:
            return  # a transfer: already decided for this call
        self.calls[call.call_id] = _Active()
        if policy == "always":
            await self._start(call, consent=None)
        elif policy == "ask":
            await self._event(call.call_id, "recording_consent_asked")
            if call.shopper.session is not None:
                call.shopper.session.send(RecordingConsentRequest(call_id=call.call_id))

    def carry_on(self, call: Call, recorded: bool) -> None:
        """A call rebuilt by a new centre (the lease moved): recording as its record says, so
        the publishers of its next room are tapped as the next segment."""
        self.calls.setdefault(call.call_id, _Active(recording=recorded))

    async def consent(self, call: Call, granted: bool) -> None:
        active = self.calls.get(call.call_id)
        if active is None:
            raise SignalingError(ErrorCode.INVALID_STATE, "this call is not being asked for consent")
        await self.store.update_call(call.call_id, {"recording_consent": granted})
        await self._event(call.call_id, "recording_consent", granted=granted)
        if granted and not active.recording:
            await self._start(call, consent=True)
        elif not granted:
            self._tell(call, "off", reason="declined")

    async def _start(self, call: Call, consent: bool | None) -> None:
        active = self.calls[call.call_id]
        active.recording = True
        await self.store.update_call(call.call_id, {"recorded": True})
        await self._event(call.call_id, "recording_started")
        self._tell(call, "on")

    def on_publisher(self, call: Call, party: Party, participant: Participant,
                     publisher: Publisher, added: bool) -> None:
        active = self.calls.get(call.call_id)
        if active is None or party.role is Role.SUPERVISOR:
            return
        key = id(publisher)
        if added and active.recording:
            sink = self.recorder.start_track(call.call_id, participant.participant_id, party.role.value,
                                             publisher.kind, publisher.codec,
                                             request_keyframe=publisher.request_keyframe)
            publisher.add_sink(sink)  # also asks the publisher for a keyframe
            active.sinks[key] = (publisher, sink)
        elif not added and key in active.sinks:
            publisher, sink = active.sinks.pop(key)
            publisher.remove_sink(sink)
            self._spawn(self._stop_segment(active, sink))

    async def _stop_segment(self, active: _Active, sink: EncodedSink) -> None:
        active.finished.append(await self.recorder.stop_track(sink))

    async def end_segment(self, call: Call) -> None:
        """The call's media moves to a new room: every track recorded now is closed as a complete
        segment before its publisher goes (the new room's publishers start the next ones)."""
        active = self.calls.get(call.call_id)
        if active is None:
            return
        taps = list(active.sinks.values())
        active.sinks.clear()
        for publisher, sink in taps:
            try:
                publisher.remove_sink(sink)
            except Exception:  # a publisher on a node that is gone: its file is closed all the same
                logger.warning("call %s: a publisher could not be untapped", call.call_id, exc_info=True)
        stopped = await asyncio.gather(*(self.recorder.stop_track(sink) for _, sink in taps),
                                       return_exceptions=True)
        for result in stopped:
            if isinstance(result, BaseException):
                logger.error("call %s: closing a recorded segment failed: %s", call.call_id, result)
            else:
                active.finished.append(result)

    def attach_existing(self, call: Call, publishers: list[tuple[Party, Participant, Publisher]]) -> None:
        """Recording starts mid-call (consent came later): tap the publishers already there."""
        for party, participant, publisher in publishers:
            if id(publisher) not in self.calls[call.call_id].sinks:
                self.on_publisher(call, party, participant, publisher, True)

    async def pause(self, call: Call, paused: bool, by: str) -> None:
        active = self.calls.get(call.call_id)
        if active is None or not active.recording:
            raise SignalingError(ErrorCode.INVALID_STATE, "this call is not being recorded")
        if self.recorder.is_paused(call.call_id) == paused:
            return
        now = self.clock()
        (self.recorder.pause if paused else self.recorder.resume)(call.call_id, at=now)
        await self._event(call.call_id, "recording_paused" if paused else "recording_resumed", by=by)
        self._tell(call, "paused" if paused else "on")

    async def call_ended(self, call: Call, connected_at: float | None, ended_at: float,
                         agent_name: str | None) -> None:
        active = self.calls.pop(call.call_id, None)
        if active is None:
            return
        for publisher, sink in active.sinks.values():
            publisher.remove_sink(sink)
        active.sinks.clear()
        if not active.recording:
            return
        earlier = list(active.finished)
        last = await self.recorder.finish(call.call_id)
        ids = {r.get("recording_id") for r in last}
        records = [r for r in earlier if r.get("recording_id") not in ids] + last
        summary = [{k: r.get(k) for k in ("recording_id", "role", "kind", "state", "reason",
                                          "started_at", "duration")} for r in records]
        failed = [r for r in records if r.get("state") == "failed"]
        await self.store.update_call(call.call_id, {"recordings": summary})
        await self._event(call.call_id, "recording_finished", tracks=len(records), failed=len(failed))
        if any(r.get("state") == "complete" and r.get("frames") for r in records):
            record = await self.store.get_call(call.call_id) or {}
            self.compose(call.call_id, record, start=connected_at, end=ended_at,
                         agent_name=agent_name, layout=self.layout)

    def compose(self, call_id: str, record: Mapping[str, Any], *, start: float | None, end: float | None,
                layout: str | None, agent_name: str | None = None) -> ComposeJobPort:
        """Start the QA composition of a finished call (at its end, or again from the QA page);
        the record's events travel with it, so its annotations are drawn."""
        job = self.recorder.compose(call_id, start=start, end=end, agent_name=agent_name, layout=layout,
                                    events=record.get("events", []))
        self.jobs[call_id] = job
        self._spawn(self._composed(call_id, job, start))
        return job

    async def _composed(self, call_id: str, job: ComposeJobPort, start_at: float | None = None) -> None:
        try:
            result = await job.wait()
        except Exception as exc:  # the job says why; the per-track files are still there
            logger.error("call %s: composition failed: %s", call_id, exc)
            await self.store.update_call(call_id, {"composite": {"state": "failed", "reason": str(exc)}})
            return
        await self.store.update_call(call_id, {"composite": {**result, "state": "complete",
                                                             "start_at": start_at}})
        await self.store.append_call_event(call_id, {"type": "composed", "at": self.clock()})

    # ---- helpers ---------------------------------------------------------------------
    def _tell(self, call: Call, state: str, reason: str | None = None) -> None:
        for party in call.parties():
            if party.session is not None:
                party.session.send(RecordingState(call_id=call.call_id, state=state, reason=reason))

    def state_for(self, call_id: str) -> str:
        active = self.calls.get(call_id)
        if active is None or not active.recording:
            return "off"
        return "paused" if self.recorder.is_paused(call_id) else "on"

    async def _event(self, call_id: str, kind: str, **fields: Any) -> None:
        await self.store.append_call_event(call_id, {"type": kind, "at": self.clock(),
                                                     **{k: v for k, v in fields.items() if v is not None}})

    def _spawn(self, coro: Any) -> None:
        self._tasks.spawn(coro)

    async def close(self) -> None:
        await self._tasks.drain()
