"""REST request bodies, typed and checked at the edge (as the WebSocket messages are in
protocol.py): a handler gets a valid object or the client gets ``bad_json`` / ``invalid_message``."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from aiohttp import web

from signaling.errors import ErrorCode, SignalingError

T = TypeVar("T", bound=msgspec.Struct)

SCORE_CRITERIA = ("greeting", "product_knowledge", "problem_solved", "courtesy", "compliance")


class Rating(msgspec.Struct, forbid_unknown_fields=False):
    """``POST /api/calls/{id}/rating``"""

    score: int
    comment: str = ""

    def __post_init__(self) -> None:
        if not 1 <= self.score <= 5:
            raise ValueError("score must be a whole number from 1 to 5")
        self.comment = self.comment.strip()[:2000]


class CallbackDetails(msgspec.Struct, forbid_unknown_fields=False):
    """``POST /api/calls/{id}/callback``: the same as the ``callback`` message."""

    name: str
    contact: str
    question: Any = None  # anything but text counts as no question

    def __post_init__(self) -> None:
        self.name, self.contact = self.name.strip()[:120], self.contact.strip()[:200]
        if not self.name or not self.contact:
            raise ValueError("name and phone or e-mail are needed")
        self.question = self.question.strip()[:2000] if isinstance(self.question, str) else ""

    def details(self) -> dict[str, str]:
        return {"name": self.name, "contact": self.contact, "question": self.question}


class MoveRequest(msgspec.Struct, forbid_unknown_fields=False):
    """``POST /api/calls/{id}/move`` (the body is optional)."""

    to_node: str | None = None

    def __post_init__(self) -> None:
        if self.to_node is not None and not 0 < len(self.to_node) <= 80:
            raise ValueError("to_node is a node id (1 to 80 characters)")


class Scorecard(msgspec.Struct, forbid_unknown_fields=False):
    """``POST /api/calls/{id}/scorecard``"""

    scores: dict[str, int]
    comment: str = ""

    def __post_init__(self) -> None:
        if not self.scores or any(k not in SCORE_CRITERIA or not 0 <= v <= 5 for k, v in self.scores.items()):
            raise ValueError(f"scores: 0-5 for each of {', '.join(SCORE_CRITERIA)}")
        self.comment = self.comment.strip()[:4000]


async def read_body(request: web.Request, cls: type[T], shape: str,
                    not_an_object: ErrorCode = ErrorCode.BAD_JSON) -> T:
    """The request's JSON body as ``cls``."""
    try:
        body = await request.json()
    except (ValueError, RecursionError):  # not JSON, or nested past Python's recursion limit
        raise SignalingError(ErrorCode.BAD_JSON, f"send a JSON object: {shape}") from None
    if not isinstance(body, dict):
        raise SignalingError(not_an_object, f"send a JSON object: {shape}")
    try:
        return msgspec.convert(body, cls)
    except msgspec.ValidationError as exc:
        raise SignalingError(ErrorCode.INVALID_MESSAGE, str(exc)) from None
