"""REST API: call records and health. Every route but health carries a Bearer token."""

from __future__ import annotations

from aiohttp import web

from signaling.auth import AuthError, Claims, Role, TokenService
from signaling.calls import CallService
from signaling.store import StateStore

STAFF = {Role.AGENT, Role.SUPERVISOR, Role.QA, Role.ADMIN}


def json_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def bearer_claims(request: web.Request, tokens: TokenService) -> Claims:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthError("unauthorized", "send Authorization: Bearer <token>")
    return tokens.verify(token.strip())


class RestApi:
    def __init__(self, calls: CallService, store: StateStore, tokens: TokenService) -> None:
        self.calls = calls
        self.store = store
        self.tokens = tokens

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/health", self.health),
            web.get("/api/calls", self.list_calls),
            web.get("/api/calls/{call_id}", self.get_call),
            web.get("/api/sfu/stats", self.sfu_stats),
        ]

    def _auth(self, request: web.Request, roles: set[Role]) -> Claims:
        claims = bearer_claims(request, self.tokens)
        if claims.role not in roles:
            raise AuthError("forbidden", f"the {claims.role.value} role may not do this")
        return claims

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({
            "status": "ok",
            "live_calls": len(self.calls.calls),
            "agents": len(self.calls.agents),
            "rooms": len(self.calls.sfu.rooms),
        })

    async def list_calls(self, request: web.Request) -> web.Response:
        self._auth(request, STAFF)
        try:
            limit = max(1, min(500, int(request.query.get("limit", "100"))))
        except ValueError:
            return json_error(400, "invalid_message", "limit must be a number")
        return web.json_response({"calls": await self.store.list_calls(limit)})

    async def get_call(self, request: web.Request) -> web.Response:
        call_id = request.match_info["call_id"]
        claims = self._auth(request, STAFF | {Role.SHOPPER})
        if claims.role is Role.SHOPPER and claims.call_id != call_id:
            raise AuthError("forbidden", "your token is for another call")
        record = await self.store.get_call(call_id)
        if record is None:
            return json_error(404, "call_not_found", f"no call {call_id!r}")
        return web.json_response(record)

    async def sfu_stats(self, request: web.Request) -> web.Response:
        self._auth(request, {Role.SUPERVISOR, Role.ADMIN})
        return web.json_response(self.calls.sfu.stats())


@web.middleware
async def error_middleware(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """Auth failures and unknown routes answer JSON with a stable code, never a traceback."""
    try:
        return await handler(request)
    except AuthError as exc:
        return json_error(403 if exc.code == "forbidden" else 401, exc.code, exc.message)
    except web.HTTPException as exc:
        if request.path.startswith("/api/") and exc.status >= 400:
            return json_error(exc.status, "not_found" if exc.status == 404 else "bad_request", exc.reason)
        raise
