"""How the load tool's peers follow a call that moves: the seam between the generator and the
client package.

Two things happen when a node dies. The call's media moves: the server sends ``migrated`` (or a
socket comes back with ``joined{resumed: true}``), and the side offers a new peer connection with
the same tracks (``renegotiate``). And sockets on the dead node drop: the side joins again with
the same token on any of the cluster's URLs (``reconnect``).

When the client package follows media itself (``SignalingClient.follow_media`` and
``reconnect=True``, branch ``migrate``), :func:`open_socket` builds a client that reconnects on its
own and :func:`follow_media` hands it the peer's ``renew``; the generator then does nothing else.
Until then (``CLIENT_FOLLOWS`` false) :func:`open_socket` builds a plain client, ``follow_media``
answers None, and the generator calls :func:`renegotiate` on ``migrated`` and :func:`reconnect`
when a socket drops, both written with the client's current API. Either way the tool works.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import Any, Protocol

import aiohttp

from client import Negotiable, SignalingClient, SignalingError, negotiate
from client.session import Callback

CLIENT_FOLLOWS = hasattr(SignalingClient, "follow_media")  # the client package follows media itself
JOIN_TIMEOUT = 5.0
MAX_ATTEMPTS = 40
BACKOFF_S = (0.1, 0.2, 0.5, 1.0)


class Renewable(Negotiable, Protocol):
    async def renew(self) -> None:
        """Close the old peer connection and make a new one with the same tracks."""
        ...


def open_socket(http: aiohttp.ClientSession, url: str, urls: Sequence[str], *, on_message: Callback | None,
                fail_on: tuple[str, ...] = ()) -> SignalingClient:
    """One side's signaling client (not connected yet): one that reconnects over ``urls`` by
    itself when the client package can, else a plain one."""
    if CLIENT_FOLLOWS:
        follows: dict[str, Any] = {"reconnect": True, "base_urls": list(urls), "reconnect_attempts": MAX_ATTEMPTS}
        return SignalingClient(http, url, on_message=on_message, fail_on=fail_on, **follows)
    return SignalingClient(http, url, on_message=on_message, fail_on=fail_on)


def follow_media(ws: SignalingClient, peer: Renewable, call_id: str, *, timeout: float = 15.0) -> Any | None:
    """Let the client renegotiate ``peer`` on ``migrated`` and after a resumed join; its follower
    (``renegotiations``, ``errors``), or None when the generator must do it (:func:`renegotiate`)."""
    if not CLIENT_FOLLOWS:
        return None

    async def renew() -> Renewable:
        await peer.renew()
        return peer

    return ws.follow_media(call_id, renew, timeout=timeout)  # type: ignore[attr-defined]


async def renegotiate(ws: SignalingClient, peer: Renewable, call_id: str, *, timeout: float = 15.0) -> dict[str, Any]:
    """A new peer connection for ``call_id``, offered over ``ws``; returns the ``answer``."""
    await peer.renew()
    return await negotiate(ws, peer, call_id, timeout=timeout)


async def reconnect(http: aiohttp.ClientSession, urls: list[str], token: str, *, first: int,
                    deadline: float, on_message: Callback | None = None,
                    fail_on: tuple[str, ...] = ()) -> tuple[SignalingClient, dict[str, Any]]:
    """A socket to ``urls[first]``, else the next ones in turn (with a short backoff), joined
    with ``token`` before ``deadline`` (``time.monotonic()``); the client and its ``joined``."""
    last: Exception | None = None
    for attempt in range(MAX_ATTEMPTS):
        if time.monotonic() >= deadline:
            break
        url = urls[(first + attempt) % len(urls)]
        ws = SignalingClient(http, url, on_message=on_message, fail_on=fail_on)
        try:
            await ws.connect()
            joined = await ws.join(token, timeout=min(JOIN_TIMEOUT, max(0.1, deadline - time.monotonic())))
            return ws, joined
        except (SignalingError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            last = exc
            with contextlib.suppress(Exception):
                await ws.close()
        await asyncio.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
    raise SignalingError(f"no node took the socket back before the deadline ({last!r})"[:300])
