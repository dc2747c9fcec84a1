"""REST face of staff accounts: ``POST /api/login`` (a staff token for a name and a password),
``GET /api/login/options`` (which ways of signing in this server offers, for the pages),
``POST /api/login/refresh`` (a fresh token for a still-valid one, so a shift is not cut off at
the token's expiry) and the admin's ``/api/users`` (list, add, disable, enable, reset)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from signaling.api.limits import Action, RateLimits
from signaling.api.rest import authorize, refused
from signaling.auth import Claims, Role, TokenService
from signaling.centre.accounts import STAFF_ROLES, Account, StaffAccounts
from signaling.errors import ErrorCode, SignalingError

Handler = Callable[[web.Request], Awaitable[web.Response]]
MAX_SESSION_S = 12 * 3600.0  # a refresh never stretches one sign-in past a long shift


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


def staff_session(tokens: TokenService, account: Account, auth_time: float) -> dict[str, Any]:
    """What a sign-in answers (password, refresh or SSO): the staff token and who it is."""
    role = Role(account.role)
    token = tokens.issue(role, account.name, name=account.display_name or account.name,
                         skills=account.skills if role is Role.AGENT else None, auth_time=auth_time)
    answer: dict[str, Any] = {"token": token, "role": role.value, "name": account.name,
                              "display_name": account.display_name,
                              "expires_in": int(tokens.default_ttl)}
    if role is Role.AGENT:
        answer["agent_id"] = account.name
    return answer


class AccountsApi:
    def __init__(self, accounts: StaffAccounts, tokens: TokenService, limits: RateLimits | None = None, *,
                 demo_staff: bool = False, sso_label: str | None = None) -> None:
        self.accounts = accounts
        self.tokens = tokens
        self.limits = limits  # sign-ins per account (per address: the limits middleware)
        self.demo_staff = demo_staff  # the demo endpoint hands out staff tokens (loopback only)
        self.sso_label = sso_label  # the SSO button's words, when OIDC is configured

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/login", account_errors(self.login)),
            web.get("/api/login/options", self.options),
            web.post("/api/login/refresh", account_errors(self.refresh)),
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
        answer = staff_session(self.tokens, account, self.tokens.clock.now())
        return web.json_response(answer, headers={"Cache-Control": "no-store"})

    async def options(self, request: web.Request) -> web.Response:
        """No secrets: the pages show the password form always, the demo and SSO buttons when on."""
        sso = {"label": self.sso_label, "start": "/api/oidc/start"} if self.sso_label else None
        return web.json_response({"password": True, "demo": self.demo_staff, "sso": sso},
                                 headers={"Cache-Control": "no-store"})

    async def refresh(self, request: web.Request) -> web.Response:
        """A fresh token for a valid staff token of an account that may still sign in."""
        claims = authorize(request, self.tokens, set(STAFF_ROLES))
        account = await self.accounts.get(claims.sub)
        if account is None or not account.role:
            raise SignalingError(ErrorCode.UNAUTHORIZED, "this token belongs to no account (a demo or "
                                                         "pasted token); sign in again")
        if account.disabled:
            raise SignalingError(ErrorCode.ACCOUNT_DISABLED, "this account is disabled; ask an admin")
        auth_time = self._auth_time(claims)
        answer = staff_session(self.tokens, account, auth_time)
        return web.json_response(answer, headers={"Cache-Control": "no-store"})

    def _auth_time(self, claims: Claims) -> float:
        now = self.tokens.clock.now()
        if claims.auth_time is None or now - claims.auth_time > MAX_SESSION_S:
            raise SignalingError(ErrorCode.UNAUTHORIZED, "this sign-in is too old to refresh; sign in again")
        return claims.auth_time

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
