"""The generators start together, once every one of them is ready.

A generator process spends seconds importing aiortc, PyAV and numpy before it can place a call;
on a busy machine many more. So the run's clock (t0, when the first call starts, and the hang-up
time) is not fixed when the processes are launched: each generator says ``{"ready": true}`` on
stdout, and the parent, once all have, sends each one line on stdin, ``{"t0": …, "stop_at": …}``
(``time.monotonic()``, the same clock in every process of the machine).
"""

from __future__ import annotations

import json
import select
import sys
from typing import IO, Any

WAIT_S = 300.0  # a generator never waits longer for its start (the parent kills it before)


def await_start(cfg: dict[str, Any], stdin: IO[str] | None = None, wait_s: float = WAIT_S) -> None:
    """In a generator: say ready, then take t0 and stop_at from the parent into ``cfg``."""
    stdin = stdin or sys.stdin
    print(json.dumps({"ready": True}), flush=True)
    readable, _, _ = select.select([stdin], [], [], wait_s)
    line = stdin.readline() if readable else ""
    if not line:
        raise SystemExit(f"generator: no start line from the parent within {wait_s:g} s")
    start = json.loads(line)
    cfg["t0"], cfg["stop_at"] = float(start["t0"]), float(start["stop_at"])
