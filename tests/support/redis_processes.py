"""Real redis-server processes for tests: a primary, a replica, a sentinel.

Each is started on a free loopback port with its files in a folder of the test, waited for
until it answers PING (bounded), and ended by its own PID.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
import redis as redis_sync

from tests.support.ports import free_port


def redis_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: run the tests with `bash scripts/test.sh`, "
                    "or `apt-get install redis-server`")
    return binary


class RedisProcess:
    """One redis-server (or sentinel) process on 127.0.0.1:``port``."""

    def __init__(self, folder: Path, *extra: str, port: int | None = None, sentinel_conf: str | None = None):
        self.port = port or free_port()
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        if sentinel_conf is not None:
            conf = folder / "sentinel.conf"
            conf.write_text(f"port {self.port}\nbind 127.0.0.1\ndir {folder}\n{sentinel_conf}\n")
            args = [redis_binary(), str(conf), "--sentinel"]
        else:
            args = [redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(folder),
                    "--appendonly", "yes", "--appendfsync", "always", "--save", "", *extra]
        self.args = args
        self.start()

    def start(self) -> None:
        """Start (or start again, on the same port and folder: what the AOF kept comes back)."""
        args = self.args
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self.client = redis_sync.Redis(host="127.0.0.1", port=self.port, decode_responses=True)
        deadline = time.monotonic() + 15
        while True:
            try:
                self.client.ping()
                return
            except redis_sync.exceptions.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.kill()
                    pytest.fail(f"redis-server {' '.join(args[1:])} did not start")
                time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def kill(self) -> None:
        """kill -9: what a crashed machine looks like to its clients."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.client.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.client.close()
