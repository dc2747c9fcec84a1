"""REST face of shop orders: a shop's backend reports an order with its API key
(``POST /api/orders``); supervisors and admins list the orders of a period (``GET /api/orders``).

The amount is a decimal string in the currency's major unit (``"129.90"`` with ``"EUR"``), never
a float: money is counted exactly. ``at`` is unix seconds or an ISO 8601 time with its offset.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from signaling.api.rest import MANAGERS, authorize, json_error, query_number
from signaling.api.shop_api import shop_key
from signaling.auth import TokenService
from signaling.centre.api_keys import ApiKeys
from signaling.centre.orders import OrderReport, Orders
from signaling.errors import ErrorCode, SignalingError

AMOUNT = re.compile(r"^\d{1,12}(\.\d{1,4})?$")
CURRENCY = re.compile(r"^[A-Z]{3}$")
FUTURE_SLACK_S = 300.0  # a shop's clock may run a little ahead of ours
SHAPE = '{"order_id": "…", "customer_id": "…", "amount": "129.90", "currency": "EUR", "at"?: unix seconds or ISO 8601}'


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > 64:
        raise SignalingError(ErrorCode.INVALID_MESSAGE, f"{name} is text of 1-64 characters")
    return value.strip()


def _time(raw: object, now: float) -> float | None:
    if raw is None:
        return None  # when we receive it; a retry then matches the first report's time
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        at = float(raw)
    elif isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw.strip())
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            raise SignalingError(ErrorCode.INVALID_MESSAGE,
                                 "at is unix seconds or an ISO 8601 time with its offset, e.g. 2026-12-01T14:05:00+01:00")
        at = parsed.timestamp()
    else:
        raise SignalingError(ErrorCode.INVALID_MESSAGE, "at is unix seconds or an ISO 8601 time")
    if not 0 <= at <= now + FUTURE_SLACK_S:
        raise SignalingError(ErrorCode.INVALID_MESSAGE, "at lies in the future: report an order once it is placed")
    return at


def parse_report(body: object, now: float) -> OrderReport:
    if not isinstance(body, dict):
        raise SignalingError(ErrorCode.BAD_JSON, f"send a JSON object: {SHAPE}")
    amount = body.get("amount")
    if not isinstance(amount, str) or not AMOUNT.match(amount.strip()):
        raise SignalingError(ErrorCode.INVALID_MESSAGE,
                             'amount is a decimal string in the major unit, e.g. "129.90" (at most 4 decimals)')
    try:
        value = Decimal(amount.strip())
    except InvalidOperation:
        raise SignalingError(ErrorCode.INVALID_MESSAGE, "amount is not a number") from None
    currency = body.get("currency")
    if not isinstance(currency, str) or not CURRENCY.match(currency.strip().upper()):
        raise SignalingError(ErrorCode.INVALID_MESSAGE, "currency is an ISO 4217 code such as EUR")
    return OrderReport(_text(body, "order_id"), _text(body, "customer_id"), value,
                       currency.strip().upper(), _time(body.get("at"), now))


class OrdersApi:
    def __init__(self, orders: Orders, keys: ApiKeys, tokens: TokenService) -> None:
        self.orders = orders
        self.keys = keys
        self.tokens = tokens

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/api/orders", self.report), web.get("/api/orders", self.list_orders)]

    async def report(self, request: web.Request) -> web.Response:
        key = await shop_key(self.keys, request)
        try:
            body = await request.json()
        except ValueError:
            return json_error(ErrorCode.BAD_JSON, f"send a JSON object: {SHAPE}")
        report = parse_report(body, self.orders.clock.now())
        order, stored = await self.orders.report(key.shop, report)
        return web.json_response(order.public(), status=201 if stored else 200,
                                 headers={"Cache-Control": "no-store"})

    async def list_orders(self, request: web.Request) -> web.Response:
        authorize(request, self.tokens, MANAGERS)
        since, until = query_number(request, "from"), query_number(request, "to")
        orders = await self.orders.store.list_orders(since=since, until=until)
        return web.json_response({"from": since, "to": until, "orders": orders[-1000:]})
