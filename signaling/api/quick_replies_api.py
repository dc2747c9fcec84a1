"""REST face of quick replies: admins keep each queue's canned answers
(``/api/quick-replies``); the agent serving a call reads those of its queue
(``GET /api/calls/{call_id}/quick-replies``)."""

from __future__ import annotations

from aiohttp import web

from signaling.api.accounts_api import account_errors, json_body
from signaling.api.rest import authorize, json_error
from signaling.auth import Role, TokenService
from signaling.centre.quick_replies import QuickReplies
from signaling.errors import ErrorCode
from signaling.state.store import StateStore

SHAPE = '{"queue": "…", "title": "…", "text": "…"}'


class QuickRepliesApi:
    def __init__(self, replies: QuickReplies, store: StateStore, tokens: TokenService) -> None:
        self.replies = replies
        self.store = store
        self.tokens = tokens

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/quick-replies", account_errors(self.list_replies)),
            web.post("/api/quick-replies", account_errors(self.create)),
            web.put("/api/quick-replies/{reply_id}", account_errors(self.update)),
            web.delete("/api/quick-replies/{reply_id}", account_errors(self.delete)),
            web.get("/api/calls/{call_id}/quick-replies", account_errors(self.for_call)),
        ]

    async def list_replies(self, request: web.Request) -> web.Response:
        authorize(request, self.tokens, {Role.ADMIN, Role.SUPERVISOR})
        replies = await self.replies.list(request.query.get("queue") or None)
        return web.json_response({"quick_replies": [r.public() for r in replies]})

    async def create(self, request: web.Request) -> web.Response:
        authorize(request, self.tokens, {Role.ADMIN})
        reply = await self.replies.create(await json_body(request, SHAPE))
        return web.json_response(reply.public(), status=201)

    async def update(self, request: web.Request) -> web.Response:
        authorize(request, self.tokens, {Role.ADMIN})
        body = await json_body(request, '{"queue"?, "title"?, "text"?}')
        reply = await self.replies.update(request.match_info["reply_id"], body)
        return web.json_response(reply.public())

    async def delete(self, request: web.Request) -> web.Response:
        authorize(request, self.tokens, {Role.ADMIN})
        await self.replies.delete(request.match_info["reply_id"])
        return web.Response(status=204)

    async def for_call(self, request: web.Request) -> web.Response:
        """The agent serving the call (by its record: any node may answer), or a manager."""
        claims = authorize(request, self.tokens, {Role.AGENT, Role.SUPERVISOR, Role.ADMIN})
        call_id = request.match_info["call_id"]
        record = await self.store.get_call(call_id)
        if record is None:
            return json_error(ErrorCode.CALL_NOT_FOUND, f"no call {call_id!r}")
        if claims.role is Role.AGENT and (record.get("agent_id") != claims.sub or record.get("state") == "ended"):
            return json_error(ErrorCode.FORBIDDEN, "only the agent serving the call reads its quick replies")
        queue = record.get("queue") or "general"
        replies = await self.replies.list(queue)
        return web.json_response({"queue": queue, "quick_replies": [r.public() for r in replies]})
