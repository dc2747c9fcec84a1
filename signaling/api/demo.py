"""Demo pages and demo tokens: on by default only in embedded mode on a loopback address, off
with --no-demo. Staff demo tokens are handed out only on loopback: on any other address an
anonymous visitor could otherwise make themselves an admin (staff sign in at /api/login)."""

from __future__ import annotations

import uuid

from aiohttp import web

from signaling.api.rest import json_error
from signaling.auth import Role, TokenService
from signaling.centre.calls import new_call_id
from signaling.errors import ErrorCode

STAFF_ROLES = {r.value for r in Role if r is not Role.SHOPPER}


class DemoTokens:
    def __init__(self, tokens: TokenService, staff: bool = True) -> None:
        self.tokens = tokens
        self.staff = staff  # False: shopper tokens only (the server is not on loopback)

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/api/demo/tokens", self.issue)]

    async def issue(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        role = body.get("role", "shopper")
        name = body.get("name") if isinstance(body.get("name"), str) else None
        name = (name or "").strip()[:80] or None
        if role in STAFF_ROLES and not self.staff:
            return json_error(ErrorCode.FORBIDDEN, "demo staff tokens exist only on a loopback server; "
                                                   "sign in at /api/login")
        if role == Role.SHOPPER.value:
            call_id = new_call_id()
            shopper_id = "s_" + uuid.uuid4().hex[:12]
            # A real shop's backend signs these from its own customer data; the demo takes them
            # from the request so the queue features can be tried.
            customer = body.get("customer_id") if isinstance(body.get("customer_id"), str) else None
            priority = 10 if body.get("vip") is True else 0
            token = self.tokens.issue(Role.SHOPPER, shopper_id, call_id=call_id, name=name,
                                      customer_id=(customer or "")[:64] or None, priority=priority)
            return web.json_response({"role": role, "token": token, "call_id": call_id,
                                      "shopper_id": shopper_id})
        if role == Role.AGENT.value:
            agent_id = body.get("agent_id") if isinstance(body.get("agent_id"), str) else None
            agent_id = (agent_id or "").strip()[:64] or "a_" + uuid.uuid4().hex[:8]
            skills = body.get("skills")
            if not (isinstance(skills, dict) and all(isinstance(k, str) and isinstance(v, int)
                                                     and 0 <= v <= 5 for k, v in skills.items())):
                skills = {"general": 3, "jewellery": 3, "electronics": 3}
            token = self.tokens.issue(Role.AGENT, agent_id, name=name or "Demo agent", skills=skills)
            return web.json_response({"role": role, "token": token, "agent_id": agent_id})
        if role in (Role.SUPERVISOR.value, Role.QA.value, Role.ADMIN.value):
            token = self.tokens.issue(Role(role), f"{role}-{uuid.uuid4().hex[:6]}", name=name)
            return web.json_response({"role": role, "token": token})
        return web.json_response(
            {"error": {"code": "invalid_message", "message": f"unknown role {role!r}"}}, status=400)
