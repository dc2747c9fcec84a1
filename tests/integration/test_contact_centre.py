"""The customer-service features through the real WebSocket/REST API, with real aiortc media
where media matters: queue position, unavailability and callbacks, ring timeout, chat,
photos, snapshots, transfer, rating, and supervisor monitoring (silent, whisper, barge-in)."""

from __future__ import annotations

import asyncio

import cv2
import numpy as np
import pytest

from media import framestamp
from signaling.auth import Role
from tests.conftest import close_sides, make_config, start_call
from tests.support.eventually import eventually
from tests.support.peers import ClientPeer, MonitorPeer, hashes


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def jpeg(width=64, height=48) -> bytes:
    image = np.zeros((height, width, 3), np.uint8)
    image[:, :, 2] = 200
    return cv2.imencode(".jpg", image)[1].tobytes()


async def signed_in_agent(server, agent_id: str, **skills):
    ws = await server.client()
    await ws.send("join", token=server.tokens.issue(Role.AGENT, agent_id, name=agent_id.title(),
                                                    skills=skills or {"general": 3, "jewellery": 3}))
    await ws.expect("joined")
    return ws


async def calling_shopper(server, **context):
    token = await server.token("shopper")
    ws = await server.client()
    await ws.send("join", token=token["token"], context=context or {"title": "Ring"})
    await ws.expect("joined", call_id=token["call_id"])
    return ws, token


async def test_queue_position_and_wait_estimate(server):
    agent = await signed_in_agent(server, "ann")
    first, first_token = await calling_shopper(server)
    await agent.expect("call-offered", call_id=first_token["call_id"])
    await agent.send("accept", call_id=first_token["call_id"])
    second, second_token = await calling_shopper(server)
    third, third_token = await calling_shopper(server)
    p2 = await second.expect("queue-position", timeout=5)
    p3 = await third.expect("queue-position", timeout=5)
    assert (p2["position"], p3["position"]) == (1, 2)
    assert p3["estimated_wait_s"] > p2["estimated_wait_s"] >= 0
    await third.send("hangup", call_id=third_token["call_id"])  # cancels while waiting
    assert (await third.expect("call-ended"))["reason"] == "hang_up"


async def test_nobody_available_is_said_in_words_and_a_callback_can_be_left(server):
    shopper, token = await calling_shopper(server, category="rings")
    state = await shopper.expect("call-state", state="unavailable")
    assert state["reason"] == "no_agents" and "No expert" in state["message"]
    await shopper.send("callback", call_id=token["call_id"], name="Ada", contact="ada@example.org",
                       question="Is the ring resizable?")
    await shopper.expect("callback-accepted")
    staff = server.tokens.issue(Role.AGENT, "ann")
    async with server.http.get(server.url + "/api/callbacks", headers=bearer(staff)) as resp:
        callbacks = (await resp.json())["callbacks"]
    assert [(c["call_id"], c["name"], c["question"]) for c in callbacks] == \
        [(token["call_id"], "Ada", "Is the ring resizable?")]
    await shopper.send("callback", call_id=token["call_id"], name="Ada", contact="x", id="again")
    assert (await shopper.expect("error", ref="again"))["code"] == "invalid_state"


@pytest.fixture
def server_config(tmp_path, request):
    overrides = getattr(request, "param", {})
    return make_config(tmp_path, **overrides)


@pytest.mark.parametrize("server_config", [{"ring_timeout": 1.0}], indirect=True)
@pytest.mark.parametrize("clock", ["virtual"], indirect=True)
async def test_ring_timeout_sets_agent_away_and_offers_the_next_agent(server):
    slow = await signed_in_agent(server, "slow")
    shopper, token = await calling_shopper(server)
    await slow.expect("call-offered", call_id=token["call_id"])
    fast = await signed_in_agent(server, "fast")
    await server.clock.advance(0.9)
    assert not slow.seen("call-withdrawn")  # not before the ring timeout
    await server.clock.advance(0.2)
    await slow.expect("call-withdrawn", call_id=token["call_id"], timeout=5)
    await slow.expect("agent-state", state="away")
    await fast.expect("call-offered", call_id=token["call_id"], timeout=5)
    record = await server.store.get_call(token["call_id"])
    assert "ring_timeout" in [e["type"] for e in record["events"]]


@pytest.mark.parametrize("clock", ["virtual"], indirect=True)
async def test_skill_routing_vip_first_and_decline(server):
    novice = await signed_in_agent(server, "novice", jewellery=1, general=1)
    expert = await signed_in_agent(server, "expert", jewellery=5, general=1)
    await expert.send("set-state", state="away")
    await expert.expect("agent-state", state="away")
    shopper, token = await calling_shopper(server, category="rings", title="Sapphire")
    await server.clock.advance(19)  # the queue ticker runs 19 times
    # a round trip on the novice's socket: an offer sent before it would have arrived first
    await novice.send("accept", call_id="c_none", id="barrier")
    await novice.expect("error", ref="barrier")
    assert not novice.seen("call-offered")  # jewellery needs level 3 for the first 20 s
    await expert.send("set-state", state="available")
    offer = await expert.expect("call-offered", call_id=token["call_id"])
    assert offer["queue"] == "jewellery" and offer["context"]["title"] == "Sapphire"
    await expert.send("decline", call_id=token["call_id"])
    await expert.expect("call-withdrawn", call_id=token["call_id"])
    assert server.calls.calls[token["call_id"]].state.value == "waiting"
    # VIP: a later VIP call is served before an earlier ordinary one
    await novice.send("set-state", state="away")
    await novice.expect("agent-state", state="away")
    ordinary, ordinary_token = await calling_shopper(server, title="ordinary")
    vip_token = await server.token("shopper", vip=True)
    vip = await server.client()
    await vip.send("join", token=vip_token["token"], context={"title": "vip"})
    await vip.expect("joined")
    await novice.send("set-state", state="available")
    offer = await novice.expect("call-offered")
    assert offer["call_id"] == vip_token["call_id"] and offer["priority"] == 10


async def test_chat_photo_snapshot_rating_and_the_record(server):
    call_id, shopper, agent = await start_call(server)
    await asyncio.gather(shopper.peer.wait_decoded(10), agent.peer.wait_decoded(10))
    await shopper.ws.send("chat", call_id=call_id, text="The stone has a scratch")
    msg = await agent.ws.expect("chat", call_id=call_id)
    assert msg["text"] == "The stone has a scratch" and msg["role"] == "shopper"
    await agent.ws.send("chat", call_id=call_id, text="x" * 3000, id="long")
    assert (await agent.ws.expect("error", ref="long"))["code"] == "invalid_message"

    url = f"{server.url}/api/calls/{call_id}/photos"
    async with server.http.post(url, data=jpeg(), headers={**bearer(shopper.token["token"]),
                                                           "Content-Type": "image/jpeg"}) as resp:
        assert resp.status == 201, await resp.text()
    photo = await agent.ws.expect("photo", call_id=call_id)
    assert photo["role"] == "shopper" and (photo["width"], photo["height"]) == (64, 48)
    async with server.http.get(server.url + photo["url"], headers=bearer(agent.token["token"])) as resp:
        assert resp.status == 200 and resp.content_type == "image/jpeg"
        assert cv2.imdecode(np.frombuffer(await resp.read(), np.uint8), cv2.IMREAD_COLOR).shape == (48, 64, 3)
    stranger = await server.token("shopper")
    async with server.http.get(server.url + photo["url"], headers=bearer(stranger["token"])) as resp:
        assert resp.status == 403
    for body, status, code in ((b"\xff\xd8\xff" + b"not really a jpeg" * 10, 400, "not_an_image"),
                               (b"GIF89a....", 400, "not_an_image"),
                               (b"\xff\xd8\xff" + b"\0" * (6 * 1024 * 1024), 413, "too_large")):
        async with server.http.post(url, data=body, headers=bearer(shopper.token["token"])) as resp:
            assert resp.status == status
            assert (await resp.json())["error"]["code"] == code
    async with server.http.post(url, data=jpeg(), headers=bearer(stranger["token"])) as resp:
        assert resp.status == 403

    # the agent takes a still of the shopper's video: decoded on demand from forwarded frames
    await agent.ws.send("snapshot", call_id=call_id)
    snap = await agent.ws.expect("photo", call_id=call_id, kind="snapshot")
    async with server.http.get(server.url + snap["url"] + f"?token={agent.token['token']}") as resp:
        image = cv2.imdecode(np.frombuffer(await resp.read(), np.uint8), cv2.IMREAD_COLOR)
    assert framestamp.read(image[:, :, ::-1]) is not None  # the shopper's frame counter is in it
    assert not shopper.ws.seen("photo", kind="snapshot")

    await agent.ws.send("hangup", call_id=call_id)
    await shopper.ws.expect("call-ended")
    rating_url = f"{server.url}/api/calls/{call_id}/rating"
    async with server.http.post(rating_url, json={"score": 5, "comment": "Very helpful"},
                                headers=bearer(shopper.token["token"])) as resp:
        assert resp.status == 201
    async with server.http.post(rating_url, json={"score": 1}, headers=bearer(shopper.token["token"])) as resp:
        assert resp.status == 409
    async with server.http.post(rating_url, json={"score": 9}, headers=bearer(stranger["token"])) as resp:
        assert resp.status == 403
    async with server.http.get(f"{server.url}/api/calls/{call_id}", headers=bearer(agent.token["token"])) as resp:
        record = await resp.json()
    kinds = [e["type"] for e in record["events"]]
    for kind in ("requested", "queued", "offered", "accepted", "connected", "chat", "photo",
                 "snapshot", "ended", "rated"):
        assert kind in kinds, kinds
    assert record["rating"]["score"] == 5 and record["outcome"] == "answered"
    await close_sides(shopper, agent)


async def test_transfer_to_another_agent_keeps_the_shopper_on_the_line(server):
    call_id, shopper, first = await start_call(server)
    await asyncio.gather(shopper.peer.wait_decoded(10), first.peer.wait_decoded(10))
    second_ws = await signed_in_agent(server, "bob")
    await first.ws.send("transfer", call_id=call_id, to_agent="bob")
    assert (await first.ws.expect("call-ended", call_id=call_id))["reason"] == "transferred"
    await first.ws.expect("agent-state", state="wrap_up")
    await shopper.ws.expect("call-state", state="waiting", reason="transferred")
    await second_ws.expect("call-offered", call_id=call_id)
    await second_ws.send("accept", call_id=call_id)
    second = ClientPeer("bob")
    await second_ws.negotiate(second, call_id)
    before = len(shopper.peer.received_hashes)
    await second.wait_decoded(20)
    await asyncio.sleep(1)
    from_bob = shopper.peer.received_hashes[before:]
    assert from_bob and all(h in second.sent_hashes for h in from_bob if h not in first.peer.sent_hashes)
    record = await server.store.get_call(call_id)
    transferred = next(e for e in record["events"] if e["type"] == "transferred")
    assert transferred["from_agent"] != "bob" and transferred["to_agent"] == "bob"
    await second_ws.send("hangup", call_id=call_id)
    await shopper.ws.expect("call-ended")
    await second.close()
    await close_sides(shopper, first)


async def test_supervisor_monitors_silently_then_whispers_then_barges_in(server):
    call_id, shopper, agent = await start_call(server)
    await asyncio.gather(shopper.peer.wait_decoded(10), agent.peer.wait_decoded(10))
    supervisor_ws = await server.client()
    await supervisor_ws.send("join", token=server.tokens.issue(Role.SUPERVISOR, "sue", name="Sue"))
    await supervisor_ws.expect("joined")
    board = await supervisor_ws.expect("dashboard")
    assert [c["call_id"] for c in board["calls"]] == [call_id]
    await supervisor_ws.send("monitor", call_id=call_id)
    await supervisor_ws.expect("monitoring", call_id=call_id, mode="silent")
    monitor = MonitorPeer()
    await supervisor_ws.send("offer", call_id=call_id, sdp=await monitor.offer())
    await monitor.accept_answer((await supervisor_ws.expect("answer", timeout=15))["sdp"])

    await eventually(lambda: min(len(h) for h in monitor.video_hashes) >= 30
                     and len(monitor.audio_hashes) >= 50, timeout=20, message="both sides on the monitor")
    sources = [set(h) for h in monitor.video_hashes]
    assert shopper.peer.sent_hashes.isdisjoint(agent.peer.sent_hashes)
    senders = sorted("shopper" if s <= shopper.peer.sent_hashes else
                     "agent" if s <= agent.peer.sent_hashes else "?" for s in sources)
    assert senders == ["agent", "shopper"]  # both sides, byte for byte
    supervisor_voice = hashes(monitor.audio_clip)

    def heard_supervisor(peer) -> bool:
        return any(h in supervisor_voice for h in peer.received_audio_hashes)

    await asyncio.sleep(1.0)
    assert not heard_supervisor(shopper.peer) and not heard_supervisor(agent.peer)
    assert not shopper.ws.seen("supervisor") and not agent.ws.seen("supervisor")
    room = server.sfu.rooms[call_id].stats()
    for participant in room["participants"]:
        if participant["role"] != "supervisor":
            assert all(not (s["source"] or "").startswith("supervisor") for s in participant["subscribers"])

    await supervisor_ws.send("monitor-mode", call_id=call_id, mode="whisper")
    await agent.ws.expect("supervisor", mode="whisper")

    await eventually(lambda: heard_supervisor(agent.peer), timeout=10, message="the agent hears the whisper")
    await asyncio.sleep(0.5)
    assert not heard_supervisor(shopper.peer) and not shopper.ws.seen("supervisor")

    await supervisor_ws.send("monitor-mode", call_id=call_id, mode="barge")
    await shopper.ws.expect("supervisor", mode="barge")

    await eventually(lambda: heard_supervisor(shopper.peer), timeout=10, message="the shopper hears the barge-in")

    await supervisor_ws.send("unmonitor", call_id=call_id)
    await supervisor_ws.expect("call-ended", reason="monitor_end")
    record = await server.store.get_call(call_id)
    kinds = [e["type"] for e in record["events"]]
    assert kinds.count("monitor_mode") == 2 and "monitor_stopped" in kinds
    await monitor.close()
    await close_sides(shopper, agent)


async def test_callback_over_rest_after_the_socket_is_gone(server):
    shopper, token = await calling_shopper(server)
    await shopper.expect("call-state", state="unavailable")
    await shopper.close()  # the phone lost its connection while typing
    url = f"{server.url}/api/calls/{token['call_id']}/callback"
    async with server.http.post(url, json={"name": "Ada"}, headers=bearer(token["token"])) as resp:
        assert resp.status == 400
    async with server.http.post(url, json={"name": "Ada", "contact": "+44 1", "question": "Silver?"},
                                headers=bearer(token["token"])) as resp:
        assert resp.status == 201
    async with server.http.post(url, json={"name": "Ada", "contact": "+44 1"},
                                headers=bearer(token["token"])) as resp:
        assert resp.status == 409  # only once
    stranger = await server.token("shopper")
    async with server.http.post(url, json={"name": "M", "contact": "x"}, headers=bearer(stranger["token"])) as resp:
        assert resp.status == 403
    record = await server.store.get_call(token["call_id"])
    assert record["callback"]["name"] == "Ada"


async def test_agent_is_told_ringing_and_busy_and_away_agents_do_not_count_for_the_estimate(server):
    agent = await signed_in_agent(server, "ann")
    shopper, token = await calling_shopper(server)
    await agent.expect("agent-state", state="ringing", call_id=token["call_id"])
    await agent.send("accept", call_id=token["call_id"])
    await agent.expect("agent-state", state="busy", call_id=token["call_id"])
    await agent.send("hangup", call_id=token["call_id"])
    await agent.expect("agent-state", state="wrap_up")
    await agent.send("set-state", state="away")
    await agent.expect("agent-state", state="away")
    waiting, _ = await calling_shopper(server)
    position = await waiting.expect("queue-position", timeout=5)
    assert position.get("estimated_wait_s") is None  # nobody is taking calls: no promise


async def test_a_hang_up_racing_the_accept_leaves_an_ended_record(server, monkeypatch):
    await _hang_up_racing_the_accept(server, monkeypatch)


async def test_a_hang_up_racing_the_accept_leaves_an_ended_record_in_redis(redis_server, monkeypatch):
    await _hang_up_racing_the_accept(redis_server, monkeypatch)


async def _hang_up_racing_the_accept(server, monkeypatch) -> None:
    """The accept's write lands but its answer is slow; the shopper hangs up meanwhile: the
    record ends, and nothing the accept does afterwards writes over it."""
    store = server.store
    append, update = store.append_call_event, store.update_call

    async def slow_append(call_id: str, event: dict, fields: dict | None = None) -> None:
        await append(call_id, event, fields)
        if event["type"] == "accepted":
            await asyncio.sleep(0.3)

    async def slow_update(call_id: str, fields: dict) -> None:
        await update(call_id, fields)
        if fields.get("state") == "connecting":
            await asyncio.sleep(0.3)
    monkeypatch.setattr(store, "append_call_event", slow_append)
    monkeypatch.setattr(store, "update_call", slow_update)

    agent = await signed_in_agent(server, "ann")
    shopper, token = await calling_shopper(server)
    call_id = token["call_id"]
    await agent.expect("agent-state", state="ringing", call_id=call_id)
    await agent.send("accept", call_id=call_id)
    await asyncio.sleep(0.15)
    await shopper.send("hangup", call_id=call_id)
    assert (await shopper.expect("call-ended"))["reason"] == "hang_up"

    async def ended() -> dict | None:
        record = await store.get_call(call_id)
        return record if record and record["state"] == "ended" else None
    record = await eventually(ended, timeout=5)
    await asyncio.sleep(0.5)  # the accept's late writes, if any, have landed by now
    record = await store.get_call(call_id)
    assert record["state"] == "ended" and record["end_reason"] == "hang_up"
    assert [e["type"] for e in record["events"]][-1] == "ended"
