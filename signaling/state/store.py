"""StateStore: where call records, callbacks, agent reservations and shop orders live.

One interface, two homes for the state, chosen once in the composition root:
``memory.py`` (embedded, journalled to disk) and ``redis_store.py`` (many nodes). The Redis
store raises ``StoreUnavailable`` (a SignalingError, ``service_unavailable``) while Redis is away. A store
persists what the calls write; it derives nothing (a record is ``ended`` because the call
wrote so with its ``ended`` event).
"""

from __future__ import annotations

from typing import Any, Protocol


class StateStore(Protocol):
    async def open(self) -> None: ...
    async def close(self) -> None: ...
    # call records: durable
    async def create_call(self, record: dict[str, Any]) -> None: ...
    async def append_call_event(self, call_id: str, event: dict[str, Any],
                                fields: dict[str, Any] | None = None) -> None:
        """Append ``event`` and, in the same atomic write, set ``fields`` on the record (the
        call says it ended this way: state, reason and time travel with the event)."""
    async def update_call(self, call_id: str, fields: dict[str, Any]) -> None: ...
    async def get_call(self, call_id: str) -> dict[str, Any] | None: ...
    async def list_calls(self, limit: int = 100, since: float | None = None,
                         until: float | None = None) -> list[dict[str, Any]]: ...
    async def delete_call(self, call_id: str) -> None: ...
    async def set_call_field_once(self, call_id: str, field: str, value: Any) -> bool:
        """Set ``field`` on the record unless it is set already, checked and written in one
        step (a rating: of many racing requests exactly one gets True). False also when there
        is no such record."""
    # callback requests: durable
    async def add_callback(self, call_id: str, request: dict[str, Any]) -> bool:
        """Open the call's callback request, once (as ``set_call_field_once``)."""
    async def list_callbacks(self) -> list[dict[str, Any]]: ...
    async def close_callback(self, call_id: str, fields: dict[str, Any]) -> None: ...
    # agent reservations: atomic, expire by themselves (a lost message never leaves an
    # agent stuck ringing)
    async def reserve_agent(self, agent_id: str, call_id: str, ttl: float) -> bool: ...
    async def release_agent(self, agent_id: str, call_id: str) -> None: ...
    # shop orders: durable, one per key (the shop and its order id)
    async def add_order(self, key: str, order: dict[str, Any]) -> dict[str, Any] | None:
        """Store ``order`` under ``key`` unless one is there already, atomically: None when
        stored, else the order stored before (a retry, or another body for the same id)."""
    async def get_order(self, key: str) -> dict[str, Any] | None: ...
    async def list_orders(self, since: float | None = None,
                          until: float | None = None) -> list[dict[str, Any]]:
        """Orders whose ``at`` lies in [since, until), oldest first."""
    async def delete_orders(self, customer_id: str) -> int:
        """Erase one customer's orders (an erasure request); how many there were."""
