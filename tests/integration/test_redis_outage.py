"""A Redis outage under a running node (a real redis-server of this test's own, killed and
started again on the same port and AOF file): the live call's media keeps flowing; REST answers
503 ``service_unavailable`` with Retry-After; socket actions get ``service_unavailable``; what
was acknowledged before is in the record when Redis is back, what was refused never reached
anybody, and a call that ends during the outage is recorded as ended once Redis is back
(nothing acknowledged is lost)."""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from signaling.auth import Role
from silkline.app import create_app
from tests.conftest import Running, _free_port, close_sides, make_config, start_call
from tests.support.eventually import eventually


class RedisProcess:
    """redis-server with AOF on a fixed port and folder, so it can die and come back."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        self.binary, self.folder, self.port = binary, folder, _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        import redis as redis_sync

        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
             "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        probe = redis_sync.Redis(host="127.0.0.1", port=self.port)
        deadline = time.monotonic() + 15
        try:
            while True:
                try:
                    probe.ping()
                    return
                except redis_sync.exceptions.ConnectionError:
                    assert time.monotonic() < deadline and self.proc.poll() is None, "redis-server did not start"
                    time.sleep(0.05)
        finally:
            probe.close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # SIGKILL: no shutdown save; the AOF (fsync always) is what survives
            self.proc.wait(10)


@pytest.fixture
def redis_process(tmp_path: Path) -> Iterator[RedisProcess]:
    folder = tmp_path / "redis"
    folder.mkdir()
    process = RedisProcess(folder)
    process.start()
    try:
        yield process
    finally:
        process.kill()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_an_outage_refuses_in_words_loses_nothing_and_the_call_goes_on(tmp_path, redis_process, caplog):
    caplog.set_level(logging.INFO)
    app = create_app(make_config(tmp_path, redis_url=redis_process.url, demo=True))
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    url = str(test_server.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as http:
        server = Running(url, app, http, make_config(tmp_path, redis_url=redis_process.url))
        try:
            await _outage(server, redis_process)
        finally:
            await test_server.close()
    assert "Traceback" not in caplog.text


async def _outage(server: Running, redis_process: RedisProcess) -> None:
    call_id, shopper, agent = await start_call(server)
    await asyncio.gather(shopper.peer.wait_decoded(5), agent.peer.wait_decoded(5))
    await shopper.ws.send("chat", call_id=call_id, text="before the outage")
    acked = await shopper.ws.expect("chat", text="before the outage")
    await agent.ws.expect("chat", text="before the outage")
    qa = server.tokens.issue(Role.QA, "quinn")

    redis_process.kill()
    before = agent.peer.video_frames_decoded
    # REST: JSON 503 with Retry-After
    async with server.http.get(f"{server.url}/api/calls/{call_id}", headers=bearer(qa)) as resp:
        assert resp.status == 503
        assert resp.headers["Retry-After"] == "5"
        assert (await resp.json())["error"]["code"] == "service_unavailable"
    async with server.http.get(f"{server.url}/api/calls", headers=bearer(qa)) as resp:
        assert resp.status == 503 and (await resp.json())["error"]["code"] == "service_unavailable"
    # the socket: a chat and a mark are refused before anybody is told of them
    await shopper.ws.send("chat", call_id=call_id, text="during the outage", id="lost?")
    refused = await shopper.ws.expect("error", ref="lost?")
    assert refused["code"] == "service_unavailable" and "nothing was saved" in refused["message"]
    await agent.ws.send("annotate", call_id=call_id, target="shopper", shape="pointer", points=[[0.5, 0.5]], id="mark")
    assert (await agent.ws.expect("error", ref="mark"))["code"] == "service_unavailable"
    # a new shopper cannot start a call either, in words
    newcomer = await server.token("shopper")
    ws = await server.client()
    await ws.send("join", token=newcomer["token"], id="join")
    assert (await ws.expect("error", ref="join"))["code"] == "service_unavailable"
    assert newcomer["call_id"] not in server.calls.calls  # refused: no call half made
    # and the live call's media flows all the while
    await agent.peer.wait_decoded(before + 30)
    await shopper.peer.wait_decoded(shopper.peer.video_frames_decoded + 30)
    assert server.calls.calls[call_id].state.value == "connected"

    redis_process.start()

    async def store_back() -> bool:
        async with server.http.get(f"{server.url}/api/calls/{call_id}", headers=bearer(qa)) as resp:
            return resp.status == 200

    await eventually(store_back, timeout=20, message="the store answering again")
    if ws.closed.is_set():  # the join deadline (10 s) passed while Redis was away
        ws = await server.client()
    await ws.send("join", token=newcomer["token"])  # trying again
    await ws.expect("joined", call_id=newcomer["call_id"])
    assert (await server.store.get_call(newcomer["call_id"]))["state"] == "waiting"
    await ws.close()
    await shopper.ws.send("chat", call_id=call_id, text="after the outage")
    await agent.ws.expect("chat", text="after the outage")
    record = await server.store.get_call(call_id)
    chats = [(e["chat_id"], e["text"]) for e in record["events"] if e["type"] == "chat"]
    assert chats[0] == (acked["chat_id"], "before the outage")  # acknowledged, so kept
    assert [text for _, text in chats] == ["before the outage", "after the outage"]  # refused, so never told
    assert not any(m.get("text") == "during the outage" for m in agent.ws.inbox)
    assert not any(e["type"] == "annotation" for e in record["events"])
    # a call that ends while Redis is away ends for its parties, and its record follows
    redis_process.kill()
    await shopper.ws.send("hangup", call_id=call_id, id="bye")
    await agent.ws.expect("call-ended", reason="hang_up")
    await shopper.ws.expect("call-ended", reason="hang_up")
    assert not any(m.get("type") == "error" and m.get("ref") == "bye" for m in shopper.ws.inbox)
    redis_process.start()

    async def ended() -> bool:
        return (await server.store.get_call(call_id) or {}).get("state") == "ended"

    await eventually(ended, timeout=20, message="the call ended in its record")
    await close_sides(shopper, agent)
