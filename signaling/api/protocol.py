"""The WebSocket protocol, version 1 (docs/protocol.md): typed messages validated at the edge.

Inside the server nothing re-checks raw dicts: ``parse`` returns one of the message classes
below or raises :class:`~signaling.errors.SignalingError` with a stable code.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

import msgspec

from media.annotation import MAX_FADE_S, MAX_POINTS, MAX_TEXT
from signaling.errors import ErrorCode, SignalingError

VERSION = 1
MAX_MESSAGE_BYTES = 64 * 1024  # a frame of exactly this many bytes is served
# the WebSocket layer's own ceiling: a frame between the two is read, answered
# ``message_too_large`` and the socket closed (1009); one above it is cut off at once (1009)
MAX_FRAME_BYTES = 16 * MAX_MESSAGE_BYTES
MAX_CHAT_CHARS = 2000
Id = Annotated[str, msgspec.Meta(max_length=128)]  # call, agent and queue ids


class _Message(msgspec.Struct, tag_field="type", forbid_unknown_fields=False, kw_only=True):
    """Fields without a default are required: msgspec reports the first one missing."""

    v: int
    id: str | None = None


class Join(_Message, tag="join"):
    token: str
    context: dict[str, Any] | None = None  # shopper: the page the call starts from

    def __post_init__(self) -> None:
        if self.context is not None:
            self.context = clean_context(self.context)


class RefreshToken(_Message, tag="refresh-token"):
    """A fresher token for this socket's own person (the staff pages refresh before expiry)."""

    token: str


class Ping(_Message, tag="ping"):
    """A page's own liveness check: browsers cannot send WebSocket pings, and a socket relayed
    through a frozen cluster node stays open at their end, silent."""


class Accept(_Message, tag="accept"):
    call_id: str


class Decline(_Message, tag="decline"):
    call_id: str


class Offer(_Message, tag="offer"):
    call_id: str
    sdp: str


class IceCandidate(msgspec.Struct, forbid_unknown_fields=False):
    candidate: str = ""
    sdpMid: str | None = None
    sdpMLineIndex: int | None = None
    usernameFragment: str | None = None


class Candidate(_Message, tag="candidate"):
    call_id: str
    candidate: IceCandidate | None


class Hangup(_Message, tag="hangup"):
    call_id: str


class Leave(_Message, tag="leave"):
    pass


class SetState(_Message, tag="set-state"):
    state: Literal["available", "away"]  # the states an agent chooses; the others follow calls


class Chat(_Message, tag="chat"):
    call_id: str
    text: str

    def __post_init__(self) -> None:
        self.text = self.text.strip()
        if not self.text:
            raise ValueError("text is empty")
        if len(self.text) > MAX_CHAT_CHARS:
            raise ValueError(f"at most {MAX_CHAT_CHARS} characters")


class Snapshot(_Message, tag="snapshot"):
    call_id: str
    target: Literal["shopper", "agent"] | None = None  # whose video; the other conversant's


class Transfer(_Message, tag="transfer"):
    call_id: str
    to_agent: Id | None = None
    to_queue: Id | None = None

    def __post_init__(self) -> None:
        if not self.to_agent and not self.to_queue:
            raise ValueError("transfer needs to_agent or to_queue")


class WrapUp(_Message, tag="wrap-up"):
    call_id: str
    disposition: str
    notes: str = ""

    def __post_init__(self) -> None:
        self.disposition, self.notes = self.disposition[:80], self.notes[:4000]


class WrapUpTyping(_Message, tag="wrap-up-typing"):
    """The agent is typing the notes: the wrap-up countdown pauses."""

    call_id: str


class WrapUpDraft(_Message, tag="wrap-up-draft"):
    """The notes typed so far (debounced by the console): saved if the wrap-up runs out."""

    call_id: str
    notes: str = ""
    disposition: str = ""

    def __post_init__(self) -> None:
        self.disposition, self.notes = self.disposition[:80], self.notes[:4000]


class MediaStateChange(_Message, tag="media-state"):
    """My microphone (``audio``) or camera (``video``) is on or off, for the others' tiles."""

    call_id: str
    audio: bool
    video: bool


class CallbackRequest(_Message, tag="callback"):
    call_id: str
    name: str
    contact: str
    question: str = ""

    def __post_init__(self) -> None:
        self.name, self.contact = self.name.strip()[:120], self.contact.strip()[:200]
        self.question = self.question.strip()[:2000]
        if not self.name or not self.contact:
            raise ValueError("name and phone or e-mail are needed")

    def details(self) -> dict[str, str]:
        return {"name": self.name, "contact": self.contact, "question": self.question}


class Monitor(_Message, tag="monitor"):
    call_id: str


class MonitorModeChange(_Message, tag="monitor-mode"):
    call_id: str
    mode: Literal["silent", "whisper", "barge"]


class Unmonitor(_Message, tag="unmonitor"):
    call_id: str


class RecordingConsent(_Message, tag="recording-consent"):
    call_id: str
    granted: bool


class PauseRecording(_Message, tag="pause-recording"):
    call_id: str


class ResumeRecording(_Message, tag="resume-recording"):
    call_id: str


class Annotate(_Message, tag="annotate"):
    """A mark on a party's live video (media/annotation.py is the schema). The lengths are
    bounded here; the ranges (coordinates in [0, 1], points per shape) by ``parse_annotation``."""

    call_id: Id
    target: Literal["shopper", "agent"]  # whose video the mark is on
    shape: Literal["pointer", "arrow", "circle", "pen", "text", "undo", "clear"]
    color: Annotated[str, msgspec.Meta(max_length=7)] | None = None
    points: Annotated[list[Annotated[list[float], msgspec.Meta(max_length=2)]],
                      msgspec.Meta(max_length=MAX_POINTS)] = msgspec.field(default_factory=list)
    text: Annotated[str, msgspec.Meta(max_length=MAX_TEXT)] | None = None
    pinned: bool = False
    fade_s: Annotated[float, msgspec.Meta(gt=0, le=MAX_FADE_S)] | None = None
    annotation_id: Annotated[str, msgspec.Meta(max_length=67)] | None = None


ClientMessage = Union[Join, Accept, Decline, Offer, Candidate, Hangup, Leave, SetState, Chat,
                      Snapshot, Transfer, WrapUp, WrapUpTyping, WrapUpDraft, MediaStateChange, CallbackRequest, Monitor, MonitorModeChange,
                      Unmonitor, RecordingConsent, PauseRecording, ResumeRecording, Annotate, RefreshToken, Ping]
TYPES = {cls.__struct_config__.tag: cls for cls in ClientMessage.__args__}  # type: ignore[attr-defined]
_decoder = msgspec.json.Decoder()


def message_size(raw: str | bytes) -> int:
    """The frame's size in bytes (a text frame arrives decoded: up to 4 bytes a character)."""
    if isinstance(raw, bytes) or len(raw) * 4 <= MAX_MESSAGE_BYTES:
        return len(raw)
    return len(raw.encode("utf-8", "surrogatepass"))


def parse(raw: str | bytes) -> ClientMessage:
    if message_size(raw) > MAX_MESSAGE_BYTES:
        raise SignalingError(ErrorCode.MESSAGE_TOO_LARGE, f"messages are limited to {MAX_MESSAGE_BYTES} bytes")
    try:
        obj = _decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise SignalingError(ErrorCode.BAD_JSON, f"the message is not valid JSON ({exc})") from None
    except RecursionError:
        # msgspec stops at Python's recursion limit; the protocol never nests beyond a few levels
        raise SignalingError(ErrorCode.BAD_JSON, "the message nests too deeply") from None
    if not isinstance(obj, dict):
        raise SignalingError(ErrorCode.INVALID_MESSAGE, "a message must be a JSON object")
    ref = obj.get("id") if isinstance(obj.get("id"), str) else None
    if obj.get("v") != VERSION:
        raise SignalingError(ErrorCode.UNSUPPORTED_VERSION, f"protocol version must be {VERSION}", ref)
    kind = obj.get("type")
    if not isinstance(kind, str) or kind not in TYPES:
        raise SignalingError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {kind!r}", ref)
    try:
        return msgspec.convert(obj, ClientMessage)
    except msgspec.ValidationError as exc:
        raise SignalingError(ErrorCode.INVALID_MESSAGE, f"{kind}: {exc}", ref) from None
    except RecursionError:
        raise SignalingError(ErrorCode.INVALID_MESSAGE, f"{kind}: a field nests too deeply", ref) from None


def clean_context(context: dict[str, Any]) -> dict[str, Any]:
    """Keep the page context small and flat: it is shown to agents and stored."""
    clean: dict[str, Any] = {}
    for key, value in list(context.items())[:32]:
        if not isinstance(key, str) or len(key) > 64:
            continue
        if isinstance(value, (str, int, float, bool)) or value is None:
            clean[key] = value[:500] if isinstance(value, str) else value
        elif isinstance(value, list):
            clean[key] = [str(v)[:300] for v in value[:10]]
    return clean

