"""Wait for a condition with a timeout instead of sleeping a guessed time."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(condition: Callable[[], T | Awaitable[T]], *, timeout: float = 10.0,
                     interval: float = 0.05, message: str = "condition") -> T:
    """Call ``condition`` (sync or async) until it returns something truthy and return that.

    Fails the test with ``message`` and the last value or error when ``timeout`` passes.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = condition()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value  # type: ignore[return-value]
            last = value
        except AssertionError as error:  # an assert inside the condition: keep waiting
            last = error
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f} s waiting for {message}; last: {last!r}")
        await asyncio.sleep(interval)
