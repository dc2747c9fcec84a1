"""Shop API keys: a shop's backend mints shopper tokens server to server (as LiveKit's and
Twilio's API keys do), so no visitor's browser ever asks us for a token of its own choosing.

A key reads ``slk_<key id>_<secret>``. Only its SHA-256 is stored (the secret is 256 random
bits, so a fast hash is enough: there is nothing to guess); it is shown once, when created.
A revoked key stays listed (who had it, when it stopped) and is refused at once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from media.clock import Clock
from signaling.errors import ErrorCode, SignalingError
from signaling.state.registry import Registry

PREFIX = "slk"
SHOP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass
class ApiKey:
    key_id: str
    shop: str
    key_hash: str
    created_at: float
    revoked: bool = False
    revoked_at: float | None = None

    def public(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "shop": self.shop, "created_at": self.created_at,
                "revoked": self.revoked, "revoked_at": self.revoked_at}


class ApiKeys:
    def __init__(self, registry: Registry, clock: Clock) -> None:
        self.registry = registry
        self.clock = clock

    async def create(self, shop: object) -> tuple[ApiKey, str]:
        """A new key for ``shop``: the record, and the key itself (shown this once)."""
        if not isinstance(shop, str) or not SHOP.match(shop.strip()):
            raise SignalingError(ErrorCode.INVALID_MESSAGE, "shop is a name of 1-64 letters, digits, . _ - or spaces")
        key_id = secrets.token_hex(6)
        secret = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        record = ApiKey(key_id, shop.strip(), key_hash(secret), self.clock.now())
        await self.registry.put(key_id, asdict(record))
        return record, secret

    async def list(self) -> list[ApiKey]:
        return sorted((ApiKey(**r) for r in await self.registry.all()), key=lambda k: k.created_at)

    async def revoke(self, key_id: str) -> ApiKey:
        record = await self.registry.get(key_id)
        if record is None:
            raise SignalingError(ErrorCode.API_KEY_NOT_FOUND, f"no API key {key_id!r}")
        key = ApiKey(**record)
        if not key.revoked:
            key.revoked, key.revoked_at = True, self.clock.now()
            await self.registry.update(key_id, {"revoked": True, "revoked_at": key.revoked_at})
        return key

    async def verify(self, presented: str) -> ApiKey:
        """The live key ``presented`` is, else ``unauthorized`` (the same words for every miss)."""
        refused = SignalingError(ErrorCode.UNAUTHORIZED, "the API key is not valid")
        parts = presented.split("_", 2)
        if len(parts) != 3 or parts[0] != PREFIX or not re.fullmatch(r"[0-9a-f]{12}", parts[1]):
            raise refused
        record = await self.registry.get(parts[1])
        if record is None:
            raise refused
        key = ApiKey(**record)
        if not hmac.compare_digest(key.key_hash, key_hash(presented)) or key.revoked:
            raise refused
        return key
