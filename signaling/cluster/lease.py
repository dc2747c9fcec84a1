"""CentreLease: which node decides for the whole contact centre, on one Redis key.

``silkline:centre`` holds ``<node id> <epoch>`` with a TTL (SET NX PX). The epoch comes from
INCR on ``silkline:centre:epoch`` at every acquisition, so it only grows: it is the fencing
number a holder writes with its reservations, and a deposed holder's late write carries an
older one and is refused by Redis (redis_store.py checks it in the same script). Renewal and
release compare the value first (Lua), so a node never extends or deletes a lease it lost.
"""

from __future__ import annotations

from dataclasses import dataclass

from signaling.state.redis_client import PREFIX, RedisClient, while_reachable
from signaling.state.redis_store import EPOCH_KEY

LEASE_KEY = f"{PREFIX}:centre"

_ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local epoch = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. epoch, 'PX', ARGV[2])
return epoch
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class Holder:
    node_id: str
    epoch: int

    @classmethod
    def parse(cls, raw: str | None) -> Holder | None:
        if not raw:
            return None
        node_id, _, epoch = raw.rpartition(" ")
        try:
            return cls(node_id, int(epoch)) if node_id else None
        except ValueError:
            return None

    def value(self) -> str:
        return f"{self.node_id} {self.epoch}"


class CentreLease(RedisClient):
    def __init__(self, url: str, node_id: str, ttl: float) -> None:
        super().__init__(url)
        self.node_id = node_id
        self.ttl_ms = max(100, int(ttl * 1000))

    @while_reachable
    async def acquire(self) -> Holder | None:
        """Take the lease if nobody holds it: the new holding (with its epoch), else None."""
        epoch = await self.r.eval(_ACQUIRE, 2, LEASE_KEY, EPOCH_KEY, self.node_id, self.ttl_ms)
        return Holder(self.node_id, int(epoch)) if epoch else None

    @while_reachable
    async def renew(self, holding: Holder) -> bool:
        """Extend our lease; False when it is no longer ours (expired, taken by another)."""
        return bool(await self.r.eval(_RENEW, 1, LEASE_KEY, holding.value(), self.ttl_ms))

    @while_reachable
    async def release(self, holding: Holder) -> bool:
        return bool(await self.r.eval(_RELEASE, 1, LEASE_KEY, holding.value()))

    @while_reachable
    async def holder(self) -> Holder | None:
        raw = await self.r.get(LEASE_KEY)
        return Holder.parse(raw if isinstance(raw, str) or raw is None else raw.decode())
