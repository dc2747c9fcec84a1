"""Selective forwarding unit: rooms, participants, peers and encoded-media forwarding.

Room → Participant → Publisher / Subscriber, each closing its children with a reason.
Nothing here knows about queues, agents or HTTP.
"""

from sfu.admission import Admission, AdmissionLimit, AdmissionRefused, Refusal
from sfu.close_reason import CloseReason
from sfu.node import SfuNode
from sfu.participant import MediaState, Participant, ParticipantObserver
from sfu.peer import BadCandidateError, BadSdpError
from sfu.room import Room

__all__ = [
    "Admission",
    "AdmissionLimit",
    "AdmissionRefused",
    "BadCandidateError",
    "BadSdpError",
    "CloseReason",
    "MediaState",
    "Participant",
    "ParticipantObserver",
    "Refusal",
    "Room",
    "SfuNode",
]
