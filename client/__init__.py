"""A small public Python client of Silkline's signaling protocol (docs/protocol.md).

Script a call in a few lines: get tokens over REST, open one :class:`SignalingClient` per
participant, send and expect messages, and let any peer object with ``offer()`` and
``accept_answer(sdp)`` (:class:`Negotiable`) do the offer/answer exchange. docs/client.md has a
whole call, media included. It needs aiohttp and msgspec only, and knows nothing of the server's
code: the wire protocol is the contract. The integration tests and the load tool both use it.
"""

from client.errors import RestError, ServerError, SignalingClosed, SignalingError, SignalingTimeout
from client.negotiation import MediaFollower, Negotiable, Renew, negotiate
from client.session import SignalingClient, matches
from client.tokens import demo_token, get_json, request_json

__all__ = [
    "MediaFollower", "Negotiable", "Renew", "RestError", "ServerError", "SignalingClient", "SignalingClosed", "SignalingError",
    "SignalingTimeout", "demo_token", "get_json", "matches", "negotiate", "request_json",
]
