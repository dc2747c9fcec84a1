"""Staff single sign-on against a fake OpenID Connect provider: a small aiohttp app on 127.0.0.1
serving discovery, JWKS, authorize and token, with a real RSA key. The whole redirect flow runs
over real HTTP (an aiohttp client following the redirects, cookies kept); a forged, an expired
and a wrong-audience ID token, a replayed state and a claim without a role are refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric import rsa

from signaling.api.oidc import claim_values, role_from
from signaling.auth import Role
from signaling.errors import SignalingError
from silkline.app import ACCOUNTS, create_app
from silkline.config import Config
from tests.conftest import make_config
from tests.support.oidc_provider import CLIENT_ID, CLIENT_SECRET, FakeProvider


@dataclass
class Sso:
    provider: FakeProvider
    url: str
    config: Config
    http: aiohttp.ClientSession
    app: web.Application

    async def sign_in(self, page: str = "agent") -> tuple[str, dict[str, Any] | None]:
        """Follows the whole redirect chain; the page's query and, on success, the session answer."""
        async with self.http.get(self.url + f"/api/oidc/start?page={page}") as resp:
            assert resp.status == 200, await resp.text()
            landed = urlparse(str(resp.url))
            assert [str(h.url).split("?")[0] for h in resp.history] == [
                self.url + "/api/oidc/start", self.provider.url + "/authorize", self.url + "/api/oidc/callback"]
        assert landed.path == f"/{page}"
        if "sso=done" not in landed.query:
            return landed.query, None
        async with self.http.post(self.url + "/api/oidc/session") as resp:
            assert resp.status == 200, await resp.text()
            return landed.query, await resp.json()


@pytest.fixture
async def sso(tmp_path) -> AsyncIterator[Sso]:
    provider = FakeProvider()
    idp = TestServer(provider.app(), host="127.0.0.1")
    await idp.start_server()
    provider.url = str(idp.make_url("")).rstrip("/")
    config = make_config(tmp_path)
    config.oidc_issuer, config.oidc_client_id, config.oidc_client_secret = provider.url, CLIENT_ID, CLIENT_SECRET
    config.oidc_roles = {"shop-agents": "agent", "shop-leads": "supervisor"}
    app = create_app(config)
    silkline = TestServer(app, host="127.0.0.1")
    await silkline.start_server()
    # cookies on 127.0.0.1 need the "unsafe" jar, as a browser keeps them for any host
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        yield Sso(provider, str(silkline.make_url("")).rstrip("/"), config, http, app)
    await silkline.close()
    await idp.close()


async def test_the_full_redirect_flow_signs_an_agent_in_and_maps_the_role(sso):
    async with sso.http.get(sso.url + "/api/login/options") as resp:
        options = await resp.json()
    assert options["sso"] == {"label": "Sign in with single sign-on", "start": "/api/oidc/start"}
    query, session = await sso.sign_in("agent")
    assert query == "sso=done" and session is not None
    assert (session["role"], session["name"], session["display_name"]) == ("agent", "ann", "Ann Archer")
    assert "token" not in query and session["token"] not in str(sso.provider.token_requests)
    # the PKCE verifier went to the token endpoint, never through the browser's URLs
    assert len(sso.provider.token_requests[0]["code_verifier"]) >= 43
    # the token is ours: it joins the signaling WebSocket as the agent
    async with sso.http.ws_connect(sso.url.replace("http", "ws") + "/ws") as ws:
        await ws.send_json({"v": 1, "type": "join", "token": session["token"]})
        joined = await ws.receive_json(timeout=10)
        while joined["type"] != "joined":
            assert joined["type"] != "error", joined
            joined = await ws.receive_json(timeout=10)
        assert joined["role"] == "agent"
    # the token is handed over once
    async with sso.http.post(sso.url + "/api/oidc/session") as resp:
        assert resp.status == 401 and (await resp.json())["error"]["code"] == "sso_failed"
    # the next sign-in finds the same account; a new role from the provider wins
    sso.provider.claims["roles"] = ["shop-leads"]
    _, again = await sso.sign_in("supervisor")
    assert again is not None and (again["name"], again["role"]) == ("ann", "supervisor")
    # and the account refreshes like a password one
    async with sso.http.post(sso.url + "/api/login/refresh",
                             headers={"Authorization": f"Bearer {again['token']}"}) as resp:
        assert resp.status == 200 and (await resp.json())["role"] == "supervisor"


async def test_a_password_account_of_the_same_name_is_not_taken_over(sso):
    await sso.app[ACCOUNTS].add("ann", "qa", "a long enough password")
    _, session = await sso.sign_in("agent")
    assert session is not None and session["name"].startswith("ann-") and session["role"] == "agent"
    async with sso.http.post(sso.url + "/api/login", json={"username": "ann", "password": "a long enough password"}) as resp:
        assert (await resp.json())["role"] == "qa"
    await sso.app[ACCOUNTS].set_disabled(session["name"], True)
    query, refused = await sso.sign_in("agent")
    assert refused is None and query == "sso_error=account_disabled"


@pytest.mark.parametrize("forgery", ["forged", "expired", "wrong_audience", "no_role"])
async def test_bad_id_tokens_are_refused_and_the_page_says_why(sso, forgery):
    if forgery == "forged":
        sso.provider.signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif forgery == "expired":
        sso.provider.lifetime = -3600
    elif forgery == "wrong_audience":
        sso.provider.aud = "another-app"
    else:
        sso.provider.claims["roles"] = ["shop-customers"]
    query, session = await sso.sign_in("qa")
    assert session is None
    assert parse_qs(query) == {"sso_error": ["sso_no_role" if forgery == "no_role" else "sso_failed"]}
    async with sso.http.post(sso.url + "/api/oidc/session") as resp:
        assert resp.status == 401


async def test_a_callback_without_the_browser_that_started_it_is_refused(sso):
    async with sso.http.get(sso.url + "/api/oidc/start?page=agent", allow_redirects=False) as resp:
        authorize = resp.headers["Location"]
    state = parse_qs(urlparse(authorize).query)["state"][0]
    async with aiohttp.ClientSession() as stranger:  # no flow cookie
        async with stranger.get(sso.url + "/api/oidc/callback?" + urlencode({"code": "c", "state": state}),
                                allow_redirects=False) as resp:
            assert resp.status == 302 and resp.headers["Location"] == "/agent?sso_error=sso_failed"
    async with sso.http.get(sso.url + "/api/oidc/callback?" + urlencode({"code": "c", "state": "not-it"}),
                            allow_redirects=False) as resp:
        assert resp.headers["Location"] == "/agent?sso_error=sso_failed"


async def test_without_oidc_configured_the_routes_say_so(server):
    async with server.http.get(server.url + "/api/oidc/start", allow_redirects=False) as resp:
        assert resp.status == 404
    async with server.http.get(server.url + "/api/login/options") as resp:
        assert (await resp.json()) == {"password": True, "demo": True, "sso": None}


def test_role_mapping_takes_the_most_trusted_role_from_a_nested_claim():
    claims = {"realm_access": {"roles": ["offline_access", "silkline-agent", "silkline-admin"]}}
    assert claim_values(claims, "realm_access.roles")[1] == "silkline-agent"
    mapping = {"silkline-agent": "agent", "silkline-admin": "admin"}
    assert role_from(claims, "realm_access.roles", mapping) is Role.ADMIN
    assert role_from({"roles": "qa"}, "roles", {}) is Role.QA
    with pytest.raises(SignalingError) as refused:
        role_from({"roles": ["shopper"]}, "roles", {})
    assert refused.value.code.value == "sso_no_role"
