"""A WebSocket signaling client for tests, speaking docs/protocol.md."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from tests.support.peers import ClientPeer


class SignalingClient:
    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.http = session
        self.base_url = base_url
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.inbox: list[dict[str, Any]] = []
        self._arrived = asyncio.Event()
        self._reader: asyncio.Task | None = None
        self.closed = asyncio.Event()
        self.close_code: int | None = None

    async def connect(self) -> SignalingClient:
        self.ws = await self.http.ws_connect(self.base_url.replace("http", "ws", 1) + "/ws")
        self._reader = asyncio.ensure_future(self._read())
        return self

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.inbox.append(json.loads(msg.data))
                self._arrived.set()
        self.close_code = self.ws.close_code
        self.closed.set()
        self._arrived.set()

    async def send(self, kind: str, **fields: Any) -> None:
        assert self.ws is not None
        await self.ws.send_str(json.dumps({"v": 1, "type": kind, **fields}))

    async def send_raw(self, data: str | bytes) -> None:
        assert self.ws is not None
        if isinstance(data, bytes):
            await self.ws.send_bytes(data)
        else:
            await self.ws.send_str(data)

    async def expect(self, kind: str, /, timeout: float = 10.0, **match: Any) -> dict[str, Any]:
        """Wait for (and consume) the first message of ``kind`` whose fields match."""
        async def _wait() -> dict[str, Any]:
            while True:
                for index, msg in enumerate(self.inbox):
                    if msg.get("type") == kind and all(msg.get(k) == v for k, v in match.items()):
                        return self.inbox.pop(index)
                if self.closed.is_set():
                    raise ConnectionError(f"socket closed ({self.close_code}) while waiting for {kind} {match}; inbox={self.inbox}")
                self._arrived.clear()
                await self._arrived.wait()
        try:
            return await asyncio.wait_for(_wait(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"no {kind} {match} within {timeout}s; inbox={self.inbox}") from None

    def seen(self, kind: str, /, **match: Any) -> bool:
        return any(m.get("type") == kind and all(m.get(k) == v for k, v in match.items()) for m in self.inbox)

    async def negotiate(self, peer: ClientPeer, call_id: str) -> None:
        await self.send("offer", call_id=call_id, sdp=await peer.offer())
        answer = await self.expect("answer", call_id=call_id, timeout=15)
        await peer.accept_answer(answer["sdp"])

    async def close(self) -> None:
        if self.ws is not None and not self.ws.closed:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


async def demo_token(http: aiohttp.ClientSession, base_url: str, role: str, **extra: Any) -> dict[str, Any]:
    async with http.post(base_url + "/api/demo/tokens", json={"role": role, **extra}) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()
