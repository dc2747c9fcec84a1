"""RemoteRecorder: the centre's ``RecorderPort`` when a call's media lives on another node.

Frames never cross the cluster: the recording is written by the node that carries the media,
with that node's own ``recorder.Recorder``, into the recordings directory every node shares.
Here a track is a ``RemoteTrack`` (a name and what to record); ``RemotePublisher.add_sink``
sends it to the publisher's node as a ``tap``, and pause/resume/stop/finish follow it there.
When the node answers ``finish`` (or ``stop_track``) the centre's own recorder re-reads the
call's records from disk, so the QA API on the centre lists and serves them; composition,
listing, media paths and erasure are the centre's own recorder's.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from media.encoded import EncodedFrame
from signaling.centre.recording import ComposeJobPort, RecorderPort
from signaling.errors import SignalingError

if TYPE_CHECKING:
    from signaling.state.channels import NodeChannels

logger = logging.getLogger(__name__)

FINISH_TIMEOUT_S = 15.0  # the node's writer threads flush and index every file first


class SharedRecorder(RecorderPort, Protocol):
    """The centre's own recorder, on the shared directory, which can re-read a call from disk."""

    def refresh_call(self, call_id: str) -> builtins.list[dict[str, Any]]: ...


@dataclass(eq=False)
class RemoteTrack:
    """One track recorded on another node (the ``EncodedSink`` the centre hands the publisher)."""

    call_id: str
    participant_id: str
    role: str
    kind: str
    codec: str | None
    paused_at: float | None = None
    track_id: str = field(default_factory=lambda: "t_" + uuid.uuid4().hex[:16])
    node_id: str | None = None  # set when tapped: the node carrying the publisher

    def on_frame(self, frame: EncodedFrame) -> None:
        """Never called: the frames are written where they arrive, on ``node_id``."""

    def tap_body(self) -> dict[str, Any]:
        return {"track": self.track_id, "call_id": self.call_id, "participant": self.participant_id,
                "role": self.role, "codec": self.codec, "paused_at": self.paused_at}


class RemoteRecorder:
    def __init__(self, channels: NodeChannels, local: SharedRecorder,
                 node_of: Callable[[str], str | None] = lambda call_id: None) -> None:
        self.channels = channels
        self.local = local
        # the node carrying the call's room now: finished too, for tracks tapped there by a
        # centre before this one (the lease moved)
        self.node_of = node_of
        self._tracks: dict[str, list[RemoteTrack]] = {}  # call id → its tracks
        self._adopted: dict[str, set[str]] = {}  # call id → nodes an earlier centre recorded it on
        self._paused: dict[str, float] = {}  # call id → when it was paused

    def _nodes(self, call_id: str) -> set[str]:
        return ({t.node_id for t in self._tracks.get(call_id, []) if t.node_id is not None}
                | self._adopted.get(call_id, set()))

    def adopt(self, call_id: str, node_id: str) -> None:
        """An earlier centre recorded this call on ``node_id``: finish it there too at the end."""
        self._adopted.setdefault(call_id, set()).add(node_id)

    # --- live recording -----------------------------------------------------------------------
    def start_track(self, call_id: str, participant_id: str, role: str, kind: str,
                    codec: str | None = None, *,
                    request_keyframe: Callable[[], None] | None = None) -> RemoteTrack:
        # the node asks its publisher for keyframes itself (start, resume)
        track = RemoteTrack(call_id, str(participant_id), str(role), kind, codec,
                            paused_at=self._paused.get(call_id))
        self._tracks.setdefault(call_id, []).append(track)
        return track

    def pause(self, call_id: str, at: float | None = None) -> None:
        self._paused.setdefault(call_id, at if at is not None else 0.0)
        for node in self._nodes(call_id):
            self.channels.post(node, "recording_pause", {"call_id": call_id, "at": at})

    def resume(self, call_id: str, at: float | None = None) -> None:
        self._paused.pop(call_id, None)
        for node in self._nodes(call_id):
            self.channels.post(node, "recording_resume", {"call_id": call_id, "at": at})

    def is_paused(self, call_id: str) -> bool:
        return call_id in self._paused

    async def stop_track(self, track: Any) -> dict[str, Any]:
        tracks = self._tracks.get(getattr(track, "call_id", ""), [])
        if track in tracks:
            tracks.remove(track)
        if not isinstance(track, RemoteTrack) or track.node_id is None:
            return {}
        try:
            answer = await self.channels.request(track.node_id, "stop_track", {"track": track.track_id},
                                                 timeout=FINISH_TIMEOUT_S)
        except SignalingError as exc:
            logger.warning("call %s: track %s on node %s not stopped: %s", track.call_id, track.track_id,
                           track.node_id, exc.message)
            return {}
        await asyncio.to_thread(self.local.refresh_call, track.call_id)
        return dict((answer or {}).get("record") or {})

    async def finish(self, call_id: str) -> builtins.list[dict[str, Any]]:
        """Every node that recorded the call finalises its files; the centre re-reads them."""
        carrying = self.node_of(call_id)
        nodes = sorted(self._nodes(call_id) | ({carrying} if carrying else set()))
        self._tracks.pop(call_id, None)
        self._adopted.pop(call_id, None)
        self._paused.pop(call_id, None)
        answers = await asyncio.gather(*(self.channels.request(node, "finish_recording", {"call_id": call_id},
                                                               timeout=FINISH_TIMEOUT_S) for node in nodes),
                                       return_exceptions=True)
        records: builtins.list[dict[str, Any]] = []
        for node, answer in zip(nodes, answers, strict=True):
            if isinstance(answer, BaseException):
                logger.warning("call %s: node %s did not finish its recordings: %s", call_id, node, answer)
                continue
            records += list((answer or {}).get("records") or [])
        await asyncio.to_thread(self.local.refresh_call, call_id)
        return records

    # --- the centre's own recorder: composition, the index, files, erasure ------------------
    def compose(self, call_id: str, *, start: float | None = None, end: float | None = None,
                agent_name: str | None = None, layout: str | None = None,
                events: Sequence[Mapping[str, Any]] = ()) -> ComposeJobPort:
        return self.local.compose(call_id, start=start, end=end, agent_name=agent_name, layout=layout,
                                  events=events)

    def list(self, **filters: Any) -> builtins.list[dict[str, Any]]:
        return self.local.list(**filters)

    def resolve(self, relative: str) -> Path:
        return self.local.resolve(relative)

    async def erase(self, *, call_ids: builtins.list[str] = [],  # noqa: B006 - read only
                    recording_ids: builtins.list[str] = [],  # noqa: B006 - read only
                    reason: str = "erasure request") -> builtins.list[str]:
        return await self.local.erase(call_ids=call_ids, recording_ids=recording_ids, reason=reason)
