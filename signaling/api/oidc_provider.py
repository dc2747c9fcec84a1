"""One OpenID Connect provider as a relying party sees it (OpenID Connect Core 1.0, Discovery 1.0):
its discovery document, its signing keys (JWKS), the code-for-tokens exchange (RFC 6749 §4.1
with PKCE, RFC 7636) and the ID token's checks (Core §3.1.3.7).

Signatures are checked by PyJWT with cryptography (both already installed and well kept; PyJWT
signs our own tokens too): its ``PyJWKSet`` reads the provider's keys, ``jwt.decode`` checks the
signature, the audience and the issuer. The documents are fetched with aiohttp (PyJWT's own JWKS
client blocks on urllib). Expiry is checked against the injected clock, as for our tokens.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt

from media.clock import Clock
from signaling.errors import ErrorCode, SignalingError

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
DOCUMENT_TTL_S = 3600.0  # discovery and JWKS are fetched again after this (key rotation)
REFETCH_AFTER_S = 60.0  # an unknown key id fetches the JWKS again, at most this often
LEEWAY_S = 60.0  # clock skew allowed on exp / iat
TIMEOUT = aiohttp.ClientTimeout(total=10)


def pkce_pair() -> tuple[str, str]:
    """A PKCE code verifier and its S256 challenge (RFC 7636 §4.1-4.2)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def refused(words: str) -> SignalingError:
    return SignalingError(ErrorCode.SSO_FAILED, words)


@dataclass(frozen=True)
class Endpoints:
    authorization: str
    token: str
    jwks: str


class OidcProvider:
    def __init__(self, issuer: str, client_id: str, client_secret: str, clock: Clock) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.clock = clock
        self._endpoints: Endpoints | None = None
        self._endpoints_at = 0.0
        self._keys: jwt.PyJWKSet | None = None
        self._keys_at = 0.0
        self._http: aiohttp.ClientSession | None = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=TIMEOUT)
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with self._session().get(url, headers={"Accept": "application/json"}) as resp:
                if resp.status != 200:
                    raise refused(f"the sign-in service answered {resp.status} for {url}")
                body = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise refused(f"the sign-in service cannot be reached ({exc.__class__.__name__})") from None
        if not isinstance(body, dict):
            raise refused(f"the sign-in service sent no JSON object at {url}")
        return body

    async def endpoints(self) -> Endpoints:
        now = self.clock.now()
        if self._endpoints is None or now - self._endpoints_at > DOCUMENT_TTL_S:
            doc = await self._get_json(self.issuer + "/.well-known/openid-configuration")
            if str(doc.get("issuer", "")).rstrip("/") != self.issuer:
                raise refused("the discovery document names another issuer")
            urls = [doc.get(k) for k in ("authorization_endpoint", "token_endpoint", "jwks_uri")]
            if not all(isinstance(u, str) and u.startswith(("https://", "http://")) for u in urls):
                raise refused("the discovery document lacks the authorization, token or JWKS endpoint")
            self._endpoints, self._endpoints_at = Endpoints(*urls), now  # type: ignore[arg-type]
        assert self._endpoints is not None
        return self._endpoints

    async def _key(self, kid: str | None) -> jwt.PyJWK:
        now = self.clock.now()
        for attempt in range(2):
            stale = self._keys is None or now - self._keys_at > DOCUMENT_TTL_S
            if stale or (attempt == 1 and now - self._keys_at > REFETCH_AFTER_S):
                try:
                    self._keys = jwt.PyJWKSet.from_dict(await self._get_json((await self.endpoints()).jwks))
                except jwt.PyJWKSetError as exc:
                    raise refused(f"the sign-in service's keys are unusable ({exc})") from None
                self._keys_at = now
            assert self._keys is not None
            for key in self._keys.keys:
                if kid is None or key.key_id == kid:
                    return key
        raise refused("the ID token is signed with a key the sign-in service does not publish")

    async def exchange(self, code: str, verifier: str, redirect_uri: str) -> str:
        """The ID token for an authorization code (the client authenticates if it has a secret)."""
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "code_verifier": verifier, "client_id": self.client_id}
        auth = aiohttp.BasicAuth(self.client_id, self.client_secret) if self.client_secret else None
        try:
            async with self._session().post((await self.endpoints()).token, data=form, auth=auth,
                                            headers={"Accept": "application/json"}) as resp:
                body = await resp.json(content_type=None)
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise refused(f"the sign-in service cannot be reached ({exc.__class__.__name__})") from None
        if status != 200 or not isinstance(body, dict) or not isinstance(body.get("id_token"), str):
            what = body.get("error") if isinstance(body, dict) else None
            raise refused(f"the sign-in service refused the code ({what or status})")
        return str(body["id_token"])

    async def verify(self, id_token: str, nonce: str) -> dict[str, Any]:
        """The ID token's claims, if its signature, issuer, audience, expiry and nonce are right."""
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.InvalidTokenError:
            raise refused("the ID token is not a JWT") from None
        if header.get("alg") not in ALGORITHMS:
            raise refused(f"the ID token's algorithm {header.get('alg')!r} is not accepted")
        key = await self._key(header.get("kid"))
        try:
            claims = jwt.decode(id_token, key, algorithms=[str(header["alg"])], audience=self.client_id,
                                issuer=self.issuer,
                                options={"require": ["exp", "iat", "sub", "aud", "iss"], "verify_exp": False,
                                         "verify_iat": False, "verify_nbf": False})
        except jwt.InvalidAudienceError:
            raise refused("the ID token was issued for another application") from None
        except jwt.InvalidTokenError as exc:
            raise refused(f"the ID token is not valid ({exc})") from None
        now = self.clock.now()
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, (int, float)) or not isinstance(iat, (int, float)):
            raise refused("the ID token's exp and iat must be numbers")
        if exp + LEEWAY_S <= now:
            raise refused("the ID token has expired")
        if iat - LEEWAY_S > now:
            raise refused("the ID token was issued in the future")
        aud = claims.get("aud")
        if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != self.client_id:
            raise refused("the ID token was issued for another application")
        if not nonce or not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise refused("the ID token does not answer this sign-in (nonce)")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise refused("the ID token names nobody (sub)")
        return claims
