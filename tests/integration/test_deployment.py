"""The deployment examples: docker-compose.yml is valid and wires what docs/deploy.md says,
and the Dockerfile's HEALTHCHECK, run as Docker would, tells a live node from a dead one."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.support.browser import REPO_ROOT, free_port, start_server

COMPOSE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
COMPOSE_ENV = {"SILKLINE_DOMAIN": "silkline.example.com", "PUBLIC_IP": "203.0.113.10",
               "SILKLINE_SECRET": "s" * 32, "TURN_SECRET": "t" * 32}


def compose() -> dict:
    try:
        import yaml
    except ImportError:
        pytest.skip("PyYAML is not installed (pip install pyyaml) — docker-compose.yml not parsed")
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_has_the_four_services_wired_together():
    services = compose()["services"]
    assert set(services) == {"silkline", "redis", "coturn", "caddy"}
    node = services["silkline"]
    env = node["environment"]
    assert env["SILKLINE_REDIS"] == "redis://redis:6379/0"
    lo, hi = env["SILKLINE_MEDIA_PORTS"].split("-")
    assert f"{lo}-{hi}:{lo}-{hi}/udp" in node["ports"]
    assert env["SILKLINE_MEDIA_PUBLIC_ADDRESS"].startswith("${PUBLIC_IP")  # candidates name the VM  # the media range, published 1:1 as UDP
    assert not any(str(p).split(":")[-1].startswith("8080") for p in node["ports"])  # HTTP only via Caddy
    redis_command = services["redis"]["command"]
    assert redis_command[redis_command.index("--appendonly") + 1] == "yes"
    turn = services["coturn"]["command"]
    assert "--use-auth-secret" in turn
    assert "--static-auth-secret=${TURN_SECRET:?set TURN_SECRET in .env}" in turn
    assert env["SILKLINE_TURN_SECRET"] == "${TURN_SECRET:?set TURN_SECRET in .env}"  # the same secret
    assert {"3478:3478/udp", "3478:3478/tcp"} <= set(services["coturn"]["ports"])
    caddy = services["caddy"]
    assert {"80:80", "443:443"} <= set(caddy["ports"])
    mount = next(v for v in caddy["volumes"] if v.endswith(":/etc/caddy/Caddyfile:ro"))
    caddyfile = (REPO_ROOT / mount.split(":")[0]).read_text()
    assert re.search(r"reverse_proxy\s+silkline:8080", caddyfile)  # Caddy upgrades /ws by itself


def test_docker_compose_config_accepts_it():
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True,
                                        timeout=30, check=False).returncode != 0:
        pytest.skip("`docker compose` is not available here; the YAML is checked by the test above")
    result = subprocess.run([docker, "compose", "-f", str(COMPOSE), "config", "--format", "json"],
                            cwd=REPO_ROOT, env=dict(os.environ, **COMPOSE_ENV), capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert set(json.loads(result.stdout)["services"]) == {"silkline", "redis", "coturn", "caddy"}


def dockerfile_lines() -> list[str]:
    return DOCKERFILE.read_text().replace("\\\n", " ").splitlines()


def healthcheck_command() -> list[str]:
    line = next(line for line in dockerfile_lines() if line.startswith("HEALTHCHECK"))
    return json.loads(line[line.index("CMD") + 3:].strip())  # the exec form: a JSON array


def test_the_image_runs_as_a_user_with_a_healthcheck():
    lines = dockerfile_lines()
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert lines.index(next(line for line in lines if line.startswith("USER "))) < \
        lines.index(next(line for line in lines if line.startswith("CMD ")))
    assert healthcheck_command()[0] == "python"


def run_healthcheck(port: int, **env: str) -> int:
    argv = healthcheck_command()
    argv[0] = sys.executable
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SILKLINE_")}
    return subprocess.run(argv, env=dict(clean, SILKLINE_PORT=str(port), **env), capture_output=True,
                          timeout=30, check=False).returncode


def test_the_healthcheck_tells_a_live_node_from_a_dead_one(tmp_path):
    from tests.support.certs import self_signed

    server = start_server(tmp_path / "plain")
    try:
        assert run_healthcheck(server.port) == 0
    finally:
        server.stop()
    assert run_healthcheck(server.port) != 0  # nothing listens there now
    assert run_healthcheck(free_port()) != 0
    cert, key = self_signed(tmp_path)
    tls = start_server(tmp_path / "tls", "--tls-cert", str(cert), "--tls-key", str(key))
    try:
        assert run_healthcheck(tls.port, SILKLINE_TLS_CERT=str(cert)) == 0
    finally:
        tls.stop()


def test_serve_logs_json_lines(tmp_path):
    """A real node with --log-format json: its log records are JSON objects, one per line."""
    server = start_server(tmp_path, "--log-format", "json")
    try:
        records = [json.loads(line) for line in server.lines if line.startswith("{")]
    finally:
        server.stop()
    assert any(r["level"] == "WARNING" and "SILKLINE_SECRET" in r["message"] for r in records), server.log_tail()
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
