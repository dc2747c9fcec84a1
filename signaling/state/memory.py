"""The embedded StateStore (signaling/state/store.py): ``MemoryStateStore`` is the default: records in memory, every change appended and
fsynced to a journal file first, so a crash (even ``kill -9``) loses nothing acknowledged.
On start the journal is replayed; a call that was live when the process died is closed with
reason ``error`` ("server stopped during the call") instead of vanishing.
The Redis backend (redis_store.py) implements the same interface for many nodes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from media.clock import Clock, SystemClock

logger = logging.getLogger(__name__)


class MemoryStateStore:
    def __init__(self, data_dir: Path | None, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self._calls: dict[str, dict[str, Any]] = {}
        self._journal_path = Path(data_dir) / "calls.jsonl" if data_dir else None
        self._journal: Any = None
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")
        self._reservations: dict[str, tuple[str, float]] = {}
        self._orders: dict[str, dict[str, Any]] = {}
        self._order_lock = asyncio.Lock()
        self._claiming: set[tuple[str, str]] = set()  # once-only fields being journalled

    async def open(self) -> None:
        if self._journal_path is None:
            return
        self._journal_path.parent.mkdir(parents=True, exist_ok=True)
        if self._journal_path.exists():
            self._cut_torn_tail()
            self._replay()
        # opened once at start, before any call: not on the live path
        self._journal = open(self._journal_path, "a", encoding="utf-8")  # noqa: SIM115, ASYNC230
        for call_id, record in self._calls.items():
            if record.get("state") != "ended":
                now = self.clock.now()
                await self.append_call_event(call_id, {
                    "type": "ended", "reason": "error", "by": "server",
                    "detail": "the server stopped during the call", "at": now,
                }, fields={"state": "ended", "end_reason": "error", "ended_at": now})

    def _cut_torn_tail(self) -> None:
        """A crash mid-write can leave a last line without its newline; appending after it
        would glue the next entry onto the torn one, so cut it off."""
        assert self._journal_path is not None
        with open(self._journal_path, "rb+") as journal:
            data = journal.read()
            if data and not data.endswith(b"\n"):
                keep = data.rfind(b"\n") + 1
                logger.warning("journal ends with a torn entry (%d bytes); cut off", len(data) - keep)
                journal.truncate(keep)

    def _replay(self) -> None:
        assert self._journal_path is not None
        with open(self._journal_path, encoding="utf-8") as journal:
            for number, line in enumerate(journal, 1):
                try:
                    entry = json.loads(line)
                    self._apply(entry)
                except (ValueError, KeyError, TypeError):
                    # A torn last line after a crash: everything before it is intact.
                    logger.warning("journal line %d unreadable, skipped", number)

    def _apply(self, entry: dict[str, Any]) -> None:
        op = entry["op"]
        if op == "create":
            self._calls[entry["record"]["call_id"]] = entry["record"]
        elif op == "event":
            record = self._calls.get(entry["call_id"])
            if record is not None:
                record.setdefault("events", []).append(entry["event"])
                record.update(entry.get("fields") or _written_before_fields(entry["event"]))
        elif op == "update":
            record = self._calls.get(entry["call_id"])
            if record is not None:
                record.update(entry["fields"])
        elif op == "delete":
            self._calls.pop(entry["call_id"], None)
        elif op == "order":
            self._orders.setdefault(entry["key"], entry["order"])
        elif op == "orders_deleted":
            for key in entry["keys"]:
                self._orders.pop(key, None)

    async def _persist(self, entry: dict[str, Any]) -> None:
        """Journal first (write-ahead), then apply: what a caller saw acknowledged is on disk."""
        if self._journal is not None:
            line = json.dumps(entry, separators=(",", ":"), default=str) + "\n"
            await asyncio.get_running_loop().run_in_executor(self._writer, self._write, line)
        self._apply(entry)

    def _write(self, line: str) -> None:
        self._journal.write(line)
        self._journal.flush()
        os.fsync(self._journal.fileno())

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._writer, lambda: None)
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        self._writer.shutdown(wait=True)

    async def create_call(self, record: dict[str, Any]) -> None:
        record = {**record, "events": list(record.get("events", []))}
        await self._persist({"op": "create", "record": record})

    async def append_call_event(self, call_id: str, event: dict[str, Any],
                                fields: dict[str, Any] | None = None) -> None:
        entry: dict[str, Any] = {"op": "event", "call_id": call_id, "event": event}
        if fields:
            entry["fields"] = fields
        await self._persist(entry)

    async def update_call(self, call_id: str, fields: dict[str, Any]) -> None:
        await self._persist({"op": "update", "call_id": call_id, "fields": fields})

    async def get_call(self, call_id: str) -> dict[str, Any] | None:
        record = self._calls.get(call_id)
        return json.loads(json.dumps(record)) if record is not None else None

    async def list_calls(self, limit: int = 100, since: float | None = None,
                         until: float | None = None) -> list[dict[str, Any]]:
        records = sorted(self._calls.values(), key=lambda r: r.get("created_at", 0), reverse=True)
        chosen = [r for r in records
                  if (since is None or r.get("created_at", 0) >= since)
                  and (until is None or r.get("created_at", 0) < until)]
        return [json.loads(json.dumps(r)) for r in chosen[:limit]]

    async def delete_call(self, call_id: str) -> None:
        await self._persist({"op": "delete", "call_id": call_id})

    async def set_call_field_once(self, call_id: str, field: str, value: Any) -> bool:
        # checked and claimed with no await in between; the claim covers the journal write,
        # after which the record itself has the field
        record = self._calls.get(call_id)
        if record is None or record.get(field) is not None or (call_id, field) in self._claiming:
            return False
        self._claiming.add((call_id, field))
        try:
            await self.update_call(call_id, {field: value})
        finally:
            self._claiming.discard((call_id, field))
        return True

    async def add_callback(self, call_id: str, request: dict[str, Any]) -> bool:
        return await self.set_call_field_once(call_id, "callback", {**request, "status": "open"})

    async def list_callbacks(self) -> list[dict[str, Any]]:
        out = []
        for record in self._calls.values():
            callback = record.get("callback")
            if callback and callback.get("status") == "open":
                out.append({"call_id": record["call_id"], "queue": record.get("queue"),
                            "context": record.get("context"), **callback})
        return sorted(out, key=lambda c: c.get("at", 0))

    async def close_callback(self, call_id: str, fields: dict[str, Any]) -> None:
        record = self._calls.get(call_id)
        if record is not None and record.get("callback"):
            await self.update_call(call_id, {"callback": {**record["callback"], **fields,
                                                         "status": "done"}})

    async def reserve_agent(self, agent_id: str, call_id: str, ttl: float) -> bool:
        now = self.clock.monotonic()
        held = self._reservations.get(agent_id)
        if held is not None and held[1] > now and held[0] != call_id:
            return False
        self._reservations[agent_id] = (call_id, now + ttl)
        return True

    async def release_agent(self, agent_id: str, call_id: str) -> None:
        held = self._reservations.get(agent_id)
        if held is not None and held[0] == call_id:
            del self._reservations[agent_id]

    async def add_order(self, key: str, order: dict[str, Any]) -> dict[str, Any] | None:
        # the journal write awaits: the lock keeps two requests for one order from both storing
        async with self._order_lock:
            held = self._orders.get(key)
            if held is not None:
                return json.loads(json.dumps(held))
            await self._persist({"op": "order", "key": key, "order": order})
            return None

    async def get_order(self, key: str) -> dict[str, Any] | None:
        held = self._orders.get(key)
        return json.loads(json.dumps(held)) if held is not None else None

    async def list_orders(self, since: float | None = None,
                          until: float | None = None) -> list[dict[str, Any]]:
        chosen = [o for o in self._orders.values()
                  if (since is None or o.get("at", 0) >= since) and (until is None or o.get("at", 0) < until)]
        return [json.loads(json.dumps(o)) for o in sorted(chosen, key=lambda o: o.get("at", 0))]

    async def delete_orders(self, customer_id: str) -> int:
        async with self._order_lock:
            keys = [k for k, o in self._orders.items() if o.get("customer_id") == customer_id]
            if keys:
                await self._persist({"op": "orders_deleted", "keys": keys})
            return len(keys)


def _written_before_fields(event: dict[str, Any]) -> dict[str, Any]:
    """Journals written before calls wrote their own ended state carry a bare ``ended``
    event; reading one, the record still ends (nothing acknowledged is lost)."""
    if event.get("type") != "ended":
        return {}
    return {"state": "ended", "end_reason": event.get("reason"), "ended_at": event.get("at")}
