"""ThrottledLog: error logging for per-packet and per-frame code.

A bug on the media path fires 30-50 times a second per track; a traceback each time floods
the log and costs CPU. The first failure is logged with its traceback, later ones are counted
and summarised at most once per ``interval``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class ThrottledLog:
    def __init__(self, logger: logging.Logger, interval: float = 10.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._logger = logger
        self.interval = interval
        self._monotonic = monotonic
        self._last: float | None = None
        self.suppressed = 0
        self.total = 0

    def exception(self, msg: str, *args: object) -> None:
        """Log the current exception: with a traceback at most once per interval."""
        self.total += 1
        now = self._monotonic()
        if self._last is not None and now - self._last < self.interval:
            self.suppressed += 1
            return
        if self.suppressed:
            msg = f"{msg} (and {self.suppressed} more failures since the last report)"
        self._last = now
        self.suppressed = 0
        self._logger.exception(msg, *args)
