"""The seam where webhooks see calls: a StateStore decorator that, after each durable write of
a call event, tells an observer which shop-facing event it was.

Why here and not in the CallService: every fact a shop is told about (a call started or ended,
a recording is ready, a rating or a callback request came in) is journalled as a call event
before anybody is told, by whichever module decides it (calls, recording, REST). Watching the
one place they all go through means a webhook is sent only for what is on disk, and no
domain module has to know webhooks exist. The observer must not block: it only enqueues.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from signaling.state.store import StateStore

logger = logging.getLogger(__name__)

# call event type (as journalled) -> webhook event type
SHOP_EVENTS = {
    "connected": "call.started",
    "ended": "call.ended",
    "composed": "recording.ready",
    "rated": "rating.submitted",
    "callback_requested": "callback.requested",
}
ONCE_PER_CALL = {"call.started"}  # a transfer connects the call again; the shop hears it once
REMEMBERED_CALLS = 10_000

Observer = Callable[[str, str, dict[str, Any]], None]  # (webhook event type, call id, call event)


class ObservedStore:
    """Every StateStore method, delegated; ``append_call_event`` also reports shop events."""

    def __init__(self, inner: StateStore, observer: Observer) -> None:
        self.inner = inner
        self.observer = observer
        self._told: OrderedDict[tuple[str, str], None] = OrderedDict()

    async def append_call_event(self, call_id: str, event: dict[str, Any],
                                fields: dict[str, Any] | None = None) -> None:
        await self.inner.append_call_event(call_id, event, fields)  # durable first
        kind = SHOP_EVENTS.get(str(event.get("type")))
        if kind is None:
            return
        if kind in ONCE_PER_CALL:
            if (kind, call_id) in self._told:
                return
            self._told[(kind, call_id)] = None
            while len(self._told) > REMEMBERED_CALLS:
                self._told.popitem(last=False)
        try:
            self.observer(kind, call_id, event)
        except Exception:  # an observer's bug must never fail the write the caller awaits
            logger.exception("call %s: the %s observer failed", call_id, kind)

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        await self.inner.close()

    async def create_call(self, record: dict[str, Any]) -> None:
        await self.inner.create_call(record)

    async def update_call(self, call_id: str, fields: dict[str, Any]) -> None:
        await self.inner.update_call(call_id, fields)

    async def get_call(self, call_id: str) -> dict[str, Any] | None:
        return await self.inner.get_call(call_id)

    async def list_calls(self, limit: int = 100, since: float | None = None,
                         until: float | None = None) -> list[dict[str, Any]]:
        return await self.inner.list_calls(limit=limit, since=since, until=until)

    async def delete_call(self, call_id: str) -> None:
        await self.inner.delete_call(call_id)

    async def set_call_field_once(self, call_id: str, field: str, value: Any) -> bool:
        return await self.inner.set_call_field_once(call_id, field, value)

    async def add_callback(self, call_id: str, request: dict[str, Any]) -> bool:
        return await self.inner.add_callback(call_id, request)

    async def list_callbacks(self) -> list[dict[str, Any]]:
        return await self.inner.list_callbacks()

    async def close_callback(self, call_id: str, fields: dict[str, Any]) -> None:
        await self.inner.close_callback(call_id, fields)

    async def reserve_agent(self, agent_id: str, call_id: str, ttl: float) -> bool:
        return await self.inner.reserve_agent(agent_id, call_id, ttl)

    async def release_agent(self, agent_id: str, call_id: str) -> None:
        await self.inner.release_agent(agent_id, call_id)

    async def add_order(self, key: str, order: dict[str, Any]) -> dict[str, Any] | None:
        return await self.inner.add_order(key, order)

    async def get_order(self, key: str) -> dict[str, Any] | None:
        return await self.inner.get_order(key)

    async def list_orders(self, since: float | None = None,
                          until: float | None = None) -> list[dict[str, Any]]:
        return await self.inner.list_orders(since=since, until=until)

    async def delete_orders(self, customer_id: str) -> int:
        return await self.inner.delete_orders(customer_id)

    def __getattr__(self, name: str) -> Any:
        # anything a backend offers beyond the interface (e.g. the Redis client for health)
        return getattr(self.inner, name)
