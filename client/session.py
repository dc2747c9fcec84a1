"""One signaling session: a WebSocket to ``/ws`` speaking docs/protocol.md, version 1.

The client keeps what arrives in a bounded inbox that :meth:`SignalingClient.expect` takes
from, so a script reads as the protocol does ("send accept, expect call-state connecting"), and
it hands every message to callbacks on the way in, so a program that reacts (a load generator,
a bot agent) never polls. Both cost one JSON decode and one append per message: cheap enough
for a load generator with hundreds of sockets.

Heartbeat: the server pings every few seconds and closes a socket whose pong is late; aiohttp
answers pings by itself as long as the event loop is not blocked. ``heartbeat=`` makes the
client ping the server too, to notice a dead server.

Reconnection (opt-in, ``reconnect=True``): when the socket closes without being asked to (1006:
the network, 1012: the node restarts, 1001: it goes away), the client connects again with a
bounded backoff — to the same base URL, then the next of ``base_urls`` — and sends the same
``join``; the server's ``joined{resumed: true}`` arrives as any message does. Meanwhile ``send``
waits for the new socket (at most ``send_wait`` seconds; the join goes first on it, so the server
reads the message as from the same participant), and a pending ``expect`` keeps waiting.
``follow_media`` keeps a call's peer connection following the server (a move to a new room, a
resumed join).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Collection, Sequence
from typing import Any, Self

import aiohttp
import msgspec

from client.errors import Message, ServerError, SignalingClosed, SignalingTimeout
from client.negotiation import MediaFollower, Negotiable, Renew, negotiate

logger = logging.getLogger(__name__)
VERSION = 1
RECONNECT_CODES = frozenset({1001, 1006, 1012})  # going away, no close frame, service restart
REOPEN_TIMEOUT_S = 3.0  # one reconnection attempt's upgrade
Callback = Callable[["SignalingClient", Message], None]

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


def matches(message: Message, kind: str, fields: dict[str, Any]) -> bool:
    """True when ``message`` is of type ``kind`` and has every one of ``fields``."""
    return message.get("type") == kind and all(message.get(k) == v for k, v in fields.items())


class SignalingClient:
    """A client of the Silkline signaling protocol over one WebSocket.

    ``fail_on`` names message types that make a pending :meth:`expect` of another type fail at
    once (e.g. ``{"error", "call-ended"}`` for a script that should stop at the first problem);
    by default ``expect`` only waits for its own message. ``inbox_size`` bounds the messages kept
    for ``expect``; when it is full the oldest is dropped and counted in ``dropped``.
    ``reconnect`` (off by default) follows an unexpected close: at most ``reconnect_attempts``
    tries, waiting ``backoff[0]`` doubling up to ``backoff[1]`` seconds, over ``base_url`` then
    ``base_urls`` in turn; ``reconnects`` counts the sockets it opened again.
    """

    def __init__(self, http: aiohttp.ClientSession, base_url: str, *,
                 on_message: Callback | None = None, fail_on: Collection[str] = (),
                 inbox_size: int = 1000, heartbeat: float | None = None,
                 reconnect: bool = False, base_urls: Sequence[str] = (), reconnect_attempts: int = 8,
                 backoff: tuple[float, float] = (0.2, 3.0), send_wait: float = 15.0) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.base_urls = [self.base_url, *(u.rstrip("/") for u in base_urls if u.rstrip("/") != self.base_url)]
        self.reconnect = reconnect
        self.reconnect_attempts = reconnect_attempts
        self.backoff = backoff
        self.reconnects = 0
        self.send_wait = send_wait
        self._socket_changed = asyncio.Event()  # a socket reopened, or the client closed for good
        self._join: dict[str, Any] | None = None  # the fields of our join, sent again on a new socket
        self._closing = False
        self._followers: list[MediaFollower] = []
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.inbox: deque[Message] = deque()
        self.inbox_size = inbox_size
        self.dropped = 0
        self.errors: deque[Message] = deque(maxlen=100)  # the last ``error``s, consumed or not
        self.error_count = 0  # every ``error`` the server sent
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self.fail_on = frozenset(fail_on)
        self.heartbeat = heartbeat
        self._catch_all = on_message
        self._handlers: dict[str, list[Callback]] = {}
        self._arrived = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http", "ws", 1) + "/ws"

    async def connect(self) -> Self:
        self.ws = await self.http.ws_connect(self.ws_url, heartbeat=self.heartbeat, autoping=True)
        self._reader = asyncio.create_task(self._run(self.ws), name=f"signaling reader {self.ws_url}")
        return self

    async def __aenter__(self) -> Self:
        return await self.connect() if self.ws is None else self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ receiving
    def on(self, kind: str, callback: Callback) -> None:
        """Call ``callback(client, message)`` for every message of ``kind`` as it arrives.

        Callbacks run on the reader task: they must not block; to do I/O, start a task that
        your program owns. The message still goes to the inbox."""
        self._handlers.setdefault(kind, []).append(callback)

    async def _run(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Read the socket; with ``reconnect``, open another after an unexpected close."""
        current: aiohttp.ClientWebSocketResponse | None = ws
        try:
            while current is not None:
                await self._read(current)
                self.close_code = current.close_code
                current = await self._reopen() if self._reopens(current.close_code) else None
        finally:
            self.closed.set()
            self._arrived.set()
            self._socket_changed.set()

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for frame in ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                continue
            try:
                message = _decode(frame.data)
            except msgspec.DecodeError:
                continue  # the server only sends JSON objects; nothing to do with garbage
            if not isinstance(message, dict):
                continue
            self._deliver(message)

    def _reopens(self, code: int | None) -> bool:
        return self._may_reopen() and code in RECONNECT_CODES

    async def _reopen(self) -> aiohttp.ClientWebSocketResponse | None:
        """A new socket (and the same join) to this base URL or the next; None after the last try."""
        start = self.base_urls.index(self.base_url) if self.base_url in self.base_urls else 0
        delay, longest = self.backoff
        for attempt in range(self.reconnect_attempts):
            await asyncio.sleep(delay)
            delay = min(delay * 2, longest)
            url = self.base_urls[(start + attempt) % len(self.base_urls)]
            try:
                # bounded: a node that accepts connections but never answers (frozen) is passed over
                ws = await asyncio.wait_for(self.http.ws_connect(url.replace("http", "ws", 1) + "/ws",
                                                                 heartbeat=self.heartbeat, autoping=True),
                                            REOPEN_TIMEOUT_S)
                await ws.send_str(_encode({"v": VERSION, "type": "join", **(self._join or {})}).decode())
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                logger.info("signaling reconnect %d to %s failed: %s", attempt + 1, url, exc)
                continue
            self.ws, self.base_url = ws, url
            self.reconnects += 1
            self._socket_changed.set()
            logger.info("signaling socket reopened to %s (attempt %d)", url, attempt + 1)
            return ws
        logger.warning("signaling socket not reopened after %d attempts", self.reconnect_attempts)
        return None

    def _deliver(self, message: Message) -> None:
        kind = message.get("type")
        if kind == "error":
            self.error_count += 1
            self.errors.append(message)
        callbacks = self._handlers.get(kind, ()) if isinstance(kind, str) else ()
        for callback in (self._catch_all, *callbacks) if self._catch_all else callbacks:
            try:
                callback(self, message)
            except Exception:  # a script's bug must not stop the socket's reader
                logger.exception("signaling callback %r failed on %s", callback, kind)
        if len(self.inbox) >= self.inbox_size:
            self.inbox.popleft()
            self.dropped += 1
        self.inbox.append(message)
        self._arrived.set()

    def _take(self, kind: str, fields: dict[str, Any], fail_on: frozenset[str]) -> Message | None:
        for index, message in enumerate(self.inbox):
            if matches(message, kind, fields):
                del self.inbox[index]
                return message
            if message.get("type") in fail_on and message.get("type") != kind:
                raise ServerError(message, f"{kind} {fields}")
        return None

    async def expect(self, kind: str, /, timeout: float = 10.0, **fields: Any) -> Message:
        """Wait for, take out of the inbox and return the first message of ``kind`` with
        these ``fields``. Raises :class:`SignalingTimeout`, :class:`SignalingClosed`, or
        :class:`ServerError` (only for the ``fail_on`` types)."""
        return await self._wait(lambda: self._take(kind, fields, self.fail_on), f"{kind} {fields}", timeout)

    async def _wait(self, take: Callable[[], Message | None], what: str, timeout: float) -> Message:
        async def wait() -> Message:
            while True:
                found = take()
                if found is not None:
                    return found
                if self.closed.is_set():
                    raise SignalingClosed(f"socket closed ({self.close_code}) while waiting for "
                                          f"{what}; inbox={list(self.inbox)}")
                self._arrived.clear()
                await self._arrived.wait()
        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            raise SignalingTimeout(f"no {what} within {timeout:g} s; inbox={list(self.inbox)}") from None

    def seen(self, kind: str, /, **fields: Any) -> bool:
        """Is a message of ``kind`` with these ``fields`` waiting in the inbox?"""
        return any(matches(message, kind, fields) for message in self.inbox)

    # ------------------------------------------------------------------ sending
    async def send(self, kind: str, /, **fields: Any) -> None:
        """Send one message of type ``kind``; ``v`` is added. While a reconnecting client has no
        socket, wait for the next one (at most ``send_wait``); raises :class:`SignalingClosed`."""
        if kind == "join":
            self._join = fields
        data = _encode({"v": VERSION, "type": kind, **fields}).decode()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.send_wait
        while True:
            ws = self.ws
            if ws is not None and not ws.closed:
                try:
                    await ws.send_str(data)
                    return
                except ConnectionError:  # closed under us: the reader reopens it, or not
                    pass
            if not self._may_reopen() or loop.time() >= deadline:
                raise SignalingClosed(f"socket closed; cannot send {kind}")
            self._socket_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._socket_changed.wait(), min(0.5, deadline - loop.time()))

    def _may_reopen(self) -> bool:
        """Could a new socket still come (reconnecting, not closed, not saying goodbye)?"""
        return self.reconnect and not self._closing and self._join is not None and not self.closed.is_set()

    async def send_raw(self, data: str | bytes) -> None:
        """Send a frame exactly as given (to test how the server takes bad input)."""
        if self.ws is None or self.ws.closed:
            raise SignalingClosed("socket closed; cannot send")
        if isinstance(data, bytes):
            await self.ws.send_bytes(data)
        else:
            await self.ws.send_str(data)

    async def join(self, token: str, context: dict[str, Any] | None = None,
                   timeout: float = 10.0) -> Message:
        """Authenticate (the first message on a socket) and return ``joined``.

        Raises :class:`ServerError` if the server refuses the token."""
        fields: dict[str, Any] = {"token": token}
        if context is not None:
            fields["context"] = context
        await self.send("join", **fields)
        return await self._wait(self._take_joined, "joined", timeout)

    def _take_joined(self) -> Message | None:
        for index, message in enumerate(self.inbox):
            if message.get("type") in ("joined", "error"):
                del self.inbox[index]
                if message.get("type") == "error":
                    raise ServerError(message, "joined")
                return message
        return None

    async def accept(self, call_id: str) -> None:
        await self.send("accept", call_id=call_id)

    async def decline(self, call_id: str) -> None:
        await self.send("decline", call_id=call_id)

    async def hangup(self, call_id: str) -> None:
        await self.send("hangup", call_id=call_id)

    async def leave(self) -> None:
        """Leave: the server ends this socket's call, signs an agent out and closes (1000)."""
        self._closing = True  # no reconnect follows a goodbye
        await self.send("leave")

    async def negotiate(self, peer: Negotiable, call_id: str, timeout: float = 15.0) -> Message:
        """Offer ``peer``'s SDP, wait for the answer and give it to the peer."""
        return await negotiate(self, peer, call_id, timeout=timeout)

    def follow_media(self, call_id: str, renew: Renew, timeout: float = 15.0) -> MediaFollower:
        """From now on, when the call's media moves (``migrated``) or this socket came back
        (``joined{resumed: true}``), await ``renew()`` (close the peer connection, return one
        with the same tracks) and negotiate it. The client closes the follower with itself::

            follower = ws.follow_media(call_id, peer.renew)
            await follower.wait()  # after a move: answered, media on its way
        """
        follower = MediaFollower(self, call_id, renew, timeout=timeout)
        self._followers.append(follower)
        return follower

    # ------------------------------------------------------------------ closing
    async def close(self, timeout: float = 5.0) -> None:
        """Close the socket (bounded by ``timeout``) and stop the reader. Safe to call twice."""
        self._closing = True
        for follower in self._followers:
            await follower.close()
        if self.ws is not None and not self.ws.closed:
            with contextlib.suppress(TimeoutError, aiohttp.ClientError, ConnectionError):
                await asyncio.wait_for(self.ws.close(), timeout)
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
            self._reader = None
