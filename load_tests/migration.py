"""How the load tool's peers follow a call that moves, in two functions (the seam).

``renegotiate``: on ``migrated`` (the call's media moved to another node) or after
``joined{resumed: true}``, a new peer connection with the same tracks is offered for the call.
``reconnect``: when a socket drops (its node died, or it was forwarded and the holder went away:
close 1012), a new socket to any of the cluster's URLs joins with the same token.

Both are written with the client package's current API (``SignalingClient``, ``negotiate``);
when the client package gains its own (branch ``migrate``), these two bodies switch to it and
nothing else in the load tool changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, Protocol

import aiohttp

from client import Negotiable, SignalingClient, SignalingError, negotiate
from client.session import Callback

JOIN_TIMEOUT = 5.0
MAX_ATTEMPTS = 40
BACKOFF_S = (0.1, 0.2, 0.5, 1.0)


class Renewable(Negotiable, Protocol):
    async def renew(self) -> None:
        """Close the old peer connection and make a new one with the same tracks."""
        ...


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
