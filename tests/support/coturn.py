"""A real coturn ``turnserver`` on a free loopback port, with the TURN REST scheme
(``--use-auth-secret --static-auth-secret``), for the relay tests. Ended by its PID."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

SECRET = "turn-test-secret-4f1c9a0e7b2d"
START_TIMEOUT_S = 15.0


@dataclass
class Coturn:
    proc: subprocess.Popen
    port: int
    secret: str
    log_path: Path

    @property
    def url(self) -> str:
        return f"turn:127.0.0.1:{self.port}?transport=udp"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


def _free_port() -> int:
    # coturn listens on UDP and TCP on the same port: find one free for both
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port for turnserver")


@contextmanager
def running_coturn(folder: Path) -> Iterator[Coturn]:
    binary = shutil.which("turnserver")
    if binary is None:
        pytest.fail("turnserver is not installed: run the tests with `bash scripts/test.sh`, "
                    "or `apt-get install coturn`")
    port = _free_port()
    log_path = folder / "turnserver.log"
    proc = subprocess.Popen(
        [binary, "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1",
         f"--listening-port={port}", "--use-auth-secret", f"--static-auth-secret={SECRET}",
         "--realm=silkline.test", "--no-cli", "--no-tls", "--no-dtls", "--allow-loopback-peers",
         "--fingerprint", f"--db={folder / 'turndb'}", f"--pidfile={folder / 'turnserver.pid'}",
         f"--log-file={log_path}", "--simple-log", "--no-stdout-log"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"turnserver did not start; log:\n{log_path.read_text(errors='replace') if log_path.exists() else ''}")
                time.sleep(0.05)
        yield Coturn(proc, port, SECRET, log_path)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
