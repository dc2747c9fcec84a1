"""A small client of the Janus API over its plain-HTTP transport (long poll), with the
VideoRoom requests a 1:1 call needs: create a room, join as publisher, configure with an offer
(→ answer), subscribe to a feed (→ offer), start with the answer.

One :class:`JanusSession` per caller; it owns one long-poll task that delivers the
asynchronous events to the request waiting for them (by transaction) and is cancelled and
awaited by :meth:`JanusSession.close`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from typing import Any

import aiohttp

PLUGIN = "janus.plugin.videoroom"
POLL_TIMEOUT = 40.0  # Janus answers a long poll after 30 s at the latest (a keepalive)

_transactions = itertools.count(1)


class JanusError(Exception):
    pass


def _check(reply: dict[str, Any]) -> dict[str, Any]:
    """The reply itself, or JanusError for a Janus or VideoRoom error."""
    if reply.get("janus") == "error":
        err = reply.get("error", {})
        raise JanusError(f"janus error {err.get('code')}: {err.get('reason')}")
    data = reply.get("plugindata", {}).get("data", {})
    if "error_code" in data or (data.get("videoroom") == "event" and "error" in data):
        raise JanusError(f"videoroom error {data.get('error_code')}: {data.get('error')}")
    return reply


class JanusSession:
    """A Janus session with its long poll; handles are attached with :meth:`attach`."""

    def __init__(self, http: aiohttp.ClientSession, url: str, timeout: float = 15.0) -> None:
        self.http = http
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.id: int | None = None
        self.events: list[dict[str, Any]] = []  # unsolicited events (webrtcup, media, hangup, …)
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._arrived = asyncio.Event()
        self._poller: asyncio.Task[None] | None = None

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self.http.post(self.url + path, json=body,
                                  timeout=aiohttp.ClientTimeout(total=self.timeout)) as resp:
            if resp.status != 200:
                raise JanusError(f"HTTP {resp.status} from Janus: {(await resp.text())[:200]}")
            return await resp.json(content_type=None)

    async def create(self) -> JanusSession:
        reply = _check(await self._post("", {"janus": "create", "transaction": _tx()}))
        self.id = int(reply["data"]["id"])
        self._poller = asyncio.ensure_future(self._poll())
        return self

    async def attach(self) -> JanusHandle:
        reply = _check(await self._post(f"/{self.id}", {"janus": "attach", "plugin": PLUGIN,
                                                        "transaction": _tx()}))
        return JanusHandle(self, int(reply["data"]["id"]))

    async def send(self, handle: int, body: dict[str, Any], jsep: dict[str, Any] | None = None,
                   timeout: float | None = None) -> dict[str, Any]:
        """A VideoRoom request: the synchronous reply, or the event that answers an ``ack``."""
        tx = _tx()
        message: dict[str, Any] = {"janus": "message", "body": body, "transaction": tx}
        if jsep is not None:
            message["jsep"] = jsep
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[tx] = future  # before posting: the event may beat the HTTP reply
        try:
            reply = _check(await self._post(f"/{self.id}/{handle}", message))
            if reply.get("janus") != "ack":
                return reply
            return _check(await asyncio.wait_for(future, timeout or self.timeout))
        except TimeoutError:
            raise JanusError(f"no answer to {body.get('request')} within {timeout or self.timeout:.0f}s") from None
        finally:
            self._waiting.pop(tx, None)

    async def _poll(self) -> None:
        """The long poll: hand each event to the request waiting for its transaction."""
        while True:
            try:
                async with self.http.get(f"{self.url}/{self.id}", params={"maxev": "10"},
                                         timeout=aiohttp.ClientTimeout(total=POLL_TIMEOUT)) as resp:
                    payload = await resp.json(content_type=None)
            except asyncio.CancelledError:
                raise
            except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
                self.events.append({"janus": "poll-error", "error": repr(exc)[:200]})
                await asyncio.sleep(0.5)
                continue
            for event in payload if isinstance(payload, list) else [payload]:
                future = self._waiting.get(str(event.get("transaction")))
                if event.get("janus") in ("event", "error") and future is not None and not future.done():
                    future.set_result(event)
                elif event.get("janus") != "keepalive":
                    event["_at"] = time.monotonic()
                    self.events.append(event)
                    self._arrived.set()

    def saw(self, kind: str, sender: int | None = None) -> bool:
        return any(e.get("janus") == kind and sender in (None, e.get("sender")) for e in self.events)

    async def wait_for_event(self, kind: str, sender: int, timeout: float | None = None) -> None:
        """Until Janus has sent event ``kind`` (e.g. ``webrtcup``) about handle ``sender``."""
        async def wait() -> None:
            while not self.saw(kind, sender):
                self._arrived.clear()
                await self._arrived.wait()
        try:
            await asyncio.wait_for(wait(), timeout or self.timeout)
        except TimeoutError:
            raise JanusError(f"no {kind} from Janus within {timeout or self.timeout:.0f}s") from None

    async def close(self) -> None:
        """Destroy the session on Janus (bounded), then stop the long poll."""
        if self.id is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._post(f"/{self.id}", {"janus": "destroy", "transaction": _tx()}), 5)
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
            self._poller = None


class JanusHandle:
    """A VideoRoom plugin handle: one publisher or one subscriber."""

    def __init__(self, session: JanusSession, handle_id: int) -> None:
        self.session = session
        self.id = handle_id

    async def request(self, body: dict[str, Any], jsep: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.session.send(self.id, body, jsep)

    async def create_room(self, room: int, bitrate: int = 2_000_000) -> None:
        # fir_freq 0: keyframes only when a receiver asks (PLI), as the Silkline node does
        await self.request({"request": "create", "room": room, "publishers": 2, "bitrate": bitrate,
                            "fir_freq": 0, "audiocodec": "opus", "videocodec": "vp8",
                            "record": False, "permanent": False})

    async def destroy_room(self, room: int) -> None:
        await self.request({"request": "destroy", "room": room, "permanent": False})

    async def join_publisher(self, room: int, display: str) -> int:
        """Join ``room`` as a publisher; returns its feed id."""
        event = await self.request({"request": "join", "ptype": "publisher", "room": room, "display": display})
        return int(event["plugindata"]["data"]["id"])

    async def publish(self, offer_sdp: str) -> str:
        """``configure`` with the offer (audio + video); returns Janus's answer. The feed can
        be subscribed to once :meth:`up` returns."""
        event = await self.request({"request": "configure", "audio": True, "video": True},
                                   jsep={"type": "offer", "sdp": offer_sdp, "trickle": False})
        return _sdp(event, "answer")

    async def up(self) -> None:
        """Until this handle's PeerConnection is up (ICE + DTLS done: Janus's ``webrtcup``)."""
        await self.session.wait_for_event("webrtcup", self.id)

    async def subscribe(self, room: int, feed: int) -> str:
        """Join ``room`` as the subscriber of ``feed``; returns Janus's offer."""
        event = await self.request({"request": "join", "ptype": "subscriber", "room": room,
                                    "streams": [{"feed": feed}]})
        return _sdp(event, "offer")

    async def start(self, answer_sdp: str) -> None:
        await self.request({"request": "start"}, jsep={"type": "answer", "sdp": answer_sdp, "trickle": False})

    async def detach(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.session._post(f"/{self.session.id}/{self.id}",
                                                      {"janus": "detach", "transaction": _tx()}), 5)


def _sdp(event: dict[str, Any], kind: str) -> str:
    jsep = event.get("jsep") or {}
    if jsep.get("type") != kind or not jsep.get("sdp"):
        raise JanusError(f"expected a jsep {kind} from Janus, got {str(event)[:300]}")
    return str(jsep["sdp"])


def _tx() -> str:
    return f"t{next(_transactions)}"
