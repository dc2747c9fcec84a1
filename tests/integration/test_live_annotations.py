"""Marks on live video over the real WebSocket: the agent's mark reaches the shopper (and comes
back to the agent with the server's time), in order; bad marks are refused with the contract's
sentence; a flood is rate-limited; the call record holds the events; another call sees none."""

from __future__ import annotations

import asyncio

from media.annotation import parse_annotation
from signaling.auth import Role
from tests.conftest import Side, close_sides, start_call
from tests.support.eventually import eventually


async def connected(*sides: Side) -> None:
    await asyncio.gather(*(s.ws.expect("call-state", state="connected", timeout=15) for s in sides))


async def test_the_shopper_sees_the_agents_marks_in_order_and_the_record_keeps_them(server):
    call_id, shopper, agent = await start_call(server)
    other_id, other_shopper, other_agent = await start_call(server)
    await connected(shopper, agent, other_shopper, other_agent)
    supervisor = await server.client()
    await supervisor.send("join", token=server.tokens.issue(Role.SUPERVISOR, "sue", name="Sue"))
    await supervisor.expect("joined")
    await supervisor.send("monitor", call_id=call_id)
    await supervisor.expect("monitoring", call_id=call_id, mode="silent")

    await agent.ws.send("annotate", call_id=call_id, target="shopper", shape="circle",
                        points=[[0.5, 0.5], [0.6, 0.5]], color="#00FF00", annotation_id="an_circle1")
    for i in range(5):
        await agent.ws.send("annotate", call_id=call_id, target="shopper", shape="pointer",
                            points=[[0.1 * i, 0.2]])

    circle = await shopper.ws.expect("annotation", call_id=call_id, shape="circle")
    assert circle["annotation_id"] == "an_circle1" and circle["by"] == "agent" and circle["by_name"] == "Ann"
    assert circle["color"] == "#00ff00" and circle["points"] == [[0.5, 0.5], [0.6, 0.5]]
    assert circle["target"] == "shopper" and circle["pinned"] is False and circle["fade_s"] == 4.0
    pointers = [await shopper.ws.expect("annotation", shape="pointer") for _ in range(5)]
    assert [p["points"][0][0] for p in pointers] == [0.0, 0.1, 0.2, 0.30000000000000004, 0.4]
    echo = await agent.ws.expect("annotation", annotation_id="an_circle1")
    assert echo["at"] == circle["at"]
    await shopper.ws.send("annotate", call_id=call_id, target="shopper", shape="clear")
    cleared = await agent.ws.expect("annotation", shape="clear")
    watched = [await supervisor.expect("annotation", call_id=call_id) for _ in range(7)]  # monitors see them
    assert [m["shape"] for m in watched] == ["circle"] + ["pointer"] * 5 + ["clear"]
    await supervisor.send("annotate", id="sup", call_id=call_id, target="shopper", shape="clear")
    assert (await supervisor.expect("error", ref="sup"))["code"] == "forbidden"
    assert cleared["by"] == "shopper" and "points" not in cleared and cleared["at"] >= pointers[-1]["at"]

    async def recorded() -> list[dict]:
        call = await server.store.get_call(call_id)
        marks = [e for e in call["events"] if e["type"] == "annotation"]
        assert len(marks) == 7
        return marks

    marks = await eventually(recorded)
    assert [m["shape"] for m in marks] == ["circle"] + ["pointer"] * 5 + ["clear"]
    assert all(parse_annotation(m).to_event() == m for m in marks)  # the contract's own form
    assert marks[0] == {k: v for k, v in circle.items() if k not in ("v", "call_id")} | {"type": "annotation"}

    await asyncio.sleep(0.3)
    assert not other_shopper.ws.seen("annotation") and not other_agent.ws.seen("annotation")
    other = await server.store.get_call(other_id)
    assert not [e for e in other["events"] if e["type"] == "annotation"]
    await supervisor.close()
    await close_sides(shopper, agent, other_shopper, other_agent)


async def test_bad_marks_are_refused_at_the_edge(server):
    call_id, shopper, agent = await start_call(server)
    await connected(shopper, agent)
    bad = [
        ({"shape": "pointer", "points": [[1.5, 0.2]]}, "in [0, 1]"),
        ({"shape": "pointer", "points": [[0.1, 0.2], [0.3, 0.4]]}, "a pointer takes 1 points, not 2"),
        ({"shape": "pen", "points": [[0.5, 0.5]] * 257}, "annotate"),  # over the bound at the edge
        ({"shape": "star", "points": [[0.5, 0.5]]}, "annotate"),
        ({"shape": "circle", "points": [[0.5, 0.5], [0.6, 0.6]], "color": "red"}, "#rrggbb"),
        ({"shape": "arrow", "points": [[0.5, 0.5], [0.6, "x"]]}, "annotate"),
        ({"shape": "text", "points": [[0.5, 0.5]]}, "text"),
    ]
    for i, (fields, words) in enumerate(bad):
        await agent.ws.send("annotate", id=f"bad{i}", call_id=call_id, target="shopper", **fields)
        refused = await agent.ws.expect("error", ref=f"bad{i}")
        assert refused["code"] == "invalid_message", refused
        assert words in refused["message"], refused
    await agent.ws.send("annotate", id="other", call_id="c_somebody_else", target="shopper",
                        shape="pointer", points=[[0.5, 0.5]])
    assert (await agent.ws.expect("error", ref="other"))["code"] == "call_not_found"
    await shopper.ws.send("annotate", id="theirs", call_id="c_somebody_else", target="shopper",
                          shape="pointer", points=[[0.5, 0.5]])
    assert (await shopper.ws.expect("error", ref="theirs"))["code"] == "forbidden"
    await asyncio.sleep(0.3)
    assert not shopper.ws.seen("annotation")
    call = await server.store.get_call(call_id)
    assert not [e for e in call["events"] if e["type"] == "annotation"]
    await close_sides(shopper, agent)


async def test_a_flood_of_marks_is_rate_limited_and_the_socket_stays(server):
    call_id, shopper, agent = await start_call(server)
    await connected(shopper, agent)
    for i in range(120):
        await agent.ws.send("annotate", call_id=call_id, target="shopper", shape="pointer",
                            points=[[i / 200, 0.5]])
    limited = await agent.ws.expect("error", code="rate_limited")
    assert "slow down" in limited["message"]

    async def relayed() -> int:
        count = sum(1 for m in shopper.ws.inbox if m.get("type") == "annotation")
        assert count >= 60
        return count

    count = await eventually(relayed)
    assert count < 120
    # the socket is still there and chat (its own budget) still goes through
    await agent.ws.send("chat", call_id=call_id, text="still here")
    await shopper.ws.expect("chat", text="still here")
    await close_sides(shopper, agent)
