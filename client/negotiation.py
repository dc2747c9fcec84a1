"""The offer/answer exchange of one peer connection over signaling (docs/protocol.md).

The client offers, the server answers with every candidate already in the SDP (it does not
trickle), so a peer needs only two operations. Any object with them will do: an aiortc
``RTCPeerConnection`` wrapper, a load generator's peer, a test's recording peer. Nothing here
knows a media library: to follow a call whose media moves (``migrated``), the peer's owner hands
``SignalingClient.follow_media`` a ``renew`` coroutine that builds the next peer connection.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from client.errors import SignalingTimeout

if TYPE_CHECKING:
    from client.session import SignalingClient


class Negotiable(Protocol):
    """One side's peer connection, as signaling needs it."""

    async def offer(self) -> str:
        """Create an offer, set it as the local description and return its SDP (with candidates)."""
        ...

    async def accept_answer(self, sdp: str) -> None:
        """Set the server's SDP answer as the remote description."""
        ...


async def negotiate(client: SignalingClient, peer: Negotiable, call_id: str, *, timeout: float = 15.0,
                    on_answer: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Send ``peer``'s offer for ``call_id``, wait for the ``answer`` and hand it to ``peer``.

    A new offer replaces the participant's peer connection on the server, so this is also how
    a client recovers (after ``joined{resumed: true}`` or an ICE failure). ``on_answer`` is
    called the moment the answer arrives, before the peer applies it (to time set-up phases).
    The offer carries an ``id`` and the answer taken is the one whose ``ref`` names it: an answer
    to an earlier offer (overtaken by a move, still on its way) is never applied to this peer.
    Returns the ``answer`` message."""
    offer_id = uuid.uuid4().hex
    await client.send("offer", call_id=call_id, sdp=await peer.offer(), id=offer_id)
    answer = await client.expect("answer", call_id=call_id, ref=offer_id, timeout=timeout)
    if on_answer is not None:
        on_answer(answer)
    await peer.accept_answer(answer["sdp"])
    return answer


Renew = Callable[[], Awaitable[Negotiable]]
"""Closes the peer connection and returns one to offer next: a new peer connection with the same
local tracks (the old object rebuilt, or a new one)."""


class MediaFollower:
    """Keeps one call's media following the server: on ``migrated`` (the call's media moved to a
    new room) and on ``joined{resumed: true}`` after the socket came back, it renews the peer
    connection and offers it again. ``SignalingClient.follow_media`` makes one; the client owns
    its task (one at a time: a newer move replaces a renegotiation still under way)."""

    def __init__(self, client: SignalingClient, call_id: str, renew: Renew, *, timeout: float = 15.0) -> None:
        self.client = client
        self.call_id = call_id
        self.renew = renew
        self.timeout = timeout
        self.renegotiations = 0  # offers answered since following began
        self.errors: list[BaseException] = []
        self.done = asyncio.Event()  # set after each answered renegotiation
        self._task: asyncio.Task[None] | None = None
        client.on("migrated", self._on_migrated)
        client.on("joined", self._on_joined)

    def _on_migrated(self, client: SignalingClient, message: dict[str, Any]) -> None:
        if message.get("call_id") == self.call_id:
            self.start()

    def _on_joined(self, client: SignalingClient, message: dict[str, Any]) -> None:
        if message.get("resumed") and message.get("call_id") in (self.call_id, None) and client.reconnects:
            self.start()

    def start(self) -> None:
        """Renegotiate now (a newer request replaces one under way)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self.done.clear()
        self._task = asyncio.get_running_loop().create_task(self._renegotiate(),
                                                            name=f"renegotiate {self.call_id}")

    async def _renegotiate(self) -> None:
        try:
            peer = await self.renew()
            await negotiate(self.client, peer, self.call_id, timeout=self.timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # kept for the owner (a test, the load tool) to read
            self.errors.append(exc)
            return
        self.renegotiations += 1
        self.done.set()

    async def wait(self, count: int = 1, timeout: float = 15.0) -> None:
        """Until ``count`` renegotiations were answered (SignalingTimeout otherwise)."""
        async def reached() -> None:
            while self.renegotiations < count:
                await self.done.wait()
                if self.renegotiations < count:
                    self.done.clear()
        try:
            await asyncio.wait_for(reached(), timeout)
        except TimeoutError:
            raise SignalingTimeout(f"{self.renegotiations} of {count} renegotiations of {self.call_id} "
                                   f"within {timeout:g} s; errors={self.errors}") from None

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
