"""RemoteRoom, RemoteParticipant, RemotePublisher: the centre's handles on a room that lives on
another node, with the methods the centre uses on ``sfu.Room`` / ``Participant`` / ``Publisher``.

What the centre calls synchronously (add a participant, set an audience, ask for a keyframe,
tap a publisher) is posted to the room's node in order; what it awaits (negotiate, a
candidate, remove, close, a snapshot) is a request whose refusal comes back with the code the
local SFU's error would have become (``bad_sdp`` reaches the client unchanged). The publishers
and the media state are mirrored from the media agent's events, which call the centre-side
observer exactly as a local ``Participant`` would.
"""

from __future__ import annotations

import base64
import logging
from typing import TYPE_CHECKING, Any

from media.encoded import EncodedSink
from sfu import CloseReason, MediaState
from signaling.cluster.remote_recorder import RemoteTrack
from signaling.errors import ErrorCode, SignalingError

if TYPE_CHECKING:
    from signaling.state.channels import NodeChannels

logger = logging.getLogger(__name__)

NEGOTIATE_TIMEOUT_S = 10.0  # the node gathers its ICE candidates before it answers
SNAPSHOT_TIMEOUT_S = 10.0  # the node may wait up to 3 s for a keyframe, then decodes
CLOSE_TIMEOUT_S = 2.0  # a node that does not answer a close is forgotten, not waited for


class KeyframeRequests:
    """How many keyframes the centre asked a remote publisher for (the sampler's ``keyframes``)."""

    def __init__(self) -> None:
        self.sent = 0


class RemotePublisher:
    def __init__(self, participant: RemoteParticipant, key: str, kind: str, codec: str | None) -> None:
        self.participant = participant
        self.participant_id = participant.participant_id
        self.key = key  # the media agent's name for exactly this publisher
        self.kind = kind
        self.codec = codec
        self.closed = False
        # media is counted where it flows (the carrying node's own /metrics); the centre sees none
        self.frames = 0
        self.bytes = 0
        self.keyframes = KeyframeRequests()

    def _body(self, **extra: Any) -> dict[str, Any]:
        return {"room": self.participant.room.room_id, "participant": self.participant_id,
                "publisher": self.key, "kind": self.kind, **extra}

    async def snapshot_jpeg(self) -> bytes | None:
        answer = await self.participant.room.request("snapshot", self._body(), SNAPSHOT_TIMEOUT_S)
        jpeg = (answer or {}).get("jpeg")
        return base64.b64decode(jpeg) if jpeg else None

    def request_keyframe(self) -> None:
        if self.kind == "video" and not self.closed:
            self.keyframes.sent += 1
            self.participant.room.post("request_keyframe", self._body())

    def add_sink(self, sink: EncodedSink) -> None:
        """Record this publisher on its node: ``sink`` is the ``RemoteRecorder``'s track."""
        if not isinstance(sink, RemoteTrack):
            raise TypeError("a remote publisher's frames stay on its node: record it with RemoteRecorder")
        sink.node_id = self.participant.room.node_id
        self.participant.room.post("tap", self._body(**sink.tap_body()))

    def remove_sink(self, sink: EncodedSink) -> None:
        if isinstance(sink, RemoteTrack):
            self.participant.room.post("untap", {"track": sink.track_id})

    def stats(self) -> dict[str, Any]:
        return {"participant_id": self.participant_id, "kind": self.kind, "codec": self.codec,
                "publisher": self.key}


class RemoteParticipant:
    def __init__(self, room: RemoteRoom, participant_id: str, role: str, *,
                 audience: frozenset[str] | None, observer: Any) -> None:
        self.room = room
        self.participant_id = participant_id
        self.role = role
        self.audience = audience
        self.observer = observer
        self.publishers: dict[str, RemotePublisher] = {}
        self.slots: dict[str, list[Any]] = {"audio": [], "video": []}  # subscribers live on the node
        self.media_state = MediaState.NEW
        self.close_reason: CloseReason | None = None

    def _body(self, **extra: Any) -> dict[str, Any]:
        return {"room": self.room.room_id, "participant": self.participant_id, **extra}

    async def negotiate(self, offer_sdp: str) -> str:
        answer = await self.room.request("negotiate", self._body(sdp=offer_sdp), NEGOTIATE_TIMEOUT_S)
        sdp = (answer or {}).get("sdp")
        if not isinstance(sdp, str):
            raise SignalingError(ErrorCode.INTERNAL_ERROR, f"node {self.room.node_id} answered no SDP")
        return sdp

    async def add_candidate(self, candidate: dict | None) -> None:
        await self.room.request("add_candidate", self._body(candidate=candidate))

    # --- the media agent's events -----------------------------------------------------------
    def media_state_changed(self, state: MediaState) -> None:
        if state is self.media_state or self.media_state is MediaState.CLOSED:
            return
        self.media_state = state
        hook = getattr(self.observer, "on_media_state", None)
        if hook is not None:
            try:
                hook(self, state)
            except Exception:
                logger.exception("media state observer failed")

    def publisher_changed(self, key: str, kind: str, codec: str | None, added: bool) -> None:
        if self.media_state is MediaState.CLOSED:
            return
        if added:
            old = self.publishers.pop(kind, None)
            if old is not None:
                self._publisher_event(old, added=False)
            publisher = RemotePublisher(self, key, kind, codec)
            self.publishers[kind] = publisher
            self._publisher_event(publisher, added=True)
        else:
            current = self.publishers.get(kind)
            if current is not None and current.key == key:
                del self.publishers[kind]
                self._publisher_event(current, added=False)

    def caught_up(self, state: MediaState, publishers: dict[str, tuple[str, str | None]]) -> None:
        """Apply the node's word on what this participant has now (kind → (key, codec)):
        observers hear only the differences, as they would have from the lost events."""
        for kind, current in list(self.publishers.items()):
            if publishers.get(kind, ("", None))[0] != current.key:
                self.publisher_changed(current.key, kind, current.codec, added=False)
        for kind, (key, codec) in publishers.items():
            if kind not in self.publishers:
                self.publisher_changed(key, kind, codec, added=True)
        self.media_state_changed(state)

    def _publisher_event(self, publisher: RemotePublisher, added: bool) -> None:
        publisher.closed = not added
        hook = getattr(self.observer, "on_publisher", None)
        if hook is not None:
            try:
                hook(self, publisher, added)
            except Exception:
                logger.exception("publisher observer failed")

    def closing(self, reason: CloseReason) -> None:
        """As a local participant closes: its publishers go (observers hear it), then CLOSED."""
        if self.media_state is MediaState.CLOSED:
            return
        self.close_reason = reason
        for publisher in list(self.publishers.values()):
            self._publisher_event(publisher, added=False)
        self.publishers.clear()
        self.media_state = MediaState.CLOSED

    def stats(self) -> dict[str, Any]:
        return {"participant_id": self.participant_id, "role": self.role,
                "audience": None if self.audience is None else sorted(self.audience),
                "media_state": self.media_state.value,
                "publishers": [p.stats() for p in self.publishers.values()]}


class RemoteRoom:
    def __init__(self, room_id: str, node_id: str, channels: NodeChannels) -> None:
        self.room_id = room_id
        self.node_id = node_id
        self.channels = channels
        self.participants: dict[str, RemoteParticipant] = {}
        self.closed = False

    def post(self, kind: str, body: dict[str, Any]) -> None:
        self.channels.post(self.node_id, kind, body)

    async def request(self, kind: str, body: dict[str, Any], timeout: float = 5.0) -> dict[str, Any] | None:
        return await self.channels.request(self.node_id, kind, body, timeout=timeout)

    def add_participant(self, participant_id: str, role: str, *, audience: frozenset[str] | None = None,
                        observer: Any = None) -> RemoteParticipant:
        if self.closed:
            raise RuntimeError(f"room {self.room_id} is closed")
        if participant_id in self.participants:
            return self.participants[participant_id]
        participant = RemoteParticipant(self, participant_id, role, audience=audience, observer=observer)
        self.participants[participant_id] = participant
        self._post_add(participant)
        return participant

    def _post_add(self, participant: RemoteParticipant) -> None:
        audience = None if participant.audience is None else sorted(participant.audience)
        self.post("add_participant", {"room": self.room_id, "participant": participant.participant_id,
                                      "role": participant.role, "audience": audience})

    def get(self, participant_id: str) -> RemoteParticipant | None:
        return self.participants.get(participant_id)

    async def remove_participant(self, participant_id: str, reason: CloseReason) -> None:
        participant = self.participants.pop(participant_id, None)
        if participant is None:
            return
        participant.closing(reason)
        try:
            await self.request("remove_participant", {"room": self.room_id, "participant": participant_id,
                                                      "reason": reason.value}, CLOSE_TIMEOUT_S)
        except SignalingError as exc:  # gone here either way; the node's own timeout ends it there
            logger.warning("room %s: removing %s on node %s: %s", self.room_id, participant_id,
                           self.node_id, exc.message)

    def set_audience(self, participant_id: str, audience: frozenset[str] | None) -> None:
        participant = self.participants.get(participant_id)
        if participant is not None:
            participant.audience = audience
            self.post("set_audience", {"room": self.room_id, "participant": participant_id,
                                       "audience": None if audience is None else sorted(audience)})

    async def close(self, reason: CloseReason) -> None:
        """Close the room on its node; a node that does not answer (gone) is only forgotten."""
        if self.closed:
            return
        self.closed = True
        for participant in list(self.participants.values()):
            participant.closing(reason)
        self.participants.clear()
        try:
            await self.request("close_room", {"room": self.room_id, "reason": reason.value}, CLOSE_TIMEOUT_S)
        except SignalingError as exc:
            logger.warning("room %s: node %s did not close it (%s); forgotten here", self.room_id,
                           self.node_id, exc.message)

    def stats(self) -> dict[str, Any]:
        return {"room_id": self.room_id, "node_id": self.node_id,
                "participants": [p.stats() for p in self.participants.values()]}
