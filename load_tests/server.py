"""Start and stop a Silkline node for a load test, and sample processes' CPU and memory."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
BANNER = re.compile(r"Silkline listening on (http://127\.0\.0\.1:\d+)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def niceness(nice: int):  # type: ignore[no-untyped-def]
    """A preexec_fn giving the child (and every thread it starts) this nice value."""
    if not nice:
        return None
    return lambda: os.nice(nice)


def env_with_root() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


class SpawnedServer:
    """``python -m silkline serve`` on a free loopback port; stopped by PID."""

    def __init__(self, log_path: Path, forwarding: str = "encoded", timeout: float = 30.0,
                 nice: int = 0) -> None:
        self.log_path = log_path
        self.nice = nice
        self.forwarding = forwarding
        self.timeout = timeout
        self.proc: subprocess.Popen[str] | None = None
        self.url: str | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> str:
        self._tmp = tempfile.TemporaryDirectory(prefix="silkline-load-")
        tmp = Path(self._tmp.name)
        port = free_port()
        cmd = [sys.executable, "-m", "silkline", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--data-dir", str(tmp / "data"), "--recordings-dir", str(tmp / "recordings"),
               # rating a node pushes it past any admission limit; stop() should not wait a drain
               "--max-calls", "0", "--max-tracks", "0", "--max-loop-lag-ms", "0", "--max-cpu-pct", "0",
               "--drain-timeout", "5"]
        if self.forwarding != "encoded":
            cmd += ["--forwarding", self.forwarding]
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env_with_root(), stdout=subprocess.PIPE,
                                     stderr=log, text=True, bufsize=1, preexec_fn=niceness(self.nice))
        found: list[str] = []
        ready = threading.Event()

        def read() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                log.write(line)
                log.flush()
                match = BANNER.search(line)
                if match and not found:
                    found.append(match.group(1))
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True, name="server-stdout").start()
        if not ready.wait(self.timeout) or not found:
            self.stop()
            raise RuntimeError(f"the server did not start within {self.timeout:.0f}s; see {self.log_path}")
        self.url = found[0]
        return self.url

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()  # this PID only
                self.proc.wait(5)
        code = self.proc.returncode
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        return code


@dataclass
class Sample:
    t: float  # seconds since the run's t0
    server_cpu: float | None
    server_rss_mb: float | None
    generator_cpu: float
    system_cpu: float


@dataclass
class Sampler:
    """Samples the server's and the generator's CPU (100 % = one core) and the server's RSS."""

    server_pid: int | None
    t0: float
    period: float = 1.0
    samples: list[Sample] = field(default_factory=list)
    generator_pids: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _procs: dict[int, psutil.Process] = field(default_factory=dict)
    # a cluster: its nodes' CPU and RSS summed (load_tests.cluster_watch), in place of one pid's
    server_load: Callable[[], tuple[float | None, float | None]] | None = None

    def start(self) -> None:
        self._proc(os.getpid())
        if self.server_pid:
            self._proc(self.server_pid)
        psutil.cpu_percent(None)
        self._thread = threading.Thread(target=self._run, daemon=True, name="sampler")
        self._thread.start()

    def add_generator(self, pid: int) -> None:
        self.generator_pids.append(pid)
        self._proc(pid)

    def _proc(self, pid: int) -> psutil.Process | None:
        if pid not in self._procs:
            try:
                proc = psutil.Process(pid)
                proc.cpu_percent(None)
                self._procs[pid] = proc
            except psutil.Error:
                return None
        return self._procs[pid]

    def _cpu(self, pid: int) -> float | None:
        proc = self._procs.get(pid)
        try:
            return proc.cpu_percent(None) if proc is not None else None
        except psutil.Error:
            return None

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            server_cpu = rss = None
            if self.server_load is not None:
                server_cpu, rss = self.server_load()
            elif self.server_pid:
                server_cpu = self._cpu(self.server_pid)
                try:
                    rss = self._procs[self.server_pid].memory_info().rss / 2**20
                except (psutil.Error, KeyError):
                    rss = None
            gen = sum(c for c in (self._cpu(p) for p in [os.getpid(), *self.generator_pids]) if c)
            self.samples.append(Sample(round(time.monotonic() - self.t0, 2),
                                       None if server_cpu is None else round(server_cpu, 1),
                                       None if rss is None else round(rss, 1), round(gen, 1),
                                       round(psutil.cpu_percent(None) * psutil.cpu_count(), 1)))

    def latest(self) -> Sample | None:
        return self.samples[-1] if self.samples else None

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def as_dicts(self) -> list[dict[str, Any]]:
        return [s.__dict__ for s in self.samples]
