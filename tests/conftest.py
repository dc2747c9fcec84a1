"""Shared fixtures: an in-process Silkline server on a real loopback port, HTTP sessions,
and a real redis-server on a free port for the Redis backend tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from client import SignalingClient, demo_token
from media.clock import Clock, SystemClock, VirtualClock
from silkline.app import CALLS, CLOCK, SFU, SIGNALING, STORE, TOKENS, create_app, runner_options
from silkline.config import Config
from tests.support.coturn import Coturn, running_coturn
from tests.support.peers import ClientPeer, agent_clip
from tests.support.ports import free_port as _free_port  # noqa: F401 - tests import it from here
from tests.support.redis_processes import RedisProcess

SECRET = "test-secret-0123456789abcdef-0123456789"


@dataclass
class Running:
    url: str
    app: Any
    http: aiohttp.ClientSession
    config: Config

    @property
    def calls(self):  # type: ignore[no-untyped-def]
        return self.app[CALLS]

    @property
    def sfu(self):  # type: ignore[no-untyped-def]
        return self.app[SFU]

    @property
    def store(self):  # type: ignore[no-untyped-def]
        return self.app[STORE]

    @property
    def tokens(self):  # type: ignore[no-untyped-def]
        return self.app[TOKENS]

    @property
    def clock(self) -> Clock:
        return self.app[CLOCK]

    @property
    def signaling(self):  # type: ignore[no-untyped-def]
        return self.app[SIGNALING]

    async def client(self) -> SignalingClient:
        return await SignalingClient(self.http, self.url).connect()

    async def token(self, role: str, **extra: Any) -> dict[str, Any]:
        return await demo_token(self.http, self.url, role, **extra)


def make_config(tmp_path: Path, **overrides: Any) -> Config:
    config = Config(
        host="127.0.0.1", port=0, data_dir=tmp_path / "data", recordings_dir=tmp_path / "rec",
        secret=SECRET, grace_period=15.0, media_timeout=2.0, ws_heartbeat=5.0,
        # the test process's CPU and loop lag include its own peers' encoding: only the
        # room and track limits apply in-process (tests/unit/test_admission.py tests the rest)
        max_cpu_pct=0.0, max_loop_lag_ms=0.0,
    )
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


@pytest.fixture
def server_config(tmp_path: Path) -> Config:
    return make_config(tmp_path)


@pytest.fixture
def clock(request: pytest.FixtureRequest) -> Clock:
    """The server's clock: real, unless a test asks for ``virtual`` time
    (``@pytest.mark.parametrize("clock", ["virtual"], indirect=True)``) and moves it with
    ``server.clock.advance(seconds)``."""
    return VirtualClock() if getattr(request, "param", None) == "virtual" else SystemClock()


@pytest.fixture
async def server(server_config: Config, clock: Clock) -> AsyncIterator[Running]:
    app = create_app(server_config, clock=clock)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server(**runner_options(server_config))
    url = str(test_server.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as http:
        yield Running(url, app, http, server_config)
    await test_server.close()


@dataclass
class Side:
    ws: SignalingClient
    peer: ClientPeer
    token: dict[str, Any]
    accepted_at: float = 0.0


@dataclass
class Answered:
    """A call an agent has accepted, both sockets at ``connecting``, no media yet."""

    call_id: str
    shopper_ws: SignalingClient
    agent_ws: SignalingClient
    shopper_token: dict[str, Any]
    agent_token: dict[str, Any]
    accepted_at: float  # when the agent's accept was sent (time.monotonic)


async def answered_call(server: Running, context: dict | None = None, agent_name: str = "Ann",
                        **shopper_extra: Any) -> Answered:
    """Agent signs in, shopper calls (``shopper_extra`` goes into the shopper token, e.g.
    ``customer_id``), agent accepts: the signaling of a call, for tests that bring their own
    peers or need none."""
    agent_token = await server.token("agent", name=agent_name)
    agent_ws = await server.client()
    await agent_ws.send("join", token=agent_token["token"])
    await agent_ws.expect("joined")
    shopper_token = await server.token("shopper", **shopper_extra)
    call_id = shopper_token["call_id"]
    shopper_ws = await server.client()
    await shopper_ws.send("join", token=shopper_token["token"],
                          context={"product_id": "ring-42", "title": "Sapphire ring", **(context or {})})
    await shopper_ws.expect("joined", call_id=call_id)
    offered = await agent_ws.expect("call-offered", call_id=call_id)
    assert offered["context"]["product_id"] == (context or {}).get("product_id", "ring-42")
    accepted_at = time.monotonic()
    await agent_ws.send("accept", call_id=call_id)
    await shopper_ws.expect("call-state", state="connecting")
    await agent_ws.expect("call-state", state="connecting")
    return Answered(call_id, shopper_ws, agent_ws, shopper_token, agent_token, accepted_at)


async def start_call(server: Running, encoded: bool = True, context: dict | None = None,
                     customer_id: str | None = None) -> tuple[str, Side, Side]:
    """Agent signs in, shopper calls, agent accepts, both negotiate media. Returns call id.
    Each Side's ``accepted_at`` is the moment the agent's accept was sent."""
    # peers (and their pre-encoded clips, slow to make on a busy machine) are ready before
    # any socket opens: a blocked loop would miss the server's heartbeat, and, as a browser's
    # would, before the accept
    shopper_peer = ClientPeer("shopper", encoded)
    agent_peer = ClientPeer("agent", encoded, clip=agent_clip())
    call = await answered_call(server, context, **({"customer_id": customer_id} if customer_id else {}))
    shopper = Side(call.shopper_ws, shopper_peer, call.shopper_token, call.accepted_at)
    agent = Side(call.agent_ws, agent_peer, call.agent_token, call.accepted_at)
    await asyncio.gather(call.shopper_ws.negotiate(shopper.peer, call.call_id),
                         call.agent_ws.negotiate(agent.peer, call.call_id))
    return call.call_id, shopper, agent


async def close_sides(*sides: Side) -> None:
    for side in sides:
        await side.peer.close()
        await side.ws.close()


# ---------------------------------------------------------------- redis

@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory):
    """A real redis-server on a free loopback port, with AOF persistence, for this session."""
    process = RedisProcess(tmp_path_factory.mktemp("redis"), "--protected-mode", "yes")
    yield process.url
    process.stop()


@pytest.fixture
async def redis_server(tmp_path: Path, redis_url: str) -> AsyncIterator[Running]:
    """The same server as ``server``, with its state in the real Redis."""
    import redis.asyncio as aioredis

    flush = aioredis.from_url(redis_url)
    await flush.flushdb()
    await flush.aclose()
    config = make_config(tmp_path, redis_url=redis_url, demo=True)
    app = create_app(config)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server(**runner_options(config))
    url = str(test_server.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as http:
        yield Running(url, app, http, config)
    await test_server.close()


# ---------------------------------------------------------------- coturn
@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[Coturn]:
    folder = tmp_path / "coturn"
    folder.mkdir()
    with running_coturn(folder) as turn:
        yield turn
