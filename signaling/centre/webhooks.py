"""Webhooks: a shop's URLs hear ``call.started``, ``call.ended``, ``recording.ready``,
``rating.submitted`` and ``callback.requested`` as signed JSON POSTs.

Signing follows Stripe's scheme: ``Silkline-Signature: t=<unix seconds>,v1=<hex>`` where the
hex is HMAC-SHA256 with the endpoint's secret over ``"<t>." + body``; a receiver recomputes it
and refuses an old ``t`` (replays). A delivery that does not get a 2xx (redirects are not
followed) is retried with exponential backoff, a bounded number of times.

A receiver that is down never blocks calls: events go into a bounded queue (``notify`` never
waits; when full, the event is logged as dropped) and one task owned by :class:`Webhooks`
sends everything, one request at a time with a timeout. Deliveries are kept in a bounded log
in this node's memory, which an admin reads and replays through the REST API; a delivery
still pending when the node stops is not resent by the next one (at most once across restarts).
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import hmac
import itertools
import json
import logging
import secrets
import uuid
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from media.clock import Clock, Timer
from signaling.centre.store_events import SHOP_EVENTS
from signaling.errors import ErrorCode, SignalingError
from signaling.state.registry import Registry
from signaling.state.store import StateStore

logger = logging.getLogger(__name__)

EVENT_TYPES = sorted(SHOP_EVENTS.values())
QUEUE_SIZE = 1000
LOG_SIZE = 1000
MAX_ENDPOINTS = 50
SIGNATURE_HEADER = "Silkline-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str, body: bytes, now: float, tolerance: float = 300.0) -> bool:
    """What a receiver does (and our tests do): recompute, compare in constant time, check age."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", "")) and abs(now - timestamp) <= tolerance


@dataclass
class Endpoint:
    webhook_id: str
    url: str
    secret: str
    events: list[str]
    created_at: float

    def public(self) -> dict[str, Any]:
        return {"webhook_id": self.webhook_id, "url": self.url, "events": self.events,
                "created_at": self.created_at}


@dataclass
class Delivery:
    delivery_id: str
    webhook_id: str
    url: str
    event_id: str
    event_type: str
    body: str
    state: str = "pending"  # pending | delivered | failed
    attempts: list[dict[str, Any]] = field(default_factory=list)
    next_attempt_at: float | None = None
    replay_of: str | None = None

    def public(self) -> dict[str, Any]:
        out = asdict(self)
        out["payload"] = json.loads(out.pop("body"))
        return out


@dataclass
class WebhookSettings:
    attempts: int = 5  # tries per delivery, the first included
    backoff: float = 1.0  # seconds before the 2nd try; doubles each time
    max_backoff: float = 300.0
    timeout: float = 5.0  # seconds per request


def check_url(url: object) -> str:
    if not isinstance(url, str) or len(url) > 2000:
        raise SignalingError(ErrorCode.INVALID_MESSAGE, "url must be an http(s) URL")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise SignalingError(ErrorCode.INVALID_MESSAGE, "url must be an http(s) URL without credentials")
    return url


class Webhooks:
    def __init__(self, registry: Registry, store: StateStore, clock: Clock,
                 settings: WebhookSettings | None = None) -> None:
        self.registry = registry
        self.store = store  # the undecorated store: reading a record here reports nothing
        self.clock = clock
        self.settings = settings or WebhookSettings()
        self._incoming: asyncio.Queue[tuple[str, str, dict[str, Any]]] = asyncio.Queue(QUEUE_SIZE)
        self._due: list[tuple[float, int, str]] = []
        self._order = itertools.count()
        self.log: OrderedDict[str, Delivery] = OrderedDict()
        self.dropped = 0
        self._wake = asyncio.Event()
        self._timer: Timer | None = None
        self._task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None

    # ---- endpoints -----------------------------------------------------------------
    async def add_endpoint(self, url: object, events: object = None) -> Endpoint:
        url = check_url(url)
        if events is None:
            chosen = list(EVENT_TYPES)
        elif isinstance(events, list) and events and all(e in EVENT_TYPES for e in events):
            chosen = sorted(set(events))
        else:
            raise SignalingError(ErrorCode.INVALID_MESSAGE, f"events is a list of {', '.join(EVENT_TYPES)}")
        if len(await self.registry.all()) >= MAX_ENDPOINTS:
            raise SignalingError(ErrorCode.TOO_MANY_WEBHOOKS, f"at most {MAX_ENDPOINTS} webhooks")
        endpoint = Endpoint("wh_" + secrets.token_hex(8), url, "whsec_" + secrets.token_urlsafe(32),
                            chosen, self.clock.now())
        await self.registry.put(endpoint.webhook_id, asdict(endpoint))
        return endpoint

    async def endpoints(self) -> list[Endpoint]:
        return sorted((Endpoint(**r) for r in await self.registry.all()), key=lambda e: e.created_at)

    async def remove_endpoint(self, webhook_id: str) -> None:
        if not await self.registry.delete(webhook_id):
            raise SignalingError(ErrorCode.WEBHOOK_NOT_FOUND, f"no webhook {webhook_id!r}")

    # ---- events in -----------------------------------------------------------------
    def notify(self, event_type: str, call_id: str, event: dict[str, Any]) -> None:
        """Called by the store seam after a durable write: never waits, never raises."""
        try:
            self._incoming.put_nowait((event_type, call_id, event))
        except asyncio.QueueFull:
            self.dropped += 1
            logger.warning("call %s: webhook queue full, %s not sent (%d dropped)", call_id,
                           event_type, self.dropped, extra={"call_id": call_id})
            return
        self._wake.set()

    def replay(self, delivery_id: str) -> Delivery:
        original = self.log.get(delivery_id)
        if original is None:
            raise SignalingError(ErrorCode.DELIVERY_NOT_FOUND, f"no delivery {delivery_id!r} in this node's log")
        again = Delivery("dl_" + uuid.uuid4().hex[:16], original.webhook_id, original.url, original.event_id,
                         original.event_type, original.body, replay_of=delivery_id)
        self._schedule(again, 0.0)
        return again

    # ---- the delivery task ---------------------------------------------------------
    def start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.settings.timeout),
                                           headers={"User-Agent": "Silkline-Webhooks/1"})
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._timer is not None:
            self._timer.cancel()
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while not self._incoming.empty():
                await self._fan_out(*self._incoming.get_nowait())
            now = self.clock.monotonic()
            while self._due and self._due[0][0] <= now:
                _, _, delivery_id = heapq.heappop(self._due)
                delivery = self.log.get(delivery_id)
                if delivery is not None and delivery.state == "pending":
                    await self._attempt(delivery)
                now = self.clock.monotonic()
            if self._due:
                if self._timer is not None:
                    self._timer.cancel()
                self._timer = self.clock.call_later(self._due[0][0] - now, self._wake.set)

    async def _fan_out(self, event_type: str, call_id: str, event: dict[str, Any]) -> None:
        try:
            targets = [e for e in await self.endpoints() if event_type in e.events]
            if not targets:
                return
            payload = {"id": "evt_" + uuid.uuid4().hex[:16], "type": event_type,
                       "created_at": event.get("at", self.clock.now()),
                       "data": await self._data(event_type, call_id, event)}
        except Exception:  # the registry or the store is away: say so, keep serving
            logger.exception("call %s: %s could not be prepared for webhooks", call_id, event_type)
            return
        body = json.dumps(payload, separators=(",", ":"), default=str)
        for endpoint in targets:
            self._schedule(Delivery("dl_" + uuid.uuid4().hex[:16], endpoint.webhook_id, endpoint.url,
                                    payload["id"], event_type, body), 0.0)

    async def _data(self, event_type: str, call_id: str, event: dict[str, Any]) -> dict[str, Any]:
        data = {"call_id": call_id, **{k: v for k, v in event.items() if k not in ("type", "at")}}
        record = await self.store.get_call(call_id) or {}
        for name in ("queue", "customer_id", "created_at", "context"):
            if record.get(name) is not None:
                data.setdefault(name, record[name])
        if record.get("agent_id"):
            data.setdefault("agent_id", record["agent_id"])
        if event_type == "callback.requested" and record.get("callback"):
            data["callback"] = {k: record["callback"].get(k) for k in ("name", "contact", "question", "at")}
        if event_type == "rating.submitted" and record.get("rating"):
            data["rating"] = record["rating"]
        return data

    def _schedule(self, delivery: Delivery, delay: float) -> None:
        self.log[delivery.delivery_id] = delivery
        self.log.move_to_end(delivery.delivery_id)
        while len(self.log) > LOG_SIZE:
            self.log.popitem(last=False)
        delivery.next_attempt_at = self.clock.now() + delay
        heapq.heappush(self._due, (self.clock.monotonic() + delay, next(self._order), delivery.delivery_id))
        self._wake.set()

    async def _attempt(self, delivery: Delivery) -> None:
        assert self._http is not None
        status: int | None = None
        error: str | None = None
        try:
            endpoint_record = await self.registry.get(delivery.webhook_id)
        except Exception as exc:  # noqa: BLE001 — the registry is away: this try fails, a later one may not
            endpoint_record, error = {}, f"registry unreachable: {type(exc).__name__}"
        if endpoint_record is None:
            delivery.state, delivery.next_attempt_at = "failed", None
            delivery.attempts.append({"at": self.clock.now(), "status": None, "error": "webhook removed"})
            return
        if endpoint_record:
            body = delivery.body.encode()
            headers = {"Content-Type": "application/json", "Silkline-Event": delivery.event_type,
                       "Silkline-Delivery": delivery.delivery_id,
                       SIGNATURE_HEADER: sign(endpoint_record["secret"], int(self.clock.now()), body)}
            try:
                async with self._http.post(delivery.url, data=body, headers=headers,
                                           allow_redirects=False) as resp:
                    status = resp.status
                    await resp.content.read(4096)
            except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
                error = f"{type(exc).__name__}: {exc}"[:300]
        delivery.attempts.append({"at": self.clock.now(), "status": status, "error": error})
        if status is not None and 200 <= status < 300:
            delivery.state, delivery.next_attempt_at = "delivered", None
            return
        if len(delivery.attempts) >= self.settings.attempts:
            delivery.state, delivery.next_attempt_at = "failed", None
            logger.warning("webhook %s: %s gave up after %d attempts (%s)", delivery.webhook_id,
                           delivery.delivery_id, len(delivery.attempts), error or f"HTTP {status}")
            return
        delay = min(self.settings.max_backoff, self.settings.backoff * 2 ** (len(delivery.attempts) - 1))
        self._schedule(delivery, delay)

    def deliveries(self, limit: int = 100) -> list[Delivery]:
        return list(reversed(self.log.values()))[:limit]

