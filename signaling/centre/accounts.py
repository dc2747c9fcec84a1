"""Staff accounts: agents, supervisors, QA and admins sign in with a name and a password.

Passwords are hashed with argon2id (argon2-cffi; the hash carries its own salt and costs, and
is re-hashed on sign-in when the costs change). Five failed sign-ins within 15 minutes lock an
account for 15 minutes (time from the injected Clock). An unknown name costs the same hash and
answers the same words as a wrong password, and its failures are counted too (in a bounded
table in memory), so neither the answer nor the lockout tells which names exist.

Accounts live in a :class:`~signaling.state.registry.Registry`: a JSON file under the data folder in
embedded mode, Redis hashes with ``--redis``. Failure counting across nodes is best effort
(two nodes may each count a failure the other wrote at the same instant); the lock itself is
durable in the record.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from media.clock import Clock
from signaling.auth import Role
from signaling.errors import ErrorCode, SignalingError
from signaling.state.registry import Registry

STAFF_ROLES = (Role.AGENT, Role.SUPERVISOR, Role.QA, Role.ADMIN)
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
MAX_FAILURES = 5
FAILURE_WINDOW_S = 15 * 60.0
LOCK_S = 15 * 60.0
UNKNOWN_NAMES_KEPT = 10_000
DEFAULT_SKILLS = {"general": 3}


@dataclass
class Account:
    name: str
    role: str
    password_hash: str
    display_name: str = ""
    skills: dict[str, int] = field(default_factory=dict)
    disabled: bool = False
    created_at: float = 0.0
    failures: list[float] = field(default_factory=list)  # times of recent failed sign-ins
    locked_until: float = 0.0
    sso_subject: str = ""  # "issuer sub" of the OIDC identity this account signs in as (no password then)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Account:
        known = {k: record[k] for k in cls.__dataclass_fields__ if k in record}
        return cls(**known)

    def public(self) -> dict[str, Any]:
        """What an admin sees: never the hash."""
        return {"name": self.name, "role": self.role, "display_name": self.display_name,
                "skills": self.skills, "disabled": self.disabled, "created_at": self.created_at,
                "locked_until": self.locked_until or None, "sso": bool(self.sso_subject)}


def check_name(name: object) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise SignalingError(ErrorCode.INVALID_MESSAGE, "a user name is 1-64 of a-z 0-9 . _ - (lower case)")
    return name


def check_password(password: object) -> str:
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise SignalingError(ErrorCode.WEAK_PASSWORD, f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return password


def check_role(role: object) -> Role:
    try:
        chosen = Role(role)
    except ValueError:
        chosen = None
    if chosen not in STAFF_ROLES:
        raise SignalingError(ErrorCode.INVALID_MESSAGE, "role is one of agent, supervisor, qa, admin")
    assert chosen is not None
    return chosen


def check_skills(skills: object) -> dict[str, int]:
    if skills is None:
        return dict(DEFAULT_SKILLS)
    if not (isinstance(skills, dict) and len(skills) <= 50 and all(
            isinstance(k, str) and 0 < len(k) <= 40 and isinstance(v, int) and not isinstance(v, bool)
            and 1 <= v <= 5 for k, v in skills.items())):
        raise SignalingError(ErrorCode.INVALID_MESSAGE, "skills maps skill names to levels 1-5")
    return dict(skills)


class StaffAccounts:
    def __init__(self, registry: Registry, clock: Clock, hasher: PasswordHasher | None = None,
                 max_failures: int = MAX_FAILURES, window: float = FAILURE_WINDOW_S,
                 lock_for: float = LOCK_S) -> None:
        self.registry = registry
        self.clock = clock
        self.hasher = hasher or PasswordHasher()
        self.max_failures, self.window, self.lock_for = max_failures, window, lock_for
        self._unknown: OrderedDict[str, Account] = OrderedDict()
        self._dummy_hash: str | None = None

    async def _hash(self, password: str) -> str:
        return await asyncio.to_thread(self.hasher.hash, password)

    async def _verify(self, password_hash: str, password: str) -> bool:
        def verify() -> bool:
            try:
                return self.hasher.verify(password_hash, password)
            except (VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(verify)

    async def get(self, name: str) -> Account | None:
        record = await self.registry.get(name)
        return Account.from_record(record) if record else None

    async def _existing(self, name: str) -> Account:
        account = await self.get(check_name(name))
        if account is None:
            raise SignalingError(ErrorCode.ACCOUNT_NOT_FOUND, f"no user {name!r}")
        return account

    async def add(self, name: object, role: object, password: object, display_name: object = None,
                  skills: object = None) -> Account:
        name = check_name(name)
        chosen = check_role(role)
        check_password(password)
        if display_name is not None and not isinstance(display_name, str):
            raise SignalingError(ErrorCode.INVALID_MESSAGE, "display_name must be text")
        account = Account(name=name, role=chosen.value, password_hash=await self._hash(str(password)),
                          display_name=(display_name or name).strip()[:80] or name,
                          skills=check_skills(skills) if chosen is Role.AGENT else {},
                          created_at=self.clock.now())
        if await self.registry.get(name) is not None:
            raise SignalingError(ErrorCode.ACCOUNT_EXISTS, f"there is already a user {name!r}")
        await self.registry.put(name, asdict(account))
        return account

    async def list(self) -> list[Account]:
        return sorted((Account.from_record(r) for r in await self.registry.all()), key=lambda a: a.name)

    async def set_disabled(self, name: str, disabled: bool) -> Account:
        account = await self._existing(name)
        account.disabled = disabled
        await self.registry.update(name, {"disabled": disabled})
        return account

    async def reset(self, name: str, password: object) -> Account:
        """A new password; the lock and the failures are cleared."""
        account = await self._existing(name)
        account.password_hash = await self._hash(check_password(password))
        account.failures, account.locked_until = [], 0.0
        await self.registry.update(name, {"password_hash": account.password_hash, "failures": [],
                                          "locked_until": 0.0})
        return account

    async def sign_in(self, name: object, password: object) -> Account:
        """The account, if the password is right and it is neither locked nor disabled."""
        if not isinstance(name, str) or not isinstance(password, str) or len(password) > MAX_PASSWORD:
            raise SignalingError(ErrorCode.INVALID_MESSAGE, "send {\"username\": \"…\", \"password\": \"…\"}")
        name = name.strip().lower()
        now = self.clock.now()
        account = await self.get(name) if NAME.match(name) else None
        known = account is not None
        if account is None:
            account = self._unknown_account(name)
        if account.locked_until > now:
            raise SignalingError(ErrorCode.ACCOUNT_LOCKED, "too many failed sign-ins; try again later",
                               retry_after=account.locked_until - now)
        if known:
            right = await self._verify(account.password_hash, password)
        else:
            await self._verify(await self._dummy(), password)  # the same cost as a real check
            right = False
        if not right:
            await self._failed(account, known, now)
            raise SignalingError(ErrorCode.BAD_CREDENTIALS, "the user name or the password is wrong")
        if account.disabled:
            raise SignalingError(ErrorCode.ACCOUNT_DISABLED, "this account is disabled; ask an admin")
        if account.failures or account.locked_until:
            await self.registry.update(name, {"failures": [], "locked_until": 0.0})
        if self.hasher.check_needs_rehash(account.password_hash):
            await self.registry.update(name, {"password_hash": await self._hash(password)})
        return account

    async def sso_sign_in(self, subject: str, role: Role, preferred: str, display_name: str) -> Account:
        """The account of an identity the OIDC provider vouched for, made on its first sign-in.

        The provider decides the role on every sign-in; Silkline keeps the account so an admin
        can still disable it and reports name the person. A password account of the same name
        is never taken over: the new account gets a suffix instead.
        """
        if role not in STAFF_ROLES:
            raise SignalingError(ErrorCode.SSO_NO_ROLE, "the sign-in service gave you no Silkline role")
        for account in await self.list():
            if account.sso_subject == subject:
                if account.disabled:
                    raise SignalingError(ErrorCode.ACCOUNT_DISABLED, "this account is disabled; ask an admin")
                changes: dict[str, Any] = {}
                if account.role != role.value:
                    changes["role"] = account.role = role.value
                    if role is Role.AGENT and not account.skills:
                        changes["skills"] = account.skills = dict(DEFAULT_SKILLS)
                if display_name and account.display_name != display_name:
                    changes["display_name"] = account.display_name = display_name
                if changes:
                    await self.registry.update(account.name, changes)
                return account
        digest = hashlib.sha256(subject.encode()).hexdigest()
        base = re.sub(r"[^a-z0-9._-]", "-", preferred.strip().lower().split("@")[0])[:50].strip("-._")
        name = base if base and NAME.match(base) else f"sso-{digest[:10]}"
        if await self.registry.get(name) is not None:
            name = f"{name}-{digest[:6]}"
        account = Account(name=name, role=role.value, password_hash="",
                          display_name=(display_name or name).strip()[:80] or name,
                          skills=dict(DEFAULT_SKILLS) if role is Role.AGENT else {},
                          created_at=self.clock.now(), sso_subject=subject)
        await self.registry.put(name, asdict(account))
        return account

    async def _failed(self, account: Account, known: bool, now: float) -> None:
        account.failures = [t for t in account.failures if t > now - self.window][-self.max_failures:]
        account.failures.append(now)
        if len(account.failures) >= self.max_failures:
            account.locked_until, account.failures = now + self.lock_for, []
        if known:
            await self.registry.update(account.name, {"failures": account.failures,
                                                      "locked_until": account.locked_until})

    def _unknown_account(self, name: str) -> Account:
        key = name[:128]
        account = self._unknown.get(key)
        if account is None:
            account = Account(name=key, role="", password_hash="")
            self._unknown[key] = account
            while len(self._unknown) > UNKNOWN_NAMES_KEPT:
                self._unknown.popitem(last=False)
        self._unknown.move_to_end(key)
        return account

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await self._hash("not a password of anybody")
        return self._dummy_hash
