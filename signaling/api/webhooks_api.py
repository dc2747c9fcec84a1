"""REST face of webhooks (admin only): register, list and remove URLs; read this node's
delivery log and replay a delivery."""

from __future__ import annotations

from aiohttp import web

from signaling.api.accounts_api import account_errors, json_body
from signaling.api.rest import authorize, json_error
from signaling.auth import Role, TokenService
from signaling.centre.webhooks import Webhooks
from signaling.errors import ErrorCode


class WebhooksApi:
    def __init__(self, webhooks: Webhooks, tokens: TokenService) -> None:
        self.webhooks = webhooks
        self.tokens = tokens

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/webhooks", account_errors(self.list_endpoints)),
            web.post("/api/webhooks", account_errors(self.add_endpoint)),
            web.get("/api/webhooks/deliveries", account_errors(self.deliveries)),
            web.post("/api/webhooks/deliveries/{delivery_id}/replay", account_errors(self.replay)),
            web.delete("/api/webhooks/{webhook_id}", account_errors(self.remove_endpoint)),
        ]

    def _admin(self, request: web.Request) -> None:
        authorize(request, self.tokens, {Role.ADMIN})

    async def list_endpoints(self, request: web.Request) -> web.Response:
        self._admin(request)
        return web.json_response({"webhooks": [e.public() for e in await self.webhooks.endpoints()]})

    async def add_endpoint(self, request: web.Request) -> web.Response:
        self._admin(request)
        body = await json_body(request, '{"url": "https://…", "events"?: ["call.ended", …]}')
        endpoint = await self.webhooks.add_endpoint(body.get("url"), body.get("events"))
        # the signing secret is shown this once
        return web.json_response({**endpoint.public(), "secret": endpoint.secret}, status=201,
                                 headers={"Cache-Control": "no-store"})

    async def remove_endpoint(self, request: web.Request) -> web.Response:
        self._admin(request)
        await self.webhooks.remove_endpoint(request.match_info["webhook_id"])
        return web.json_response({"webhook_id": request.match_info["webhook_id"], "removed": True})

    async def deliveries(self, request: web.Request) -> web.Response:
        self._admin(request)
        try:
            limit = max(1, min(1000, int(request.query.get("limit", "100"))))
        except ValueError:
            return json_error(ErrorCode.INVALID_MESSAGE, "limit must be a number")
        state = request.query.get("state")
        found = [d for d in self.webhooks.deliveries(1000) if state in (None, "", d.state)][:limit]
        return web.json_response({"deliveries": [d.public() for d in found], "dropped": self.webhooks.dropped})

    async def replay(self, request: web.Request) -> web.Response:
        self._admin(request)
        again = self.webhooks.replay(request.match_info["delivery_id"])
        return web.json_response(again.public(), status=202)
