"""What can go wrong when talking to a Silkline server, as exception classes a script can catch."""

from __future__ import annotations

from typing import Any

Message = dict[str, Any]


class SignalingError(Exception):
    """Something went wrong on the signaling socket."""


class SignalingTimeout(SignalingError, TimeoutError):
    """The awaited message did not arrive in time."""


class SignalingClosed(SignalingError, ConnectionError):
    """The socket is closed: nothing more will arrive, nothing can be sent."""


class ServerError(SignalingError):
    """The server answered with ``error`` (or ended the call) instead of what was awaited."""

    def __init__(self, message: Message, waiting_for: str) -> None:
        self.message = message
        self.code: str | None = message.get("code")
        super().__init__(f"{message.get('type')} while waiting for {waiting_for}: {message}")


class RestError(SignalingError):
    """A REST call answered with an HTTP error status."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        self.status = status
        self.body = body
        super().__init__(f"{method} {path}: HTTP {status} {body[:500]}")
