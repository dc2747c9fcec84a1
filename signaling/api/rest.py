"""REST API: call records, ratings, callbacks, live view, figures and moving a call's media
(photos: photos.py).
Every route but health carries a Bearer token."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from sfu import SfuNode
from signaling.api.bodies import CallbackDetails, MoveRequest, Rating, read_body
from signaling.auth import Claims, Role, TokenService
from signaling.centre.calls import CallService
from signaling.centre.figures import call_facts, figures
from signaling.centre.shopper_view import shopper_view
from signaling.errors import ErrorCode, SignalingError
from signaling.http_errors import json_error, refused
from signaling.server_messages import encode
from signaling.state.store import StateStore

logger = logging.getLogger(__name__)

STAFF = {Role.AGENT, Role.SUPERVISOR, Role.QA, Role.ADMIN}
MANAGERS = {Role.SUPERVISOR, Role.QA, Role.ADMIN}


def bearer_claims(request: web.Request, tokens: TokenService, allow_query: bool = False) -> Claims:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token:
        return tokens.verify(token.strip())
    if allow_query and request.query.get("token"):
        return tokens.verify(request.query["token"])
    raise SignalingError(ErrorCode.UNAUTHORIZED, "send Authorization: Bearer <token>")


def authorize(request: web.Request, tokens: TokenService, roles: set[Role],
              allow_query: bool = False) -> Claims:
    """The request's verified claims, if its role is one of ``roles``."""
    claims = bearer_claims(request, tokens, allow_query)
    if claims.role not in roles:
        raise SignalingError(ErrorCode.FORBIDDEN, f"the {claims.role.value} role may not do this")
    return claims


def query_number(request: web.Request, name: str) -> float | None:
    """A query parameter in unix seconds (absent: None); anything else is a 400."""
    raw = request.query.get(name)
    if raw in (None, ""):
        return None
    try:
        return float(raw)
    except ValueError:
        raise web.HTTPBadRequest(reason=f"{name} must be a number (unix seconds)") from None


class RestApi:
    def __init__(self, calls: CallService, store: StateStore, tokens: TokenService, node: SfuNode | None = None) -> None:
        self.calls = calls
        self.node = node or calls.sfu  # this process's media: /api/sfu/stats is answered by each node
        self.store = store
        self.tokens = tokens

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/health", self.health),
            web.get("/api/calls", self.list_calls),
            web.get("/api/calls/{call_id}", self.get_call),
            web.post("/api/calls/{call_id}/rating", self.rate),
            web.post("/api/calls/{call_id}/callback", self.callback),
            web.post("/api/calls/{call_id}/move", self.move),
            web.get("/api/callbacks", self.list_callbacks),
            web.post("/api/callbacks/{call_id}/done", self.callback_done),
            web.get("/api/live", self.live),
            web.get("/api/figures", self.figures),
            web.get("/api/sfu/stats", self.sfu_stats),
        ]

    def _auth(self, request: web.Request, roles: set[Role], allow_query: bool = False) -> Claims:
        return authorize(request, self.tokens, roles, allow_query)

    def _own_call(self, claims: Claims, call_id: str) -> None:
        if claims.role is Role.SHOPPER and claims.call_id != call_id:
            raise SignalingError(ErrorCode.FORBIDDEN, "your token is for another call")

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({
            "status": "ok", "live_calls": len(self.calls.calls),
            "agents": len(self.calls.agents), "rooms": len(self.node.rooms),
        })

    async def list_calls(self, request: web.Request) -> web.Response:
        self._auth(request, STAFF)
        try:
            limit = max(1, min(1000, int(request.query.get("limit", "100"))))
        except ValueError:
            return json_error(ErrorCode.INVALID_MESSAGE, "limit must be a number")
        records = await self.store.list_calls(limit=limit, since=query_number(request, "from"),
                                              until=query_number(request, "to"))
        agent, queue, wanted = (request.query.get(k) for k in ("agent", "queue", "outcome"))
        out = []
        for record in records:
            facts = call_facts(record)
            if (agent and facts["agent_id"] != agent) or (queue and facts["queue"] != queue) \
                    or (wanted and facts["outcome"] != wanted):
                continue
            out.append({**record, "outcome": facts["outcome"]})
        return web.json_response({"calls": out})

    async def get_call(self, request: web.Request) -> web.Response:
        call_id = request.match_info["call_id"]
        claims = self._auth(request, STAFF | {Role.SHOPPER})
        self._own_call(claims, call_id)
        record = await self.store.get_call(call_id)
        if record is None:
            return json_error(ErrorCode.CALL_NOT_FOUND, f"no call {call_id!r}")
        outcome = call_facts(record)["outcome"]
        if claims.role is Role.SHOPPER:  # never the staff's side of the record
            record = shopper_view(record)
        return web.json_response({**record, "outcome": outcome})

    def _shopper(self, request: web.Request) -> tuple[str, Claims]:
        """The call of the route and its shopper's claims."""
        call_id = request.match_info["call_id"]
        claims = self._auth(request, {Role.SHOPPER})
        self._own_call(claims, call_id)
        return call_id, claims

    async def rate(self, request: web.Request) -> web.Response:
        call_id, _ = self._shopper(request)
        body = await read_body(request, Rating, '{"score": 1-5, "comment": "…"}')
        score = body.score
        record = await self.store.get_call(call_id)
        if record is None:
            return json_error(ErrorCode.CALL_NOT_FOUND, f"no call {call_id!r}")
        if record.get("state") != "ended":
            return json_error(ErrorCode.INVALID_STATE, "rate the call once it has ended")
        if call_facts(record)["outcome"] != "answered":
            return json_error(ErrorCode.INVALID_STATE, "only an answered call can be rated")
        if record.get("rating"):
            return json_error(ErrorCode.INVALID_STATE, "this call has already been rated")
        rating = {"score": score, "comment": body.comment, "at": self.calls.clock.now()}
        if not await self.store.set_call_field_once(call_id, "rating", rating):  # one of racing requests
            return json_error(ErrorCode.INVALID_STATE, "this call has already been rated")
        await self.store.append_call_event(call_id, {"type": "rated", "at": rating["at"], "score": score})
        if record.get("agent_id"):
            self.calls.dispatch.ratings[record["agent_id"]].append(score)
        return web.json_response({"call_id": call_id, "rating": rating}, status=201)

    async def callback(self, request: web.Request) -> web.Response:
        """The shopper's callback request, also after the call (or its socket) is gone."""
        call_id, claims = self._shopper(request)
        body = await read_body(request, CallbackDetails,
                               '{"name": "…", "contact": "phone or e-mail", "question": "…"}')
        try:
            await self.calls.ending.request_callback(None, call_id, body.details(), claims=claims)
        except SignalingError as exc:
            # a refusal of the contact centre here is about the call's state
            return json_error(exc.code, exc.message, None if exc.code.status in (404, 409) else 409)
        return web.json_response({"call_id": call_id, "status": "open"}, status=201)

    async def move(self, request: web.Request) -> web.Response:
        """An operator moves a live call's media to a new room (another node, in a cluster)."""
        self._auth(request, {Role.ADMIN})
        body = MoveRequest()
        if request.can_read_body and (await request.read()).strip():
            body = await read_body(request, MoveRequest, '{"to_node"?: "…"}')
        moved = await self.calls.migration.move(request.match_info["call_id"], "operator", body.to_node)
        return web.json_response(moved, status=202)

    async def list_callbacks(self, request: web.Request) -> web.Response:
        self._auth(request, STAFF)
        return web.json_response({"callbacks": await self.store.list_callbacks()})

    async def callback_done(self, request: web.Request) -> web.Response:
        claims = self._auth(request, STAFF)
        call_id = request.match_info["call_id"]
        now = self.calls.clock.now()
        await self.store.close_callback(call_id, {"done_by": claims.sub, "done_at": now})
        await self.store.append_call_event(call_id, {"type": "callback_done", "at": now,
                                                     "agent_id": claims.sub})
        return web.json_response({"call_id": call_id, "status": "done"})

    async def live(self, request: web.Request) -> web.Response:
        self._auth(request, {Role.SUPERVISOR, Role.ADMIN})
        return web.Response(body=encode(self.calls.dashboard.snapshot()), content_type="application/json")

    async def figures(self, request: web.Request) -> web.Response:
        self._auth(request, MANAGERS)
        since, until = query_number(request, "from"), query_number(request, "to")
        records = await self.store.list_calls(limit=100_000, since=since, until=until)
        return web.json_response({"from": since, "to": until, **figures(records)})

    async def sfu_stats(self, request: web.Request) -> web.Response:
        self._auth(request, {Role.SUPERVISOR, Role.ADMIN})
        return web.json_response(self.node.stats())


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Auth failures, unknown routes and a store that is away (503 ``service_unavailable``
    with Retry-After) answer JSON with a stable code, never a traceback."""
    try:
        return await handler(request)
    except SignalingError as exc:
        return refused(exc)
    except web.HTTPException as exc:
        if request.path.startswith("/api/") and exc.status >= 400:
            code = {404: ErrorCode.NOT_FOUND, 413: ErrorCode.TOO_LARGE}.get(exc.status, ErrorCode.BAD_REQUEST)
            return json_error(code, exc.reason, exc.status)
        raise
    except RecursionError:
        # a route's own ``request.json()`` meeting a body nested thousands deep
        return json_error(ErrorCode.BAD_JSON, "the body nests too deeply")
    except Exception:
        if not request.path.startswith("/api/"):
            raise
        logger.exception("%s %s failed", request.method, request.path)
        return json_error(ErrorCode.INTERNAL_ERROR, "something went wrong on our side")
