"""The Redis StateStore: many nodes share call records, callbacks and agent reservations.

Durability comes from Redis persistence (run it with ``appendonly yes``); the test fixture
starts redis-server with ``--appendonly yes --appendfsync always``. A record is a hash of
JSON-encoded fields (so an update is one atomic HSET) plus a list of events. Once-only fields
(a rating, a callback request) are set by a script that checks and writes in one step, so of
many nodes or requests racing exactly one wins. Redis away: every method raises
``StoreUnavailable`` (redis_client.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from redis.exceptions import WatchError

from signaling.errors import ErrorCode, SignalingError
from signaling.state.redis_client import PREFIX, RedisClient, while_reachable
from signaling.state.redis_client import encode_fields as _encode

logger = logging.getLogger(__name__)

EPOCH_KEY = f"{PREFIX}:centre:epoch"  # the centre lease's fencing number (signaling/cluster/lease.py)


class Fenced(SignalingError):
    """This node wrote under a centre epoch that is no longer the current one."""

    fenced = True  # a retry here can never succeed (ending.record_later stops)

    def __init__(self) -> None:
        super().__init__(ErrorCode.SERVICE_UNAVAILABLE,
                         "this node no longer decides for the contact centre; reconnect and try again",
                         retry_after=1.0)

_ADD_ORDER = """
if redis.call('hsetnx', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('zadd', KEYS[2], ARGV[3], ARGV[1])
  return false
end
return redis.call('hget', KEYS[1], ARGV[1])
"""

# KEYS[1] the record, ARGV[1] the field, ARGV[2] its JSON value; with KEYS[2], the sorted set
# the call joins (score ARGV[3]) in the same step. 1 when set, 0 when already set or no record.
_SET_ONCE = """
if redis.call('exists', KEYS[1]) == 0 then return 0 end
local current = redis.call('hget', KEYS[1], ARGV[1])
if current and current ~= 'null' then return 0 end
redis.call('hset', KEYS[1], ARGV[1], ARGV[2])
if KEYS[2] then redis.call('zadd', KEYS[2], ARGV[3], ARGV[4]) end
return 1
"""

# KEYS[1] the reservation, KEYS[2] the centre's epoch; ARGV[1] the call, ARGV[2] the TTL (ms),
# ARGV[3] the writer's epoch ("" outside a cluster). A deposed centre's epoch is older: refused.
_RESERVE = """
if ARGV[3] ~= '' and redis.call('get', KEYS[2]) ~= ARGV[3] then return -1 end
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('get', KEYS[1]) == ARGV[1] then return 1 end
return 0
"""

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class RedisStateStore(RedisClient):
    fence: int | None = None  # in a cluster, the centre lease's epoch this node decides under

    async def open(self) -> None:
        await super().open()
        self._reserve = self.r.register_script(_RESERVE)
        await self.r.ping()
        self._release = self.r.register_script(_RELEASE)
        self._add_order = self.r.register_script(_ADD_ORDER)

        self._set_once = self.r.register_script(_SET_ONCE)

    def _key(self, call_id: str) -> str:
        return f"{PREFIX}:call:{call_id}"

    async def _fenced(self, pipe: Any) -> None:
        """In a cluster, a call record is written only under the current centre epoch: WATCH
        the epoch, check it, then MULTI (a change in between fails the EXEC). A deposed or
        partitioned centre's late write is refused, never applied."""
        if self.fence is None:
            pipe.multi()
            return
        await pipe.watch(EPOCH_KEY)
        current = await pipe.get(EPOCH_KEY)
        if current is None or int(current) != self.fence:
            await pipe.reset()
            raise Fenced()
        pipe.multi()

    async def _write(self, build: Callable[[Any], None]) -> None:
        async with self.r.pipeline(transaction=True) as pipe:
            await self._fenced(pipe)
            build(pipe)
            try:
                await pipe.execute()
            except WatchError:
                raise Fenced() from None

    @while_reachable
    async def create_call(self, record: dict[str, Any]) -> None:
        fields = {k: v for k, v in record.items() if k != "events"}

        def build(pipe: Any) -> None:
            pipe.hset(self._key(record["call_id"]), mapping=_encode(fields))
            pipe.zadd(f"{PREFIX}:calls", {record["call_id"]: float(record.get("created_at", 0))})
        await self._write(build)

    @while_reachable
    async def append_call_event(self, call_id: str, event: dict[str, Any],
                                fields: dict[str, Any] | None = None) -> None:
        def build(pipe: Any) -> None:
            pipe.rpush(self._key(call_id) + ":events", json.dumps(event, default=str))
            if fields:
                pipe.hset(self._key(call_id), mapping=_encode(fields))
        await self._write(build)

    @while_reachable
    async def update_call(self, call_id: str, fields: dict[str, Any]) -> None:
        await self._write(lambda pipe: pipe.hset(self._key(call_id), mapping=_encode(fields)))

    @while_reachable
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

    @while_reachable
    async def list_calls(self, limit: int = 100, since: float | None = None,
                         until: float | None = None) -> list[dict[str, Any]]:
        high = "+inf" if until is None else f"({until}"
        low = "-inf" if since is None else since
        ids = await self.r.zrevrangebyscore(f"{PREFIX}:calls", high, low, start=0, num=limit)
        records = [await self.get_call(str(call_id)) for call_id in ids]
        return [r for r in records if r is not None]

    @while_reachable
    async def delete_call(self, call_id: str) -> None:
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.delete(self._key(call_id), self._key(call_id) + ":events")
            pipe.zrem(f"{PREFIX}:calls", call_id)
            pipe.zrem(f"{PREFIX}:callbacks", call_id)
            await pipe.execute()

    @while_reachable
    async def set_call_field_once(self, call_id: str, field: str, value: Any) -> bool:
        encoded = json.dumps(value, separators=(",", ":"), default=str)
        return bool(await self._set_once(keys=[self._key(call_id)], args=[field, encoded]))

    @while_reachable
    async def add_callback(self, call_id: str, request: dict[str, Any]) -> bool:
        encoded = json.dumps({**request, "status": "open"}, separators=(",", ":"), default=str)
        return bool(await self._set_once(keys=[self._key(call_id), f"{PREFIX}:callbacks"],
                                         args=["callback", encoded, float(request.get("at", 0)), call_id]))

    @while_reachable
    async def list_callbacks(self) -> list[dict[str, Any]]:
        out = []
        for call_id in await self.r.zrange(f"{PREFIX}:callbacks", 0, 499):
            record = await self.get_call(str(call_id))
            if record and record.get("callback"):
                out.append({"call_id": call_id, "queue": record.get("queue"),
                            "context": record.get("context"), **record["callback"]})
        return out

    @while_reachable
    async def close_callback(self, call_id: str, fields: dict[str, Any]) -> None:
        record = await self.get_call(call_id)
        if record is None or not record.get("callback"):
            return
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(self._key(call_id), mapping=_encode(
                {"callback": {**record["callback"], **fields, "status": "done"}}))
            pipe.zrem(f"{PREFIX}:callbacks", call_id)
            await pipe.execute()

    @while_reachable
    async def reserve_agent(self, agent_id: str, call_id: str, ttl: float) -> bool:
        key = f"{PREFIX}:agent:{agent_id}:reservation"
        won = await self._reserve(keys=[key, EPOCH_KEY],
                                  args=[call_id, max(1, int(ttl * 1000)), "" if self.fence is None else self.fence])
        if won == -1:
            logger.warning("reserving agent %s refused: this node no longer holds the centre lease", agent_id)
        return bool(won == 1)

    @while_reachable
    async def release_agent(self, agent_id: str, call_id: str) -> None:
        await self._release(keys=[f"{PREFIX}:agent:{agent_id}:reservation"], args=[call_id])

    @while_reachable
    async def add_order(self, key: str, order: dict[str, Any]) -> dict[str, Any] | None:
        held = await self._add_order(keys=[f"{PREFIX}:orders", f"{PREFIX}:orders:by_time"],
                                     args=[key, json.dumps(order, default=str), float(order.get("at", 0))])
        return json.loads(held) if held else None

    @while_reachable
    async def get_order(self, key: str) -> dict[str, Any] | None:
        held = await self.r.hget(f"{PREFIX}:orders", key)
        return json.loads(held) if held else None

    @while_reachable
    async def list_orders(self, since: float | None = None,
                          until: float | None = None) -> list[dict[str, Any]]:
        high = "+inf" if until is None else f"({until}"
        low = "-inf" if since is None else since
        keys = [str(k) for k in await self.r.zrangebyscore(f"{PREFIX}:orders:by_time", low, high)]
        if not keys:
            return []
        held = await self.r.hmget(f"{PREFIX}:orders", keys)
        return [json.loads(o) for o in held if o]

    @while_reachable
    async def delete_orders(self, customer_id: str) -> int:
        keys = [str(k) async for k, v in self.r.hscan_iter(f"{PREFIX}:orders")
                if json.loads(v).get("customer_id") == customer_id]
        if keys:
            async with self.r.pipeline(transaction=True) as pipe:
                pipe.hdel(f"{PREFIX}:orders", *keys)
                pipe.zrem(f"{PREFIX}:orders:by_time", *keys)
                await pipe.execute()
        return len(keys)
