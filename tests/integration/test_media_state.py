"""Remote media state over the real WebSocket: a party's "camera off" / "muted" reaches the
other party and monitoring supervisors (also those who start monitoring later), is in the call
record, and only the conversants of a live call may announce it."""

from __future__ import annotations

from signaling.auth import Role
from tests.support.eventually import eventually


async def _answered(server):
    agent = await server.client()
    await agent.send("join", token=server.tokens.issue(Role.AGENT, "ann", name="Ann", skills={"general": 3}))
    await agent.expect("joined")
    token = await server.token("shopper")
    shopper = await server.client()
    await shopper.send("join", token=token["token"], context={"title": "Ring"})
    await shopper.expect("joined")
    call_id = token["call_id"]
    await agent.expect("call-offered", call_id=call_id)
    await agent.send("accept", call_id=call_id)
    await agent.expect("agent-state", state="busy")
    return call_id, agent, shopper


async def test_camera_off_and_muted_reach_the_other_party_and_monitors_and_the_record(server):
    call_id, agent, shopper = await _answered(server)
    sue = await server.client()
    await sue.send("join", token=server.tokens.issue(Role.SUPERVISOR, "sue", name="Sue"))
    await sue.expect("joined")
    await sue.send("monitor", call_id=call_id)
    await sue.expect("monitoring", call_id=call_id)

    await shopper.send("media-state", call_id=call_id, audio=True, video=False)
    off = await agent.expect("media-state", call_id=call_id)
    assert (off["role"], off["audio"], off["video"]) == ("shopper", True, False)
    assert (await sue.expect("media-state", call_id=call_id))["video"] is False
    await agent.send("media-state", call_id=call_id, audio=False, video=True)
    muted = await shopper.expect("media-state", role="agent")
    assert (muted["audio"], muted["video"], muted["name"]) == (False, True, "Ann")
    await shopper.send("media-state", call_id=call_id, audio=True, video=False)  # no change: not repeated

    late = await server.client()  # starts monitoring afterwards: told the states so far
    await late.send("join", token=server.tokens.issue(Role.SUPERVISOR, "sam", name="Sam"))
    await late.expect("joined")
    await late.send("monitor", call_id=call_id)
    await late.expect("monitoring", call_id=call_id)
    told = {(await late.expect("media-state"))["role"] for _ in range(2)}
    assert told == {"shopper", "agent"}

    async def recorded() -> list[dict]:
        record = await server.store.get_call(call_id)
        events = [e for e in record["events"] if e["type"] == "media_state"]
        assert len(events) == 2
        return events

    events = await eventually(recorded)
    assert [(e["role"], e["audio"], e["video"]) for e in events] == [("shopper", True, False), ("agent", False, True)]
    assert all(isinstance(e["at"], float) for e in events)
    for ws in (late, sue, agent, shopper):
        await ws.close()


async def test_only_the_conversants_of_the_call_may_announce(server):
    call_id, agent, shopper = await _answered(server)
    sue = await server.client()
    await sue.send("join", token=server.tokens.issue(Role.SUPERVISOR, "sue", name="Sue"))
    await sue.expect("joined")
    await sue.send("monitor", call_id=call_id)
    await sue.expect("monitoring", call_id=call_id)
    await sue.send("media-state", id="m1", call_id=call_id, audio=False, video=False)
    assert (await sue.expect("error", ref="m1"))["code"] == "forbidden"
    await shopper.send("media-state", id="m2", call_id="c_other", audio=False, video=False)
    assert (await shopper.expect("error", ref="m2"))["code"] == "forbidden"
    await shopper.send("media-state", id="m3", call_id=call_id, audio="no", video=False)
    assert (await shopper.expect("error", ref="m3"))["code"] == "invalid_message"
    for ws in (sue, agent, shopper):
        await ws.close()
