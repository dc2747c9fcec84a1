"""People, not ids, through the real server: a returning customer's history is served to the
agent the call rings for and to nobody else; a supervisor who starts monitoring gets the chat
and photos so far; the shopper may freeze the agent's video of their own call, and only that;
the transfer pick list and the QA directory name people."""

from __future__ import annotations

import asyncio

import cv2
import numpy as np

from signaling.auth import Role
from tests.conftest import close_sides, start_call
from tests.integration.test_contact_centre import bearer, jpeg, signed_in_agent


async def _get(server, path: str, token: str) -> tuple[int, dict]:
    async with server.http.get(server.url + path, headers=bearer(token)) as resp:
        return resp.status, await resp.json()


async def _shopper(server, **token_fields):
    token = await server.token("shopper", **token_fields)
    ws = await server.client()
    await ws.send("join", token=token["token"], context={"title": "Sapphire ring"})
    await ws.expect("joined", call_id=token["call_id"])
    return ws, token


async def test_the_history_is_for_the_ringing_agent_only(server):
    ann = await signed_in_agent(server, "ann")
    ann_token = server.tokens.issue(Role.AGENT, "ann", name="Ann")

    # a first call: answered by Ann, wrapped up as a sale, rated 4
    first, first_token = await _shopper(server, customer_id="cust-7", name="Ada Lovelace")
    first_id = first_token["call_id"]
    await ann.expect("call-offered", call_id=first_id)
    await ann.send("accept", call_id=first_id)
    await first.expect("agent-joined", call_id=first_id)
    await first.send("hangup", call_id=first_id)
    await first.expect("call-ended", call_id=first_id)
    await ann.expect("agent-state", state="wrap_up")
    await ann.send("wrap-up", call_id=first_id, disposition="sale", notes="Bought the ring")
    await ann.expect("agent-state", state="available")
    async with server.http.post(f"{server.url}/api/calls/{first_id}/rating", json={"score": 4},
                                headers=bearer(first_token["token"])) as resp:
        assert resp.status == 201
    await first.close()

    # a second: nobody free (Ann away), the customer leaves a callback request
    await ann.send("set-state", state="away")
    await ann.expect("agent-state", state="away")
    second, second_token = await _shopper(server, customer_id="cust-7", name="Ada Lovelace")
    await second.send("callback", call_id=second_token["call_id"], name="Ada", contact="ada@example.org",
                      question="Can it be resized?")
    await second.expect("callback-accepted")
    await second.close()

    # the third rings Ann: she is shown both, newest first, with names and facts
    await ann.send("set-state", state="available")
    third, third_token = await _shopper(server, customer_id="cust-7", name="Ada Lovelace")
    call_id = third_token["call_id"]
    offered = await ann.expect("call-offered", call_id=call_id)
    assert offered["customer_name"] == "Ada Lovelace" and offered["returning"] is True
    status, history = await _get(server, f"/api/calls/{call_id}/customer-history", ann_token)
    assert status == 200, history
    assert history["customer_name"] == "Ada Lovelace" and history["returning"] is True
    rows = history["calls"]
    assert [r["call_id"] for r in rows] == [second_token["call_id"], first_id]
    assert (rows[1]["agent_name"], rows[1]["outcome"], rows[1]["disposition"], rows[1]["rating"]) == \
        ("Ann", "answered", "sale", 4)
    assert rows[0]["outcome"] == "callback" and rows[0]["callback"]["status"] == "open"
    assert [c["call_id"] for c in history["open_callbacks"]] == [second_token["call_id"]]

    # nobody else: another agent, the shopper herself, a supervisor
    ben = await signed_in_agent(server, "ben")
    for token in (server.tokens.issue(Role.AGENT, "ben", name="Ben"), third_token["token"],
                  server.tokens.issue(Role.SUPERVISOR, "sue", name="Sue")):
        status, body = await _get(server, f"/api/calls/{call_id}/customer-history", token)
        assert (status, body["error"]["code"]) == (403, "forbidden")
    status, body = await _get(server, "/api/calls/c_nosuchcall/customer-history", ann_token)
    assert (status, body["error"]["code"]) == (404, "call_not_found")

    # once Ann answers, the transfer pick list names Ben (free) and the queues
    await ann.send("accept", call_id=call_id)
    await third.expect("agent-joined", call_id=call_id)
    status, targets = await _get(server, f"/api/calls/{call_id}/transfer-targets", ann_token)
    assert status == 200
    assert [(a["agent_id"], a["name"]) for a in targets["agents"]] == [("ben", "Ben")]
    assert {"queue": "jewellery", "name": "Jewellery"}.items() <= \
        next(q for q in targets["queues"] if q["queue"] == "jewellery").items()
    status, _ = await _get(server, f"/api/calls/{call_id}/transfer-targets",
                           server.tokens.issue(Role.AGENT, "ben", name="Ben"))
    assert status == 403

    # the QA directory: agent ids with their names, queues with theirs
    status, people = await _get(server, "/api/directory", server.tokens.issue(Role.QA, "quinn"))
    assert status == 200
    assert {a["agent_id"]: a["name"] for a in people["agents"]} == {"ann": "Ann", "ben": "Ben"}
    status, _ = await _get(server, "/api/directory", ann_token)
    assert status == 403
    for ws in (third, ann, ben):
        await ws.close()


async def test_a_supervisor_who_starts_monitoring_gets_the_chat_and_photos_so_far(server):
    ann = await signed_in_agent(server, "ann")
    shopper, token = await _shopper(server, name="Ada Lovelace")
    call_id = token["call_id"]
    await ann.expect("call-offered", call_id=call_id)
    await ann.send("accept", call_id=call_id)
    await shopper.expect("agent-joined", call_id=call_id)
    await shopper.send("chat", call_id=call_id, text="Is the stone scratched?")
    await ann.expect("chat", call_id=call_id)
    async with server.http.post(f"{server.url}/api/calls/{call_id}/photos", data=jpeg(),
                                headers={**bearer(token["token"]), "Content-Type": "image/jpeg"}) as resp:
        assert resp.status == 201
    await ann.expect("photo", call_id=call_id)
    await ann.send("chat", call_id=call_id, text="Hold it to the light")
    await shopper.expect("chat", call_id=call_id, role="agent")

    sue_token = server.tokens.issue(Role.SUPERVISOR, "sue", name="Sue")
    sue = await server.client()
    await sue.send("join", token=sue_token)
    await sue.expect("joined")
    await sue.send("monitor", call_id=call_id)
    monitoring = await sue.expect("monitoring", call_id=call_id)
    so_far = monitoring["conversation"]
    assert [(m["type"], m.get("text"), m["role"], m.get("name")) for m in so_far] == [
        ("chat", "Is the stone scratched?", "shopper", "Ada Lovelace"),
        ("photo", None, "shopper", "Ada Lovelace"),
        ("chat", "Hold it to the light", "agent", "Ann"),
    ]
    async with server.http.get(server.url + so_far[1]["url"], headers=bearer(sue_token)) as resp:
        assert resp.status == 200 and resp.content_type == "image/jpeg"
    # the board names the people, and the record the supervisor
    board = server.calls.dashboard.snapshot()
    row = next(c for c in board.calls if c.call_id == call_id)
    assert (row.shopper_name, row.agent_name, row.monitored_by_names) == ("Ada Lovelace", "Ann", ["Sue"])
    record = await server.store.get_call(call_id)
    started = next(e for e in record["events"] if e["type"] == "monitor_started")
    assert (started["supervisor"], started["name"]) == ("sue", "Sue")
    for ws in (sue, shopper, ann):
        await ws.close()


async def test_the_shopper_may_freeze_only_the_agents_video_of_their_own_call(server):
    call_id, shopper, agent = await start_call(server)
    try:
        await asyncio.gather(shopper.peer.wait_decoded(10), agent.peer.wait_decoded(10))
        await shopper.ws.send("snapshot", call_id=call_id, target="agent")
        snap = await shopper.ws.expect("photo", call_id=call_id, kind="snapshot", timeout=15)
        assert (snap["role"], snap["target"]) == ("shopper", "agent")
        async with server.http.get(server.url + snap["url"], headers=bearer(shopper.token["token"])) as resp:
            image = cv2.imdecode(np.frombuffer(await resp.read(), np.uint8), cv2.IMREAD_COLOR)
        assert image.shape[:2] == (288, 352)  # the agent's picture (the shopper's is another size)
        assert not agent.ws.seen("photo", kind="snapshot")  # a still the shopper asked for is theirs

        await shopper.ws.send("snapshot", id="own", call_id=call_id, target="shopper")
        assert (await shopper.ws.expect("error", ref="own"))["code"] == "forbidden"
        await agent.ws.send("snapshot", id="self", call_id=call_id, target="agent")
        assert (await agent.ws.expect("error", ref="self"))["code"] == "forbidden"
        other = await server.token("shopper")
        stranger = await server.client()
        await stranger.send("join", token=other["token"], context={"title": "Watch"})
        await stranger.expect("joined")
        await stranger.send("snapshot", id="theirs", call_id=call_id, target="agent")
        assert (await stranger.expect("error", ref="theirs"))["code"] == "forbidden"
        sue = await server.client()
        await sue.send("join", token=server.tokens.issue(Role.SUPERVISOR, "sue", name="Sue"))
        await sue.expect("joined")
        await sue.send("monitor", call_id=call_id)
        await sue.expect("monitoring", call_id=call_id)
        await sue.send("snapshot", id="sup", call_id=call_id, target="agent")
        assert (await sue.expect("error", ref="sup"))["code"] == "forbidden"
        for ws in (stranger, sue):
            await ws.close()
    finally:
        await close_sides(shopper, agent)
