"""The Redis StateStore: many nodes share call records, callbacks and agent reservations.

Durability comes from Redis persistence (run it with ``appendonly yes``); the test fixture
starts redis-server with ``--appendonly yes --appendfsync always``. A record is a hash of
JSON-encoded fields (so an update is one atomic HSET) plus a list of events.
"""

from __future__ import annotations

import json
from typing import Any

from signaling.state.redis_client import PREFIX, RedisClient
from signaling.state.redis_client import encode_fields as _encode

_ADD_ORDER = """
if redis.call('hsetnx', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('zadd', KEYS[2], ARGV[3], ARGV[1])
  return false
end
return redis.call('hget', KEYS[1], ARGV[1])
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class RedisStateStore(RedisClient):
    async def open(self) -> None:
        await super().open()
        await self.r.ping()
        self._release = self.r.register_script(_RELEASE)
        self._add_order = self.r.register_script(_ADD_ORDER)

    def _key(self, call_id: str) -> str:
        return f"{PREFIX}:call:{call_id}"

    async def create_call(self, record: dict[str, Any]) -> None:
        fields = {k: v for k, v in record.items() if k != "events"}
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(self._key(record["call_id"]), mapping=_encode(fields))
            pipe.zadd(f"{PREFIX}:calls", {record["call_id"]: float(record.get("created_at", 0))})
            await pipe.execute()

    async def append_call_event(self, call_id: str, event: dict[str, Any],
                                fields: dict[str, Any] | None = None) -> None:
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.rpush(self._key(call_id) + ":events", json.dumps(event, default=str))
            if fields:
                pipe.hset(self._key(call_id), mapping=_encode(fields))
            await pipe.execute()

    async def update_call(self, call_id: str, fields: dict[str, Any]) -> None:
        await self.r.hset(self._key(call_id), mapping=_encode(fields))

    async def get_call(self, call_id: str) -> dict[str, Any] | None:
        async with self.r.pipeline(transaction=False) as pipe:
            pipe.hgetall(self._key(call_id))
            pipe.lrange(self._key(call_id) + ":events", 0, -1)
            raw, events = await pipe.execute()
        if not raw:
            return None
        record = {k: json.loads(v) for k, v in raw.items()}
        record["events"] = [json.loads(e) for e in events]
        return record

    async def list_calls(self, limit: int = 100, since: float | None = None,
                         until: float | None = None) -> list[dict[str, Any]]:
        high = "+inf" if until is None else f"({until}"
        low = "-inf" if since is None else since
        ids = await self.r.zrevrangebyscore(f"{PREFIX}:calls", high, low, start=0, num=limit)
        records = [await self.get_call(str(call_id)) for call_id in ids]
        return [r for r in records if r is not None]

    async def delete_call(self, call_id: str) -> None:
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.delete(self._key(call_id), self._key(call_id) + ":events")
            pipe.zrem(f"{PREFIX}:calls", call_id)
            pipe.zrem(f"{PREFIX}:callbacks", call_id)
            await pipe.execute()

    async def add_callback(self, call_id: str, request: dict[str, Any]) -> None:
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(self._key(call_id), mapping=_encode({"callback": {**request, "status": "open"}}))
            pipe.zadd(f"{PREFIX}:callbacks", {call_id: float(request.get("at", 0))})
            await pipe.execute()

    async def list_callbacks(self) -> list[dict[str, Any]]:
        out = []
        for call_id in await self.r.zrange(f"{PREFIX}:callbacks", 0, 499):
            record = await self.get_call(str(call_id))
            if record and record.get("callback"):
                out.append({"call_id": call_id, "queue": record.get("queue"),
                            "context": record.get("context"), **record["callback"]})
        return out

    async def close_callback(self, call_id: str, fields: dict[str, Any]) -> None:
        record = await self.get_call(call_id)
        if record is None or not record.get("callback"):
            return
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(self._key(call_id), mapping=_encode(
                {"callback": {**record["callback"], **fields, "status": "done"}}))
            pipe.zrem(f"{PREFIX}:callbacks", call_id)
            await pipe.execute()

    async def reserve_agent(self, agent_id: str, call_id: str, ttl: float) -> bool:
        key = f"{PREFIX}:agent:{agent_id}:reservation"
        if await self.r.set(key, call_id, nx=True, px=max(1, int(ttl * 1000))):
            return True
        return await self.r.get(key) == call_id

    async def release_agent(self, agent_id: str, call_id: str) -> None:
        await self._release(keys=[f"{PREFIX}:agent:{agent_id}:reservation"], args=[call_id])

    async def add_order(self, key: str, order: dict[str, Any]) -> dict[str, Any] | None:
        held = await self._add_order(keys=[f"{PREFIX}:orders", f"{PREFIX}:orders:by_time"],
                                     args=[key, json.dumps(order, default=str), float(order.get("at", 0))])
        return json.loads(held) if held else None

    async def get_order(self, key: str) -> dict[str, Any] | None:
        held = await self.r.hget(f"{PREFIX}:orders", key)
        return json.loads(held) if held else None

    async def list_orders(self, since: float | None = None,
                          until: float | None = None) -> list[dict[str, Any]]:
        high = "+inf" if until is None else f"({until}"
        low = "-inf" if since is None else since
        keys = [str(k) for k in await self.r.zrangebyscore(f"{PREFIX}:orders:by_time", low, high)]
        if not keys:
            return []
        held = await self.r.hmget(f"{PREFIX}:orders", keys)
        return [json.loads(o) for o in held if o]

    async def delete_orders(self, customer_id: str) -> int:
        keys = [str(k) async for k, v in self.r.hscan_iter(f"{PREFIX}:orders")
                if json.loads(v).get("customer_id") == customer_id]
        if keys:
            async with self.r.pipeline(transaction=True) as pipe:
                pipe.hdel(f"{PREFIX}:orders", *keys)
                pipe.zrem(f"{PREFIX}:orders:by_time", *keys)
                await pipe.execute()
        return len(keys)
