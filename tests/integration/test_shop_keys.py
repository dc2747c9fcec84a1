"""Shop API keys and the demo endpoint's limits, through the real HTTP API, the real WebSocket
and the real CLI: a shop's backend mints a shopper token with its key; nobody anonymous gets a
staff token off loopback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from signaling.auth import Role
from silkline.cli import build_parser, config_from_args
from silkline.config import is_loopback
from tests.conftest import make_config

ROOT = Path(__file__).resolve().parents[2]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def create_key(server, shop: str = "Gem Shop") -> dict:
    admin = server.tokens.issue(Role.ADMIN, "root")
    async with server.http.post(server.url + "/api/api-keys", headers=bearer(admin), json={"shop": shop}) as resp:
        assert resp.status == 201, await resp.text()
        return await resp.json()


async def mint(server, key: str, **body):
    async with server.http.post(server.url + "/api/shopper-tokens", headers=bearer(key), json=body) as resp:
        return resp.status, await resp.json()


async def test_a_shop_mints_a_shopper_token_whose_context_reaches_the_agent(server):
    created = await create_key(server)
    assert created["key"].startswith("slk_") and created["shop"] == "Gem Shop"
    status, minted = await mint(server, created["key"], customer_id="cust-7", name="Ada",
                                context={"product_id": "ring-42", "category": "jewellery"})
    assert status == 201
    claims = server.tokens.verify(minted["token"])
    assert (claims.role, claims.call_id, claims.customer_id, claims.name) == \
        (Role.SHOPPER, minted["call_id"], "cust-7", "Ada")
    agent = await server.client()
    await agent.send("join", token=server.tokens.issue(Role.AGENT, "ann", name="Ann",
                                                       skills={"general": 3, "jewellery": 3}))
    await agent.expect("joined")
    shopper = await server.client()
    # the page may add context; what the shop signed wins
    await shopper.send("join", token=minted["token"], context={"title": "Sapphire", "product_id": "forged"})
    await shopper.expect("joined", call_id=minted["call_id"])
    offered = await agent.expect("call-offered", call_id=minted["call_id"])
    assert offered["context"]["product_id"] == "ring-42" and offered["context"]["shop"] == "Gem Shop"
    assert offered["context"]["title"] == "Sapphire"
    await shopper.close()
    await agent.close()


async def test_only_a_live_key_mints_and_only_its_hash_is_stored(server):
    created = await create_key(server)
    for wrong in ("slk_000000000000_nope", created["key"] + "x", server.tokens.issue(Role.ADMIN, "root"), ""):
        status, body = await mint(server, wrong)
        assert status == 401 and body["error"]["code"] == "unauthorized", wrong
    async with server.http.post(server.url + "/api/shopper-tokens") as resp:
        assert resp.status == 401
    stored = (server.config.data_dir / "api_keys.json").read_text()
    assert created["key"] not in stored and created["key_id"] in stored
    admin = server.tokens.issue(Role.ADMIN, "root")
    async with server.http.get(server.url + "/api/api-keys", headers=bearer(admin)) as resp:
        keys = (await resp.json())["keys"]
    assert [(k["key_id"], k["revoked"]) for k in keys] == [(created["key_id"], False)]
    assert "key" not in keys[0] and "key_hash" not in keys[0]
    async with server.http.delete(server.url + f"/api/api-keys/{created['key_id']}", headers=bearer(admin)) as resp:
        assert resp.status == 200 and (await resp.json())["revoked"] is True
    assert (await mint(server, created["key"]))[0] == 401
    async with server.http.delete(server.url + "/api/api-keys/ffffffffffff", headers=bearer(admin)) as resp:
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "api_key_not_found"


async def test_only_an_admin_manages_keys_and_bodies_are_checked(server):
    supervisor = server.tokens.issue(Role.SUPERVISOR, "sue")
    async with server.http.post(server.url + "/api/api-keys", headers=bearer(supervisor), json={"shop": "x"}) as resp:
        assert resp.status == 403
    key = (await create_key(server))["key"]
    assert (await mint(server, key, context="not an object"))[0] == 400
    assert (await mint(server, key, priority=True))[0] == 400
    assert (await mint(server, key, context={"blob": "x" * 5000}))[0] == 400
    async with server.http.post(server.url + "/api/shopper-tokens", headers=bearer(key), data="[1]") as resp:
        assert resp.status == 400 and (await resp.json())["error"]["code"] == "bad_json"


async def test_the_cli_creates_and_revokes_keys_the_server_honours(server):
    data = ["--data-dir", str(server.config.data_dir)]

    def silkline(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "silkline", "keys", *args, *data], capture_output=True,
                              text=True, cwd=ROOT, timeout=60, check=False)

    added = silkline("add", "Gem Shop")
    assert added.returncode == 0, added.stderr
    key = added.stdout.strip().splitlines()[-1]
    assert (await mint(server, key))[0] == 201
    key_id = key.split("_")[1]
    assert key_id in silkline("list").stdout and key not in silkline("list").stdout
    assert silkline("revoke", key_id).returncode == 0
    assert (await mint(server, key))[0] == 401
    assert silkline("revoke", "ffffffffffff").returncode == 1


async def demo_token(server, role: str):
    async with server.http.post(server.url + "/api/demo/tokens", json={"role": role}) as resp:
        return resp.status


async def test_on_loopback_the_demo_gives_every_role(server):
    assert [await demo_token(server, r) for r in ("shopper", "agent", "admin")] == [200, 200, 200]


@pytest.fixture
def server_config(tmp_path, request):
    return make_config(tmp_path, **getattr(request, "param", {}))


@pytest.mark.parametrize("server_config", [{"host": "0.0.0.0"}], indirect=True)
async def test_off_loopback_the_demo_is_off(server):
    assert [await demo_token(server, r) for r in ("shopper", "admin")] == [404, 404]


@pytest.mark.parametrize("server_config", [{"host": "0.0.0.0", "demo_forced": True}], indirect=True)
async def test_off_loopback_a_forced_demo_never_gives_a_staff_token(server, caplog):
    statuses = [await demo_token(server, r) for r in ("shopper", "agent", "supervisor", "qa", "admin")]
    assert statuses == [200, 403, 403, 403, 403]


def test_forcing_the_demo_is_said_in_so_many_words(monkeypatch):
    monkeypatch.delenv("SILKLINE_DEMO", raising=False)
    parse = build_parser().parse_args
    assert config_from_args(parse(["serve"])).demo_active
    assert not config_from_args(parse(["serve", "--host", "0.0.0.0"])).demo_active
    assert config_from_args(parse(["serve", "--host", "0.0.0.0", "--demo"])).demo_active
    assert not config_from_args(parse(["serve", "--host", "0.0.0.0", "--demo", "--no-demo"])).demo_active
    assert not config_from_args(parse(["serve", "--redis", "redis://127.0.0.1:1"])).demo_active
    monkeypatch.setenv("SILKLINE_DEMO", "1")
    assert config_from_args(parse(["serve", "--host", "10.1.2.3"])).demo_active
    monkeypatch.setenv("SILKLINE_DEMO", "0")
    assert not config_from_args(parse(["serve"])).demo_active
    assert [is_loopback(h) for h in ("127.0.0.1", "127.8.0.1", "::1", "[::1]", "localhost",
                                     "0.0.0.0", "::", "shop.example", "192.0.2.1")] == \
        [True] * 5 + [False] * 4
