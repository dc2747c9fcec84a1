"""Short-lived signed URLs for recordings: ``/media/<path>?exp=…&sig=…``.

A QA page gets URLs from an authenticated API call and hands them straight to <video> and
<img>, which cannot send an Authorization header. The signature (HMAC-SHA256 over path and
expiry) proves the server issued the URL; it expires after ``ttl`` seconds.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote

from media.clock import Clock, SystemClock


class MediaSigner:
    def __init__(self, secret: str, ttl: float = 600.0, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self._key = hashlib.sha256(("media:" + secret).encode()).digest()
        self.ttl = ttl

    def _sig(self, path: str, exp: int) -> str:
        return hmac.new(self._key, f"{path}\n{exp}".encode(), hashlib.sha256).hexdigest()

    def url(self, path: str, now: float | None = None) -> str:
        exp = int((self.clock.now() if now is None else now) + self.ttl)
        return f"/media/{quote(path)}?exp={exp}&sig={self._sig(path, exp)}"

    def check(self, path: str, exp: str, sig: str, now: float | None = None) -> bool:
        try:
            expires = int(exp)
        except (TypeError, ValueError):
            return False
        if expires < (self.clock.now() if now is None else now):
            return False
        return hmac.compare_digest(self._sig(path, expires), sig or "")
