"""Signed, expiring tokens (JWT, HS256) naming a role and, for a shopper, one call."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from enum import Enum
from typing import Any

import jwt

from media.clock import Clock, SystemClock
from signaling.errors import ErrorCode, SignalingError


class Role(str, Enum):
    SHOPPER = "shopper"
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    QA = "qa"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Claims:
    role: Role
    sub: str
    call_id: str | None
    name: str | None
    expires_at: float
    skills: dict[str, int] | None = None  # agent: skill → level 1..5
    priority: int = 0  # shopper: priority class set by the shop (e.g. VIP = 10)
    customer_id: str | None = None  # shopper: the shop's customer id, if known
    context: dict[str, Any] | None = None  # shopper: page context the shop's server vouches for
    auth_time: float | None = None  # staff: when the person last proved who they are (refresh keeps it)


class TokenService:
    algorithm = "HS256"
    issuer = "silkline"

    def __init__(self, secret: str, default_ttl: float = 3600.0, clock: Clock | None = None) -> None:
        if len(secret) < 16:
            raise ValueError("the token secret must be at least 16 characters")
        self._secret = secret
        self.default_ttl = default_ttl
        self.clock: Clock = clock or SystemClock()

    def issue(
        self,
        role: Role,
        sub: str,
        *,
        call_id: str | None = None,
        name: str | None = None,
        ttl: float | None = None,
        now: float | None = None,
        skills: dict[str, int] | None = None,
        priority: int = 0,
        customer_id: str | None = None,
        context: dict[str, Any] | None = None,
        auth_time: float | None = None,
    ) -> str:
        if role is Role.SHOPPER and not call_id:
            raise ValueError("a shopper token must name its call")
        issued = self.clock.now() if now is None else now
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": sub,
            "role": role.value,
            "iat": int(issued),
            "exp": int(issued + (self.default_ttl if ttl is None else ttl)),
            "jti": uuid.uuid4().hex,
        }
        if call_id:
            claims["call"] = call_id
        if name:
            claims["name"] = name
        if skills:
            claims["skills"] = skills
        if priority:
            claims["priority"] = int(priority)
        if customer_id:
            claims["customer"] = customer_id
        if context:
            claims["ctx"] = context
        if auth_time is not None:
            claims["auth_time"] = int(auth_time)
        return jwt.encode(claims, self._secret, algorithm=self.algorithm)

    def expired(self, expires_at: float) -> bool:
        return expires_at <= self.clock.now()

    def verify(self, token: str) -> Claims:
        if not token or not isinstance(token, str):
            raise SignalingError(ErrorCode.UNAUTHORIZED, "a token is required")
        try:
            data = jwt.decode(
                token,
                self._secret,
                algorithms=[self.algorithm],
                issuer=self.issuer,
                # expiry is checked below against the server's clock, not the library's
                options={"require": ["exp", "sub", "iss"], "verify_exp": False, "verify_iat": False,
                         "verify_nbf": False},
            )
        except jwt.InvalidTokenError as exc:
            raise SignalingError(ErrorCode.UNAUTHORIZED, f"the token is not valid ({exc})") from None
        except (TypeError, ValueError, RecursionError, OverflowError) as exc:
            # PyJWT checks some claims' types itself (TypeError for a list as ``iss``), and
            # its JSON reader can fail on a signed token's odd payload
            raise SignalingError(ErrorCode.UNAUTHORIZED, f"the token is not valid ({type(exc).__name__})") from None
        return self._claims(data)

    def _claims(self, data: dict[str, Any]) -> Claims:
        """The claims of a verified token, each checked for its type: a token signed with our
        key but carrying odd claims is refused as ``unauthorized``, never a server error."""
        exp = data.get("exp")
        if isinstance(exp, bool) or not isinstance(exp, (int, float)) or not _finite(exp):
            raise SignalingError(ErrorCode.UNAUTHORIZED, "the token is not valid (exp must be a number)")
        if self.expired(float(exp)):
            raise SignalingError(ErrorCode.UNAUTHORIZED, "token_expired: the token has expired")
        try:
            role = Role(data.get("role"))
        except (ValueError, TypeError):
            raise SignalingError(ErrorCode.UNAUTHORIZED, "the token names no known role") from None
        call_id = data.get("call")
        if call_id is not None and (not isinstance(call_id, str) or not 0 < len(call_id) <= 128):
            raise SignalingError(ErrorCode.UNAUTHORIZED, "the token is not valid (call must be a call id)")
        if role is Role.SHOPPER and not call_id:
            raise SignalingError(ErrorCode.UNAUTHORIZED, "a shopper token must name a call")
        name = data.get("name")
        if name is not None and not isinstance(name, str):
            raise SignalingError(ErrorCode.UNAUTHORIZED, "the token is not valid (name must be text)")
        skills = data.get("skills")
        if not isinstance(skills, dict) or not all(
                isinstance(k, str) and isinstance(v, int) for k, v in skills.items()):
            skills = None
        raw_priority = data.get("priority")
        priority = raw_priority if isinstance(raw_priority, int) and not isinstance(raw_priority, bool) \
            and 0 <= raw_priority <= 1000 else 0
        customer = data.get("customer") if isinstance(data.get("customer"), str) else None
        context = data.get("ctx") if isinstance(data.get("ctx"), dict) else None
        raw_auth = data.get("auth_time")
        auth_time = float(raw_auth) if isinstance(raw_auth, (int, float)) and not isinstance(raw_auth, bool) else None
        return Claims(role, str(data["sub"]), call_id, name, float(exp), skills, priority, customer, context,
                      auth_time)


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False
