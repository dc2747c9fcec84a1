"""MediaAgent: runs on every node and carries out the centre's room commands on the local
``SfuNode`` — open a room (admission-checked), add, negotiate, remove participants, set an
audience, close, take a snapshot, ask for a keyframe — and reports back to the node that sent
them what the SFU tells its observers (``media_state``, ``publisher`` added/removed).

Recording happens here, beside the media: ``tap`` starts a track on this node's recorder and
attaches it to the publisher; ``untap``, ``stop_track``, ``recording_pause`` /
``recording_resume`` and ``finish_recording`` follow the centre's ``RemoteRecorder``.

Refusals travel back as ``SignalingError`` with the code the centre would have raised for a
local room (``bad_sdp``, ``bad_candidate``, ``invalid_state``), and ``at_capacity`` for a room
this node is too full to open.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

from media.encoded import EncodedSink
from sfu import AdmissionRefused, BadCandidateError, BadSdpError, CloseReason, MediaState, SfuNode
from sfu.participant import Participant
from sfu.publisher import Publisher
from sfu.room import Room
from signaling.centre.recording import RecorderPort
from signaling.errors import ErrorCode, SignalingError
from signaling.state.channels import NodeChannels

logger = logging.getLogger(__name__)

Body = dict[str, Any]
# after this node was cut off from Redis, its rooms' centres are asked whether the rooms are
# still placed here (the centres resubscribe in their own time: asked again a few times)
OWNERSHIP_RETRIES_S = (0.5, 1.0, 2.0, 4.0)


def audience_of(raw: Any) -> frozenset[str] | None:
    return None if raw is None else frozenset(str(p) for p in raw)


class AgentObserver:
    """A participant's observer on the media node: its reports go to the commanding node."""

    def __init__(self, agent: MediaAgent, room_id: str) -> None:
        self.agent, self.room_id = agent, room_id

    @property
    def commander(self) -> str:
        """The node that commanded the room last (a new centre that re-adds a party takes over)."""
        return self.agent.commanders.get(self.room_id, self.agent.channels.node_id)

    def on_media_state(self, participant: Participant, state: MediaState) -> None:
        self._report("media_state", {
            "room": self.room_id, "participant": participant.participant_id, "state": state.value})

    def on_publisher(self, participant: Participant, publisher: Publisher, added: bool) -> None:
        key = self.agent.publisher_key(publisher, added)
        self._report("publisher", {
            "room": self.room_id, "participant": participant.participant_id, "publisher": key,
            "kind": publisher.kind, "codec": publisher.codec, "added": added})

    def _report(self, kind: str, body: dict[str, Any]) -> None:
        try:
            self.agent.channels.post(self.commander, kind, body)
        except SignalingError as exc:  # this node shuts down, or its outbox is full: the centre resyncs
            logger.info("room %s: %s not reported: %s", self.room_id, kind, exc.message)


class MediaAgent:
    COMMANDS = ("open_room", "add_participant", "negotiate", "add_candidate", "remove_participant",
                "set_audience", "close_room", "snapshot", "request_keyframe", "stats", "room_state",
                "tap", "untap", "stop_track", "recording_pause", "recording_resume", "finish_recording")

    def __init__(self, channels: NodeChannels, sfu: SfuNode, recorder: RecorderPort | None = None) -> None:
        self.channels = channels
        self.sfu = sfu
        self.recorder = recorder
        self.commanders: dict[str, str] = {}  # room id → the centre that commanded it last
        self.publishers: dict[str, Publisher] = {}  # publisher key → publisher
        self._keys: dict[int, str] = {}  # id(publisher) → key
        self._serial = 0
        self.tracks: dict[str, tuple[Publisher, EncodedSink]] = {}  # track key → (publisher, sink)
        self._checks: set[asyncio.Task[Any]] = set()

    def install(self) -> None:
        for kind in self.COMMANDS:
            self.channels.handle(kind, getattr(self, kind))
        self.channels.on_resubscribed.append(self._after_outage)

    async def close(self) -> None:
        tasks = list(self._checks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _after_outage(self) -> None:
        task = asyncio.get_running_loop().create_task(self.check_rooms(), name="media agent: rooms still ours?")
        self._checks.add(task)
        task.add_done_callback(self._checks.discard)

    async def check_rooms(self) -> list[str]:
        """A node cut off from Redis may have been declared dead and its calls moved: each room
        whose centre now places it elsewhere (or nowhere) is closed here, so a node that comes
        back never fights over calls that moved. A centre that does not answer is not taken for
        a no: the room stays (its media goes on) until a centre says otherwise. Returns the
        rooms closed."""
        pending = dict(self.commanders)
        closed: list[str] = []
        for delay in OWNERSHIP_RETRIES_S:
            for room_id, commander in list(pending.items()):
                try:
                    answer = await self.channels.request(commander, "room_placement", {"room": room_id},
                                                         timeout=2.0)
                except SignalingError:
                    continue
                del pending[room_id]
                if (answer or {}).get("node") != self.channels.node_id and self.commanders.get(room_id) == commander:
                    logger.warning("room %s is no longer placed on node %s (centre %s): closing it here",
                                   room_id, self.channels.node_id, commander, extra={"call_id": room_id})
                    await self.sfu.close_room(room_id, CloseReason.REPLACED)
                    self.commanders.pop(room_id, None)
                    closed.append(room_id)
            if not pending:
                break
            await self.channels.clock.sleep(delay)
        return closed

    def publisher_key(self, publisher: Publisher, added: bool) -> str:
        if added:
            self._serial += 1
            key = f"{self.channels.node_id}/{publisher.participant_id}/{publisher.kind}/{self._serial}"
            self.publishers[key] = publisher
            self._keys[id(publisher)] = key
            return key
        key = self._keys.pop(id(publisher), "")
        self.publishers.pop(key, None)
        return key

    # --- rooms --------------------------------------------------------------------------------
    def _room(self, body: Body) -> Room:
        room = self.sfu.rooms.get(str(body.get("room")))
        if room is None or room.closed:
            raise SignalingError(ErrorCode.INVALID_STATE,
                                 f"this call has no media room on node {self.channels.node_id}")
        return room

    def _participant(self, body: Body) -> Participant:
        participant = self._room(body).get(str(body.get("participant")))
        if participant is None:
            raise SignalingError(ErrorCode.INVALID_STATE, "this call has no media session yet")
        return participant

    async def open_room(self, body: Body, sender: str) -> Body:
        room_id = str(body["room"])
        try:
            self.sfu.open_room(room_id)
        except AdmissionRefused as refused:
            raise SignalingError(ErrorCode.AT_CAPACITY,
                                 f"node {self.channels.node_id} takes no new room: {refused.refusal.value}") from None
        self.commanders[room_id] = sender
        return {"room": room_id, "node": self.channels.node_id}

    async def add_participant(self, body: Body, sender: str) -> Body:
        room = self._room(body)
        self.commanders[room.room_id] = sender
        participant = room.add_participant(
            str(body["participant"]), str(body["role"]), audience=audience_of(body.get("audience")),
            observer=AgentObserver(self, room.room_id))
        return {"participant": participant.participant_id}

    async def negotiate(self, body: Body, sender: str) -> Body:
        participant = self._participant(body)
        if participant.media_state is MediaState.CLOSED:
            raise SignalingError(ErrorCode.INVALID_STATE, "this media session has ended")
        try:
            return {"sdp": await participant.negotiate(str(body["sdp"]))}
        except BadSdpError as exc:
            raise SignalingError(ErrorCode.BAD_SDP, str(exc)) from None

    async def add_candidate(self, body: Body, sender: str) -> None:
        participant = self._participant(body)
        try:
            await participant.add_candidate(body.get("candidate"))
        except BadCandidateError as exc:
            raise SignalingError(ErrorCode.BAD_CANDIDATE, str(exc)) from None

    async def remove_participant(self, body: Body, sender: str) -> None:
        room = self.sfu.rooms.get(str(body.get("room")))
        if room is not None:
            await room.remove_participant(str(body["participant"]), CloseReason(body["reason"]))

    async def set_audience(self, body: Body, sender: str) -> None:
        self._room(body).set_audience(str(body["participant"]), audience_of(body.get("audience")))

    async def close_room(self, body: Body, sender: str) -> None:
        room_id = str(body["room"])
        await self.sfu.close_room(room_id, CloseReason(body["reason"]))
        self.commanders.pop(room_id, None)

    def _publisher(self, body: Body) -> Publisher:
        key = body.get("publisher")
        publisher = self.publishers.get(str(key)) if key else None
        if publisher is None and body.get("kind"):
            publisher = self._participant(body).publishers.get(str(body["kind"]))
        if publisher is None or publisher.closed:
            raise SignalingError(ErrorCode.INVALID_STATE, "that track is not being sent any more")
        return publisher

    async def snapshot(self, body: Body, sender: str) -> Body:
        jpeg = await self._publisher(body).snapshot_jpeg()
        return {"jpeg": base64.b64encode(jpeg).decode("ascii") if jpeg is not None else None}

    async def request_keyframe(self, body: Body, sender: str) -> None:
        self._publisher(body).request_keyframe()

    async def stats(self, body: Body, sender: str) -> Body:
        if body.get("room"):
            return self._room(body).stats()
        return {**self.sfu.stats(), "node": self.channels.node_id}

    async def room_state(self, body: Body, sender: str) -> Body:
        """What the room holds now, for a centre whose mirror may be stale (its events were
        lost while Redis was away, or it is a new centre adopting the room); the asker becomes
        the room's commander."""
        room = self.sfu.rooms.get(str(body.get("room")))
        if room is None or room.closed:
            return {"open": False, "participants": []}
        self.commanders[room.room_id] = sender
        return {"open": True, "participants": [
            {"participant": p.participant_id, "media_state": p.media_state.value,
             "publishers": [{"publisher": self._keys.get(id(pub)) or self.publisher_key(pub, True),
                             "kind": kind, "codec": pub.codec} for kind, pub in p.publishers.items()]}
            for p in room.participants.values()]}

    # --- recording beside the media -------------------------------------------------------
    def _recorder(self) -> RecorderPort:
        if self.recorder is None:
            raise SignalingError(ErrorCode.INVALID_STATE, f"node {self.channels.node_id} records nothing")
        return self.recorder

    async def tap(self, body: Body, sender: str) -> Body:
        recorder = self._recorder()
        publisher = self._publisher(body)
        call_id = str(body["call_id"])
        if body.get("paused_at") is not None and not recorder.is_paused(call_id):
            recorder.pause(call_id, at=float(body["paused_at"]))  # tracks started now start paused
        sink = recorder.start_track(call_id, str(body["participant"]), str(body["role"]), publisher.kind,
                                    publisher.codec or body.get("codec"),
                                    request_keyframe=publisher.request_keyframe)
        publisher.add_sink(sink)  # also asks the publisher for a keyframe
        self.tracks[str(body["track"])] = (publisher, sink)
        return {"track": body["track"], "recording_id": getattr(sink, "recording_id", None)}

    async def untap(self, body: Body, sender: str) -> None:
        tapped = self.tracks.get(str(body["track"]))
        if tapped is not None:
            publisher, sink = tapped
            publisher.remove_sink(sink)

    async def stop_track(self, body: Body, sender: str) -> Body:
        tapped = self.tracks.pop(str(body["track"]), None)
        if tapped is None:
            return {"record": None}
        publisher, sink = tapped
        publisher.remove_sink(sink)
        return {"record": await self._recorder().stop_track(sink)}

    async def recording_pause(self, body: Body, sender: str) -> None:
        self._recorder().pause(str(body["call_id"]), at=body.get("at"))

    async def recording_resume(self, body: Body, sender: str) -> None:
        self._recorder().resume(str(body["call_id"]), at=body.get("at"))

    async def finish_recording(self, body: Body, sender: str) -> Body:
        call_id = str(body["call_id"])
        for key, (publisher, sink) in list(self.tracks.items()):
            if getattr(sink, "call_id", None) == call_id:
                publisher.remove_sink(sink)
                del self.tracks[key]
        return {"records": await self._recorder().finish(call_id)}
