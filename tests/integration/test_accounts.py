"""Staff accounts through the real HTTP API, the real CLI (a subprocess) and both real stores
(the JSON file under the data folder, a real redis-server): sign-in, lockout, disable, reset."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from media.clock import VirtualClock
from signaling.auth import Role
from signaling.centre.accounts import StaffAccounts
from signaling.errors import SignalingError
from signaling.state.registry import FileRegistry, RedisRegistry

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def add_user(server, name: str, role: str = "agent", **extra) -> dict:
    admin = server.tokens.issue(Role.ADMIN, "root")
    async with server.http.post(server.url + "/api/users", headers=bearer(admin),
                                json={"name": name, "role": role, "password": PASSWORD, **extra}) as resp:
        assert resp.status == 201, await resp.text()
        return await resp.json()


async def login(server, username: str, password: str):
    async with server.http.post(server.url + "/api/login",
                                json={"username": username, "password": password}) as resp:
        return resp.status, dict(resp.headers), await resp.json()


async def test_an_agent_signs_in_and_joins_the_websocket_with_the_staff_token(server):
    created = await add_user(server, "ann", display_name="Ann Smith", skills={"jewellery": 5})
    assert "password_hash" not in created and created["role"] == "agent"
    status, headers, body = await login(server, "ann", PASSWORD)
    assert status == 200 and headers["Cache-Control"] == "no-store"
    claims = server.tokens.verify(body["token"])
    assert (claims.role, claims.sub, claims.name, claims.skills) == (Role.AGENT, "ann", "Ann Smith",
                                                                     {"jewellery": 5})
    ws = await server.client()
    await ws.send("join", token=body["token"])
    joined = await ws.expect("joined")
    assert joined["role"] == "agent"
    await ws.close()


async def test_unknown_user_and_wrong_password_get_the_same_words(server):
    await add_user(server, "ann")
    wrong = await login(server, "ann", "not the password at all")
    unknown = await login(server, "nobody", "not the password at all")
    assert wrong[0] == unknown[0] == 401
    assert wrong[2] == unknown[2]
    assert wrong[2]["error"]["code"] == "bad_credentials"


async def test_five_failures_lock_the_account_even_for_the_right_password_until_reset(server):
    await add_user(server, "ann")
    for _ in range(5):
        assert (await login(server, "ann", "wrong password, again"))[0] == 401
    status, headers, body = await login(server, "ann", PASSWORD)
    assert status == 429 and body["error"]["code"] == "account_locked"
    assert 800 < int(headers["Retry-After"]) <= 900
    admin = server.tokens.issue(Role.ADMIN, "root")
    async with server.http.post(server.url + "/api/users/ann/reset", headers=bearer(admin),
                                json={"password": "a brand new password"}) as resp:
        assert resp.status == 200
    assert (await login(server, "ann", PASSWORD))[0] == 401
    assert (await login(server, "ann", "a brand new password"))[0] == 200


async def test_unknown_names_lock_too_so_the_lockout_tells_nothing(server):
    for _ in range(5):
        await login(server, "ghost", "wrong password, again")
    status, headers, body = await login(server, "ghost", "wrong password, again")
    assert status == 429 and body["error"]["code"] == "account_locked" and "Retry-After" in headers


async def test_a_disabled_account_cannot_sign_in_and_an_enabled_one_can(server):
    await add_user(server, "sam", role="supervisor")
    admin = server.tokens.issue(Role.ADMIN, "root")
    async with server.http.post(server.url + "/api/users/sam/disable", headers=bearer(admin)) as resp:
        assert resp.status == 200 and (await resp.json())["disabled"] is True
    status, _, body = await login(server, "sam", PASSWORD)
    assert status == 403 and body["error"]["code"] == "account_disabled"
    # a wrong password still reads as a wrong password: disabled is told only to the owner
    assert (await login(server, "sam", "wrong password, again"))[2]["error"]["code"] == "bad_credentials"
    async with server.http.post(server.url + "/api/users/sam/enable", headers=bearer(admin)) as resp:
        assert resp.status == 200
    status, _, body = await login(server, "sam", PASSWORD)
    assert status == 200 and server.tokens.verify(body["token"]).role is Role.SUPERVISOR


async def test_only_an_admin_manages_users(server):
    agent = server.tokens.issue(Role.AGENT, "ann")
    async with server.http.get(server.url + "/api/users", headers=bearer(agent)) as resp:
        assert resp.status == 403
    async with server.http.get(server.url + "/api/users") as resp:
        assert resp.status == 401
    await add_user(server, "ann")
    admin = server.tokens.issue(Role.ADMIN, "root")
    async with server.http.get(server.url + "/api/users", headers=bearer(admin)) as resp:
        users = (await resp.json())["users"]
    assert [u["name"] for u in users] == ["ann"] and "password_hash" not in users[0]
    async with server.http.post(server.url + "/api/users", headers=bearer(admin),
                                json={"name": "ann", "role": "agent", "password": PASSWORD}) as resp:
        assert resp.status == 409 and (await resp.json())["error"]["code"] == "account_exists"
    async with server.http.post(server.url + "/api/users", headers=bearer(admin),
                                json={"name": "bob", "role": "shopper", "password": PASSWORD}) as resp:
        assert resp.status == 400
    async with server.http.post(server.url + "/api/users", headers=bearer(admin),
                                json={"name": "bob", "role": "qa", "password": "short"}) as resp:
        assert resp.status == 400 and (await resp.json())["error"]["code"] == "weak_password"
    async with server.http.post(server.url + "/api/users/zed/disable", headers=bearer(admin)) as resp:
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "account_not_found"


async def test_accounts_live_in_redis_in_redis_mode(redis_server, redis_url):
    await add_user(redis_server, "ann", role="qa")
    assert (await login(redis_server, "ann", PASSWORD))[0] == 200
    import redis.asyncio as aioredis

    r = aioredis.from_url(redis_url, decode_responses=True)
    stored = await r.hgetall("silkline:accounts:ann")
    await r.aclose()
    assert json.loads(stored["role"]) == "qa" and json.loads(stored["password_hash"]).startswith("$argon2id$")


@pytest.fixture(params=["file", "redis"])
async def registry(request, tmp_path, redis_url):
    if request.param == "file":
        found = FileRegistry(tmp_path / "accounts.json")
    else:
        import redis.asyncio as aioredis

        flush = aioredis.from_url(redis_url)
        await flush.flushdb()
        await flush.aclose()
        found = RedisRegistry(redis_url, "accounts")
    await found.open()
    yield found
    await found.close()


async def test_the_lock_ends_after_fifteen_minutes_on_the_clock(registry):
    clock = VirtualClock()
    accounts = StaffAccounts(registry, clock)
    await accounts.add("ann", "agent", PASSWORD)
    for _ in range(4):
        with pytest.raises(SignalingError, match="wrong"):
            await accounts.sign_in("ann", "wrong password, again")
    await clock.advance(16 * 60)  # old failures leave the 15-minute window
    for _ in range(4):
        with pytest.raises(SignalingError, match="wrong"):
            await accounts.sign_in("ann", "wrong password, again")
    assert (await accounts.sign_in("ann", PASSWORD)).name == "ann"  # 4 + 4 never locked
    for _ in range(5):
        with pytest.raises(SignalingError):
            await accounts.sign_in("ann", "wrong password, again")
    await clock.advance(14 * 60)
    with pytest.raises(SignalingError) as locked:
        await accounts.sign_in("ann", PASSWORD)
    assert locked.value.code == "account_locked" and 0 < locked.value.retry_after <= 60
    # the lock is durable: another node (a new StaffAccounts on the same store) sees it
    with pytest.raises(SignalingError):
        await StaffAccounts(registry, clock).sign_in("ann", PASSWORD)
    await clock.advance(61)
    assert (await accounts.sign_in("ann", PASSWORD)).name == "ann"


def silkline(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "silkline", *args], input=stdin, capture_output=True,
                          text=True, cwd=ROOT, timeout=60, check=False)


async def test_the_cli_manages_accounts_the_running_server_signs_in_with(server):
    data = ["--data-dir", str(server.config.data_dir)]
    added = silkline("users", "add", "qa1", "--role", "qa", "--display-name", "Quinn",
                     "--password-stdin", *data, stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert PASSWORD not in added.stdout + added.stderr
    status, _, body = await login(server, "qa1", PASSWORD)
    assert status == 200 and body["role"] == "qa" and body["display_name"] == "Quinn"
    listed = silkline("users", "list", "--json", *data)
    assert [u["name"] for u in json.loads(listed.stdout)] == ["qa1"]
    assert silkline("users", "disable", "qa1", *data).returncode == 0
    assert (await login(server, "qa1", PASSWORD))[2]["error"]["code"] == "account_disabled"
    assert silkline("users", "enable", "qa1", *data).returncode == 0
    reset = silkline("users", "reset", "qa1", "--password-stdin", *data, stdin="another long password\n")
    assert reset.returncode == 0, reset.stderr
    assert (await login(server, "qa1", "another long password"))[0] == 200
    # the file on disk holds a hash, never the password
    text = (server.config.data_dir / "accounts.json").read_text()
    assert "another long password" not in text and "$argon2id$" in text
    # no way to put a password on the command line
    assert silkline("users", "add", "x1", "--role", "qa", "--password", PASSWORD, *data).returncode == 2
    weak = silkline("users", "add", "x2", "--role", "qa", "--password-stdin", *data, stdin="short\n")
    assert weak.returncode == 1 and "weak_password" in weak.stderr


async def refresh(server, token: str):
    async with server.http.post(server.url + "/api/login/refresh", headers=bearer(token)) as resp:
        return resp.status, await resp.json()


@pytest.mark.parametrize("clock", ["virtual"], indirect=True)
async def test_a_sign_in_refreshes_through_a_shift_but_not_past_twelve_hours(server):
    await add_user(server, "ann", display_name="Ann Smith")
    _, _, body = await login(server, "ann", PASSWORD)
    token = body["token"]
    for _ in range(14):  # every 50 minutes: each token is refreshed before its hour is up
        await server.clock.advance(50 * 60)
        status, fresh = await refresh(server, token)
        assert status == 200 and fresh["display_name"] == "Ann Smith" and fresh["token"] != token
        token = fresh["token"]
    await server.clock.advance(50 * 60)  # 12.5 h after the password was typed
    status, refused = await refresh(server, token)
    assert status == 401 and "too old" in refused["error"]["message"]


async def test_refresh_refuses_demo_tokens_and_disabled_accounts(server):
    demo = server.tokens.issue(Role.AGENT, "a_demo", auth_time=server.tokens.clock.now())
    assert (await refresh(server, demo))[0] == 401
    shopper = server.tokens.issue(Role.SHOPPER, "s1", call_id="c1")
    assert (await refresh(server, shopper))[0] == 403
    await add_user(server, "sam", role="supervisor")
    _, _, body = await login(server, "sam", PASSWORD)
    admin = server.tokens.issue(Role.ADMIN, "root")
    async with server.http.post(server.url + "/api/users/sam/disable", headers=bearer(admin)):
        pass
    status, refused = await refresh(server, body["token"])
    assert status == 403 and refused["error"]["code"] == "account_disabled"


async def test_the_options_tell_the_pages_what_to_offer(server):
    async with server.http.get(server.url + "/api/login/options") as resp:
        assert await resp.json() == {"password": True, "demo": True, "sso": None}


async def test_a_live_socket_takes_a_fresher_token_and_outlives_its_join_token(server):
    """A long shift: the console refreshes its sign-in and hands the new token to its socket, so
    the socket is not cut off when the token it joined with expires."""
    short = server.tokens.issue(Role.AGENT, "ann", name="Ann", ttl=1.5, skills={"general": 3})
    ws = await server.client()
    await ws.send("join", token=short)
    await ws.expect("joined")
    await ws.send("refresh-token", token=server.tokens.issue(Role.AGENT, "bob", name="Bob"))
    assert (await ws.expect("error"))["code"] == "forbidden"  # somebody else's token
    await ws.send("refresh-token", token=server.tokens.issue(Role.SUPERVISOR, "ann"))
    assert (await ws.expect("error"))["code"] == "forbidden"  # the same name in another role
    fresh = server.tokens.issue(Role.AGENT, "ann", name="Ann", ttl=3600, skills={"general": 3})
    await ws.send("refresh-token", token=fresh)
    assert (await ws.expect("token-refreshed"))["expires_at"] > server.clock.now() + 3000
    await asyncio.sleep(2.0)  # the join token has expired by now
    await ws.send("set-state", state="away")
    await ws.expect("agent-state", state="away")
