"""``silkline serve --redis URL --workers N`` with real processes and a real redis-server: the
workers share the public port and each is a node of the cluster; SIGTERM drains them all; a
worker that dies comes back under a new node id; without Redis there is one process only. And
the cluster fixture itself: separate nodes that see each other."""

from __future__ import annotations

import contextlib
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import aiohttp

from tests.support.cluster import REPO_ROOT, Cluster, ClusterNode
from tests.support.eventually import eventually
from tests.support.ports import free_port

HEALTH_PROBES = 30
WORKER_PIDS = re.compile(r"^worker \d+/\d+: node tty-w\d+ pid (\d+)", re.MULTILINE)


async def active(cluster: Cluster, node_ids: set[str]) -> dict[str, dict] | None:
    listed = await cluster.listed()
    if all(listed.get(n, {}).get("state") == "active" for n in node_ids):
        return listed
    return None


async def answering_node(url: str) -> str:
    """``/healthz`` over a fresh connection: which worker the kernel gave it to."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        async with http.get(f"{url}/healthz") as resp:
            assert resp.status == 200
            return str((await resp.json())["node_id"])


async def test_two_workers_share_the_port_are_two_nodes_and_sigterm_stops_both_with_0(tmp_path, redis_url):
    async with Cluster(tmp_path, redis_url, workers=2) as cluster:
        assert cluster.supervisor is not None
        w1, w2 = [await cluster.node(n) for n in ("node-w1", "node-w2")]
        assert cluster.worker_ids() == ["node-w1", "node-w2"]
        assert len({w1.pid, w2.pid, cluster.supervisor.pid}) == 3
        listed = await eventually(lambda: active(cluster, {"node-w1", "node-w2"}), timeout=10,
                                  message="both workers active in /api/nodes")
        assert (listed["node-w1"]["pid"], listed["node-w2"]["pid"]) == (w1.pid, w2.pid)
        # each worker on its own internal address, answering as itself
        assert w1.internal_url != w2.internal_url
        for worker in (w1, w2):
            assert await answering_node(worker.internal_url) == worker.node_id
        # one public port, both behind it: the kernel spreads fresh connections (SO_REUSEPORT)
        answered = [await answering_node(cluster.url) for _ in range(HEALTH_PROBES)]
        assert set(answered) == {"node-w1", "node-w2"}, answered

        cluster.supervisor.kill(signal.SIGTERM)
        assert await cluster.supervisor.wait(30) == 0, cluster.logs()
        for worker in (w1, w2):
            await worker.wait(5)  # gone, not orphaned
        output = cluster.supervisor.logs()
        assert output.count("Silkline stopped") == 2
        assert "Silkline supervisor: every worker stopped" in output
        assert "the drain is cut short" not in output  # one signal each, not two


async def test_a_killed_worker_comes_back_under_a_new_node_id(tmp_path, redis_url):
    async with Cluster(tmp_path, redis_url, workers=2) as cluster:
        w1, w2 = [await cluster.node(n) for n in ("node-w1", "node-w2")]
        await eventually(lambda: active(cluster, {"node-w1", "node-w2"}), timeout=10, message="both active")
        w1.kill(signal.SIGKILL)
        await w1.wait(5)
        back = await cluster.node("node-w1-r1", timeout=30)  # after 1 s, ready on its own address
        assert back.pid not in (w1.pid, w2.pid)
        listed = await eventually(lambda: _dead_and_back(cluster), timeout=10,
                                  message="node-w1 dead and node-w1-r1 active")
        assert listed["node-w1-r1"]["pid"] == back.pid
        assert listed["node-w2"]["pid"] == w2.pid and w2.running  # its sibling was not touched
        assert cluster.supervisor is not None
        assert (f"node node-w1 (pid {w1.pid}) exited -9: starting it again in 1 s as node-w1-r1"
                in cluster.supervisor.logs())
        assert cluster.worker_ids() == ["node-w1", "node-w2", "node-w1-r1"]


async def test_a_supervisor_killed_with_9_leaves_no_worker_behind(tmp_path, redis_url):
    async with Cluster(tmp_path, redis_url, workers=2) as cluster:
        assert cluster.supervisor is not None
        workers = [await cluster.node(n) for n in ("node-w1", "node-w2")]
        cluster.supervisor.kill(signal.SIGKILL)
        assert await cluster.supervisor.wait(5) == -signal.SIGKILL
        for worker in workers:  # each was told (SIGTERM on its parent's death), drained and exited
            await worker.wait(15)
        assert cluster.supervisor.logs().count("Silkline stopped") == 2


async def _dead_and_back(cluster: Cluster) -> dict[str, dict] | None:
    listed = await cluster.listed()
    ok = (listed.get("node-w1", {}).get("state") == "dead"
          and listed.get("node-w1-r1", {}).get("state") == "active")
    return listed if ok else None


def test_more_than_one_worker_without_redis_is_refused_in_words(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SILKLINE_REDIS"}
    done = subprocess.run([sys.executable, "-m", "silkline", "serve", "--workers", "3", "--port", str(free_port()),
                           "--data-dir", str(tmp_path / "data")], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "--workers 3 needs --redis" in done.stderr
    assert "Silkline listening" not in done.stdout  # nothing started


def test_ctrl_c_in_a_terminal_drains_each_worker_once(tmp_path, redis_url):
    """The workers share the supervisor's process group, so the terminal's SIGINT reaches each
    of them itself; the supervisor must not send a second one (that would cut the drain short)."""
    command = [sys.executable, "-m", "silkline", "serve", "--host", "127.0.0.1", "--port", str(free_port()),
               "--redis", redis_url, "--workers", "2", "--node-id", "tty", "--data-dir", str(tmp_path / "data"),
               "--recordings-dir", str(tmp_path / "rec"), "--secret", "tty-secret-0123456789abcdef",
               "--drain-timeout", "2", "--heartbeat", "0.3", "--heartbeat-ttl", "1.5"]
    pid, terminal = pty.fork()
    if pid == 0:  # the child: the session leader of a new terminal, its foreground group
        os.chdir(REPO_ROOT)
        os.execv(sys.executable, command)
    output, exit_code = b"", None
    try:
        output = _read_until(terminal, lambda out: out.count(b"Silkline internal address") == 2, 60)
        os.write(terminal, b"\x03")  # Ctrl-C: the terminal sends SIGINT to the foreground group
        output += _read_until(terminal, lambda out: b"every worker stopped" in out, 30)
        deadline = time.monotonic() + 10
        while exit_code is None and time.monotonic() < deadline:
            reaped, status = os.waitpid(pid, os.WNOHANG)
            exit_code = os.waitstatus_to_exitcode(status) if reaped == pid else None
            time.sleep(0.05)
        text = output.decode(errors="replace")
        assert exit_code == 0, text
        assert text.count("Silkline stopped") == 2
        assert "the drain is cut short" not in text
    finally:
        if exit_code is None:
            os.kill(pid, signal.SIGKILL)  # our own child, by PID
            os.waitpid(pid, 0)
            for worker_pid in WORKER_PIDS.findall(output.decode(errors="replace")):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(worker_pid), signal.SIGKILL)  # the workers it printed, by PID
        os.close(terminal)


def _read_until(fd: int, done: Callable[[bytes], bool], timeout: float) -> bytes:
    """What the terminal shows, until ``done`` says enough (bounded)."""
    output = b""
    deadline = time.monotonic() + timeout
    while not done(output):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out; the terminal showed:\n{output.decode(errors='replace')}")
        ready, _, _ = select.select([fd], [], [], min(left, 0.5))
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other side of the terminal closed
            break
        if not chunk:
            break
        output += chunk
    return output


async def test_the_cluster_fixture_starts_three_nodes_that_list_each_other(tmp_path, redis_url):
    async with Cluster(tmp_path, redis_url, nodes=3) as cluster:
        assert [n.node_id for n in cluster.nodes] == ["node-1", "node-2", "node-3"]
        assert len({n.url for n in cluster.nodes}) == 3 and len({n.internal_url for n in cluster.nodes}) == 3
        everyone = {"node-1", "node-2", "node-3"}
        for node in cluster.nodes:
            listed = await eventually(lambda node=node: _everyone_active(cluster, node, everyone), timeout=10,
                                      message=f"{node.node_id} listing the other two")
            assert {n: listed[n]["pid"] for n in everyone} == {n.node_id: n.pid for n in cluster.nodes}
            assert await answering_node(node.url) == node.node_id
            assert await answering_node(node.internal_url) == node.node_id
        last = cluster.nodes[-1]
        last.kill(signal.SIGKILL)
        assert await last.wait(5) == -signal.SIGKILL
    # close() after a kill: the others were stopped, nothing is left running
    assert not any(n.running for n in cluster.nodes)


async def _everyone_active(cluster: Cluster, via: ClusterNode, everyone: set[str]) -> dict[str, dict] | None:
    listed = await cluster.listed(via)
    return listed if everyone <= {n for n, e in listed.items() if e["state"] == "active"} else None
