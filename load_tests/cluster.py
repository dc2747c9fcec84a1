"""A cluster the load tool starts and stops itself: one redis-server and N Silkline nodes on
loopback, all signing tokens with one secret the tool chose (so it can mint the admin token
``GET /api/nodes`` wants, and a token from one node is good on every other).

Two shapes (``--cluster-mode``): ``workers`` is ``silkline serve --redis URL --workers N`` (one
supervisor, N node processes sharing the port: one URL); ``separate`` is N plain
``silkline serve --redis URL --node-id nI --port P_I --workers 1`` processes (N URLs). Every process is
started by this module and stopped by its own PID; a node is killed only through
:meth:`SpawnedCluster.kill_node`, which refuses any PID that is not one of this cluster's nodes.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import jwt
import psutil

from load_tests.server import ROOT, env_with_root, free_port, niceness

MODES = ("separate", "workers")
READY_TIMEOUT = 60.0


class ClusterError(RuntimeError):
    """The cluster could not be started, asked, or the asked-for kill was refused (in words)."""


def mint_admin_token(secret: str, ttl: float = 3600.0) -> str:
    """An admin token as the nodes sign them (HS256, ``iss: silkline``). The load tool may not
    import the server, so it writes the few claims ``GET /api/nodes`` checks itself."""
    now = int(time.time())
    claims = {"iss": "silkline", "sub": "load-tests", "role": "admin", "iat": now,
              "exp": now + int(ttl), "jti": uuid.uuid4().hex}
    return jwt.encode(claims, secret, algorithm="HS256")


def fetch_json(urls: list[str], path: str, token: str, timeout: float = 2.0) -> Any:
    """``GET path`` from the first of ``urls`` that answers (a node may just have died)."""
    errors = []
    for url in urls:
        request = urllib.request.Request(url + path, headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                return json.load(resp)
        except Exception as exc:  # noqa: BLE001  (try the next node)
            errors.append(f"{url}: {exc!r}"[:200])
    raise ClusterError(f"no node answered GET {path}: " + "; ".join(errors))


def fetch_nodes(urls: list[str], token: str, timeout: float = 2.0) -> list[dict[str, Any]]:
    return list(fetch_json(urls, "/api/nodes", token, timeout)["nodes"])


class SpawnedCluster:
    """redis-server + Silkline nodes on free loopback ports, for one run."""

    def __init__(self, nodes: int, mode: str, log_dir: Path, nice: int = 0,
                 ready_timeout: float = READY_TIMEOUT) -> None:
        if mode not in MODES:
            raise ValueError(f"--cluster-mode must be one of {', '.join(MODES)}")
        if not 1 <= nodes <= 16:
            raise ValueError("--spawn-cluster takes 1 to 16 nodes")
        self.size = nodes
        self.mode = mode
        self.log_dir = log_dir
        self.nice = nice
        self.ready_timeout = ready_timeout
        self.secret = secrets.token_urlsafe(32)
        self.urls: list[str] = []
        self.redis: subprocess.Popen[bytes] | None = None
        self.redis_url = ""
        self.procs: list[subprocess.Popen[bytes]] = []  # nodes (separate) or the supervisor (workers)
        self.ports: list[int] = []  # separate: node i listens on ports[i]
        self.killed: list[int] = []
        self._dead: list[subprocess.Popen[bytes]] = []  # killed nodes, reaped at stop
        self._generation: list[int] = []
        self._token = mint_admin_token(self.secret)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    # ------------------------------------------------------------------ start
    def start(self) -> list[str]:
        """Start everything, wait until ``/api/nodes`` lists every node active; the base URLs."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._tmp = tempfile.TemporaryDirectory(prefix="silkline-cluster-")
        tmp = Path(self._tmp.name)
        try:
            self._start_redis(tmp)
            if self.mode == "workers":
                port = free_port()
                self.urls = [f"http://127.0.0.1:{port}"]
                self._spawn("supervisor", tmp / "node", ["--port", str(port), "--workers", str(self.size)])
            else:
                for i in range(self.size):
                    port = free_port()
                    self.ports.append(port)
                    self._generation.append(1)
                    self.urls.append(f"http://127.0.0.1:{port}")
                    self._spawn(f"n{i + 1}", tmp / f"n{i + 1}", self._node_args(port, f"n{i + 1}"))
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self.urls

    def _start_redis(self, tmp: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ClusterError("--spawn-cluster needs redis-server on PATH (apt-get install redis-server)")
        port = free_port()
        log = open(self.log_dir / "redis.log", "wb")
        self.redis = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp),
                                       "--save", "", "--appendonly", "no"], stdout=log, stderr=subprocess.STDOUT)
        self.redis_url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline or self.redis.poll() is not None:
                raise ClusterError(f"redis-server did not start; see {self.log_dir / 'redis.log'}")
            time.sleep(0.05)

    def replace(self, pid: int) -> str | None:
        """Separate mode: start a fresh node in place of the killed ``pid`` (same port, so the
        cluster's URLs stay; a new node id, so it never claims the calls that moved), as a process
        supervisor would. Workers mode: None (the supervisor replaces its workers itself)."""
        if self.mode != "separate" or self._tmp is None:
            return None
        index = next((i for i, p in enumerate(self.procs) if p.pid == pid), None)
        if index is None:
            return None
        self._dead.append(self.procs[index])
        self._generation[index] += 1
        node_id = f"n{index + 1}-{self._generation[index]}"
        self._spawn(node_id, Path(self._tmp.name) / node_id, self._node_args(self.ports[index], node_id), at=index)
        return node_id

    @staticmethod
    def _node_args(port: int, node_id: str) -> list[str]:
        """Separate mode: one node process (``--workers 1``: with ``--redis`` a serve would otherwise
        supervise one worker per core)."""
        return ["--port", str(port), "--node-id", node_id, "--workers", "1"]

    def _spawn(self, name: str, folder: Path, extra: list[str], at: int | None = None) -> None:
        cmd = [sys.executable, "-m", "silkline", "serve", "--host", "127.0.0.1", "--redis", self.redis_url,
               "--data-dir", str(folder / "data"), "--recordings-dir", str(folder / "recordings"),
               # rating a cluster pushes it past any admission limit; stop() should not wait a drain
               "--max-calls", "0", "--max-tracks", "0", "--max-loop-lag-ms", "0", "--max-cpu-pct", "0",
               "--drain-timeout", "5", *extra]
        # the secret in the environment, not a flag (flags show in ps); demo tokens are off with
        # --redis unless asked for
        env = env_with_root() | {"SILKLINE_SECRET": self.secret, "SILKLINE_DEMO": "1"}
        log = open(self.log_dir / f"{name}.log", "wb")
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                preexec_fn=niceness(self.nice))
        if at is None:
            self.procs.append(proc)
        else:
            self.procs[at] = proc

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            for n, proc in enumerate(self.procs):
                if proc.poll() is not None:
                    name = "supervisor" if self.mode == "workers" else f"n{n + 1}"
                    raise ClusterError(f"the {name} process ({proc.pid}) exited with {proc.returncode} while "
                                       f"starting: {self._last_line(name)!r}; see {self.log_dir / name}.log")
            try:
                active = [n for n in self.nodes() if n.get("state") == "active"]
                if len(active) >= self.size and self._all_urls_answer():
                    return
                last = f"{len(active)} of {self.size} nodes active"
            except ClusterError as exc:
                last = str(exc)
            time.sleep(0.3)
        raise ClusterError(f"the cluster was not ready within {self.ready_timeout:.0f} s ({last}); "
                           f"see the logs in {self.log_dir}")

    def _last_line(self, name: str) -> str:
        try:
            lines = (self.log_dir / f"{name}.log").read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1][:300] if lines else ""

    def _all_urls_answer(self) -> bool:
        try:
            for url in self.urls:
                fetch_nodes([url], self._token, timeout=2)
        except ClusterError:
            return False
        return True

    # ------------------------------------------------------------------ asking
    @property
    def admin_token(self) -> str:
        return self._token

    def nodes(self) -> list[dict[str, Any]]:
        return fetch_nodes(self.urls, self._token)

    def call_states(self, call_ids: list[str]) -> dict[str, dict[str, Any]]:
        """What the cluster's records say of these calls now: ``{state, migrated}`` (the number
        of ``migrated`` events) per call id, or ``{error}``."""
        out: dict[str, dict[str, Any]] = {}
        for call_id in call_ids:
            try:
                record = fetch_json(self.urls, f"/api/calls/{call_id}", self._token)
            except ClusterError as exc:
                out[call_id] = {"error": str(exc)[:200]}
                continue
            events = record.get("events") or []
            out[call_id] = {"state": record.get("state"),
                            "migrated": sum(1 for e in events if isinstance(e, dict) and e.get("type") == "migrated")}
        return out

    def owns(self, pid: int) -> bool:
        """Is ``pid`` one of this cluster's node processes (a node we started, or a worker of the
        supervisor we started)? A registry entry alone is not enough: a PID can be reused."""
        ours = {p.pid for p in self.procs if p.poll() is None}
        if pid in ours:  # in workers mode the supervisor is no node, unless it is the only one (--workers 1)
            return self.mode == "separate" or self.size == 1
        if self.mode != "workers":
            return False
        try:
            return psutil.Process(pid).ppid() in ours
        except psutil.Error:
            return False

    def kill_node(self, pid: int) -> None:
        """kill -9 one node of this cluster; refuse anything else, in words."""
        if not self.owns(pid):
            raise ClusterError(f"refusing to kill pid {pid}: it is not a node process this load tool "
                               f"started (its cluster's processes: {[p.pid for p in self.procs]})")
        os.kill(pid, signal.SIGKILL)
        self.killed.append(pid)

    def pids(self) -> dict[str, int]:
        """Every process of the cluster that is not a node (the nodes come from /api/nodes)."""
        out = {"redis": self.redis.pid} if self.redis is not None else {}
        if self.mode == "workers" and self.size > 1 and self.procs:
            out["supervisor"] = self.procs[0].pid
        return out

    # ------------------------------------------------------------------ stop
    def stop(self, timeout: float = 20.0) -> list[int | None]:
        """SIGTERM every process we started (by PID), SIGKILL after ``timeout``; exit codes."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        codes: list[int | None] = []
        for proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()  # this PID only
                proc.wait(5)
            codes.append(proc.returncode)
        for proc in self._dead:  # killed by us: reap
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
        if self.redis is not None and self.redis.poll() is None:
            self.redis.terminate()
            try:
                self.redis.wait(10)
            except subprocess.TimeoutExpired:
                self.redis.kill()
                self.redis.wait(5)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        return codes
