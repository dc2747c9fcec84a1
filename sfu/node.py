"""SfuNode: the rooms this process carries, and the node-wide media settings (which
forwarding path, ICE servers, host addresses and media ports, media timeout)."""

from __future__ import annotations

import logging

from aiortc import RTCIceServer

from sfu.admission import Admission, AdmissionRefused
from sfu.close_reason import CloseReason
from sfu.ice import announce_host_address, restrict_host_addresses, restrict_port_range
from sfu.room import Room

logger = logging.getLogger(__name__)

# rtp: raw RTP forwarding (rewrite, protect, send in the datagram callback);
# frames: aiortc reassembles frames and repacketizes them per subscriber;
# transcode: decode/re-encode, for load-test comparison only.
FORWARDING_MODES = ("encoded", "rtp", "frames", "transcode")
DEFAULT_ENCODED = "rtp"
# A room reopened this soon after it was closed here for a move replaces it (sfu.admission).
REPLACE_WITHIN_S = 30.0


class SfuNode:
    def __init__(
        self,
        ice_servers: list[RTCIceServer] | None = None,
        host_addresses: list[str] | None = None,
        media_timeout: float = 3.0,
        forwarding: str = "encoded",
        admission: Admission | None = None,
        media_ports: tuple[int, int] | None = None,
        public_address: str | None = None,
    ) -> None:
        if forwarding not in FORWARDING_MODES:
            raise ValueError("forwarding must be one of " + ", ".join(FORWARDING_MODES))
        # "encoded" is the default encoded path; "rtp" / "frames" name one explicitly
        self.forwarding = DEFAULT_ENCODED if forwarding == "encoded" else forwarding
        self.ice_servers = list(ice_servers or [])
        self.media_timeout = media_timeout
        self.rooms: dict[str, Room] = {}
        self.admission = admission or Admission()
        self.admission.node = self
        self._moved_out: dict[str, float] = {}  # room id -> when it was closed for a move
        restrict_host_addresses(host_addresses)
        restrict_port_range(media_ports)
        announce_host_address(public_address or None)

    def room(self, room_id: str) -> Room:
        """The room for ``room_id``, created on first use."""
        room = self.rooms.get(room_id)
        if room is None or room.closed:
            room = Room(room_id, self.ice_servers, self.media_timeout, forwarding=self.forwarding)
            self.rooms[room_id] = room
        return room

    def admits(self, room_id: str, pending: int = 0) -> bool:
        """Whether ``room_id`` could be carried here now: it is here already, or the limit
        allows one more beside the ``pending`` rooms promised to others."""
        room = self.rooms.get(room_id)
        return (room is not None and not room.closed) or self.admission.refusal(pending) is None

    def open_room(self, room_id: str) -> Room:
        """Like :meth:`room`, but a new room above the node's limit raises :class:`AdmissionRefused`."""
        room = self.rooms.get(room_id)
        if room is None or room.closed:
            refusal = self.admission.refusal(replacing=self._moved_out_just_now(room_id))
            if refusal is not None:
                raise AdmissionRefused(refusal)
        return self.room(room_id)

    async def close_room(self, room_id: str, reason: CloseReason) -> None:
        room = self.rooms.pop(room_id, None)
        if room is not None:
            if reason is CloseReason.MIGRATED:
                self._moved_out[room_id] = self.admission.clock.monotonic()
            await room.close(reason)

    def _moved_out_just_now(self, room_id: str) -> bool:
        """Whether ``room_id`` was closed here for a move within :data:`REPLACE_WITHIN_S`: its
        new room here carries what the old one did (a move within one node)."""
        now = self.admission.clock.monotonic()
        for moved, at in list(self._moved_out.items()):
            if now - at > REPLACE_WITHIN_S:
                del self._moved_out[moved]
        return self._moved_out.pop(room_id, None) is not None

    async def close(self, reason: CloseReason = CloseReason.NODE_DRAIN) -> None:
        for room_id in list(self.rooms):
            await self.close_room(room_id, reason)

    def stats(self) -> dict:
        return {"rooms": [room.stats() for room in self.rooms.values()]}
