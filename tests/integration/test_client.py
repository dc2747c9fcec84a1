"""The public client (client/) against the real server: the call scripted in docs/client.md
runs as written, and the client's REST helpers and error kinds meet the real API."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from client import RestError, ServerError, SignalingClient, demo_token, get_json

ROOT = Path(__file__).resolve().parents[2]


def docs_example() -> dict[str, Any]:
    """The first python block of docs/client.md, loaded as a module (its ``__main__`` part skipped)."""
    text = (ROOT / "docs" / "client.md").read_text()
    match = re.search(r"```python\n(.*?)```", text, re.DOTALL)
    assert match is not None, "docs/client.md has no python example"
    namespace: dict[str, Any] = {"__name__": "docs_client_example"}
    exec(compile(match.group(1), "docs/client.md", "exec"), namespace)  # noqa: S102 - our own docs
    return namespace


@pytest.mark.timeout(90)
async def test_the_documented_call_runs_as_written(server, capsys):
    await docs_example()["main"](server.url)
    printed = capsys.readouterr().out.splitlines()
    assert printed == ["ringing: Sapphire ring", "in call: both sides decode the other's video",
                       "ended: hang_up by shopper", "record: answered"]


async def test_a_forged_token_is_refused_in_words_and_closes_the_socket(server):
    async with SignalingClient(server.http, server.url) as ws:
        with pytest.raises(ServerError) as refused:
            await ws.join("forged.token.value")
        assert refused.value.code == "unauthorized"
        await ws.closed.wait()
        assert ws.close_code == 4401
        assert [e["code"] for e in ws.errors] == ["unauthorized"]


async def test_rest_helpers_carry_the_token_and_report_http_errors(server):
    shopper = await demo_token(server.http, server.url, "shopper")
    assert shopper["role"] == "shopper" and shopper["call_id"].startswith("c_")
    with pytest.raises(RestError) as missing:  # a shopper may read only their own call, once it exists
        await get_json(server.http, server.url, "/api/calls/c_nobody", shopper["token"])
    assert missing.value.status == 403
    with pytest.raises(RestError) as unknown:
        await demo_token(server.http, server.url, "emperor")
    assert unknown.value.status == 400


async def test_ping_is_answered_by_pong_before_and_after_join(server):
    """The pages' liveness check (browsers cannot send WebSocket pings): ``pong`` names the ping."""
    async with SignalingClient(server.http, server.url) as ws:
        await ws.send("ping", id="p1")
        assert (await ws.expect("pong"))["ref"] == "p1"
        await ws.join((await server.token("agent", name="Ann"))["token"])
        await ws.send("ping", id="p2")
        assert (await ws.expect("pong"))["ref"] == "p2"
        assert ws.error_count == 0
