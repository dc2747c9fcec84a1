"""Rate-limited keyframe requests towards a publisher (RFC 4585 PLI).

Subscribers ask for a keyframe when they join, after loss or after a queue overflow. Many
subscribers asking at once must not make the publisher send a keyframe storm, so requests
inside ``min_interval`` are folded into one trailing request.

A request that could not go out (``send`` returned False: no media SSRC or no SRTP keys yet)
does not open the window: otherwise a subscriber binding before the publisher's leg is up
would make the next, real request wait ``min_interval`` (a join-time tail of up to 0.5 s).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class KeyframeRequester:
    def __init__(self, send: Callable[[], bool | None], min_interval: float = 0.5) -> None:
        self._send = send
        self.min_interval = min_interval
        self._last: float | None = None
        self._trailing: asyncio.TimerHandle | None = None
        self.sent = 0
        self.folded = 0
        self.unsent = 0  # requests that found nothing to send to

    def request(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._last is None or now - self._last >= self.min_interval:
            self._fire()
        elif self._trailing is None:
            self.folded += 1
            self._trailing = loop.call_at(self._last + self.min_interval, self._fire)
        else:
            self.folded += 1

    def _fire(self) -> None:
        self._trailing = None
        if self._send() is False:
            self.unsent += 1
            return
        self._last = asyncio.get_running_loop().time()
        self.sent += 1

    def close(self) -> None:
        if self._trailing is not None:
            self._trailing.cancel()
            self._trailing = None
