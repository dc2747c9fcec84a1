"""The supervisor's decisions (silkline/workers.py) and the internal address (silkline/listeners.py)
without a cluster: how many node processes, what each is started with, when one comes back."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from silkline.cli import build_parser, config_from_args
from silkline.config import Config, from_env
from silkline.listeners import bind_internal, internal_url
from silkline.workers import RESPAWN_DELAY_S, RESPAWN_LIMIT, RespawnBudget, Supervisor, Worker, node_processes

REDIS = "redis://127.0.0.1:6379/0"


def test_without_redis_there_is_one_process_and_more_are_refused_in_words():
    assert node_processes(Config()) == 1
    assert node_processes(Config(workers=1)) == 1
    with pytest.raises(ValueError, match="--workers 3 needs --redis"):
        node_processes(Config(workers=3))


def test_with_redis_the_default_is_one_worker_per_core(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 6)
    assert node_processes(Config(redis_url=REDIS)) == 6
    assert node_processes(Config(redis_url=REDIS, workers=1)) == 1
    assert node_processes(Config(redis_url=REDIS, workers=3)) == 3
    with pytest.raises(ValueError, match="1 or more"):
        node_processes(Config(redis_url=REDIS, workers=-1))


def test_several_workers_need_their_own_advertised_url():
    with pytest.raises(ValueError, match=r"put \{port\} in --advertise-url"):
        node_processes(Config(redis_url=REDIS, workers=2, advertise_url="http://10.0.0.5:9000"))
    assert node_processes(Config(redis_url=REDIS, workers=2, advertise_url="http://10.0.0.5:{port}")) == 2
    assert node_processes(Config(redis_url=REDIS, workers=1, advertise_url="http://10.0.0.5:9000")) == 1


def test_several_workers_need_a_port_to_share():
    with pytest.raises(ValueError, match="give --port"):
        node_processes(Config(redis_url=REDIS, workers=2, port=0))
    assert node_processes(Config(redis_url=REDIS, workers=1, port=0)) == 1


def test_the_flags_and_variables_reach_the_config():
    config = config_from_args(build_parser().parse_args([
        "serve", "--redis", REDIS, "--workers", "4", "--internal-host", "10.0.0.5", "--internal-port", "9100",
        "--advertise-url", "http://node5.lan:{port}", "--heartbeat", "0.3", "--heartbeat-ttl", "1.5"]))
    assert (config.workers, config.internal_host, config.internal_port) == (4, "10.0.0.5", 9100)
    assert (config.advertise_url, config.heartbeat_s, config.heartbeat_ttl_s) == ("http://node5.lan:{port}", 0.3, 1.5)
    env = from_env({"SILKLINE_WORKERS": "2", "SILKLINE_INTERNAL_PORT": "9200", "SILKLINE_HEARTBEAT_TTL": "7",
                    "SILKLINE_INTERNAL_HOST": "0.0.0.0", "SILKLINE_ADVERTISE_URL": "http://h:{port}",
                    "SILKLINE_HEARTBEAT": "2"})
    assert (env.workers, env.internal_port, env.heartbeat_ttl_s, env.heartbeat_s) == (2, 9200, 7.0, 2.0)
    assert (env.internal_host, env.advertise_url) == ("0.0.0.0", "http://h:{port}")


def test_each_worker_gets_the_same_arguments_then_its_own_name_and_port():
    config = Config(redis_url=REDIS, node_id="shop", internal_port=9100, secret="s" * 20)
    supervisor = Supervisor(config, ["serve", "--redis", REDIS, "--workers", "2", "--node-id", "shop"], 2)
    first, second = supervisor.workers
    assert supervisor.command(second) == [sys.executable, "-m", "silkline", "serve", "--redis", REDIS,
                                          "--workers", "2", "--node-id", "shop", "--workers", "1",
                                          "--node-id", "shop-w2", "--internal-port", "9101"]
    first.generation = 2  # respawned twice: a new name, the same internal port
    assert supervisor.command(first)[-4:] == ["--node-id", "shop-w1-r2", "--internal-port", "9100"]
    # the last of a flag given twice wins: what each worker's config will be
    child = config_from_args(build_parser().parse_args(supervisor.command(second)[3:]))
    assert (child.workers, child.node_id, child.internal_port) == (1, "shop-w2", 9101)


def test_the_base_name_is_the_host_name_and_without_a_secret_the_workers_share_one(monkeypatch):
    monkeypatch.delenv("SILKLINE_SECRET", raising=False)
    supervisor = Supervisor(Config(redis_url=REDIS), ["serve"], 3)
    assert [w.node_id for w in supervisor.workers] == [f"{socket.gethostname()}-w{i}" for i in (1, 2, 3)]
    assert len(supervisor.env["SILKLINE_SECRET"]) >= 16  # one secret in the env every worker inherits
    assert "--internal-port" not in supervisor.command(supervisor.workers[0])  # port 0: each its own


def test_at_most_five_respawns_a_minute():
    budget = RespawnBudget()
    assert [budget.allow(t) for t in range(RESPAWN_LIMIT)] == [True] * RESPAWN_LIMIT
    assert not budget.allow(30.0)
    assert not budget.allow(59.9)
    assert budget.allow(60.0)  # the one at 0 s left the window
    assert not budget.allow(60.5)


def _exited(code: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-c", f"raise SystemExit({code})"])
    process.wait(30)
    return process


def test_a_dead_worker_is_started_again_after_a_second_until_its_budget_is_spent():
    supervisor = Supervisor(Config(redis_url=REDIS, secret="s" * 20), ["serve"], 1)
    [worker] = supervisor.workers
    for attempt in range(RESPAWN_LIMIT):
        worker.process = _exited(1)
        supervisor._reap(now=100.0 + attempt)
        assert (worker.respawn_at, worker.down, worker.returncode) == (100.0 + attempt + RESPAWN_DELAY_S, False, 1)
    worker.process = _exited(1)
    supervisor._reap(now=110.0)
    assert worker.down  # the sixth death within a minute: it stays down


def test_a_worker_that_refuses_its_configuration_is_not_started_again():
    supervisor = Supervisor(Config(redis_url=REDIS, secret="s" * 20), ["serve"], 1)
    [worker] = supervisor.workers
    worker.process = _exited(2)
    supervisor._reap(now=1.0)
    assert worker.down and worker.respawn_at is None


def test_nothing_is_started_again_while_stopping():
    supervisor = Supervisor(Config(redis_url=REDIS, secret="s" * 20), ["serve"], 1)
    [worker] = supervisor.workers
    supervisor.stopping_since = 1.0
    worker.process = _exited(0)
    supervisor._reap(now=2.0)
    assert (worker.respawn_at, worker.down, worker.returncode, worker.alive) == (None, False, 0, False)
    assert supervisor._exit_code() == 0


def test_worker_names():
    worker = Worker(2, "shop-w2")
    assert worker.node_id == "shop-w2"
    worker.generation = 1
    assert worker.node_id == "shop-w2-r1"


def test_the_internal_url_is_the_advertised_one_or_the_bound_address():
    assert internal_url(Config(), 9100) == "http://127.0.0.1:9100"
    assert internal_url(Config(internal_host="::1"), 9100) == "http://[::1]:9100"
    assert internal_url(Config(advertise_url="http://node5.lan:{port}/"), 9101) == "http://node5.lan:9101"
    assert internal_url(Config(advertise_url="https://n5.example"), 9101) == "https://n5.example"


def test_binding_the_internal_address_sets_the_url_and_a_taken_port_is_refused_in_words():
    config = Config(internal_port=0)
    sock = bind_internal(config)
    try:
        port = sock.getsockname()[1]
        assert port > 0 and config.internal_url == f"http://127.0.0.1:{port}"
        sock.listen()
        with pytest.raises(ValueError, match=f"cannot listen on the internal address 127.0.0.1:{port}"):
            bind_internal(Config(internal_port=port))
    finally:
        sock.close()
