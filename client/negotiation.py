"""The offer/answer exchange of one peer connection over signaling (docs/protocol.md).

The client offers, the server answers with every candidate already in the SDP (it does not
trickle), so a peer needs only two operations. Any object with them will do: an aiortc
``RTCPeerConnection`` wrapper, a load generator's peer, a test's recording peer. Nothing here
knows a media library.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

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
    Returns the ``answer`` message."""
    await client.send("offer", call_id=call_id, sdp=await peer.offer())
    answer = await client.expect("answer", call_id=call_id, timeout=timeout)
    if on_answer is not None:
        on_answer(answer)
    await peer.accept_answer(answer["sdp"])
    return answer
