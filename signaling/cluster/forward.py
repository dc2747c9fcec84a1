"""Forwarding: any node takes any socket or REST request; the centre's holder decides.

A node that does not hold the centre lease relays each WebSocket and each centre-bound request
to the holder's internal URL (its registry entry's ``url``), as a reverse proxy would. The
relayed request carries the client's address, signed with the cluster's secret
(``HopSigner``), so that the holder's per-address budgets count the shopper, not the node.
When the holder goes away mid-socket, the relay closes the client's socket with 1012 (service
restart) and the client comes back, on any node, with the same token (``resumed``). A relayed
request that reaches a node which is not (or no longer) the holder is refused in words, never
relayed again: a stale view of the lease cannot make a loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import WSMsgType, web

from media.clock import Clock
from signaling.errors import ErrorCode
from signaling.http_errors import json_error

logger = logging.getLogger(__name__)

HOP = "X-Silkline-Hop"  # <node id> <client ip> <time> <hmac>
HOP_SKEW_S = 60.0
# what a node answers itself: its own registry view, health, metrics, media stats, the pages
LOCAL_PREFIXES = ("/api/nodes", "/api/sfu/stats", "/api/openapi", "/api/demo/")
FORWARDED_PREFIXES = ("/api/", "/media/")
# hop-by-hop headers (RFC 9110 §7.6.1) and what aiohttp sets itself
_DROP = {"host", "connection", "keep-alive", "transfer-encoding", "upgrade", "te", "trailer",
         "proxy-authorization", "proxy-authenticate", "content-length", HOP.lower(),
         "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions", "sec-websocket-accept"}
_DROP_BACK = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}
REST_READ_S = 30.0  # a relayed request whose holder is silent this long (frozen) is refused in words
WS_SLACK = 1024  # the relay carries frames a little over the protocol's limit so the holder says why


class HopSigner:
    """Signs and checks the client address a node relays (HMAC-SHA256 with the cluster secret)."""

    def __init__(self, secret: str, node_id: str, clock: Clock) -> None:
        self._key = hashlib.sha256(b"silkline-hop:" + secret.encode()).digest()
        self.node_id = node_id
        self.clock = clock

    def _mac(self, node_id: str, ip: str, at: str) -> str:
        return hmac.new(self._key, f"{node_id} {ip} {at}".encode(), hashlib.sha256).hexdigest()

    def sign(self, ip: str) -> str:
        at = f"{self.clock.now():.0f}"
        return f"{self.node_id} {ip} {at} {self._mac(self.node_id, ip, at)}"

    def client_of(self, request: web.Request) -> str | None:
        """The relayed client's address when the request carries a valid hop; else None."""
        raw = request.headers.get(HOP)
        if not raw:
            return None
        parts = raw.split(" ")
        if len(parts) != 4:
            return None
        node_id, ip, at, mac = parts
        try:
            fresh = abs(self.clock.now() - float(at)) <= HOP_SKEW_S
        except ValueError:
            return None
        if fresh and hmac.compare_digest(mac, self._mac(node_id, ip, at)):
            return ip
        return None


def forwardable(path: str) -> bool:
    if path == "/ws":
        return True
    return path.startswith(FORWARDED_PREFIXES) and not path.startswith(LOCAL_PREFIXES)


class Forwarder:
    """The relay. ``is_centre()`` says whether this node decides; ``centre_url()`` where the
    holder listens (None while nobody holds the lease: the request is refused in words)."""

    def __init__(self, signer: HopSigner, is_centre: Callable[[], bool],
                 centre_url: Callable[[], Awaitable[str | None]], client_ip: Callable[[web.Request], str],
                 heartbeat: float = 5.0, max_frame: int = 64 * 1024) -> None:
        self.signer = signer
        self.is_centre = is_centre
        self.centre_url = centre_url
        self.client_ip = client_ip
        self.heartbeat = heartbeat
        self.max_frame = max_frame
        self._http: aiohttp.ClientSession | None = None
        self._sockets: set[web.WebSocketResponse] = set()  # the clients' relayed sockets, open now
        self.relayed = 0  # requests and sockets relayed (metrics, tests)

    def http(self) -> aiohttp.ClientSession:
        if self._http is None:
            # no pool cap: every relayed socket holds a connection for its lifetime
            self._http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), auto_decompress=False,
                                               timeout=aiohttp.ClientTimeout(total=None, sock_connect=3))
        return self._http

    async def close(self) -> None:
        """The node stops: relayed sockets close with 1012, so their clients come back elsewhere."""
        for ws in list(self._sockets):
            await ws.close(code=1012, message=b"this node is stopping; reconnect")
        if self._http is not None:
            await self._http.close()
            self._http = None

    def middleware(self) -> Callable:
        @web.middleware
        async def relay(request: web.Request, handler: Callable) -> web.StreamResponse:
            if not forwardable(request.path) or self.is_centre():
                return await handler(request)
            if HOP in request.headers:
                return _refuse(request, "this node no longer decides for the contact centre; try again")
            target = await self.centre_url()
            if target is None:
                return _refuse(request, "the contact centre is changing hands; try again in a second")
            self.relayed += 1
            if request.path == "/ws":
                return await self._socket(request, target)
            return await self._request(request, target)

        return relay

    def _headers(self, request: web.Request) -> dict[str, str]:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROP}
        headers[HOP] = self.signer.sign(self.client_ip(request))
        return headers

    async def _request(self, request: web.Request, target: str) -> web.StreamResponse:
        body = await request.read()
        try:
            upstream = await self.http().request(request.method, target + request.path_qs, data=body,
                                                 headers=self._headers(request), allow_redirects=False,
                                                 timeout=aiohttp.ClientTimeout(sock_connect=3, sock_read=REST_READ_S))
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            logger.warning("relaying %s %s to %s failed: %s", request.method, request.path, target, exc)
            return _refuse(request, "the contact centre did not answer; try again in a second")
        async with upstream:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for key, value in upstream.headers.items():
                if key.lower() not in _DROP_BACK:
                    response.headers.add(key, value)
            if upstream.headers.get("Content-Encoding"):
                response.headers["Content-Encoding"] = upstream.headers["Content-Encoding"]
            await response.prepare(request)
            async for chunk in upstream.content.iter_chunked(64 * 1024):
                await response.write(chunk)
            await response.write_eof()
            return response

    async def _socket(self, request: web.Request, target: str) -> web.StreamResponse:
        url = target.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + "/ws"
        try:
            upstream = await self.http().ws_connect(url, headers=self._headers(request), heartbeat=self.heartbeat,
                                                    max_msg_size=self.max_frame + WS_SLACK, autoclose=False)
        except (aiohttp.ClientError, OSError) as exc:
            logger.warning("relaying a socket to %s failed: %s", target, exc)
            return _refuse(request, "the contact centre did not answer; try again in a second")
        client = web.WebSocketResponse(heartbeat=self.heartbeat, max_msg_size=self.max_frame + WS_SLACK)
        await client.prepare(request)
        self._sockets.add(client)
        pumps = [asyncio.ensure_future(_pump(upstream, client)), asyncio.ensure_future(_pump(client, upstream))]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in pumps:  # owned here: cancelled and awaited whatever ended the relay
                task.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            # the holder's close code reaches the client (4401, 4409…); a holder that vanished
            # without a close frame: 1012, come back through any node
            code = upstream.close_code if upstream.close_code not in (None, 1006) else 1012
            if not client.closed:
                await client.close(code=code, message=b"the contact centre moved" if code == 1012 else b"")
            if not upstream.closed:
                await upstream.close(code=client.close_code or 1000)
            self._sockets.discard(client)
        return client


async def _pump(source: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
                sink: web.WebSocketResponse | aiohttp.ClientWebSocketResponse) -> None:
    """Copy frames one way until the source closes (text and binary as they are)."""
    async for msg in source:
        if msg.type is WSMsgType.TEXT:
            await sink.send_str(msg.data)
        elif msg.type is WSMsgType.BINARY:
            await sink.send_bytes(msg.data)
        elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            return


def _refuse(request: web.Request, message: str) -> web.Response:
    """Not relayed: 503 in words with Retry-After (a socket reads it before it opens)."""
    return json_error(ErrorCode.SERVICE_UNAVAILABLE, message, retry_after=1.0)
