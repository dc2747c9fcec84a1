"""NodeChannels: each node's inbox on Redis pub/sub (``silkline:node:<id>:in``), for the
commands that reach a room on another node and the events that come back (LiveKit's Redis
router does the same with its per-node channels).

- ``post(node, kind, body)`` is synchronous (the centre's Room methods are) and ordered per
  target: it only appends to a bounded outbox; one task owned by the channels publishes the
  outbox in order (a batch per round trip, in one pipeline).
- ``await request(node, kind, body)`` goes through the same outbox, so it is ordered after
  the posts before it, and awaits the reply (a request id; the reply is published to the
  caller's own channel). A handler's :class:`SignalingError` travels back with its code and
  words and is raised again at the caller; no reply in time, nobody subscribed to the target
  channel (the node is gone) or Redis away is ``SignalingError(service_unavailable)``.
- ``on_resubscribed`` callbacks run when the subscription stands again after Redis was away,
  whether the listener saw the outage or redis-py's own retries reconnected under it (what was
  published meanwhile is lost: a mirror of another node's state asks afresh).
- ``handle(kind, fn)``: ``async fn(body, sender) -> dict | None`` runs for each message of
  that kind, each in its own task (started in arrival order, so what a handler does before
  its first ``await`` happens in the order the messages were sent).

JSON on the wire. Pub/sub delivers to whoever listens now and loses what is sent while a node
is away, which the callers survive (a request fails in words; the protocol reconnects). The
subscription is made again with backoff when Redis comes back. ``close`` cancels and awaits
every task the channels own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from media.clock import Clock, SystemClock
from signaling.errors import ErrorCode, SignalingError
from signaling.state.redis_client import PREFIX, RedisClient

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], str], Awaitable[dict[str, Any] | None]]

OUTBOX_LIMIT = 10_000  # messages waiting to be published; past it a post is refused
BATCH = 200  # messages published per round trip
MAX_HANDLING = 2_000  # handler tasks running at once; past it a request is refused in words
REQUEST_TIMEOUT_S = 5.0
RESUBSCRIBE_BACKOFF_S = (0.1, 0.2, 0.5, 1.0, 2.0)
REPLY = "reply"


def _reraise_cancellation() -> None:
    """redis-py may turn a cancellation in the middle of a command into its own error: a task
    being cancelled stops, whatever it was told."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def channel_of(node_id: str) -> str:
    return f"{PREFIX}:node:{node_id}:in"


def unavailable(words: str) -> SignalingError:
    return SignalingError(ErrorCode.SERVICE_UNAVAILABLE, words, retry_after=2.0)


@dataclass
class _Outgoing:
    target: str
    data: str
    request_id: str | None = None  # set for a request: its future is failed if nobody hears it


@dataclass
class _Pending:
    target: str
    kind: str
    future: asyncio.Future[dict[str, Any] | None] = field(repr=False)


class NodeChannels:
    def __init__(self, redis_url: str, node_id: str, *, clock: Clock | None = None,
                 outbox_limit: int = OUTBOX_LIMIT) -> None:
        self.node_id = node_id
        self.channel = channel_of(node_id)
        self.clock: Clock = clock or SystemClock()
        self._client = RedisClient(redis_url)
        self._handlers: dict[str, Handler] = {}
        self._outbox: asyncio.Queue[_Outgoing] = asyncio.Queue(outbox_limit)
        self._pending: dict[str, _Pending] = {}
        self._handling: set[asyncio.Task[None]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self.subscribed = asyncio.Event()  # set while the subscription stands
        self.resubscriptions = 0
        # called after the subscription stands again: what was sent meanwhile is lost, so
        # whoever mirrors another node's state asks for it afresh
        self.on_resubscribed: list[Callable[[], None]] = []
        self.closed = False

    # --- lifetime -----------------------------------------------------------------------------
    async def open(self) -> None:
        """Start publishing and listening; returns once subscribed (or after a first failure,
        the listener keeps trying with backoff)."""
        await self._client.open()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._drain(), name=f"channels {self.node_id} outbox"),
                       loop.create_task(self._listen(), name=f"channels {self.node_id} inbox")]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.subscribed.wait(), 5.0)

    async def close(self) -> None:
        self.closed = True
        tasks = self._tasks + list(self._handling)
        self._tasks = []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for request_id in list(self._pending):
            self._fail(request_id, unavailable("this node is shutting down"))
        await self._client.close()

    # --- sending ------------------------------------------------------------------------------
    def handle(self, kind: str, handler: Handler) -> None:
        if kind == REPLY:
            raise ValueError("'reply' is the channels' own kind")
        self._handlers[kind] = handler

    def post(self, node_id: str, kind: str, body: dict[str, Any]) -> None:
        """Send without waiting for an answer; ordered with every other message to ``node_id``."""
        self._enqueue(_Outgoing(node_id, self._encode({"kind": kind, "from": self.node_id, "body": body})))

    async def request(self, node_id: str, kind: str, body: dict[str, Any],
                      timeout: float = REQUEST_TIMEOUT_S) -> dict[str, Any] | None:
        """Send and await the handler's answer (or its SignalingError, raised here)."""
        return await self.ask(node_id, kind, body, timeout)

    def ask(self, node_id: str, kind: str, body: dict[str, Any],
            timeout: float = REQUEST_TIMEOUT_S) -> asyncio.Future[dict[str, Any] | None]:
        """:meth:`request`, queued now (in order with the posts around it, from synchronous
        code), answered through the returned future."""
        request_id = uuid.uuid4().hex
        future: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
        self._enqueue(_Outgoing(node_id, self._encode(
            {"kind": kind, "from": self.node_id, "id": request_id, "body": body}), request_id))
        self._pending[request_id] = _Pending(node_id, kind, future)
        timer = self.clock.call_later(timeout, self._fail, request_id, unavailable(
            f"node {node_id} did not answer {kind} within {timeout:g} s"))

        def done(_: asyncio.Future[dict[str, Any] | None]) -> None:
            timer.cancel()
            self._pending.pop(request_id, None)

        future.add_done_callback(done)
        return future

    def _enqueue(self, message: _Outgoing) -> None:
        if self.closed:
            raise unavailable("this node is shutting down")
        try:
            self._outbox.put_nowait(message)
        except asyncio.QueueFull:
            raise unavailable(f"too many messages waiting for node {message.target}") from None

    @staticmethod
    def _encode(message: dict[str, Any]) -> str:
        return json.dumps(message, separators=(",", ":"))

    def _fail(self, request_id: str, error: SignalingError) -> None:
        pending = self._pending.pop(request_id, None)
        if pending is not None and not pending.future.done():
            pending.future.set_exception(error)

    async def _drain(self) -> None:
        """The one publisher: the outbox in order, a batch per pipeline (this node's own
        messages delivered in place)."""
        while not self.closed:
            batch = [await self._outbox.get()]
            while len(batch) < BATCH and not self._outbox.empty():
                batch.append(self._outbox.get_nowait())
            # to this node itself (the centre's own rooms, their events, replies): delivered here,
            # in order, without Redis — so they also work while Redis is away
            for message in batch:
                if message.target == self.node_id:
                    self._receive(message.data)
            batch = [message for message in batch if message.target != self.node_id]
            if not batch:
                continue
            try:
                pipe = self._client.r.pipeline(transaction=False)
                for message in batch:
                    pipe.publish(channel_of(message.target), message.data)
                heard = await pipe.execute()
            except (RedisError, OSError) as exc:
                _reraise_cancellation()
                logger.warning("channels %s: %d messages not sent, Redis is away: %s",
                               self.node_id, len(batch), exc)
                for message in batch:
                    if message.request_id is not None:
                        self._fail(message.request_id, unavailable(
                            f"node {message.target} cannot be reached: the cluster's Redis is away"))
                continue
            for message, listeners in zip(batch, heard, strict=True):
                if listeners == 0:
                    if message.request_id is not None:
                        self._fail(message.request_id, unavailable(
                            f"node {message.target} is not listening (gone or restarting)"))
                    else:
                        logger.info("channels %s: node %s is not listening; a message was lost",
                                    self.node_id, message.target)

    # --- receiving ----------------------------------------------------------------------------
    async def _listen(self) -> None:
        failures = 0
        while not self.closed:
            pubsub: PubSub | None = None
            try:
                pubsub = self._client.r.pubsub(ignore_subscribe_messages=True)
                await pubsub.subscribe(self.channel)
                if pubsub.connection is not None:  # redis-py's retry may reconnect it by itself
                    pubsub.connection.register_connect_callback(self._reconnected)
                again = failures > 0
                failures = 0
                self.subscribed.set()
                if again:
                    self.resubscriptions += 1
                    logger.info("channels %s: subscribed again", self.node_id)
                    self._tell_resubscribed()
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self._receive(message["data"])
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                _reraise_cancellation()
                self.subscribed.clear()
                delay = RESUBSCRIBE_BACKOFF_S[min(failures, len(RESUBSCRIBE_BACKOFF_S) - 1)]
                if failures == 0:
                    logger.warning("channels %s: subscription lost (%s); trying again", self.node_id, exc)
                failures += 1
                await self.clock.sleep(delay)
            finally:
                self.subscribed.clear()
                if pubsub is not None:
                    if pubsub.connection is not None:  # the pool's next user must not call us
                        pubsub.connection.deregister_connect_callback(self._reconnected)
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()

    def _reconnected(self, connection: object) -> None:
        """redis-py reconnected the subscription within its retries (a blip shorter than
        them) and subscribed again before calling this: what was sent meanwhile is lost all the
        same, so the mirrors are told as after an outage we saw."""
        self.resubscriptions += 1
        logger.info("channels %s: subscribed again after a short Redis blip", self.node_id)
        self._tell_resubscribed()

    def _tell_resubscribed(self) -> None:
        for callback in list(self.on_resubscribed):
            try:
                callback()
            except Exception:
                logger.exception("channels %s: a resubscription callback failed", self.node_id)

    def _receive(self, data: str) -> None:
        try:
            message = json.loads(data)
            kind, sender = str(message["kind"]), str(message["from"])
        except (ValueError, KeyError, TypeError):
            logger.warning("channels %s: unreadable message dropped", self.node_id)
            return
        if kind == REPLY:
            self._replied(message)
            return
        request_id = message.get("id")
        handler = self._handlers.get(kind)
        if handler is None:
            logger.warning("channels %s: no handler for %r from %s", self.node_id, kind, sender)
            if request_id:
                self._reply(sender, request_id, error=SignalingError(
                    ErrorCode.INVALID_MESSAGE, f"node {self.node_id} does not handle {kind!r}"))
            return
        if len(self._handling) >= MAX_HANDLING:
            if request_id:
                self._reply(sender, request_id, error=unavailable(f"node {self.node_id} is too busy"))
            else:
                logger.warning("channels %s: too busy, %s from %s dropped", self.node_id, kind, sender)
            return
        body = message.get("body") or {}
        task = asyncio.get_running_loop().create_task(self._run(handler, kind, body, sender, request_id))
        self._handling.add(task)
        task.add_done_callback(self._handling.discard)

    async def _run(self, handler: Handler, kind: str, body: dict[str, Any], sender: str,
                   request_id: str | None) -> None:
        try:
            result = await handler(body, sender)
        except SignalingError as exc:
            if request_id:
                self._reply(sender, request_id, error=exc)
            else:
                logger.warning("channels %s: %s from %s refused: %s %s", self.node_id, kind, sender,
                               exc.code, exc.message)
            return
        except Exception as exc:
            logger.exception("channels %s: %s from %s failed", self.node_id, kind, sender)
            if request_id:
                self._reply(sender, request_id, error=SignalingError(
                    ErrorCode.INTERNAL_ERROR, f"{kind} failed on node {self.node_id}: {type(exc).__name__}"))
            return
        if request_id:
            self._reply(sender, request_id, body=result)

    def _reply(self, target: str, request_id: str, body: dict[str, Any] | None = None,
               error: SignalingError | None = None) -> None:
        message: dict[str, Any] = {"kind": REPLY, "from": self.node_id, "id": request_id, "body": body}
        if error is not None:
            message["error"] = {"code": error.code.value, "message": error.message,
                                "retry_after": error.retry_after}
        with contextlib.suppress(SignalingError):  # shutting down, or the outbox full: it times out there
            self._enqueue(_Outgoing(target, self._encode(message)))

    def _replied(self, message: dict[str, Any]) -> None:
        pending = self._pending.get(str(message.get("id")))
        if pending is None or pending.future.done():
            return  # answered too late: the caller has been told already
        error = message.get("error")
        if error:
            try:
                code = ErrorCode.from_code(str(error.get("code")))
            except ValueError:
                code = ErrorCode.INTERNAL_ERROR
            pending.future.set_exception(SignalingError(code, str(error.get("message") or ""),
                                                        retry_after=error.get("retry_after")))
        else:
            body = message.get("body")
            pending.future.set_result(body if isinstance(body, dict) else None)
