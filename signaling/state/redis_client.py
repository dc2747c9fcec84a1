"""One redis-py asyncio client, opened and closed by the store that owns it.

The call store, the node registry and the account/key/webhook registries each keep their own
client (their lifetimes are the app's), and share this code for it, for the JSON-per-field
hash encoding they all write, and for saying in words that Redis is away: a method marked
``@while_reachable`` turns redis-py's ``ConnectionError`` / ``TimeoutError`` (its own classes,
not Python's) into :class:`StoreUnavailable`, which the REST API answers 503 with Retry-After
and the WebSocket ``error{service_unavailable}``. Nothing was written when it is raised by a
single command or a MULTI/EXEC pipeline or script; the caller has acknowledged nothing.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, ParamSpec, TypeVar

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.typing import EncodableT, FieldT

from signaling.errors import ErrorCode, SignalingError

PREFIX = "silkline"
RedisMapping = Mapping[FieldT, EncodableT]
RETRY_AFTER_S = 5.0
# a Redis that hangs (rather than refuses) must not hang a request or a message for ever
CONNECT_TIMEOUT_S = 2.0
COMMAND_TIMEOUT_S = 5.0

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
            raise StoreUnavailable(exc) from exc

    return guarded


def encode_fields(fields: dict[str, Any]) -> RedisMapping:
    """Each field as JSON, in the shape redis-py's ``hset(mapping=)`` is typed for."""
    out: dict[FieldT, EncodableT] = {
        k: json.dumps(v, separators=(",", ":"), default=str) for k, v in fields.items()}
    return out


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
        # one retry on a fresh connection: after Redis restarts, every pooled connection is
        # dead and would fail its next command (from_url, unlike Redis(), sets no retry)
        self._redis = redis.from_url(self.url, decode_responses=True,
                                     socket_connect_timeout=CONNECT_TIMEOUT_S,
                                     socket_timeout=COMMAND_TIMEOUT_S,
                                     retry=Retry(NoBackoff(), 1), retry_on_error=[RedisConnectionError])

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
