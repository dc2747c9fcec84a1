"""What the call lifecycle needs from a connected client; the WebSocket handler implements it."""

from __future__ import annotations

from typing import Protocol

from signaling.auth import Claims
from signaling.server_messages import ServerMessage


class Session(Protocol):
    session_id: str
    claims: Claims | None

    def send(self, msg: ServerMessage) -> None:
        """Queue a message for the client; never blocks."""

    async def close(self, code: int, reason: str) -> None: ...
