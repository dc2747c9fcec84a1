"""A free loopback port for a process a test starts.

The OS picks one that nobody listens on now; the process binds it a moment later, so two picks
made before either binds could be the same port (it happened: a node's internal port was its
neighbour's public one). A port is therefore never handed out twice in one test session."""

from __future__ import annotations

import socket

_given: set[int] = set()


def free_port() -> int:
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _given:
            _given.add(port)
            return port
    raise RuntimeError("no loopback port that was not handed out already")
