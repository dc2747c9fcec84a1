"""A shopper reading their own call record sees their side of it only: not the agent's wrap-up
notes, QA scores, a supervisor's monitoring or any staff id (the agent by display name)."""

from __future__ import annotations

import json

from signaling.auth import Role
from tests.conftest import answered_call


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_the_shopper_sees_their_side_of_a_full_record(server):
    call = await answered_call(server, context={"title": "Sapphire ring"}, customer_id="cust-77")
    call_id, shopper, agent, shopper_token = call.call_id, call.shopper_ws, call.agent_ws, call.shopper_token
    agent_token = call.agent_token
    # a supervisor listens in, whispers, barges
    supervisor_id = "sup-staff-4711"
    supervisor = await server.client()
    await supervisor.send("join", token=server.tokens.issue(Role.SUPERVISOR, supervisor_id, name="Sue"))
    await supervisor.expect("joined")
    await supervisor.send("monitor", call_id=call_id)
    await supervisor.expect("monitoring", mode="silent")
    for mode in ("whisper", "barge"):
        await supervisor.send("monitor-mode", call_id=call_id, mode=mode)
        await supervisor.expect("monitoring", mode=mode)
    await supervisor.send("chat", call_id=call_id, text="supervisor says hi")
    await shopper.send("chat", call_id=call_id, text="is it real sapphire?")
    await agent.send("chat", call_id=call_id, text="it is")
    await shopper.expect("chat", text="it is")
    await supervisor.send("unmonitor", call_id=call_id)
    await supervisor.expect("call-ended", reason="monitor_end")
    await shopper.send("hangup", call_id=call_id)
    await shopper.expect("call-ended")
    # the agent files notes, QA scores the call, the shopper rates it
    await agent.send("wrap-up", call_id=call_id, disposition="sale", notes="SECRET-NOTES upsell next time")
    await agent.expect("agent-state", state="available")
    qa = server.tokens.issue(Role.QA, "qa-staff-9")
    async with server.http.post(f"{server.url}/api/calls/{call_id}/scorecard", headers=bearer(qa),
                                json={"scores": {"greeting": 2, "courtesy": 3}, "comment": "SECRET-QA"}) as resp:
        assert resp.status == 201, await resp.text()
    async with server.http.post(f"{server.url}/api/calls/{call_id}/rating", headers=bearer(shopper_token["token"]),
                                json={"score": 5, "comment": "lovely"}) as resp:
        assert resp.status == 201

    async with server.http.get(f"{server.url}/api/calls/{call_id}", headers=bearer(qa)) as resp:
        staff = await resp.json()
    staff_text = json.dumps(staff)
    # the staff record has all of it (so the shopper's view below can really miss it)
    for secret in ("SECRET-NOTES", "SECRET-QA", supervisor_id, agent_token["agent_id"], "monitor_mode", "barge"):
        assert secret in staff_text, secret

    async with server.http.get(f"{server.url}/api/calls/{call_id}", headers=bearer(shopper_token["token"])) as resp:
        assert resp.status == 200
        mine = await resp.json()
    text = json.dumps(mine)
    for secret in ("SECRET-NOTES", "SECRET-QA", supervisor_id, agent_token["agent_id"], "qa-staff-9",
                   "monitor", "whisper", "barge", "wrap_up", "scored", "offered",
                   "disposition", "scorecard", "priority"):
        assert secret not in text, (secret, mine)
    assert mine["agent_name"] == "Ann"
    assert mine["outcome"] == "answered" and mine["state"] == "ended"
    assert mine["rating"]["score"] == 5 and mine["context"]["title"] == "Sapphire ring"
    chats = [e["text"] for e in mine["events"] if e["type"] == "chat"]
    # what the shopper saw in the call stays: a barging supervisor's line too, by name
    assert chats == ["supervisor says hi", "is it real sapphire?", "it is"]
    kinds = [e["type"] for e in mine["events"]]
    assert kinds[0] == "requested" and "accepted" in kinds and "ended" in kinds and "rated" in kinds
    for ws in (agent, shopper, supervisor):
        await ws.close()
