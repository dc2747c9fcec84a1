"""Signed, expiring tokens (JWT, HS256) naming a role and, for a shopper, one call."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from enum import Enum
from typing import Any

import jwt


class Role(str, Enum):
    SHOPPER = "shopper"
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    QA = "qa"
    ADMIN = "admin"


class AuthError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


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


class TokenService:
    algorithm = "HS256"
    issuer = "silkline"

    def __init__(self, secret: str, default_ttl: float = 3600.0) -> None:
        if len(secret) < 16:
            raise ValueError("the token secret must be at least 16 characters")
        self._secret = secret
        self.default_ttl = default_ttl

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
    ) -> str:
        if role is Role.SHOPPER and not call_id:
            raise ValueError("a shopper token must name its call")
        issued = time.time() if now is None else now
        claims = {
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
        return jwt.encode(claims, self._secret, algorithm=self.algorithm)

    def verify(self, token: str) -> Claims:
        if not token or not isinstance(token, str):
            raise AuthError("unauthorized", "a token is required")
        try:
            data = jwt.decode(
                token,
                self._secret,
                algorithms=[self.algorithm],
                issuer=self.issuer,
                options={"require": ["exp", "sub", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("unauthorized", "token_expired: the token has expired") from None
        except jwt.InvalidTokenError as exc:
            raise AuthError("unauthorized", f"the token is not valid ({exc})") from None
        try:
            role = Role(data.get("role"))
        except ValueError:
            raise AuthError("unauthorized", "the token names no known role") from None
        call_id = data.get("call")
        if role is Role.SHOPPER and not call_id:
            raise AuthError("unauthorized", "a shopper token must name a call")
        skills = data.get("skills")
        if not isinstance(skills, dict) or not all(
                isinstance(k, str) and isinstance(v, int) for k, v in skills.items()):
            skills = None
        priority = data.get("priority") if isinstance(data.get("priority"), int) else 0
        customer = data.get("customer") if isinstance(data.get("customer"), str) else None
        context = data.get("ctx") if isinstance(data.get("ctx"), dict) else None
        return Claims(role, str(data["sub"]), call_id, data.get("name"), float(data["exp"]),
                      skills, priority, customer, context)
