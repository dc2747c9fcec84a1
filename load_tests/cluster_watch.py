"""Watching a spawned cluster during a run, and killing one of its nodes on schedule.

:class:`ClusterWatch` samples, every second, ``GET /api/nodes`` (which node is alive, how many
rooms it carries) and each node's CPU and memory (psutil, as the single server's sampler in
load_tests/server.py) for every node pid the registry names (plus redis-server and a supervisor). :class:`NodeKiller` kills, at each time
of a :class:`~load_tests.faults.KillPlan`, the alive node carrying the most calls — by the pid
``/api/nodes`` gives, and only a node of the cluster this tool started.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import psutil

from load_tests.cluster import ClusterError, SpawnedCluster
from load_tests.faults import KillPlan, KillRefused, choose_victim


class _OwnThread:
    """A daemon thread running ``_run`` until ``stop`` (bounded join)."""

    name = "cluster"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name=self.name)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        raise NotImplementedError


class ClusterWatch(_OwnThread):
    """One thread; ``samples``: ``{t, nodes: [{node_id, pid, state, rooms, cpu_pct, rss_mb}], others}``."""

    name = "cluster-watch"

    def __init__(self, cluster: SpawnedCluster, t0: float, period: float = 1.0) -> None:
        super().__init__()
        self.cluster = cluster
        self.t0 = t0
        self.period = period
        self.samples: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self._procs: dict[int, psutil.Process] = {}  # pid → its process, CPU measured since the last look

    def _cpu(self, pid: int) -> tuple[float | None, float | None]:
        """(CPU %, 100 = one core, since the last look; RSS MB). The first look has no CPU yet."""
        proc = self._procs.get(pid)
        try:
            if proc is None:
                proc = self._procs[pid] = psutil.Process(pid)
                proc.cpu_percent(None)
                cpu = None
            else:
                cpu = round(proc.cpu_percent(None), 1)
            return cpu, round(proc.memory_info().rss / 2**20, 1)
        except psutil.Error:
            self._procs.pop(pid, None)
            return None, None

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            try:
                nodes = self.cluster.nodes()
            except ClusterError as exc:
                if len(self.errors) < 20:
                    self.errors.append(str(exc)[:300])
                continue
            sample: dict[str, Any] = {"t": round(time.monotonic() - self.t0, 2), "nodes": [], "others": {}}
            here = socket.gethostname()
            for node in nodes:
                # a pid means something only on its own machine
                alive = node.get("state") != "dead" and node.get("host") == here
                cpu, rss = self._cpu(int(node["pid"])) if alive else (None, None)
                sample["nodes"].append({"node_id": node.get("node_id"), "pid": node.get("pid"),
                                        "state": node.get("state"), "rooms": len(node.get("rooms") or []),
                                        "cpu_pct": cpu, "rss_mb": rss})
            for name, pid in self.cluster.pids().items():
                sample["others"][name] = self._cpu(pid)[0]
            self.samples.append(sample)

    def alive(self) -> tuple[int, int] | None:
        """(alive nodes, nodes listed) in the latest sample."""
        if not self.samples:
            return None
        nodes = self.samples[-1]["nodes"]
        return sum(1 for n in nodes if n["state"] != "dead"), len(nodes)

    def server_load(self) -> tuple[float | None, float | None]:
        """The alive nodes' CPU (100 % = one core) and RSS summed, from the latest sample."""
        if not self.samples:
            return None, None
        nodes = [n for n in self.samples[-1]["nodes"] if n["state"] != "dead"]
        cpus = [n["cpu_pct"] for n in nodes if n["cpu_pct"] is not None]
        rss = [n["rss_mb"] for n in nodes if n["rss_mb"] is not None]
        return (round(sum(cpus), 1) if cpus else None), (round(sum(rss), 1) if rss else None)


class NodeKiller(_OwnThread):
    """Kills on schedule (see the module docstring); ``events`` says what it did or refused."""

    name = "node-killer"

    def __init__(self, cluster: SpawnedCluster, plan: KillPlan, t0: float, stop_at: float,
                 on_event: Callable[[dict[str, Any]], None] | None = None) -> None:
        super().__init__()
        self.on_event = on_event
        self.cluster = cluster
        self.plan = plan
        self.t0 = t0
        self.stop_at = stop_at
        self.events: list[dict[str, Any]] = []

    def _run(self) -> None:
        for index, at in enumerate(self.plan.times()):
            when = self.t0 + at
            if when >= self.stop_at or self._stop.wait(max(0.0, when - time.monotonic())):
                return
            event = self.kill_once(index)
            self.events.append(event)
            if self.on_event is not None:
                self.on_event(event)

    def kill_once(self, index: int) -> dict[str, Any]:
        event: dict[str, Any] = {"index": index, "planned_s": self.plan.times()[index]}
        try:
            victim = choose_victim(self.cluster.nodes(), socket.gethostname(), killed=self.cluster.killed)
            pid = int(victim["pid"])
            self.cluster.kill_node(pid)  # refuses a pid that is not one of our nodes
        except (KillRefused, ClusterError) as exc:
            event.update(at_s=round(time.monotonic() - self.t0, 3), refused=str(exc))
            return event
        event.update(at_s=round(time.monotonic() - self.t0, 3), node_id=victim.get("node_id"), pid=pid,
                     host=victim.get("host"), rooms=list(victim.get("rooms") or []))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not pid_gone(pid):
            time.sleep(0.05)
        event["pid_gone"] = pid_gone(pid)
        replacement = self.cluster.replace(pid)  # separate mode: a fresh node on the same port
        if replacement is not None:
            event["replacement"] = replacement
        return event


def pid_gone(pid: int) -> bool:
    """The process no longer runs (gone, or a zombie waiting for its parent to reap it)."""
    try:
        return psutil.Process(pid).status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
    except psutil.NoSuchProcess:
        return True
