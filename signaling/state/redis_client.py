"""One redis-py asyncio client, opened and closed by the store that owns it.

The call store, the node registry and the account/key/webhook registries each keep their own
client (their lifetimes are the app's), and share this code for it and for the JSON-per-field
hash encoding they all write.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import redis.asyncio as redis
from redis.typing import EncodableT, FieldT

PREFIX = "silkline"
RedisMapping = Mapping[FieldT, EncodableT]


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
        self._redis = redis.from_url(self.url, decode_responses=True)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
