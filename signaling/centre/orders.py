"""Orders a shop reports after its calls, and which call each one converts.

A shop's backend reports an order server to server (``POST /api/orders`` with its API key). The
order is kept durably, once per (shop, order id): the same report again gets the same answer and
counts once; another body for the same id is refused (``order_conflict``), so a retried request
can never count an order twice or change it. An order by the customer of an answered call, at
or after the answer and at most ``window_s`` after the call ended (a call still going on counts
too), is that call's conversion; of several such calls the one answered last wins. The call
record gets a ``converted`` event (order id, amount, currency), from which the figures count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from media.clock import Clock
from signaling.centre.figures import first_event_at, outcome
from signaling.errors import ErrorCode, SignalingError
from signaling.state.store import StateStore

DEFAULT_WINDOW_S = 7 * 86400.0
MAX_CALL_S = 86400.0  # how long before its answer a call may have started, for the look-up


@dataclass(frozen=True)
class OrderReport:
    """What the shop said: checked at the edge (signaling/api/orders_api.py)."""

    order_id: str
    customer_id: str
    amount: Decimal  # in the currency's major unit ("129.90" EUR)
    currency: str  # ISO 4217, upper case
    at: float | None  # unix seconds, when the order was placed; None: when it is received

    def same_as(self, stored: dict[str, Any]) -> bool:
        """A retry without ``at`` matches whatever time the first report was given."""
        return (stored.get("customer_id") == self.customer_id and stored.get("currency") == self.currency
                and Decimal(str(stored.get("amount"))) == self.amount
                and (self.at is None or abs(float(stored.get("at", 0)) - self.at) < 1e-3))


@dataclass
class Order:
    order_id: str
    shop: str
    customer_id: str
    amount: str
    currency: str
    at: float
    received_at: float
    call_id: str | None = None  # the call it converted, if any
    agent_id: str | None = None
    queue: str | None = None

    def public(self) -> dict[str, Any]:
        return asdict(self)


def converting_call(records: list[dict[str, Any]], customer_id: str, shop: str, at: float,
                    window_s: float) -> dict[str, Any] | None:
    """The call ``at`` converts: the customer's answered call, answered last before ``at``,
    that ended at most ``window_s`` before it (or has not ended). A record made for another
    shop (its signed context names one) never matches."""
    best: tuple[float, dict[str, Any]] | None = None
    for record in records:
        if record.get("customer_id") != customer_id or outcome(record) != "answered":
            continue
        context = record.get("context") or {}
        if isinstance(context, dict) and context.get("shop") not in (None, shop):
            continue
        answered = first_event_at(record, "accepted")
        if answered is None or answered > at:
            continue
        ended = record.get("ended_at") if record.get("state") == "ended" else None
        if ended is not None and at > float(ended) + window_s:
            continue
        if best is None or answered > best[0]:
            best = (answered, record)
    return best[1] if best else None


def order_key(shop: str, order_id: str) -> str:
    return f"{shop}\x1f{order_id}"


class Orders:
    def __init__(self, store: StateStore, clock: Clock, window_s: float = DEFAULT_WINDOW_S,
                 converted: Callable[[str, str], None] | None = None) -> None:
        self.store = store
        self.clock = clock
        self.window_s = window_s
        self.converted = converted  # (agent id, call id): routing learns the conversion

    async def report(self, shop: str, report: OrderReport) -> tuple[Order, bool]:
        """The order as kept, and whether this report stored it (False: told before)."""
        key = order_key(shop, report.order_id)
        held = await self.store.get_order(key)
        if held is None:
            order = await self._attributed(shop, report)
            held = await self.store.add_order(key, order.public())
            if held is None:
                await self._tell_call(order)
                return order, True
        if not report.same_as(held):
            raise SignalingError(ErrorCode.ORDER_CONFLICT,
                                 f"order {report.order_id!r} was reported before with another customer, "
                                 "amount, currency or time; an order id stands for one order")
        order = Order(**held)
        await self._tell_call(order, again=True)
        return order, False

    async def _attributed(self, shop: str, report: OrderReport) -> Order:
        now = self.clock.now()
        at = now if report.at is None else report.at
        records = await self.store.list_calls(limit=100_000, since=at - self.window_s - MAX_CALL_S, until=at + 1)
        call = converting_call(records, report.customer_id, shop, at, self.window_s)
        return Order(report.order_id, shop, report.customer_id, format(report.amount, "f"), report.currency,
                     at, now,
                     call_id=call["call_id"] if call else None,
                     agent_id=call.get("agent_id") if call else None,
                     queue=(call.get("queue") or "general") if call else None)

    async def _tell_call(self, order: Order, again: bool = False) -> None:
        """The ``converted`` event on the call; a retry writes it if a crash kept it from the
        first report (the figures count an order id once however often it is written)."""
        if order.call_id is None:
            return
        if again:
            record = await self.store.get_call(order.call_id)
            if record is None or any(e.get("type") == "converted" and e.get("order_id") == order.order_id
                                     for e in record.get("events", [])):
                return
        await self.store.append_call_event(order.call_id, {
            "type": "converted", "at": order.at, "order_id": order.order_id,
            "amount": order.amount, "currency": order.currency,
        }, fields={"converted": True})
        if self.converted is not None and order.agent_id:
            self.converted(order.agent_id, order.call_id)
