"""Staff single sign-on through an OpenID Connect provider (Keycloak, Google, Azure AD, …): the
authorization code flow with PKCE, ending in our own staff token (docs/deploy.md, "Single sign-on").

``GET /api/oidc/start?page=agent`` remembers the flow (state, nonce, PKCE verifier, the page) in a
signed HttpOnly cookie, so any node can take the callback, and sends the browser to the provider.
``GET /api/oidc/callback`` checks the state, swaps the code for the ID token, has the provider
module check it, maps the role claim to a staff role and the subject to an account, and leaves
the staff token in a second HttpOnly cookie that only ``POST /api/oidc/session`` reads, once:
the token never appears in a URL. Every failure goes back to the page as ``?sso_error=<code>``.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from typing import Any
from urllib.parse import urlencode

import jwt
from aiohttp import web

from signaling.api.accounts_api import staff_session
from signaling.api.oidc_provider import OidcProvider, pkce_pair
from signaling.api.rest import json_error
from signaling.auth import Role, TokenService
from signaling.centre.accounts import StaffAccounts
from signaling.errors import ErrorCode, SignalingError

logger = logging.getLogger(__name__)

PAGES = ("agent", "supervisor", "qa")
FLOW_COOKIE = "silkline_oidc_flow"
SESSION_COOKIE = "silkline_sso"
FLOW_S = 600  # the person has this long at the provider
SESSION_HANDOFF_S = 60  # the page has this long to collect its token
FLOW_AUDIENCE = "silkline-oidc-flow"
PRECEDENCE = (Role.ADMIN, Role.SUPERVISOR, Role.QA, Role.AGENT)


def claim_values(claims: dict[str, Any], path: str) -> list[str]:
    """The strings at a dotted claim path (``realm_access.roles``): one string or a list of them."""
    found: Any = claims
    for part in path.split("."):
        found = found.get(part) if isinstance(found, dict) else None
    if isinstance(found, str):
        return [found]
    if isinstance(found, list):
        return [v for v in found if isinstance(v, str)]
    return []


def role_from(claims: dict[str, Any], claim: str, mapping: dict[str, str]) -> Role:
    """The most trusted staff role the claim grants (admin, supervisor, qa, agent, in that order)."""
    granted = set()
    for value in claim_values(claims, claim):
        role = mapping.get(value) if mapping else value
        if role in {r.value for r in PRECEDENCE}:
            granted.add(Role(role))
    for role in PRECEDENCE:
        if role in granted:
            return role
    raise SignalingError(ErrorCode.SSO_NO_ROLE, "the sign-in service gave you no Silkline role")


class OidcSignIn:
    def __init__(self, provider: OidcProvider | None, accounts: StaffAccounts, tokens: TokenService,
                 secret: str, *, role_claim: str = "roles", roles: dict[str, str] | None = None,
                 redirect_url: str = "") -> None:
        self.provider = provider  # None: single sign-on is not configured (the routes say so)
        self.accounts = accounts
        self.tokens = tokens
        self._flow_key = hashlib.sha256(("oidc-flow:" + secret).encode()).hexdigest()
        self.role_claim = role_claim
        self.roles = roles or {}
        self.redirect_url = redirect_url

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/api/oidc/start", self.start), web.get("/api/oidc/callback", self.callback),
                web.post("/api/oidc/session", self.session)]

    def _redirect_uri(self, request: web.Request) -> str:
        return self.redirect_url or f"{request.scheme}://{request.host}/api/oidc/callback"

    def _secure(self, request: web.Request) -> bool:
        return request.scheme == "https" or self.redirect_url.startswith("https://")

    @staticmethod
    def _to(location: str) -> web.Response:
        return web.Response(status=302, headers={"Location": location, "Cache-Control": "no-store"})

    def _back(self, page: str, **query: str) -> web.Response:
        return self._to(f"/{page}?{urlencode(query)}")

    async def start(self, request: web.Request) -> web.StreamResponse:
        if self.provider is None:
            return json_error(ErrorCode.NOT_FOUND, "single sign-on is not configured on this server")
        page = request.query.get("page", "agent")
        page = page if page in PAGES else "agent"
        try:
            endpoints = await self.provider.endpoints()
        except SignalingError as exc:
            logger.warning("single sign-on cannot start: %s", exc.message)
            return self._back(page, sso_error=exc.code.value)
        verifier, challenge = pkce_pair()
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        redirect_uri = self._redirect_uri(request)
        now = self.tokens.clock.now()
        flow = jwt.encode({"aud": FLOW_AUDIENCE, "exp": int(now + FLOW_S), "state": state, "nonce": nonce,
                           "verifier": verifier, "page": page, "redirect_uri": redirect_uri},
                          self._flow_key, algorithm="HS256")
        query = {"response_type": "code", "client_id": self.provider.client_id, "redirect_uri": redirect_uri,
                 "scope": "openid profile email", "state": state, "nonce": nonce,
                 "code_challenge": challenge, "code_challenge_method": "S256"}
        sep = "&" if "?" in endpoints.authorization else "?"
        answer = self._to(endpoints.authorization + sep + urlencode(query))
        answer.set_cookie(FLOW_COOKIE, flow, max_age=FLOW_S, path="/api/oidc", httponly=True,
                          samesite="Lax", secure=self._secure(request))
        return answer

    def _flow(self, request: web.Request) -> dict[str, Any] | None:
        raw = request.cookies.get(FLOW_COOKIE)
        if not raw:
            return None
        try:
            flow = jwt.decode(raw, self._flow_key, algorithms=["HS256"], audience=FLOW_AUDIENCE,
                              options={"verify_exp": False})
        except jwt.InvalidTokenError:
            return None
        if not isinstance(flow.get("exp"), int) or flow["exp"] <= self.tokens.clock.now():
            return None
        return flow

    async def callback(self, request: web.Request) -> web.StreamResponse:
        if self.provider is None:
            return json_error(ErrorCode.NOT_FOUND, "single sign-on is not configured on this server")
        flow = self._flow(request)
        page = flow["page"] if flow and flow.get("page") in PAGES else "agent"
        try:
            if flow is None:
                raise SignalingError(ErrorCode.SSO_FAILED, "no sign-in was started in this browser (or it "
                                                           "took over 10 minutes)")
            if not secrets.compare_digest(str(request.query.get("state", "")), str(flow.get("state"))):
                raise SignalingError(ErrorCode.SSO_FAILED, "the answer does not belong to this sign-in (state)")
            if "error" in request.query or not request.query.get("code"):
                raise SignalingError(ErrorCode.SSO_FAILED, "the sign-in service refused: "
                                                           f"{request.query.get('error', 'no code')[:80]}")
            id_token = await self.provider.exchange(request.query["code"], str(flow["verifier"]),
                                                    str(flow["redirect_uri"]))
            claims = await self.provider.verify(id_token, str(flow["nonce"]))
            role = role_from(claims, self.role_claim, self.roles)
            preferred = next((claims[k] for k in ("preferred_username", "email", "name")
                              if isinstance(claims.get(k), str) and claims[k]), "")
            display = str(claims["name"]) if isinstance(claims.get("name"), str) else ""
            account = await self.accounts.sso_sign_in(f"{claims['iss']} {claims['sub']}", role,
                                                      preferred, display)
        except SignalingError as exc:
            logger.info("single sign-on refused (%s): %s", exc.code.value, exc.message)
            refusal = self._back(page, sso_error=exc.code.value)
            refusal.del_cookie(FLOW_COOKIE, path="/api/oidc")
            return refusal
        token = staff_session(self.tokens, account, self.tokens.clock.now())["token"]
        done = self._back(page, sso="done")
        done.del_cookie(FLOW_COOKIE, path="/api/oidc")
        done.set_cookie(SESSION_COOKIE, token, max_age=SESSION_HANDOFF_S, path="/api/oidc/session",
                        httponly=True, samesite="Strict", secure=self._secure(request))
        logger.info("single sign-on: %s signed in as %s", account.name, account.role)
        return done

    async def session(self, request: web.Request) -> web.Response:
        """The staff token the callback left for this browser, once."""
        raw = request.cookies.get(SESSION_COOKIE)
        try:
            if not raw:
                raise SignalingError(ErrorCode.SSO_FAILED, "no single sign-on is waiting in this browser")
            try:
                claims = self.tokens.verify(raw)
            except SignalingError:
                raise SignalingError(ErrorCode.SSO_FAILED, "the single sign-on has expired; try again") from None
            account = await self.accounts.get(claims.sub)
            if account is None or account.disabled or claims.auth_time is None:
                raise SignalingError(ErrorCode.SSO_FAILED, "the single sign-on is no longer valid; try again")
        except SignalingError as exc:
            refusal = json_error(exc.code, exc.message)
            refusal.del_cookie(SESSION_COOKIE, path="/api/oidc/session")
            return refusal
        answer = web.json_response(staff_session(self.tokens, account, claims.auth_time),
                                   headers={"Cache-Control": "no-store"})
        answer.del_cookie(SESSION_COOKIE, path="/api/oidc/session")
        return answer
