"""A Room is the SFU side of one call: its participants and who receives whom.

Routing rule: every participant's receive slots of a kind are bound, in join order, to the
publishers of that kind of every *other* participant whose audience includes it. A
participant's audience is everybody (the default), a set of participants (a supervisor
whispering to the agent) or nobody (a supervisor monitoring silently): such a participant
still receives everybody.
"""

from __future__ import annotations

import logging

from aiortc import RTCIceServer

from sfu.close_reason import CloseReason
from sfu.participant import Participant, ParticipantObserver

logger = logging.getLogger(__name__)


class Room:
    def __init__(self, room_id: str, ice_servers: list[RTCIceServer] | None = None,
                 media_timeout: float = 3.0, forwarding: str = "frames") -> None:
        self.room_id = room_id
        self.forwarding = forwarding
        self.ice_servers = list(ice_servers or [])
        self.media_timeout = media_timeout
        self.participants: dict[str, Participant] = {}
        self.closed = False

    def add_participant(
        self,
        participant_id: str,
        role: str,
        *,
        audience: frozenset[str] | None = None,
        observer: ParticipantObserver | None = None,
    ) -> Participant:
        if self.closed:
            raise RuntimeError(f"room {self.room_id} is closed")
        if participant_id in self.participants:
            return self.participants[participant_id]
        participant = Participant(
            self,
            participant_id,
            role,
            audience=audience,
            ice_servers=self.ice_servers,
            media_timeout=self.media_timeout,
            observer=observer,
            forwarding=self.forwarding,
        )
        self.participants[participant_id] = participant
        return participant

    def get(self, participant_id: str) -> Participant | None:
        return self.participants.get(participant_id)

    async def remove_participant(self, participant_id: str, reason: CloseReason) -> None:
        participant = self.participants.pop(participant_id, None)
        if participant is not None:
            await participant.close(reason)
            self.route()

    def route(self) -> None:
        """(Re)bind every subscriber slot to its publisher; cheap, called on every change."""
        members = list(self.participants.values())
        for member in members:
            for kind, slots in member.slots.items():
                sources = [
                    other.publishers[kind]
                    for other in members
                    if other is not member and kind in other.publishers
                    and (other.audience is None or member.participant_id in other.audience)
                ]
                for index, slot in enumerate(slots):
                    slot.bind(sources[index] if index < len(sources) else None)

    def set_audience(self, participant_id: str, audience: frozenset[str] | None) -> None:
        participant = self.participants.get(participant_id)
        if participant is not None:
            participant.audience = audience
            self.route()

    async def close(self, reason: CloseReason) -> None:
        if self.closed:
            return
        self.closed = True
        for participant_id in list(self.participants):
            await self.remove_participant(participant_id, reason)
        logger.info("room %s closed: %s", self.room_id, reason.value)

    def stats(self) -> dict:
        return {
            "room_id": self.room_id,
            "participants": [p.stats() for p in self.participants.values()],
        }
