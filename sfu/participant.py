"""A Participant: one person's (or the recorder's) presence in a Room.

It owns at most one Peer at a time. A new offer replaces the Peer (how a phone that switched
networks comes back), and the participant keeps its identity, so the room re-routes media to
and from the new Peer. A watchdog notices when media stops arriving, because a peer that
vanished without a goodbye (tab killed, network gone) says nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from enum import Enum
from typing import TYPE_CHECKING, Protocol, cast

from aiortc import RTCIceServer, RTCRtpReceiver

from sfu.close_reason import CloseReason
from sfu.peer import Peer, parse_candidate
from sfu.publisher import Publisher
from sfu.subscriber import Subscriber

if TYPE_CHECKING:
    from sfu.room import Room

logger = logging.getLogger(__name__)


class MediaState(str, Enum):
    NEW = "new"  # no peer yet, or negotiating
    CONNECTED = "connected"  # peer connected and media arriving
    LOST = "lost"  # peer failed or media stopped: the participant may come back
    CLOSED = "closed"


class ParticipantObserver(Protocol):
    def on_media_state(self, participant: Participant, state: MediaState) -> None: ...

    def on_publisher(self, participant: Participant, publisher: Publisher, added: bool) -> None:
        """A track started (a new peer published) or went away; e.g. to attach a recorder."""


class Participant:
    def __init__(
        self,
        room: Room,
        participant_id: str,
        role: str,
        *,
        audience: frozenset[str] | None = None,
        ice_servers: list[RTCIceServer] | None = None,
        media_timeout: float = 3.0,
        observer: ParticipantObserver | None = None,
        forwarding: str = "frames",
    ) -> None:
        self.room = room
        self.forwarding = forwarding
        self.transcode = forwarding == "transcode"
        self.participant_id = participant_id
        self.role = role
        # Who receives this participant's media: None = everybody else in the room; a set of
        # participant ids otherwise (empty = nobody: a silent monitor, the recorder).
        self.audience = audience
        self.ice_servers = list(ice_servers or [])
        self.media_timeout = media_timeout
        self.observer = observer
        self.peer: Peer | None = None
        self.publishers: dict[str, Publisher] = {}
        self.slots: dict[str, list[Subscriber]] = {"audio": [], "video": []}
        self.media_state = MediaState.NEW
        self.close_reason: CloseReason | None = None
        self._peer_connected_at: float | None = None
        self._negotiation = asyncio.Lock()
        self._watchdog: asyncio.Task | None = None

    # negotiation -----------------------------------------------------------------
    async def negotiate(self, offer_sdp: str) -> str:
        """Answer an offer with a fresh Peer, replacing any previous one."""
        if self.media_state is MediaState.CLOSED:
            raise RuntimeError("participant is closed")
        async with self._negotiation:
            await self._drop_peer(CloseReason.REPLACED)
            peer = Peer(
                f"{self.room.room_id}/{self.participant_id}",
                self.ice_servers,
                on_track=self._track_arrived,
                on_state=self._peer_state_changed,
                forwarding=self.forwarding,
            )
            self.peer = peer
            try:
                answer = await peer.answer(offer_sdp, self._new_slot)
            except BaseException:
                await self._drop_peer(CloseReason.ERROR)
                raise
            self.room.route()
            if self._watchdog is None:
                self._watchdog = asyncio.get_running_loop().create_task(self._watch_media())
            return answer

    async def add_candidate(self, candidate: dict | None) -> None:
        parse_candidate(candidate)  # a malformed candidate is an error even with no peer
        if self.peer is not None:
            await self.peer.add_candidate(candidate)

    def _new_slot(self, kind: str) -> Subscriber:
        # The client offers one transceiver per remote track it wants; each gets a Subscriber.
        if self.transcode:
            from sfu.transcode import TranscodingSubscriber

            # comparison only: duck-typed like a Subscriber (bind, request_keyframe, recv)
            track = cast(Subscriber, TranscodingSubscriber(kind, self.participant_id))
        else:
            track = Subscriber(kind, self.participant_id, rtp=self.forwarding == "rtp")
        self.slots[kind].append(track)
        return track

    def _track_arrived(self, peer: Peer, kind: str, receiver: RTCRtpReceiver) -> None:
        if peer is not self.peer:
            return
        old = self.publishers.pop(kind, None)
        if old is not None:
            self._publisher_event(old, added=False)
            old.close()
        publisher = Publisher(self.participant_id, kind, receiver, peer, forwarding=self.forwarding,
                              on_first_frame=self._check_media)
        self.publishers[kind] = publisher
        peer.publish(publisher)
        self.room.route()
        self._publisher_event(publisher, added=True)

    def _publisher_event(self, publisher: Publisher, added: bool) -> None:
        hook = getattr(self.observer, "on_publisher", None)
        if hook is not None:
            try:
                hook(self, publisher, added)
            except Exception:
                logger.exception("publisher observer failed")

    def _peer_state_changed(self, peer: Peer, state: str) -> None:
        if peer is not self.peer:
            return
        logger.info("room %s participant %s peer %s", self.room.room_id, self.participant_id, state)
        if state == "connected":
            self._peer_connected_at = time.monotonic()
            self._check_media()
        elif state in ("failed", "closed"):
            self._set_media_state(MediaState.LOST)

    async def _drop_peer(self, reason: CloseReason) -> None:
        peer, self.peer = self.peer, None
        self._peer_connected_at = None
        for publisher in self.publishers.values():
            self._publisher_event(publisher, added=False)
            publisher.close()
        self.publishers.clear()
        for tracks in self.slots.values():
            for track in tracks:
                track.stop()
        self.slots = {"audio": [], "video": []}
        if peer is not None:
            logger.info("room %s participant %s peer closed: %s",
                        self.room.room_id, self.participant_id, reason.value)
            self.room.route()
            await peer.close()

    # media watchdog -------------------------------------------------------------
    async def _watch_media(self) -> None:
        """Report LOST when media stops for ``media_timeout`` (a vanished peer says nothing)."""
        while True:
            await asyncio.sleep(min(0.5, self.media_timeout / 4))
            self._check_media()

    def _check_media(self) -> None:
        """CONNECTED as soon as the peer is connected and a first frame arrived; LOST when
        frames stop. Runs on the first frame, on peer state changes, and periodically."""
        now = time.monotonic()
        ages = [p.media_age(now) for p in self.publishers.values()]
        fresh = [a for a in ages if a is not None and a < self.media_timeout]
        if self.peer is not None and self.peer.connection_state == "connected" and fresh:
            self._set_media_state(MediaState.CONNECTED)
        elif self.media_state is MediaState.CONNECTED:
            self._set_media_state(MediaState.LOST)
        elif (
            self.media_state is MediaState.NEW
            and self._peer_connected_at is not None
            and now - self._peer_connected_at > self.media_timeout
            and self.publishers
        ):
            self._set_media_state(MediaState.LOST)

    def _set_media_state(self, state: MediaState) -> None:
        if state is self.media_state or self.media_state is MediaState.CLOSED:
            return
        self.media_state = state
        if self.observer is not None:
            try:
                self.observer.on_media_state(self, state)
            except Exception:
                logger.exception("media state observer failed")

    # closing ----------------------------------------------------------------------
    async def close(self, reason: CloseReason) -> None:
        if self.media_state is MediaState.CLOSED:
            return
        self.close_reason = reason
        self.media_state = MediaState.CLOSED
        if self._watchdog is not None:
            self._watchdog.cancel()
            await asyncio.gather(self._watchdog, return_exceptions=True)
            self._watchdog = None
        async with self._negotiation:
            await self._drop_peer(reason)

    def stats(self) -> dict:
        return {
            "participant_id": self.participant_id,
            "role": self.role,
            "audience": None if self.audience is None else sorted(self.audience),
            "media_state": self.media_state.value,
            "peer": self.peer.connection_state if self.peer else None,
            "transport": self.peer.rtp.stats() if self.peer is not None and self.peer.rtp is not None else None,
            "publishers": [p.stats() for p in self.publishers.values()],
            "subscribers": [s.stats() for tracks in self.slots.values() for s in tracks
                            if s.publisher is not None],
        }
