"""Recording through the real server: policy and consent, the indicator, pause/resume, files
that ffprobe accepts, the composed QA file, signed media URLs, scorecards, erasure."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time

import pytest

from signaling.auth import Role
from silkline.app import MEDIA_SIGNER, RECORDER
from tests.conftest import close_sides, start_call


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def ffprobe(path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


pytestmark = pytest.mark.skipif(shutil.which("ffprobe") is None and not __import__("os").environ.get("CI"),
                                reason="ffprobe (Debian ffmpeg) is not installed")


async def wait_composite(server, call_id: str, token: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with server.http.get(f"{server.url}/api/recordings/{call_id}", headers=bearer(token)) as resp:
            detail = await resp.json()
        if detail["composite"].get("state") in ("complete", "failed"):
            return detail
        await asyncio.sleep(0.5)
    raise AssertionError(f"composition not done: {detail['composite']}")


async def recorded_call(server, seconds: float = 3.0, pause: bool = False):
    call_id, shopper, agent = await start_call(server, context={"category": "rings", "title": "Ring"},
                                               customer_id="cust-42")
    await shopper.ws.expect("recording", state="on", timeout=10)
    await agent.ws.expect("recording", state="on", timeout=10)
    await asyncio.gather(shopper.peer.wait_decoded(10), agent.peer.wait_decoded(10))
    await asyncio.sleep(seconds / 2)
    if pause:
        await agent.ws.send("pause-recording", call_id=call_id)
        await shopper.ws.expect("recording", state="paused")
        await asyncio.sleep(0.8)
        await agent.ws.send("resume-recording", call_id=call_id)
        await shopper.ws.expect("recording", state="on")
    await asyncio.sleep(seconds / 2)
    await agent.ws.send("hangup", call_id=call_id)
    await shopper.ws.expect("call-ended")
    return call_id, shopper, agent


async def test_recorded_call_files_composite_and_qa_access(server):
    call_id, shopper, agent = await recorded_call(server, seconds=4.0, pause=True)
    qa = server.tokens.issue(Role.QA, "quinn")
    detail = await wait_composite(server, call_id, qa)
    record = detail["call"]
    kinds = [e["type"] for e in record["events"]]
    for kind in ("recording_started", "recording_paused", "recording_resumed", "recording_finished", "composed"):
        assert kind in kinds, kinds
    # one file per track, stream-copied: VP8 and Opus in WebM
    tracks = detail["tracks"]
    assert sorted((t["role"], t["kind"]) for t in tracks) == [
        ("agent", "audio"), ("agent", "video"), ("shopper", "audio"), ("shopper", "video")]
    for track in tracks:
        assert track["state"] == "complete"
        path = server.app[RECORDER].root / track["url"].split("?")[0][len("/media/"):]
        codec = ffprobe(path)["streams"][0]["codec_name"]
        assert codec == ("vp8" if track["kind"] == "video" else "opus")
    # the QA playback file: H.264 + AAC MP4, as long as the call
    composite = detail["composite"]
    assert composite["state"] == "complete"
    mp4 = server.app[RECORDER].root / composite["file"]
    probe = ffprobe(mp4)
    assert {s["codec_name"] for s in probe["streams"]} == {"h264", "aac"}
    connected = next(e["at"] for e in record["events"] if e["type"] == "connected")
    assert abs(float(probe["format"]["duration"]) - (record["ended_at"] - connected)) < 0.5

    # signed URL with Range (seeking), tampering and traversal refused
    url = server.url + composite["file_url"]
    async with server.http.get(url, headers={"Range": "bytes=0-99"}) as resp:
        assert resp.status == 206 and len(await resp.read()) == 100
    async with server.http.get(url.replace("sig=", "sig=0")) as resp:
        assert resp.status == 403
    async with server.http.get(url.split("?")[0]) as resp:
        assert resp.status == 403
    signer = server.app[MEDIA_SIGNER]
    for evil in ("../data/calls.jsonl", "/etc/passwd", "..%2F..%2Fetc%2Fpasswd", f"{call_id}/../../data/calls.jsonl"):
        async with server.http.get(server.url + signer.url(evil)) as resp:
            assert resp.status in (403, 404), evil
            assert b"op" not in await resp.read()
    expired = signer.url(composite["file"], now=time.time() - 3600)
    async with server.http.get(server.url + expired) as resp:
        assert resp.status == 403

    # roles: only qa / supervisor / admin
    for role_token in (shopper.token["token"], agent.token["token"]):
        async with server.http.get(f"{server.url}/api/recordings/{call_id}", headers=bearer(role_token)) as resp:
            assert resp.status == 403
    async with server.http.get(f"{server.url}/api/recordings?has_recording=true", headers=bearer(qa)) as resp:
        found = (await resp.json())["calls"]
    assert [c["call_id"] for c in found] == [call_id] and found[0]["composite"] == "complete"

    # a scorecard
    async with server.http.post(f"{server.url}/api/calls/{call_id}/scorecard", headers=bearer(qa),
                                json={"scores": {"greeting": 5, "product_knowledge": 4}, "comment": "good"}) as resp:
        assert resp.status == 201
    async with server.http.post(f"{server.url}/api/calls/{call_id}/scorecard", headers=bearer(qa),
                                json={"scores": {"greeting": 9}}) as resp:
        assert resp.status == 400
    async with server.http.get(f"{server.url}/api/scorecards", headers=bearer(qa)) as resp:
        cards = (await resp.json())["scorecards"]
    assert cards[0]["call_id"] == call_id and cards[0]["total"] == 90
    await close_sides(shopper, agent)


async def test_consent_asked_and_refused_means_no_recording(server):
    call_id, shopper, agent = await start_call(server, context={"category": "other"})  # general: ask
    await shopper.ws.expect("recording-consent-request", call_id=call_id)
    await shopper.ws.send("recording-consent", call_id=call_id, granted=False)
    await asyncio.gather(shopper.peer.wait_decoded(10), agent.peer.wait_decoded(10))
    await agent.ws.send("pause-recording", call_id=call_id, id="p")
    assert (await agent.ws.expect("error", ref="p"))["code"] == "invalid_state"
    await agent.ws.send("hangup", call_id=call_id)
    await shopper.ws.expect("call-ended")
    record = await server.store.get_call(call_id)
    assert record["recording_consent"] is False and not record.get("recordings")
    assert server.app[RECORDER].list(call_id=call_id) == []
    await close_sides(shopper, agent)


async def test_consent_granted_mid_call_starts_recording(server):
    call_id, shopper, agent = await start_call(server, context={"category": "other"})
    await asyncio.gather(shopper.peer.wait_decoded(10), agent.peer.wait_decoded(10))
    await shopper.ws.send("recording-consent", call_id=call_id, granted=True)
    await agent.ws.expect("recording", state="on")
    await asyncio.sleep(1.5)
    await agent.ws.send("hangup", call_id=call_id)
    await shopper.ws.expect("call-ended")
    records = server.app[RECORDER].list(call_id=call_id)
    assert len(records) == 4 and all(r["frames"] > 0 for r in records)
    await close_sides(shopper, agent)


async def test_customer_erasure_deletes_everything_and_is_logged(server):
    call_id, shopper, agent = await recorded_call(server, seconds=1.5)
    admin = server.tokens.issue(Role.ADMIN, "root")
    await wait_composite(server, call_id, admin)
    call_dir = server.app[RECORDER].root / call_id
    assert any(call_dir.rglob("*.webm"))
    qa = server.tokens.issue(Role.QA, "quinn")
    async with server.http.delete(f"{server.url}/api/customers/cust-42", headers=bearer(qa)) as resp:
        assert resp.status == 403
    async with server.http.delete(f"{server.url}/api/customers/cust-42", headers=bearer(admin)) as resp:
        assert resp.status == 200
        result = await resp.json()
    assert result["calls"] == [call_id] and result["recording_files"] >= 4
    assert not any(call_dir.rglob("*.webm")) and not any(call_dir.rglob("*.mp4"))
    assert await server.store.get_call(call_id) is None
    log = (server.config.data_dir / "erasures.jsonl").read_text().splitlines()
    assert json.loads(log[-1])["customer"] == "cust-42"
    await close_sides(shopper, agent)
