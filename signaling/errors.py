"""The one error type of signaling: a stable code and a human sentence."""

from __future__ import annotations


class CallError(Exception):
    """A request the contact centre refuses; crosses the wire as ``error{code, message}``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
