"""Quick replies through the real HTTP API on both backends (the embedded registry file and a
real redis-server): an admin keeps each queue's canned answers; the agent serving a call reads
those of its queue; a shopper or an agent can manage none of them."""

from __future__ import annotations

from typing import Any

import pytest

from signaling.auth import Role
from tests.conftest import Running


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(params=["memory", "redis"])
def any_server(request: pytest.FixtureRequest) -> Running:
    return request.getfixturevalue("server" if request.param == "memory" else "redis_server")


async def call(server: Running, method: str, path: str, token: str | None, body: Any = None) -> tuple[int, Any]:
    async with server.http.request(method, server.url + path, json=body,
                                   headers=bearer(token) if token else {}) as resp:
        return resp.status, (await resp.json() if resp.status != 204 else None)


async def test_an_admin_keeps_quick_replies_per_queue(any_server):
    server = any_server
    admin = server.tokens.issue(Role.ADMIN, "root")
    status, sizes = await call(server, "POST", "/api/quick-replies", admin,
                               {"queue": "jewellery", "title": "Ring sizes", "text": "Our rings come in sizes 48 to 62."})
    assert status == 201 and sizes["reply_id"].startswith("qr_") and sizes["queue"] == "jewellery"
    status, _ = await call(server, "POST", "/api/quick-replies", admin,
                           {"queue": "jewellery", "title": "Care", "text": "Wipe it with a soft cloth."})
    assert status == 201
    status, _ = await call(server, "POST", "/api/quick-replies", admin,
                           {"queue": "general", "title": "Hello", "text": "Hello! How can I help?"})
    assert status == 201
    status, listed = await call(server, "GET", "/api/quick-replies?queue=jewellery", admin)
    assert [r["title"] for r in listed["quick_replies"]] == ["Care", "Ring sizes"]
    status, changed = await call(server, "PUT", f"/api/quick-replies/{sizes['reply_id']}", admin,
                                 {"text": "Sizes 46 to 64, free resizing."})
    assert status == 200 and changed["text"] == "Sizes 46 to 64, free resizing." and changed["title"] == "Ring sizes"
    assert (await call(server, "GET", "/api/quick-replies", admin))[1]["quick_replies"][-1]["text"] == \
        "Sizes 46 to 64, free resizing."
    assert (await call(server, "DELETE", f"/api/quick-replies/{sizes['reply_id']}", admin))[0] == 204
    status, gone = await call(server, "DELETE", f"/api/quick-replies/{sizes['reply_id']}", admin)
    assert status == 404 and gone["error"]["code"] == "quick_reply_not_found"
    assert (await call(server, "PUT", "/api/quick-replies/qr_nope", admin, {"text": "x"}))[0] == 404
    for wrong in ({"queue": "nope", "title": "t", "text": "x"}, {"queue": "general", "title": "", "text": "x"},
                  {"queue": "general", "title": "t" * 61, "text": "x"}, {"queue": "general", "title": "t"}):
        status, body = await call(server, "POST", "/api/quick-replies", admin, wrong)
        assert status == 400 and body["error"]["code"] == "invalid_message", wrong
    status, titles = await call(server, "GET", "/api/quick-replies", server.tokens.issue(Role.SUPERVISOR, "sue"))
    assert status == 200 and [r["title"] for r in titles["quick_replies"]] == ["Hello", "Care"]


async def test_a_shopper_or_an_agent_manages_none_and_the_serving_agent_reads_its_queues(any_server):
    server = any_server
    admin = server.tokens.issue(Role.ADMIN, "root")
    _, hello = await call(server, "POST", "/api/quick-replies", admin,
                          {"queue": "general", "title": "Hello", "text": "Hello! How can I help?"})
    await call(server, "POST", "/api/quick-replies", admin, {"queue": "jewellery", "title": "Care", "text": "Soft cloth."})
    agent_token = server.tokens.issue(Role.AGENT, "ann", name="Ann", skills={"general": 3})
    shopper = await server.token("shopper")
    for token in (agent_token, shopper["token"]):
        assert (await call(server, "POST", "/api/quick-replies", token,
                           {"queue": "general", "title": "x", "text": "y"}))[0] == 403
        assert (await call(server, "PUT", f"/api/quick-replies/{hello['reply_id']}", token, {"text": "y"}))[0] == 403
        assert (await call(server, "DELETE", f"/api/quick-replies/{hello['reply_id']}", token))[0] == 403
        assert (await call(server, "GET", "/api/quick-replies", token))[0] == 403
    assert (await call(server, "POST", "/api/quick-replies", None, {"queue": "general"}))[0] == 401
    agent = await server.client()
    await agent.send("join", token=agent_token)
    await agent.expect("joined")
    ws = await server.client()
    await ws.send("join", token=shopper["token"], context={"title": "Ring"})
    call_id = shopper["call_id"]
    await agent.expect("call-offered", call_id=call_id)
    # ringing is not serving
    assert (await call(server, "GET", f"/api/calls/{call_id}/quick-replies", agent_token))[0] == 403
    await agent.send("accept", call_id=call_id)
    await ws.expect("call-state", state="connecting")
    status, served = await call(server, "GET", f"/api/calls/{call_id}/quick-replies", agent_token)
    assert status == 200 and served["queue"] == "general"
    assert [(r["title"], r["text"]) for r in served["quick_replies"]] == [("Hello", "Hello! How can I help?")]
    other = server.tokens.issue(Role.AGENT, "bob")
    assert (await call(server, "GET", f"/api/calls/{call_id}/quick-replies", other))[0] == 403
    assert (await call(server, "GET", f"/api/calls/{call_id}/quick-replies", shopper["token"]))[0] == 403
    assert (await call(server, "GET", "/api/calls/c_nope/quick-replies", agent_token))[0] == 404
    await ws.send("hangup", call_id=call_id)
    await agent.expect("call-ended", call_id=call_id)
    assert (await call(server, "GET", f"/api/calls/{call_id}/quick-replies", agent_token))[0] == 403  # over
    await ws.close()
    await agent.close()
