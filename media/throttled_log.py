"""Logging from per-packet and per-frame code without flooding the log.

A bug on the media path fires 30-50 times a second per track; a traceback each time floods
the log and costs CPU. The first occurrence is logged (with its traceback when there is one),
later ones are counted and summed up at most every ``interval`` seconds. Shared by the SFU's
forwarding paths and the recorder's writers (thread-safe)."""

from __future__ import annotations

import logging
import threading
import time


class ThrottledLog:
    """One recurring problem, e.g. "keyframe request failed for recording r_…".

    Uses the process's own monotonic time, not the injected Clock: this only spaces log lines
    and may be called from worker threads, where a virtual test clock would not move."""

    def __init__(self, logger: logging.Logger, level: int = logging.WARNING,
                 interval: float = 10.0) -> None:
        self.logger = logger
        self.level = level
        self.interval = interval
        self.count = 0
        self._unreported = 0
        self._last: float | None = None
        self._lock = threading.Lock()

    def exception(self, message: str, *args: object) -> None:
        """Log the exception being handled, with its traceback the first time."""
        self(message, *args, exc_info=True)

    def __call__(self, message: str, *args: object, exc_info: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            self.count += 1
            if self._last is None:
                self._last = now
                first, summary = True, 0
            elif now - self._last >= self.interval:
                self._last = now
                first, summary = False, self._unreported + 1
                self._unreported = 0
            else:
                self._unreported += 1
                return
        if first:
            self.logger.log(self.level, message, *args, exc_info=exc_info)
        else:
            self.logger.log(self.level, message + " (%d times in the last %.0f s, %d in all)",
                            *args, summary, self.interval, self.count)
