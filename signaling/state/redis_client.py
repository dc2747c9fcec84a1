"""One redis-py asyncio client, opened and closed by the store that owns it.

The call store, the node registry and the account/key/webhook registries each keep their own
client (their lifetimes are the app's), and share this code for it, for the JSON-per-field
hash encoding they all write, and for saying in words that Redis is away: a method marked
``@while_reachable`` turns redis-py's ``ConnectionError`` / ``TimeoutError`` (its own classes,
not Python's) into :class:`StoreUnavailable`, which the REST API answers 503 with Retry-After
and the WebSocket ``error{service_unavailable}``. Nothing was written when it is raised by a
single command or a MULTI/EXEC pipeline or script; the caller has acknowledged nothing.

Two kinds of URL: ``redis://`` / ``rediss://`` for one Redis (or a managed Redis behind one
address), and ``redis+sentinel://[:password@]host:port[,host:port...]/service[/db]`` for a
Sentinel-watched primary: the client asks the sentinels where the primary is and asks again
after a connection fails, so it follows a failover by itself. Either way a failed command is
retried a few times on a fresh connection with a short exponential backoff (under a second in
all): after Redis restarts every pooled connection is dead, and a failover in progress costs a
moment, while a real outage still reaches the caller quickly as ``StoreUnavailable``.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar
from urllib.parse import unquote, urlsplit

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.typing import EncodableT, FieldT

from media.throttled_log import ThrottledLog
from signaling.errors import ErrorCode, SignalingError

logger = logging.getLogger(__name__)
_unanswered = ThrottledLog(logger, interval=10.0)  # an outage is one line per 10 s, not one per call

PREFIX = "silkline"
RedisMapping = Mapping[FieldT, EncodableT]
RETRY_AFTER_S = 5.0
# a Redis that hangs (rather than refuses) must not hang a request or a message for ever
CONNECT_TIMEOUT_S = 2.0
COMMAND_TIMEOUT_S = 5.0
MAX_CONNECTIONS = 200  # per client; Redis's own default limit is 10 000 clients

P = ParamSpec("P")
R = TypeVar("R")


class StoreUnavailable(SignalingError):
    """Redis did not answer: the action is refused, nothing of it was acknowledged."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(ErrorCode.SERVICE_UNAVAILABLE,
                         "the call store is not reachable right now; nothing was saved, "
                         "try again in a few seconds", retry_after=RETRY_AFTER_S)
        self.cause = f"{type(cause).__name__}: {cause}"


def while_reachable(method: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Mark a store method whose Redis failure is refused as :class:`StoreUnavailable`."""

    @functools.wraps(method)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            _unanswered("redis did not answer %s: %s: %s", method.__qualname__, type(exc).__name__, exc)
            raise StoreUnavailable(exc) from exc

    return guarded


def encode_fields(fields: dict[str, Any]) -> RedisMapping:
    """Each field as JSON, in the shape redis-py's ``hset(mapping=)`` is typed for."""
    out: dict[FieldT, EncodableT] = {
        k: json.dumps(v, separators=(",", ":"), default=str) for k, v in fields.items()}
    return out


SENTINEL_SCHEME = "redis+sentinel"


@dataclass(frozen=True)
class SentinelTarget:
    """Where the sentinels are and which primary (``service``) they watch."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    password: str | None = None


def parse_sentinel_url(url: str) -> SentinelTarget:
    """``redis+sentinel://[:password@]h1:26379,h2:26379/mymaster[/0]`` → its parts.

    Raises ``ValueError`` with words for a URL an operator typed wrong: a server that
    cannot find its state must not start.
    """
    parts = urlsplit(url)
    if parts.scheme != SENTINEL_SCHEME:
        raise ValueError(f"not a {SENTINEL_SCHEME}:// URL: {url!r}")
    auth, _, hosts = parts.netloc.rpartition("@")
    password = unquote(auth.partition(":")[2]) if auth else None
    sentinels: list[tuple[str, int]] = []
    for item in hosts.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"sentinel address {item!r} in {url!r} is not host:port")
        sentinels.append((host, int(port)))
    path = [p for p in parts.path.split("/") if p]
    if not path:
        raise ValueError(f"{url!r} names no service (redis+sentinel://host:port/SERVICE)")
    if len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise ValueError(f"{url!r}: the path is /service or /service/db")
    return SentinelTarget(tuple(sentinels), path[0], int(path[1]) if len(path) == 2 else 0,
                          password or None)


def _retry() -> Retry:
    return Retry(ExponentialBackoff(cap=0.4, base=0.05), retries=3,
                 supported_errors=(RedisConnectionError, RedisTimeoutError))


def connect(url: str) -> redis.Redis:
    """A client for ``url`` that retries briefly and, for Sentinel, follows the primary."""
    common: dict[str, Any] = {
        "decode_responses": True, "socket_timeout": COMMAND_TIMEOUT_S,
        "socket_connect_timeout": CONNECT_TIMEOUT_S, "retry": _retry(),
        "retry_on_error": [RedisConnectionError], "health_check_interval": 15}
    if url.startswith(SENTINEL_SCHEME + "://"):
        target = parse_sentinel_url(url)
        sentinel = Sentinel(list(target.sentinels), socket_timeout=CONNECT_TIMEOUT_S,
                            sentinel_kwargs={"socket_timeout": CONNECT_TIMEOUT_S, "password": target.password})
        return sentinel.master_for(target.service, db=target.db, password=target.password,
                                   max_connections=MAX_CONNECTIONS * 5, **common)
    # a burst (hundreds of shoppers at once) waits briefly for one of the pool's connections
    # instead of failing with "too many connections" (redis-py's default pool refuses the 101st)
    pool = redis.BlockingConnectionPool.from_url(url, max_connections=MAX_CONNECTIONS, timeout=COMMAND_TIMEOUT_S,
                                                 **common)
    return redis.Redis(connection_pool=pool)


class RedisClient:
    """``r`` is the open client; using it before ``open`` (or after ``close``) is a bug."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._redis: redis.Redis | None = None

    @property
    def r(self) -> redis.Redis:
        if self._redis is None:
            raise RuntimeError(f"{type(self).__name__} is not open")
        return self._redis

    async def open(self) -> None:
        self._redis = connect(self.url)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
