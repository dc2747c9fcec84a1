"""Caps on what one client may hold at once: open sockets per address, and calls waiting in the
queue per address and per customer — so that one client cannot fill the queue ahead of real
shoppers (a flood of call requests is refused in words; another address's shopper still queues).

Rate limits (limits.py) bound how fast; these bound how many at a time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from signaling.api.client_address import ClientAddress, ClientAddresses
from signaling.api.limits import RateLimits
from signaling.errors import ErrorCode, SignalingError


class SocketCounts:
    """Open WebSockets per client address; 0 = no cap."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.open: Counter[str] = Counter()

    def admit(self, client: ClientAddress) -> bool:
        """Count a new socket in, unless its address is at the cap."""
        if self.cap and not client.exempt and self.open[client.ip] >= self.cap:
            return False
        self.open[client.ip] += 1
        return True

    def release(self, client: ClientAddress) -> None:
        self.open[client.ip] -= 1
        if self.open[client.ip] <= 0:
            del self.open[client.ip]


@dataclass(frozen=True)
class Requester:
    """Who asked for a call: the address, and the customer the shop signed into the token."""

    client: ClientAddress
    customer: str | None


class WaitingCalls:
    """Calls still waiting for an agent, by who asked for them. ``waiting(call_id)`` tells
    whether a call still waits (the contact centre's answer); ended or answered calls drop out.
    A request counts from the moment it is checked (``reserve``), so that requests racing each
    other while the first is still being queued cannot pass the cap together."""

    def __init__(self, per_ip: int, per_customer: int, waiting: Callable[[str], bool]) -> None:
        self.per_ip = per_ip
        self.per_customer = per_customer
        self.waiting = waiting
        self.requests: dict[str, Requester] = {}
        self.pending: dict[str, Requester] = {}  # checked, being queued

    def _current(self) -> list[Requester]:
        for call_id in [c for c in self.requests if not self.waiting(c)]:
            del self.requests[call_id]
        return [*self.requests.values(), *self.pending.values()]

    def check(self, requester: Requester) -> None:
        """Refuse (``too_many_waiting``) a new call beyond a cap."""
        current = self._current()
        client = requester.client
        if self.per_ip and not client.exempt \
                and sum(1 for r in current if r.client.ip == client.ip) >= self.per_ip:
            raise SignalingError(ErrorCode.TOO_MANY_WAITING,
                                 f"{self.per_ip} calls from your address are already waiting for an "
                                 f"expert; please wait for one of them to be answered")
        if self.per_customer and requester.customer is not None \
                and sum(1 for r in current if r.customer == requester.customer) >= self.per_customer:
            raise SignalingError(ErrorCode.TOO_MANY_WAITING,
                                 "you already have a call waiting for an expert; please wait for it "
                                 "to be answered" if self.per_customer == 1 else
                                 f"you already have {self.per_customer} calls waiting for an expert; "
                                 f"please wait for one of them to be answered")

    def reserve(self, call_id: str, requester: Requester) -> None:
        """Count a checked request while the contact centre queues it."""
        self.pending[call_id] = requester

    def settle(self, call_id: str) -> None:
        """The contact centre is done with the request: it counts while its call waits."""
        requester = self.pending.pop(call_id, None)
        if requester is not None and self.waiting(call_id):
            self.requests[call_id] = requester


@dataclass
class EdgeLimits:
    """Everything the WebSocket face enforces per client, configured once (silkline/app.py)."""

    addresses: ClientAddresses
    limits: RateLimits
    sockets: SocketCounts
    waiting_per_ip: int = 5
    waiting_per_customer: int = 2
    join_deadline: float = 10.0  # seconds an unauthenticated socket may stay, pings or not
