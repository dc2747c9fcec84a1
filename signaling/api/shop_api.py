"""REST face of shop API keys: an admin creates, lists and revokes keys (``/api/api-keys``); a
shop's backend, with ``Authorization: Bearer <api key>``, mints a shopper token for a new call
(``POST /api/shopper-tokens``) from its own customer data."""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web

from signaling.api.accounts_api import account_errors
from signaling.api.limits import Action, RateLimits
from signaling.api.rest import authorize, json_error
from signaling.auth import Role, TokenService
from signaling.centre.api_keys import ApiKey, ApiKeys
from signaling.centre.calls import new_call_id
from signaling.errors import ErrorCode, SignalingError

MAX_CONTEXT_BYTES = 4096


def _text(body: dict[str, Any], name: str, limit: int) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text")  # noqa: TRY004 — answered as 400 invalid_message
    return value.strip()[:limit] or None


async def shop_key(keys: ApiKeys, request: web.Request) -> ApiKey:
    """The live shop API key the request carries as ``Authorization: Bearer``, else ``unauthorized``."""
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise SignalingError(ErrorCode.UNAUTHORIZED, "send Authorization: Bearer <your shop's API key>")
    return await keys.verify(presented.strip())


class ShopApi:
    def __init__(self, keys: ApiKeys, tokens: TokenService, limits: RateLimits | None = None) -> None:
        self.keys = keys
        self.tokens = tokens
        self.limits = limits  # tokens minted per API key (per address: the limits middleware)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/shopper-tokens", self.shopper_token),
            web.get("/api/api-keys", account_errors(self.list_keys)),
            web.post("/api/api-keys", account_errors(self.create_key)),
            web.delete("/api/api-keys/{key_id}", account_errors(self.revoke_key)),
        ]

    async def shopper_token(self, request: web.Request) -> web.Response:
        key = await shop_key(self.keys, request)
        if self.limits is not None:
            self.limits.check_token(Action.MINT, "key:" + key.key_id)
        try:
            body = await request.json() if request.can_read_body else {}
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return json_error(ErrorCode.BAD_JSON, 'send a JSON object: {"customer_id"?, "name"?, "context"?}')
        try:
            customer = _text(body, "customer_id", 64)
            name = _text(body, "name", 80)
        except ValueError as exc:
            return json_error(ErrorCode.INVALID_MESSAGE, str(exc))
        context = body.get("context")
        if context is not None and not (isinstance(context, dict)
                                        and len(json.dumps(context)) <= MAX_CONTEXT_BYTES):
            return json_error(ErrorCode.INVALID_MESSAGE, f"context is a JSON object of at most {MAX_CONTEXT_BYTES} bytes")
        priority = body.get("priority", 0)
        if not isinstance(priority, int) or isinstance(priority, bool) or not 0 <= priority <= 100:
            return json_error(ErrorCode.INVALID_MESSAGE, "priority is a whole number from 0 to 100")
        call_id = new_call_id()
        shopper_id = "s_" + uuid.uuid4().hex[:12]
        token = self.tokens.issue(Role.SHOPPER, shopper_id, call_id=call_id, name=name, customer_id=customer,
                                  priority=priority, context={**(context or {}), "shop": key.shop})
        return web.json_response({"token": token, "call_id": call_id, "shopper_id": shopper_id,
                                  "shop": key.shop, "expires_in": int(self.tokens.default_ttl)},
                                 status=201, headers={"Cache-Control": "no-store"})

    async def list_keys(self, request: web.Request) -> web.Response:
        authorize(request, self.tokens, {Role.ADMIN})
        return web.json_response({"keys": [k.public() for k in await self.keys.list()]})

    async def create_key(self, request: web.Request) -> web.Response:
        authorize(request, self.tokens, {Role.ADMIN})
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return json_error(ErrorCode.BAD_JSON, 'send a JSON object: {"shop": "…"}')
        created, secret = await self.keys.create(body.get("shop"))
        return web.json_response({**created.public(), "key": secret}, status=201,
                                 headers={"Cache-Control": "no-store"})

    async def revoke_key(self, request: web.Request) -> web.Response:
        authorize(request, self.tokens, {Role.ADMIN})
        return web.json_response((await self.keys.revoke(request.match_info["key_id"])).public())
