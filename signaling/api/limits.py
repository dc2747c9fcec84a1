"""Rate limits: one token bucket type, used for every budget the server keeps.

A budget is a token bucket (``RateLimit``: so many per period, a burst on top); a
``RateLimiter`` keeps one bucket per key (a client address, a token's subject, an API key) in a
bounded table; ``RateLimits`` holds the two limiters of each action — per client address and
per token — and refuses with ``rate_limited`` and the seconds until the next try can succeed
(``Retry-After`` over HTTP, ``retry_after`` in the WebSocket error). Time comes from the
injected Clock, so tests run the buckets on a VirtualClock.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import Enum

from aiohttp import web
from aiohttp.typedefs import Middleware

from media.clock import Clock
from signaling.api.client_address import ClientAddress, ClientAddresses
from signaling.api.rest import refused
from signaling.errors import ErrorCode, SignalingError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PERIODS = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "hour": 3600.0}
SPEC = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*([a-z]+)\s*(?::\s*(\d+(?:\.\d+)?))?\s*$")
MAX_KEYS = 50_000  # buckets kept per limiter; full (idle) ones are dropped first


class TokenBucket:
    """``burst`` tokens, refilled at ``rate`` per second; one request takes one."""

    def __init__(self, rate: float, burst: float, clock: Clock) -> None:
        self.rate, self.burst = rate, burst
        self.clock = clock
        self.tokens = burst
        self.stamp = clock.monotonic()

    def _refill(self) -> None:
        now = self.clock.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def take(self) -> bool:
        self._refill()
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def retry_after(self) -> float:
        """Seconds until a token is there again (0 when one is)."""
        self._refill()
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def full(self) -> bool:
        self._refill()
        return self.tokens >= self.burst


@dataclass(frozen=True)
class RateLimit:
    """``COUNT/PERIOD[:BURST]``: ``30/min`` is 30 a minute with a burst of 30; ``20/s:60`` is 20 a
    second with a burst of 60; ``off`` (or ``0``) is no limit."""

    rate: float  # tokens per second; 0 = no limit
    burst: float

    @classmethod
    def parse(cls, spec: str) -> RateLimit:
        text = spec.strip().lower()
        if text in ("off", "0", "none", ""):
            return cls(0.0, 0.0)
        match = SPEC.match(text)
        if match is None or match.group(2) not in PERIODS:
            raise ValueError(f"a rate limit is COUNT/PERIOD[:BURST] with PERIOD s, min or h "
                             f"(e.g. 30/min, 20/s:60) or off, not {spec!r}")
        count, period = float(match.group(1)), PERIODS[match.group(2)]
        burst = float(match.group(3)) if match.group(3) else count
        if count <= 0 or burst < 1:
            raise ValueError(f"a rate limit needs a count above 0 and a burst of at least 1: {spec!r}")
        return cls(count / period, burst)

    @property
    def off(self) -> bool:
        return self.rate <= 0


class RateLimiter:
    """One bucket per key, in a bounded table (a flood of new keys cannot grow it without end)."""

    def __init__(self, limit: RateLimit, clock: Clock, max_keys: int = MAX_KEYS) -> None:
        self.limit = limit
        self.clock = clock
        self.max_keys = max_keys
        self.buckets: dict[str, TokenBucket] = {}

    def take(self, key: str) -> float | None:
        """None when allowed; else the seconds to wait."""
        if self.limit.off:
            return None
        bucket = self.buckets.get(key)
        if bucket is None:
            if len(self.buckets) >= self.max_keys:
                self._prune()
            bucket = self.buckets[key] = TokenBucket(self.limit.rate, self.limit.burst, self.clock)
        if bucket.take():
            return None
        return bucket.retry_after()

    def _prune(self) -> None:
        """Drop the buckets that have refilled (nobody used them lately); then the oldest."""
        for key in [k for k, b in self.buckets.items() if b.full()]:
            del self.buckets[key]
        while len(self.buckets) >= self.max_keys:
            del self.buckets[next(iter(self.buckets))]


class Action(str, Enum):
    """What a budget is for; the configuration names them ``<action>.ip`` / ``<action>.token``."""

    MINT = "mint"  # POST /api/shopper-tokens, /api/demo/tokens, /api/login
    CALLS = "calls"  # a shopper's join that asks for a new call
    JOINS = "joins"  # every join on the WebSocket
    MESSAGES = "messages"  # every WebSocket message (besides each socket's own budget)
    UPLOADS = "uploads"  # POST /api/calls/{id}/photos


# the defaults let the load tool (40 calls from 127.0.0.1) and the browser tests through: loopback
# is exempt from the per-address budgets (--rate-limit-exempt) and the per-token ones are far above
# what one shopper, agent or shop backend does (docs/deploy.md, "Limits")
DEFAULT_LIMITS: dict[str, str] = {
    "mint.ip": "30/min", "mint.token": "1200/min",
    "calls.ip": "20/min", "calls.token": "6/min",
    "joins.ip": "60/min", "joins.token": "30/min",
    "messages.ip": "200/s:600", "messages.token": "40/s:120",
    "uploads.ip": "60/min", "uploads.token": "30/min",
}
WORDS = {
    Action.MINT: "too many tokens or sign-ins asked for",
    Action.CALLS: "too many calls asked for",
    Action.JOINS: "too many joins",
    Action.MESSAGES: "too many messages; slow down",
    Action.UPLOADS: "too many photos sent",
}
# REST routes whose per-address budget the middleware keeps (method, path)
ROUTES: dict[tuple[str, str], Action] = {
    ("POST", "/api/shopper-tokens"): Action.MINT,
    ("POST", "/api/demo/tokens"): Action.MINT,
    ("POST", "/api/login"): Action.MINT,
    ("POST", "/api/calls/{call_id}/photos"): Action.UPLOADS,
}


def parse_limits(specs: Mapping[str, str]) -> dict[str, RateLimit]:
    """Every ``<action>.<ip|token>`` budget: the defaults with ``specs`` on top (ValueError in words)."""
    known = set(DEFAULT_LIMITS)
    unknown = set(specs) - known
    if unknown:
        raise ValueError(f"unknown rate limit {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(sorted(known))}")
    return {name: RateLimit.parse(spec) for name, spec in {**DEFAULT_LIMITS, **specs}.items()}


def refusal(action: Action, retry_after: float, whose: str) -> SignalingError:
    wait = max(1, math.ceil(retry_after))
    return SignalingError(ErrorCode.RATE_LIMITED, f"{WORDS[action]} {whose}; try again in {wait} s",
                          retry_after=retry_after)


class RateLimits:
    """The budgets of every action, per client address and per token."""

    def __init__(self, specs: Mapping[str, str], clock: Clock, addresses: ClientAddresses) -> None:
        limits = parse_limits(specs)
        self.addresses = addresses
        self.by_ip = {a: RateLimiter(limits[f"{a.value}.ip"], clock) for a in Action}
        self.by_token = {a: RateLimiter(limits[f"{a.value}.token"], clock) for a in Action}

    def check_ip(self, action: Action, client: ClientAddress) -> None:
        """Refuse (SignalingError ``rate_limited``) when the address is over its budget."""
        if client.exempt:
            return
        wait = self.by_ip[action].take(client.ip)
        if wait is not None:
            raise refusal(action, wait, "from your address")

    def check_token(self, action: Action, key: str) -> None:
        """Refuse when the token (its subject, an API key, an account) is over its budget."""
        wait = self.by_token[action].take(key)
        if wait is not None:
            raise refusal(action, wait, "for this token")

    def middleware(self) -> Middleware:
        """The per-address budgets of the REST routes in ROUTES, before their handlers run."""

        @web.middleware
        async def limit(request: web.Request, handler: Handler) -> web.StreamResponse:
            resource = request.match_info.route.resource
            action = ROUTES.get((request.method, resource.canonical)) if resource is not None else None
            if action is not None:
                try:
                    self.check_ip(action, self.addresses.of(request))
                except SignalingError as exc:
                    return refused(exc)
            return await handler(request)

        return limit

