"""The node registry on Redis: every node of a cluster sees every other.

Per node a hash ``silkline:node:<id>`` (JSON-encoded fields) that lives for the heartbeat's
TTL (PEXPIRE on every beat), a copy ``silkline:node-last:<id>`` kept for an hour to show a dead
node's last-known entry, and the set ``silkline:nodes`` of ids. An id whose live hash expired
is ``dead``; one whose copy expired too is forgotten.
"""

from __future__ import annotations

import json
from typing import Any

from signaling.state.nodes import DEAD_KEPT_S, NodeEntry
from signaling.state.redis_client import PREFIX, RedisClient, while_reachable
from signaling.state.redis_client import encode_fields as _encode

NODES = f"{PREFIX}:nodes"


def _live(node_id: str) -> str:
    return f"{PREFIX}:node:{node_id}"


def _last(node_id: str) -> str:
    return f"{PREFIX}:node-last:{node_id}"


def _decode(raw: dict[str, str]) -> NodeEntry | None:
    try:
        return NodeEntry.from_dict({k: json.loads(v) for k, v in raw.items()})
    except (KeyError, TypeError, ValueError):
        return None


class RedisNodeRegistry(RedisClient):

    @while_reachable
    async def beat(self, entry: NodeEntry, ttl: float) -> None:
        fields = _encode(entry.as_dict())
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.delete(_live(entry.node_id))  # a field dropped from the entry goes too
            pipe.hset(_live(entry.node_id), mapping=fields)
            pipe.pexpire(_live(entry.node_id), max(1, int(ttl * 1000)))
            pipe.delete(_last(entry.node_id))
            pipe.hset(_last(entry.node_id), mapping=fields)
            pipe.expire(_last(entry.node_id), int(DEAD_KEPT_S))
            pipe.sadd(NODES, entry.node_id)
            await pipe.execute()

    @while_reachable
    async def nodes(self, now: float) -> list[dict[str, Any]]:
        ids = sorted(str(node_id) for node_id in await self.r.smembers(NODES))
        if not ids:
            return []
        async with self.r.pipeline(transaction=False) as pipe:
            for node_id in ids:
                pipe.hgetall(_live(node_id))
                pipe.hgetall(_last(node_id))
            replies = await pipe.execute()
        views, forgotten = [], []
        for index, node_id in enumerate(ids):
            live, last = replies[2 * index], replies[2 * index + 1]
            entry = _decode(live) if live else (_decode(last) if last else None)
            if entry is None:
                forgotten.append(node_id)
                continue
            views.append(entry.view(now, alive=bool(live)))
        if forgotten:
            await self.r.srem(NODES, *forgotten)
        return views
