"""How the load tool's peers follow a call that moves: the seam between the generator and the
client package, which does the following itself.

Two things happen when a node dies. Sockets on it drop: each side's :class:`SignalingClient` is
built to reconnect (``reconnect=True``) over the cluster's URLs and sends the same ``join``, and
pings the server (``heartbeat``) so a socket relayed through a node that died without a FIN is
noticed too. And the call's media moves: the server sends ``migrated`` (or the socket comes back
with ``joined{resumed: true}``), and the side's follower (``SignalingClient.follow_media``)
renews its peer connection (``renew()``: the same tracks on a new RTCPeerConnection) and offers
it again. The generator only reads the counts (``reconnects``, ``renegotiations``, ``errors``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import aiohttp

from client import MediaFollower, Negotiable, SignalingClient
from client.session import Callback

HEARTBEAT_S = 2.0  # the generator's own pings: a dead node is noticed within about two of them
RECONNECT_ATTEMPTS = 40  # with RECONNECT_BACKOFF_S: about 35 s of tries, longer than any migration
RECONNECT_BACKOFF_S = (0.1, 1.0)  # first wait, longest wait (doubling)


class Renewable(Negotiable, Protocol):
    async def renew(self) -> None:
        """Close the old peer connection and make a new one with the same tracks."""
        ...


def open_socket(http: aiohttp.ClientSession, url: str, urls: Sequence[str], *, on_message: Callback | None,
                fail_on: tuple[str, ...] = ()) -> SignalingClient:
    """One side's signaling client (not connected yet): it pings every HEARTBEAT_S and, when its
    socket drops, reconnects to ``url`` and then the others of ``urls`` in turn with the same join."""
    return SignalingClient(http, url, on_message=on_message, fail_on=fail_on, heartbeat=HEARTBEAT_S,
                           reconnect=True, base_urls=list(urls), reconnect_attempts=RECONNECT_ATTEMPTS,
                           backoff=RECONNECT_BACKOFF_S)


def follow_media(ws: SignalingClient, peer: Renewable, call_id: str, *, timeout: float = 15.0) -> MediaFollower:
    """From now on ``ws`` renegotiates ``peer`` on ``migrated`` and after a resumed join; the
    follower counts its renegotiations and keeps its errors.

    An ``error`` stops failing ``ws``'s expects from now on: the client leaves the ``error`` that
    failed an expect in its inbox, so with ``error`` in ``fail_on`` the first refused offer (one
    sent to a room whose node just died: ``service_unavailable``) would fail every later
    renegotiation at once, the one after ``migrated`` too. A refused offer now waits out its
    timeout, or the next ``migrated`` replaces it."""
    ws.fail_on = ws.fail_on - {"error"}

    async def renew() -> Renewable:
        await peer.renew()
        return peer

    return ws.follow_media(call_id, renew, timeout=timeout)
