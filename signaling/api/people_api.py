"""REST face of people, not ids (the rules: ``signaling/centre/customer_history.py``).

- ``GET /api/calls/{id}/customer-history``: the agent a call rings for (or who serves it) gets
  the customer's past calls; anybody else is refused, another agent and the shopper included.
- ``GET /api/calls/{id}/transfer-targets``: the agent in the call gets the colleagues free now
  and the queues, by name, for the transfer pick list.
- ``GET /api/directory``: QA, supervisors and admins get the agents' names and the queues for
  their filters.
"""

from __future__ import annotations

from aiohttp import web

from signaling.api.rest import authorize
from signaling.auth import Role, TokenService
from signaling.centre.accounts import StaffAccounts
from signaling.centre.calls import CallService
from signaling.centre.customer_history import (
    customer_history,
    directory,
    ringing_or_served_by,
    transfer_targets,
)
from signaling.state.store import StateStore

HISTORY_SCAN = 5000  # the newest records looked through for a customer's past calls


class PeopleApi:
    def __init__(self, calls: CallService, store: StateStore, tokens: TokenService,
                 accounts: StaffAccounts | None = None) -> None:
        self.calls = calls
        self.store = store
        self.tokens = tokens
        self.accounts = accounts

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/calls/{call_id}/customer-history", self.history),
            web.get("/api/calls/{call_id}/transfer-targets", self.transfer_targets),
            web.get("/api/directory", self.directory),
        ]

    async def history(self, request: web.Request) -> web.Response:
        claims = authorize(request, self.tokens, {Role.AGENT})
        call = ringing_or_served_by(self.calls, request.match_info["call_id"], claims.sub)
        records = await self.store.list_calls(limit=HISTORY_SCAN)
        past = customer_history(records, call.customer_id, call.call_id)
        return web.json_response({
            "call_id": call.call_id, "customer_id": call.customer_id, "customer_name": call.shopper.name,
            "returning": bool(past), "calls": past,
            "open_callbacks": [p for p in past if (p["callback"] or {}).get("status") == "open"],
        }, headers={"Cache-Control": "no-store"})

    async def transfer_targets(self, request: web.Request) -> web.Response:
        claims = authorize(request, self.tokens, {Role.AGENT})
        call = self.calls.live_call(request.match_info["call_id"])
        return web.json_response(transfer_targets(self.calls, call, claims.sub),
                                 headers={"Cache-Control": "no-store"})

    async def directory(self, request: web.Request) -> web.Response:
        authorize(request, self.tokens, {Role.QA, Role.SUPERVISOR, Role.ADMIN})
        records = await self.store.list_calls(limit=HISTORY_SCAN)
        accounts = [(a.name, a.role, a.display_name) for a in await self.accounts.list()] \
            if self.accounts is not None else []
        return web.json_response(directory(records, accounts, self.calls),
                                 headers={"Cache-Control": "no-store"})
