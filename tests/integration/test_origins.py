"""Allowed origins over real HTTP: the WebSocket handshake and CORS on the REST API follow the
shop's list (--allowed-origins); our own origin and non-browser clients always pass."""

from __future__ import annotations

import aiohttp
import pytest

from signaling.api.origins import OriginPolicy, normalize
from signaling.auth import Role
from tests.conftest import make_config

SHOP = "https://shop.example"
WS_HEADERS = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
              "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


@pytest.fixture
def server_config(tmp_path, request):
    return make_config(tmp_path, **getattr(request, "param", {"allowed_origins": [SHOP + ":443/"]}))


async def handshake(server, origin: str | None) -> tuple[int, dict]:
    headers = dict(WS_HEADERS, **({"Origin": origin} if origin else {}))
    async with server.http.get(server.url + "/ws", headers=headers) as resp:
        body = await resp.json() if resp.content_type == "application/json" else {}
        return resp.status, body


async def test_the_websocket_refuses_an_unlisted_origin_before_the_upgrade(server):
    status, body = await handshake(server, "https://evil.example")
    assert status == 403 and body["error"]["code"] == "origin_not_allowed"
    assert (await handshake(server, "null"))[0] == 403  # a sandboxed frame or a file:// page
    assert (await handshake(server, "http://shop.example"))[0] == 403  # another scheme is another origin
    assert (await handshake(server, SHOP))[0] == 101
    assert (await handshake(server, server.url))[0] == 101  # our own pages
    assert (await handshake(server, None))[0] == 101  # no Origin: not a browser


async def test_a_listed_page_joins_and_an_unlisted_one_cannot_connect(server):
    token = server.tokens.issue(Role.SUPERVISOR, "sue")
    async with server.http.ws_connect(server.url + "/ws", origin=SHOP) as ws:
        await ws.send_json({"v": 1, "type": "join", "token": token})
        assert (await ws.receive_json(timeout=5))["type"] == "joined"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await server.http.ws_connect(server.url + "/ws", origin="https://evil.example")
    assert refused.value.status == 403


async def test_cors_answers_only_listed_origins(server):
    preflight = {"Origin": SHOP, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization, content-type"}
    async with server.http.options(server.url + "/api/calls/c_1/rating", headers=preflight) as resp:
        assert resp.status == 204
        assert resp.headers["Access-Control-Allow-Origin"] == SHOP
        assert "POST" in resp.headers["Access-Control-Allow-Methods"]
        assert "Authorization" in resp.headers["Access-Control-Allow-Headers"]
        assert "Access-Control-Allow-Credentials" not in resp.headers
    async with server.http.options(server.url + "/api/calls/c_1/rating",
                                   headers={**preflight, "Origin": "https://evil.example"}) as resp:
        assert resp.status == 403 and (await resp.json())["error"]["code"] == "origin_not_allowed"
        assert "Access-Control-Allow-Origin" not in resp.headers
    async with server.http.get(server.url + "/api/calls", headers={"Origin": SHOP}) as resp:
        assert resp.status == 401  # CORS says who may read the answer, the token says what it holds
        assert resp.headers["Access-Control-Allow-Origin"] == SHOP and "Origin" in resp.headers["Vary"]
    async with server.http.get(server.url + "/api/calls", headers={"Origin": "https://evil.example"}) as resp:
        assert "Access-Control-Allow-Origin" not in resp.headers
    async with server.http.get(server.url + "/api/calls", headers={"Origin": server.url}) as resp:
        assert "Access-Control-Allow-Origin" not in resp.headers  # same origin needs no CORS


@pytest.mark.parametrize("server_config", [{"allowed_origins": ["*"]}], indirect=True)
async def test_a_star_allows_every_page(server):
    assert (await handshake(server, "https://anyone.example"))[0] == 101


@pytest.mark.parametrize("server_config", [{}], indirect=True)
async def test_by_default_only_our_own_pages(server):
    assert (await handshake(server, SHOP))[0] == 403
    assert (await handshake(server, server.url.replace("127.0.0.1", "localhost")))[0] == 403
    assert (await handshake(server, server.url))[0] == 101


def test_origins_are_normalized_and_a_bad_entry_is_refused():
    assert normalize("HTTPS://Shop.Example:443/") == "https://shop.example"
    assert normalize("http://[::1]:8080") == "http://[::1]:8080"
    assert [normalize(o) for o in ("null", "shop.example", "ftp://x", "https://x/path", "https://u@x")] == \
        [None] * 5
    with pytest.raises(ValueError, match="scheme://host"):
        OriginPolicy(["shop.example"])


def test_the_flag_and_the_variable_take_comma_separated_lists(monkeypatch):
    from silkline.cli import build_parser, config_from_args

    monkeypatch.setenv("SILKLINE_ALLOWED_ORIGINS", "https://a.example, https://b.example")
    assert config_from_args(build_parser().parse_args(["serve"])).allowed_origins == \
        ["https://a.example", "https://b.example"]
    args = build_parser().parse_args(["serve", "--allowed-origins", "https://c.example,https://d.example",
                                      "--allowed-origins", "https://e.example"])
    assert config_from_args(args).allowed_origins == ["https://c.example", "https://d.example", "https://e.example"]
