"""Once-only actions are atomic in both store backends: of 20 concurrent requests over real
sockets exactly one rates the call, exactly one requests the callback; the others are refused
with ``invalid_state`` in words, and the record holds the one that won."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from tests.conftest import Running, answered_call

RACERS = 20


@pytest.fixture(params=["memory", "redis"])
def node(request) -> Running:
    return request.getfixturevalue("server" if request.param == "memory" else "redis_server")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def answered_and_ended(server: Running) -> dict:
    """An agent answers a shopper's call and the shopper hangs up (no media needed)."""
    call = await answered_call(server)
    agent, shopper, shopper_token = call.agent_ws, call.shopper_ws, call.shopper_token
    await shopper.send("hangup", call_id=shopper_token["call_id"])
    await shopper.expect("call-ended")
    await agent.close()
    await shopper.close()
    return shopper_token


async def _post(server: Running, path: str, token: str, body: dict) -> tuple[int, dict]:
    async with server.http.post(server.url + path, headers=bearer(token), json=body) as resp:
        return resp.status, await resp.json()


async def test_a_call_is_rated_once(node):
    shopper = await answered_and_ended(node)
    path = f"/api/calls/{shopper['call_id']}/rating"
    answers = await asyncio.gather(*(_post(node, path, shopper["token"], {"score": 1 + i % 5, "comment": f"r{i}"})
                                     for i in range(RACERS)))
    statuses = Counter(status for status, _ in answers)
    assert statuses == {201: 1, 409: RACERS - 1}, answers
    winner = next(body for status, body in answers if status == 201)
    for status, body in answers:
        if status == 409:
            assert body["error"]["code"] == "invalid_state"
            assert "already been rated" in body["error"]["message"]
    record = await node.store.get_call(shopper["call_id"])
    assert record["rating"]["comment"] == winner["rating"]["comment"]
    assert [e["type"] for e in record["events"]].count("rated") == 1


async def test_a_callback_is_requested_once_after_the_call(node):
    shopper = await answered_and_ended(node)
    path = f"/api/calls/{shopper['call_id']}/callback"
    answers = await asyncio.gather(*(_post(node, path, shopper["token"], {"name": f"Ada {i}", "contact": "ada@example.org"})
                                     for i in range(RACERS)))
    assert Counter(status for status, _ in answers) == {201: 1, 409: RACERS - 1}, answers
    assert {body["error"]["code"] for status, body in answers if status == 409} == {"invalid_state"}
    record = await node.store.get_call(shopper["call_id"])
    assert [e["type"] for e in record["events"]].count("callback_requested") == 1
    open_requests = [c for c in await node.store.list_callbacks() if c["call_id"] == shopper["call_id"]]
    assert len(open_requests) == 1 and open_requests[0]["name"] == record["callback"]["name"]


async def test_a_callback_is_requested_once_while_waiting_over_both_faces(node):
    shopper_token = await node.token("shopper")
    call_id = shopper_token["call_id"]
    shopper = await node.client()
    await shopper.send("join", token=shopper_token["token"])
    await shopper.expect("joined", call_id=call_id)
    await shopper.send("callback", call_id=call_id, name="Ada", contact="ada@example.org", id="ws")
    answers = await asyncio.gather(*(_post(node, f"/api/calls/{call_id}/callback", shopper_token["token"],
                                           {"name": f"Ada {i}", "contact": "ada@example.org"})
                                     for i in range(RACERS - 1)))
    socket_won = False
    try:
        await shopper.expect("callback-accepted", call_id=call_id, timeout=5)
        socket_won = True
    except Exception:  # noqa: BLE001 - refused: the error names the message
        pass
    wins = sum(1 for status, _ in answers if status == 201) + socket_won
    assert wins == 1, (socket_won, answers, list(shopper.inbox))
    if not socket_won:
        assert (await shopper.expect("error", ref="ws"))["code"] in ("invalid_state", "call_not_found")
    record = await node.store.get_call(call_id)
    assert [e["type"] for e in record["events"]].count("callback_requested") == 1
    await shopper.close()
