"""REST face of staff accounts: ``POST /api/login`` (a staff token for a name and a password)
and the admin's ``/api/users`` (list, add, disable, enable, reset)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from signaling.api.limits import Action, RateLimits
from signaling.api.rest import authorize, refused
from signaling.auth import Role, TokenService
from signaling.centre.accounts import StaffAccounts
from signaling.errors import ErrorCode, SignalingError

Handler = Callable[[web.Request], Awaitable[web.Response]]


async def json_body(request: web.Request, shape: str) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise SignalingError(ErrorCode.BAD_JSON, f"send a JSON object: {shape}")
    return body


def account_errors(handler: Handler) -> Handler:
    """A SignalingError becomes its JSON answer (with Retry-After for a lock)."""
    async def wrapped(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except SignalingError as exc:
            return refused(exc)
    return wrapped


class AccountsApi:
    def __init__(self, accounts: StaffAccounts, tokens: TokenService, limits: RateLimits | None = None) -> None:
        self.accounts = accounts
        self.tokens = tokens
        self.limits = limits  # sign-ins per account (per address: the limits middleware)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/login", account_errors(self.login)),
            web.get("/api/users", account_errors(self.list_users)),
            web.post("/api/users", account_errors(self.add_user)),
            web.post("/api/users/{name}/disable", account_errors(self.disable)),
            web.post("/api/users/{name}/enable", account_errors(self.enable)),
            web.post("/api/users/{name}/reset", account_errors(self.reset)),
        ]

    async def login(self, request: web.Request) -> web.Response:
        body = await json_body(request, '{"username": "…", "password": "…"}')
        if self.limits is not None and isinstance(body.get("username"), str):
            self.limits.check_token(Action.MINT, "account:" + body["username"].strip().lower()[:80])
        account = await self.accounts.sign_in(body.get("username"), body.get("password"))
        role = Role(account.role)
        token = self.tokens.issue(role, account.name, name=account.display_name or account.name,
                                  skills=account.skills if role is Role.AGENT else None)
        answer: dict[str, Any] = {"token": token, "role": role.value, "name": account.name,
                                  "display_name": account.display_name,
                                  "expires_in": int(self.tokens.default_ttl)}
        if role is Role.AGENT:
            answer["agent_id"] = account.name
        return web.json_response(answer, headers={"Cache-Control": "no-store"})

    async def list_users(self, request: web.Request) -> web.Response:
        authorize(request, self.tokens, {Role.ADMIN})
        return web.json_response({"users": [a.public() for a in await self.accounts.list()]})

    async def add_user(self, request: web.Request) -> web.Response:
        authorize(request, self.tokens, {Role.ADMIN})
        body = await json_body(request, '{"name", "role", "password", "display_name"?, "skills"?}')
        account = await self.accounts.add(body.get("name"), body.get("role"),
                                          body.get("password"), body.get("display_name"),
                                          body.get("skills"))
        return web.json_response(account.public(), status=201)

    async def disable(self, request: web.Request) -> web.Response:
        authorize(request, self.tokens, {Role.ADMIN})
        account = await self.accounts.set_disabled(request.match_info["name"], True)
        return web.json_response(account.public())

    async def enable(self, request: web.Request) -> web.Response:
        authorize(request, self.tokens, {Role.ADMIN})
        account = await self.accounts.set_disabled(request.match_info["name"], False)
        return web.json_response(account.public())

    async def reset(self, request: web.Request) -> web.Response:
        authorize(request, self.tokens, {Role.ADMIN})
        body = await json_body(request, '{"password": "…"}')
        account = await self.accounts.reset(request.match_info["name"], body.get("password"))
        return web.json_response(account.public())
