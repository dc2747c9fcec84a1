"""Server → client messages of the WebSocket protocol, version 1 (docs/protocol.md), typed.

The contact centre builds these classes; the socket's writer encodes each once
(:func:`encode`), adding the protocol version. A field left at ``None`` is not sent, as
before; the dashboard's rows (``CallSummary``, ``AgentSummary``, ``QueueFigures``) send every
field, ``null`` included, because the pages read them as columns.
"""

from __future__ import annotations

from typing import Any, Union

import msgspec

from signaling.errors import ErrorCode

VERSION = 1


class _Out(msgspec.Struct, tag_field="type", omit_defaults=True, kw_only=True):
    """One message to a client; ``v`` is added when it is encoded."""


class _Row(msgspec.Struct, kw_only=True):
    """A row of the dashboard: every field is sent."""


class QueueFigures(_Row):
    queue: str
    waiting: int
    longest_wait_s: float
    agents_signed_in: int
    agents_available: int


class CallSummary(_Row):
    call_id: str
    state: str
    queue: str
    agent_id: str | None
    shopper_id: str
    priority: int
    waited_s: float
    duration_s: float | None
    context: dict[str, Any]
    monitored_by: list[str]
    shopper_name: str | None = None  # as the shop named the customer (token), if it did
    customer_id: str | None = None  # the shop's customer id, if known
    agent_name: str | None = None  # the agent serving (or rung for) the call
    monitored_by_names: list[str] = msgspec.field(default_factory=list)  # as monitored_by, in words


class AgentSummary(_Row):
    agent_id: str
    name: str
    state: str
    call_id: str | None
    skills: dict[str, int]
    calls_today: int
    in_state_s: float | None


class Joined(_Out, tag="joined"):
    role: str
    participant_id: str
    ice_servers: list[dict[str, Any]]
    resumed: bool
    call_id: str | None = None  # shopper: their call; agent: the call resumed
    state: str | None = None  # shopper: the call's state; agent: the agent's
    queue: str | None = None  # shopper
    agent_id: str | None = None  # agent
    name: str | None = None  # agent
    skills: dict[str, int] | None = None  # agent
    queues: list[QueueFigures] | None = None  # agent


class CallStateChanged(_Out, tag="call-state"):
    call_id: str
    state: str
    reason: str | None = None  # unavailable: why; waiting: "transferred" or "at_capacity"
    message: str | None = None  # unavailable, waiting at_capacity: in words


class QueuePosition(_Out, tag="queue-position"):
    call_id: str
    position: int
    waited_s: int
    estimated_wait_s: int | None = None  # none when nobody is taking calls
    callback_offered: bool = False  # nobody can answer now: offer a callback, not "you're next"


class Pong(_Out, tag="pong"):
    """The answer to ``ping``, with the ping's ``id`` as ``ref``."""

    ref: str | None = None


class TokenRefreshed(_Out, tag="token-refreshed"):
    expires_at: float  # unix seconds: the socket now lives on the new token


class AgentStateChanged(_Out, tag="agent-state"):
    state: str
    call_id: str | None = None
    wrap_up_s: float | None = None  # seconds of wrap-up left
    wrap_up_paused: bool | None = None  # the countdown is paused while the agent types
    disposition: str | None = None  # the wrap-up ran out: what was filed (timed_out)


class CallOffered(_Out, tag="call-offered"):
    call_id: str
    context: dict[str, Any]
    queue: str
    priority: int
    audio_only: bool
    returning: bool
    waited_s: float
    customer_name: str | None = None  # as the shop named the customer, if it did


class CallWithdrawn(_Out, tag="call-withdrawn"):
    call_id: str
    reason: str


class CallEnded(_Out, tag="call-ended"):
    call_id: str
    reason: str
    by: str | None = None
    detail: str | None = None


class AgentJoined(_Out, tag="agent-joined"):
    call_id: str
    name: str


class Answer(_Out, tag="answer"):
    call_id: str
    sdp: str
    ref: str | None = None  # the id of the offer this answers: a client that offered again takes its latest


class ParticipantState(_Out, tag="participant-state"):
    call_id: str
    role: str
    state: str  # reconnecting | connected
    grace_s: float | None = None


class Migrated(_Out, tag="migrated"):
    """The call's media moved to a new room: close the peer connection, offer a new one with the
    same tracks (the call, its chat and its agent stay)."""

    call_id: str
    reason: str  # node_lost | node_drain | centre_lost | operator


class RemoteMediaState(_Out, tag="media-state"):
    """A party turned its microphone or camera off or on (its client says so)."""

    call_id: str
    role: str
    audio: bool
    video: bool
    name: str | None = None


class RecordingState(_Out, tag="recording"):
    call_id: str
    state: str  # on | paused | off
    reason: str | None = None


class RecordingConsentRequest(_Out, tag="recording-consent-request"):
    call_id: str


class Monitoring(_Out, tag="monitoring"):
    call_id: str
    mode: str
    state: str
    context: dict[str, Any] | None = None
    # on starting to monitor: the chat and photos of the call so far, oldest first
    conversation: list[ChatLine | Photo] | None = None


class SupervisorPresence(_Out, tag="supervisor"):
    call_id: str
    mode: str  # whisper | barge | left
    name: str | None = None


class Dashboard(_Out, tag="dashboard"):
    at: float
    calls: list[CallSummary]
    agents: list[AgentSummary]
    queues: list[QueueFigures]


class ChatLine(_Out, tag="chat"):
    call_id: str
    chat_id: str
    role: str
    text: str
    at: float
    name: str | None = None


class Photo(_Out, tag="photo"):
    call_id: str
    photo_id: str
    kind: str  # photo | snapshot
    role: str
    url: str
    width: int
    height: int
    at: float
    name: str | None = None
    target: str | None = None  # a snapshot: whose video it is a still of (shopper | agent)


class AnnotationMark(_Out, tag="annotation"):
    """A mark on a party's live video, as stored in the call record (media/annotation.py)."""

    call_id: str
    annotation_id: str
    by: str  # agent | shopper
    target: str  # whose video: agent | shopper
    shape: str
    at: float  # server time
    by_name: str | None = None
    color: str | None = None  # marks only (not undo / clear)
    points: list[list[float]] | None = None
    text: str | None = None
    pinned: bool | None = None
    fade_s: float | None = None


class CallbackAccepted(_Out, tag="callback-accepted"):
    call_id: str


class CallbacksChanged(_Out, tag="callbacks-changed"):
    pass


class Error(_Out, tag="error"):
    code: str
    message: str
    ref: str | None = None  # the id of the client message this answers
    retry_after: float | None = None  # seconds: trying again sooner is refused again (rate_limited)


ServerMessage = Union[Joined, CallStateChanged, QueuePosition, AgentStateChanged, CallOffered,
                      CallWithdrawn, CallEnded, AgentJoined, Answer, ParticipantState, Migrated, RemoteMediaState, RecordingState,
                      RecordingConsentRequest, Monitoring, SupervisorPresence, Dashboard, ChatLine, Photo,
                      AnnotationMark, CallbackAccepted, CallbacksChanged, TokenRefreshed, Pong, Error]

_encoder = msgspec.json.Encoder()
_VERSIONED = b'{"v":%d,' % VERSION


def encode(msg: ServerMessage) -> bytes:
    """The message as sent: ``{"v": 1, "type": …, …}``."""
    return _VERSIONED + _encoder.encode(msg)[1:]


def as_dict(msg: ServerMessage) -> dict[str, Any]:
    """The message as the client decodes it (for REST answers and tests)."""
    return {"v": VERSION, **msgspec.to_builtins(msg)}


def error(code: ErrorCode, text: str, ref: str | None = None, retry_after: float | None = None) -> Error:
    return Error(code=code.value, message=text, ref=ref,
                 retry_after=None if retry_after is None else round(retry_after, 3))
