"""Short-lived TURN credentials, minted per participant, never a static password in a page.

The scheme is the "TURN REST API" one (draft-uberti-behave-turn-rest-00) that coturn checks
with ``use-auth-secret`` / ``static-auth-secret``: the username is ``"<expiry unix>:<id>"``
and the password is ``base64(HMAC-SHA1(secret, username))``. The TURN server and Silkline
share only the secret; a leaked credential dies at its expiry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Any

from media.clock import Clock, SystemClock

_SCHEMES = ("turn:", "turns:")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.@-]")


class TurnConfigError(ValueError):
    """TURN URLs without a secret, or a URL that is not turn:/turns:."""


def turn_password(secret: str, username: str) -> str:
    """The long-term password coturn derives from ``static-auth-secret`` for ``username``."""
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


class TurnCredentials:
    """Mints ``{urls, username, credential}`` entries for ``RTCPeerConnection({iceServers})``."""

    def __init__(self, urls: list[str], secret: str, ttl: float = 3600.0,
                 clock: Clock | None = None) -> None:
        if not urls:
            raise TurnConfigError("at least one turn: or turns: URL is needed")
        bad = [u for u in urls if not u.startswith(_SCHEMES)]
        if bad:
            raise TurnConfigError(f"TURN URLs must start with turn: or turns: ({', '.join(bad)})")
        if not secret:
            raise TurnConfigError("TURN URLs need --turn-secret (coturn's static-auth-secret)")
        if ttl <= 0:
            raise TurnConfigError("the TURN credential lifetime must be positive")
        self.urls = list(urls)
        self._secret = secret
        self.ttl = ttl
        self.clock = clock or SystemClock()

    def mint(self, subject: str) -> dict[str, Any]:
        """A credential for one participant, valid for ``ttl`` seconds from now."""
        # ':' separates the expiry in coturn's parser; keep the id to a safe alphabet
        subject = _UNSAFE.sub("_", subject)[:128] or "anonymous"
        username = f"{int(self.clock.now() + self.ttl)}:{subject}"
        return {"urls": list(self.urls), "username": username,
                "credential": turn_password(self._secret, username)}


class IceServers:
    """What a client is handed in ``joined.ice_servers``: the configured STUN/TURN entries
    and, when TURN is set up with a secret, a fresh credential for this participant."""

    def __init__(self, static: list[dict[str, Any]], turn: TurnCredentials | None) -> None:
        self.static = [dict(server) for server in static]
        self.turn = turn

    def for_participant(self, participant_id: str) -> list[dict[str, Any]]:
        servers = [dict(server) for server in self.static]
        if self.turn is not None:
            servers.append(self.turn.mint(participant_id))
        return servers
