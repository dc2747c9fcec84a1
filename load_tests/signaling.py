"""A small WebSocket signaling client speaking docs/protocol.md, for synthetic callers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp


class SignalingError(Exception):
    pass


class Signaling:
    def __init__(self, http: aiohttp.ClientSession, base_url: str,
                 on_message: Callable[[Signaling, dict[str, Any]], None] | None = None) -> None:
        self.http = http
        self.base_url = base_url
        self.on_message = on_message
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.inbox: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self._arrived = asyncio.Event()
        self._reader: asyncio.Task | None = None
        self.closed = asyncio.Event()

    async def connect(self) -> Signaling:
        self.ws = await self.http.ws_connect(self.base_url.replace("http", "ws", 1) + "/ws",
                                             heartbeat=None, autoping=True)
        self._reader = asyncio.ensure_future(self._read())
        return self

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for msg in self.ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                if data.get("type") == "error":
                    self.errors.append(data)
                if self.on_message is not None:
                    self.on_message(self, data)
                self.inbox.append(data)
                self._arrived.set()
        finally:
            self.closed.set()
            self._arrived.set()

    async def send(self, kind: str, **fields: Any) -> None:
        if self.ws is None or self.ws.closed:
            raise SignalingError(f"socket closed; cannot send {kind}")
        await self.ws.send_str(json.dumps({"v": 1, "type": kind, **fields}))

    async def expect(self, kind: str, timeout: float = 15.0, **match: Any) -> dict[str, Any]:
        """Wait for (and consume) the first message of ``kind`` whose fields match."""
        async def _wait() -> dict[str, Any]:
            while True:
                for index, msg in enumerate(self.inbox):
                    if msg.get("type") == kind and all(msg.get(k) == v for k, v in match.items()):
                        return self.inbox.pop(index)
                    if msg.get("type") == "error":
                        raise SignalingError(f"server error while waiting for {kind}: {msg}")
                    if msg.get("type") == "call-ended" and kind != "call-ended":
                        raise SignalingError(f"call ended while waiting for {kind}: {msg}")
                if self.closed.is_set():
                    raise SignalingError(f"socket closed while waiting for {kind} {match}")
                self._arrived.clear()
                await self._arrived.wait()
        try:
            return await asyncio.wait_for(_wait(), timeout)
        except asyncio.TimeoutError:
            raise SignalingError(f"no {kind} {match} within {timeout:.0f}s") from None

    def seen(self, kind: str, **match: Any) -> bool:
        return any(m.get("type") == kind and all(m.get(k) == v for k, v in match.items())
                   for m in self.inbox)

    async def close(self) -> None:
        if self.ws is not None and not self.ws.closed:
            try:
                await asyncio.wait_for(self.ws.close(), 5)
            except (asyncio.TimeoutError, Exception):
                pass
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)


async def demo_token(http: aiohttp.ClientSession, base_url: str, role: str, **extra: Any) -> dict[str, Any]:
    async with http.post(base_url + "/api/demo/tokens", json={"role": role, **extra},
                         timeout=aiohttp.ClientTimeout(total=15)) as resp:
        if resp.status != 200:
            raise SignalingError(f"demo token ({role}): HTTP {resp.status} {await resp.text()}")
        return await resp.json()
