"""Real Silkline node processes on one real Redis, for cluster tests.

Two shapes, one class:

- ``Cluster(tmp_path, redis_url, nodes=3)``: separate ``silkline serve --workers 1`` processes,
  each on its own public and internal port, as on separate machines (node ids ``node-1`` …
  unless ``node_ids`` names them).
- ``Cluster(tmp_path, redis_url, workers=2)``: one supervisor (``--workers 2``); its workers
  share one public port (SO_REUSEPORT) and are found in its output (``worker i/N: node X pid P``,
  ``Silkline internal address URL (node X)``).

Use it as an async context manager; it flushes the Redis database first, waits (bounded) until
every node answers ``/readyz`` 200 on its own address, prints every log when the block raises
(so a failing test shows them), and ends what it started by PID on the way out::

    async with Cluster(tmp_path, redis_url, nodes=3) as cluster:
        a, b, c = cluster.nodes
        listed = await cluster.listed()          # GET /api/nodes as an admin: {node_id: entry}
        b.kill()                                 # SIGKILL by default; kill(signal.SIGTERM) drains
        await b.wait()
        d = await cluster.add_node("node-4")     # separate nodes: one more
        # supervised (workers node-w1 …): await cluster.node("node-w1-r1") waits for a respawn

Each ``ClusterNode`` has ``node_id``, ``url`` (public), ``internal_url``, ``pid``, ``kill(sig)``,
``wait(timeout)`` and ``logs()``. Nodes run with ``--secret`` (``cluster.token(role)`` mints a
token), ``--heartbeat 0.3 --heartbeat-ttl 1.5``, ``--drain-timeout 2`` and, as in
tests/conftest.make_config, the CPU and loop-lag admission limits off (the test machine's load
is not the node's); ``args`` come after those, so a test can set any of them again, and
``env`` adds variables (e.g. ``{"SILKLINE_DEMO": "1"}``). The data and recordings folders are
shared by the nodes, as on one machine.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from signaling.auth import Role, TokenService
from tests.support.ports import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
SECRET = "cluster-secret-0123456789abcdef-0123456789"
START_TIMEOUT_S = 60.0  # a cold node imports aiortc, PyAV and OpenCV; several start at once
STOP_TIMEOUT_S = 30.0  # SIGTERM → drain (2 s) → exit; then SIGKILL
WORKER_LINE = re.compile(r"^worker (\d+)/(\d+): node (\S+) pid (\d+)", re.MULTILINE)
INTERNAL_LINE = re.compile(r"^Silkline internal address (\S+) \(node (\S+)\)", re.MULTILINE)
LISTENING_LINE = re.compile(r"^Silkline listening on (\S+)", re.MULTILINE)


class ClusterNode:
    """One node process. ``wait`` answers its exit code, or None for a supervisor's worker
    (its parent reaps it; the supervisor's log says how it ended)."""

    def __init__(self, node_id: str, url: str, internal_url: str, pid: int, log_path: Path,
                 process: subprocess.Popen[bytes] | None = None) -> None:
        self.node_id = node_id
        self.url = url
        self.internal_url = internal_url
        self.pid = pid
        self.log_path = log_path
        self.process = process  # ours to reap; None for a supervisor's worker

    def __repr__(self) -> str:
        return f"ClusterNode({self.node_id!r}, pid={self.pid}, {self.internal_url})"

    @property
    def running(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        return _alive(self.pid, self.node_id)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to this process, by its PID (nothing when it has already exited)."""
        if self.running:
            os.kill(self.pid, sig)

    async def wait(self, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """Until the process has exited (an AssertionError past ``timeout``)."""
        deadline = time.monotonic() + timeout
        while self.running:
            if time.monotonic() > deadline:
                raise AssertionError(f"node {self.node_id} (pid {self.pid}) did not exit within {timeout:g} s")
            await asyncio.sleep(0.05)
        return self.process.returncode if self.process is not None else None

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class Cluster:
    """Node processes on one Redis (module docstring). ``nodes``: separate nodes in start
    order, or the supervisor's workers as they were last seen; ``supervisor``: the supervisor
    process (``--workers``), else None."""

    def __init__(self, tmp_path: Path, redis_url: str, nodes: int = 3, *, workers: int = 0,
                 node_ids: list[str] | None = None, args: tuple[str, ...] | list[str] = (),
                 env: dict[str, str] | None = None, secret: str = SECRET, flush: bool = True) -> None:
        self.folder = tmp_path / "cluster"
        self.redis_url = redis_url
        self.workers = workers
        self.node_ids = list(node_ids) if node_ids else [f"node-{i}" for i in range(1, nodes + 1)]
        self.node_base = "node"  # supervised: the workers are node-w1, node-w2, … (respawned: node-w1-r1)
        self.args = list(args)
        self.env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
        self.secret = secret
        self.flush = flush
        self.nodes: list[ClusterNode] = []
        self.supervisor: ClusterNode | None = None
        self.public_port = 0
        self._http: aiohttp.ClientSession | None = None

    # ------------------------------------------------------------------ lifetime

    async def __aenter__(self) -> Cluster:
        try:
            return await self.start()
        except BaseException:
            await self.close(show_logs=True)
            raise

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close(show_logs=exc_type is not None)

    async def start(self, timeout: float = START_TIMEOUT_S) -> Cluster:
        """Start every process and wait until each node answers ``/readyz`` 200."""
        for name in ("data", "recordings", "logs"):
            (self.folder / name).mkdir(parents=True, exist_ok=True)
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        if self.flush:
            client = aioredis.from_url(self.redis_url)
            try:
                await client.flushdb()
            finally:
                await client.aclose()
        if self.workers:
            self.public_port = free_port()
            log_path = self.folder / "logs" / "supervisor.log"
            process = self._spawn(["--workers", str(self.workers), "--node-id", self.node_base,
                                   "--port", str(self.public_port)], log_path)
            self.supervisor = ClusterNode("supervisor", self.url, "", process.pid, log_path, process)
            deadline = time.monotonic() + timeout
            await self._until(lambda: len(self._workers_seen()) >= self.workers, deadline,
                              f"{self.workers} workers in the supervisor's output")
            for node_id in list(self._workers_seen()):
                await self.node(node_id, timeout=max(1.0, deadline - time.monotonic()))
        else:
            started = [self._start_node(node_id) for node_id in self.node_ids]
            self.nodes.extend(started)
            deadline = time.monotonic() + timeout
            await asyncio.gather(*(self._ready(node, deadline) for node in started))
        return self

    async def close(self, show_logs: bool = False) -> None:
        """SIGTERM to what this cluster started (by PID), SIGKILL past a bound; safe after kills."""
        if show_logs:
            print(self.logs(), flush=True)
        if self.supervisor is not None:
            await _stop(self.supervisor)
            for worker in self.nodes:  # orphans, if the supervisor had to be killed
                worker.kill(signal.SIGKILL)
        else:
            await asyncio.gather(*(_stop(node) for node in self.nodes))
        if self._http is not None:
            await self._http.close()
            self._http = None

    # ------------------------------------------------------------------ nodes

    @property
    def url(self) -> str:
        """The shared public URL of a supervised cluster, else the first node's."""
        if self.workers:
            return f"http://127.0.0.1:{self.public_port}"
        return self.nodes[0].url

    async def add_node(self, node_id: str, timeout: float = START_TIMEOUT_S) -> ClusterNode:
        """Separate nodes: start one more (e.g. a node that comes back) and wait until it is ready."""
        assert not self.workers, "a supervised cluster's workers are started by the supervisor"
        node = self._start_node(node_id)
        self.nodes.append(node)
        await self._ready(node, time.monotonic() + timeout)
        return node

    async def node(self, node_id: str, timeout: float = START_TIMEOUT_S) -> ClusterNode:
        """The node ``node_id`` once it answers ``/readyz`` (supervised: once the supervisor
        has started it, e.g. a respawned ``<base>-w1-r1``)."""
        deadline = time.monotonic() + timeout
        known = next((n for n in self.nodes if n.node_id == node_id), None)
        if known is None:
            assert self.workers, f"no node {node_id} in this cluster"
            await self._until(lambda: node_id in self._workers_seen()
                              and node_id in self._internal_urls(), deadline,
                              f"worker {node_id} and its internal address in the supervisor's output")
            assert self.supervisor is not None
            known = ClusterNode(node_id, self.url, self._internal_urls()[node_id],
                                self._workers_seen()[node_id], self.supervisor.log_path)
            self.nodes.append(known)
        await self._ready(known, deadline)
        return known

    def worker_ids(self) -> list[str]:
        """Supervised: every worker node id the supervisor has started so far, in order."""
        return list(self._workers_seen())

    def token(self, role: Role = Role.ADMIN, subject: str = "root", **claims: Any) -> str:
        return TokenService(self.secret).issue(role, subject, **claims)

    async def get_json(self, path: str, via: ClusterNode | None = None) -> tuple[int, Any]:
        """``GET path`` as an admin, through ``via``'s public URL, else the shared port
        (supervised) or the first separate node still running: its status and its JSON body
        (its text when it is not 200)."""
        http = self._session()
        if via is None and not self.workers:
            via = next((n for n in self.nodes if n.running), None)
            assert via is not None, "no node of this cluster is running"
        async with http.get(f"{(via.url if via else self.url)}{path}",
                            headers={"Authorization": f"Bearer {self.token()}"}) as resp:
            return resp.status, (await resp.json() if resp.status == 200 else await resp.text())

    async def nodes_view(self, via: ClusterNode | None = None) -> tuple[int, Any]:
        """``GET /api/nodes`` (``get_json``)."""
        return await self.get_json("/api/nodes", via)

    async def listed(self, via: ClusterNode | None = None) -> dict[str, dict[str, Any]]:
        """Every node's entry in ``GET /api/nodes`` (``nodes_view``), by node id."""
        status, body = await self.nodes_view(via)
        assert status == 200, body
        return {entry["node_id"]: entry for entry in body["nodes"]}

    def logs(self) -> str:
        parts = [f"----- {p.name} -----\n{p.read_text(errors='replace')}"
                 for p in sorted((self.folder / "logs").glob("*.log"))]
        return "\n".join(parts)

    # ------------------------------------------------------------------ inside

    def _session(self) -> aiohttp.ClientSession:
        assert self._http is not None, "the cluster is not started"
        return self._http

    def _spawn(self, own: list[str], log_path: Path) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "silkline", "serve", "--host", "127.0.0.1", "--redis", self.redis_url,
                   "--data-dir", str(self.folder / "data"), "--recordings-dir", str(self.folder / "recordings"),
                   "--secret", self.secret, "--heartbeat", "0.3", "--heartbeat-ttl", "1.5",
                   "--drain-timeout", "2", "--max-cpu-pct", "0", "--max-loop-lag-ms", "0", *own, *self.args]
        with open(log_path, "ab") as log:
            return subprocess.Popen(command, cwd=REPO_ROOT, env=self.env, stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT)

    def _start_node(self, node_id: str) -> ClusterNode:
        port, internal_port = free_port(), free_port()
        log_path = self.folder / "logs" / f"{node_id}.log"
        process = self._spawn(["--workers", "1", "--node-id", node_id, "--port", str(port),
                               "--internal-port", str(internal_port)], log_path)
        return ClusterNode(node_id, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{internal_port}",
                           process.pid, log_path, process)

    def _supervisor_output(self) -> str:
        return self.supervisor.logs() if self.supervisor is not None else ""

    def _workers_seen(self) -> dict[str, int]:
        return {m.group(3): int(m.group(4)) for m in WORKER_LINE.finditer(self._supervisor_output())}

    def _internal_urls(self) -> dict[str, str]:
        return {m.group(2): m.group(1) for m in INTERNAL_LINE.finditer(self._supervisor_output())}

    async def _until(self, condition: Any, deadline: float, what: str) -> None:
        while not condition():
            owner = self.supervisor
            if owner is not None and not owner.running:
                raise AssertionError(f"the supervisor exited while waiting for {what}:\n{self.logs()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}:\n{self.logs()}")
            await asyncio.sleep(0.05)

    async def _ready(self, node: ClusterNode, deadline: float) -> None:
        """Until ``/readyz`` on the node's own (internal) address answers 200."""
        http = self._session()
        last = "no answer"
        while True:
            if not node.running:
                raise AssertionError(f"node {node.node_id} exited before it was ready:\n{node.logs()}")
            try:
                async with http.get(f"{node.internal_url}/readyz") as resp:
                    if resp.status == 200:
                        return
                    last = f"{resp.status} {await resp.text()}"
            except (TimeoutError, aiohttp.ClientError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            if time.monotonic() > deadline:
                raise AssertionError(f"node {node.node_id} not ready in time ({last}):\n{node.logs()}")
            await asyncio.sleep(0.1)


async def _stop(node: ClusterNode) -> None:
    """SIGTERM, wait (bounded), then SIGKILL: by PID, only if it still runs."""
    node.kill(signal.SIGTERM)
    try:
        await node.wait(STOP_TIMEOUT_S)
    except AssertionError:
        node.kill(signal.SIGKILL)
        await node.wait(10)


def _alive(pid: int, node_id: str) -> bool:
    """A supervisor's worker still runs: its PID exists, is not a zombie, and is that node
    (``--node-id`` in its command line), so a reused PID is never mistaken for it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    if stat.rpartition(")")[2].split()[0] in ("Z", "X"):
        return False
    return node_id.encode() in cmdline and b"silkline" in cmdline
