"""Before calling: experts online per queue over public REST, opening hours, and the callback
offered (not "you're next") while nobody can answer."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from signaling.auth import Role
from signaling.centre.routing import QueueConfig
from silkline.config import Config
from tests.conftest import make_config


def _closed_now() -> tuple[str, str]:
    """Opening hours that include neither the present hour nor the next (the suite may cross an
    hour between collecting this module and running its test), and when they start."""
    h = datetime.now().hour
    if h < 21:
        return f"{h + 2:02d}:00-{h + 3:02d}:00", f"{h + 2:02d}:00"
    return "03:00-04:00", "03:00"


HOURS, OPENS_AT = _closed_now()


@pytest.fixture
def server_config(tmp_path: Path) -> Config:
    return make_config(tmp_path, queues=[QueueConfig("general"), QueueConfig("jewellery"),
                                         QueueConfig("night", skill="general", hours=HOURS)])


async def _agent(server, agent_id: str, **skills):
    ws = await server.client()
    await ws.send("join", token=server.tokens.issue(Role.AGENT, agent_id, name=agent_id.title(), skills=skills))
    await ws.expect("joined")
    return ws


async def _availability(server, path: str) -> dict:
    async with server.http.get(server.url + path) as resp:  # no token: the widget asks first
        assert resp.status == 200, await resp.text()
        assert resp.headers["Cache-Control"] == "no-store"
        return await resp.json()


async def test_experts_online_per_queue_and_by_category_without_a_token(server):
    nobody = await _availability(server, "/api/queues/general/availability")
    assert (nobody["online"], nobody["available"], nobody["open"]) == (0, 0, False)
    assert "estimated_wait_s" not in nobody
    ann = await _agent(server, "ann", general=3, jewellery=2)
    await _agent(server, "bob", jewellery=3)
    general = await _availability(server, "/api/queues/general/availability")
    assert (general["online"], general["available"], general["open"]) == (1, 1, True)
    assert general["estimated_wait_s"] == 0
    rings = await _availability(server, "/api/availability?category=rings")
    assert rings["queue"] == "jewellery" and (rings["online"], rings["available"]) == (2, 2)
    await ann.send("set-state", state="away")
    await ann.expect("agent-state", state="away")
    rings = await _availability(server, "/api/availability?category=rings")
    assert (rings["online"], rings["available"]) == (1, 1)  # on a break: not online for shoppers
    async with server.http.get(server.url + "/api/queues/nope/availability") as resp:
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"


async def test_outside_opening_hours_the_queue_is_closed_and_says_when_it_opens(server):
    await _agent(server, "ann", general=3)
    night = await _availability(server, "/api/queues/night/availability")
    assert night["online"] == 1 and night["open"] is False and night["opens_at"] == OPENS_AT
    assert "opens_at" not in await _availability(server, "/api/queues/general/availability")


async def test_the_callback_is_offered_while_nobody_can_answer(server):
    ann = await _agent(server, "ann", general=3)
    await ann.send("set-state", state="away")
    await ann.expect("agent-state", state="away")
    token = await server.token("shopper")
    shopper = await server.client()
    await shopper.send("join", token=token["token"], context={"title": "Ring"})
    await shopper.expect("joined")
    position = await shopper.expect("queue-position", timeout=5)
    assert position["callback_offered"] is True and position.get("estimated_wait_s") is None
    await ann.send("set-state", state="available")
    await ann.expect("call-offered", call_id=token["call_id"])


async def test_the_wait_estimate_follows_recent_answer_times(server):
    ann = await _agent(server, "ann", general=3)
    for n in range(2):
        token = await server.token("shopper")
        shopper = await server.client()
        await shopper.send("join", token=token["token"], context={"title": "Ring"})
        await ann.expect("call-offered", call_id=token["call_id"])
        await ann.send("accept", call_id=token["call_id"])
        await ann.expect("agent-state", state="busy")
        if n == 0:
            await ann.send("hangup", call_id=token["call_id"])
            await ann.expect("agent-state", state="wrap_up")
            await ann.send("wrap-up", call_id=token["call_id"], disposition="resolved")
            await ann.expect("agent-state", state="available")
    waiting_token = await server.token("shopper")
    waiting = await server.client()
    await waiting.send("join", token=waiting_token["token"], context={"title": "Ring"})
    position = await waiting.expect("queue-position", timeout=5)
    assert position["position"] == 1 and not position.get("callback_offered")
    assert position["estimated_wait_s"] > 0  # next in line, but behind a busy expert
