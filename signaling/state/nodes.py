"""NodeRegistry: which nodes are alive, what each carries, and how loaded it is.

One interface, two homes, chosen once in the composition root (like the StateStore): in
memory for the embedded node (it knows only itself) and on Redis (``redis_nodes.py``) where
many nodes share one cluster. Each node writes its own entry on a heartbeat
(``heartbeat.py``); an entry whose heartbeat is older than its TTL is reported ``dead``, and
the last-known entry stays visible for a while so an operator sees what the node carried.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

DEAD_KEPT_S = 3600.0  # how long a dead node's last-known entry is still listed


class NodeState:
    ACTIVE = "active"
    DRAINING = "draining"
    DEAD = "dead"


@dataclass
class NodeEntry:
    node_id: str
    pid: int
    host: str
    state: str  # active | draining (dead is the registry's verdict, never written)
    started_at: float
    heartbeat_at: float
    load: dict[str, Any] = field(default_factory=dict)  # rooms, tracks, loop_lag_ms, cpu_pct
    rooms: list[str] = field(default_factory=list)  # the call ids whose media it carries
    url: str = ""  # where other nodes reach it (its internal address)
    accepting: bool = True  # under its admission limit: it may be given a new room
    drain_until: float | None = None  # draining: when its remaining calls move to other nodes

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> NodeEntry:
        return cls(node_id=str(raw["node_id"]), pid=int(raw["pid"]), host=str(raw["host"]),
                   state=str(raw["state"]), started_at=float(raw["started_at"]),
                   heartbeat_at=float(raw["heartbeat_at"]), load=dict(raw.get("load") or {}),
                   rooms=list(raw.get("rooms") or []), url=str(raw.get("url") or ""),
                   accepting=bool(raw.get("accepting", True)),
                   drain_until=float(raw["drain_until"]) if raw.get("drain_until") is not None else None)

    def view(self, now: float, alive: bool) -> dict[str, Any]:
        """The entry as ``GET /api/nodes`` shows it."""
        return {"node_id": self.node_id, "pid": self.pid, "host": self.host,
                "state": self.state if alive else NodeState.DEAD,
                "heartbeat_age_s": round(max(0.0, now - self.heartbeat_at), 1),
                "started_at": self.started_at, "load": self.load, "rooms": self.rooms, "url": self.url,
                "accepting": self.accepting and alive, "drain_until": self.drain_until}


class NodeRegistry(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def beat(self, entry: NodeEntry, ttl: float) -> None:
        """Write this node's entry; it counts as alive for ``ttl`` seconds."""

    async def nodes(self, now: float) -> list[dict[str, Any]]:
        """Every known node, alive or dead, ordered by node id."""


class MemoryNodeRegistry:
    """The embedded node's registry: itself (and only itself)."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[NodeEntry, float]] = {}  # node id → (entry, ttl)

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def beat(self, entry: NodeEntry, ttl: float) -> None:
        self._entries[entry.node_id] = (entry, ttl)

    async def nodes(self, now: float) -> list[dict[str, Any]]:
        views = []
        for node_id in sorted(self._entries):
            entry, ttl = self._entries[node_id]
            age = now - entry.heartbeat_at
            if age > DEAD_KEPT_S:
                del self._entries[node_id]
                continue
            views.append(entry.view(now, alive=age <= ttl))
        return views
