"""A fake OpenID Connect provider for tests: a small aiohttp app (discovery, JWKS, authorize that
signs the person in at once, token with PKCE and client checks) with a real RSA key. What goes
into the next ID token is set per test, so forged, expired and wrong-audience tokens can be made."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

CLIENT_ID = "silkline-staff"
CLIENT_SECRET = "a client secret of the fake provider"


@dataclass
class FakeProvider:
    """What the provider puts in the next ID token is set per test (``claims``, ``key``, ``aud``…)."""

    url: str = ""
    key: Any = field(default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048))
    signing_key: Any = None  # None: the published key; else a key nobody published (a forgery)
    claims: dict[str, Any] = field(default_factory=lambda: {"sub": "u-123", "preferred_username": "ann@shop.example",
                                                            "name": "Ann Archer", "roles": ["shop-agents"]})
    aud: Any = CLIENT_ID
    lifetime: float = 300.0
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self.discovery)
        app.router.add_get("/jwks", self.jwks)
        app.router.add_get("/authorize", self.authorize)
        app.router.add_post("/token", self.token)
        return app

    async def discovery(self, request: web.Request) -> web.Response:
        return web.json_response({"issuer": self.url, "authorization_endpoint": self.url + "/authorize",
                                  "token_endpoint": self.url + "/token", "jwks_uri": self.url + "/jwks",
                                  "response_types_supported": ["code"], "code_challenge_methods_supported": ["S256"]})

    async def jwks(self, request: web.Request) -> web.Response:
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return web.json_response({"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]})

    async def authorize(self, request: web.Request) -> web.Response:
        """The person signs in at once; the code remembers the PKCE challenge and the nonce."""
        q = request.query
        assert q["response_type"] == "code" and q["client_id"] == CLIENT_ID and q["code_challenge_method"] == "S256"
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"challenge": q["code_challenge"], "nonce": q["nonce"], "redirect_uri": q["redirect_uri"]}
        raise web.HTTPFound(q["redirect_uri"] + "?" + urlencode({"code": code, "state": q["state"]}))

    async def token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self.token_requests.append(form)
        if request.headers.get("Authorization") != aiohttp.BasicAuth(CLIENT_ID, CLIENT_SECRET).encode():
            return web.json_response({"error": "invalid_client"}, status=401)
        issued = self.codes.pop(str(form.get("code")), None)
        verifier = str(form.get("code_verifier", ""))
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if issued is None or challenge != issued["challenge"] or form.get("redirect_uri") != issued["redirect_uri"]:
            return web.json_response({"error": "invalid_grant"}, status=400)
        now = time.time()
        claims = {"iss": self.url, "aud": self.aud, "iat": int(now), "exp": int(now + self.lifetime),
                  "nonce": issued["nonce"], **self.claims}
        id_token = jwt.encode(claims, self.signing_key or self.key, algorithm="RS256", headers={"kid": "k1"})
        return web.json_response({"access_token": "at", "token_type": "Bearer", "id_token": id_token})
