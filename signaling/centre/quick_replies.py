"""Quick replies: per-queue canned answers an admin keeps, which the agent serving a call of
that queue inserts into the chat with a click or ``/`` and a few letters of the title.

Kept in a Registry (a JSON file embedded, Redis hashes with ``--redis``), as accounts and
webhooks are: a small table people edit, read once per call.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from media.clock import Clock
from signaling.errors import ErrorCode, SignalingError
from signaling.state.registry import Registry

MAX_TITLE = 60
MAX_TEXT = 2000
MAX_PER_QUEUE = 100


@dataclass
class QuickReply:
    reply_id: str
    queue: str
    title: str
    text: str
    created_at: float
    updated_at: float

    def public(self) -> dict[str, Any]:
        return asdict(self)


def _field(body: dict[str, Any], name: str, limit: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > limit:
        raise SignalingError(ErrorCode.INVALID_MESSAGE, f"{name} is text of 1-{limit} characters")
    return value.strip()


class QuickReplies:
    def __init__(self, registry: Registry, clock: Clock, queues: Iterable[str]) -> None:
        self.registry = registry
        self.clock = clock
        self.queues = set(queues)

    def _queue(self, body: dict[str, Any]) -> str:
        queue = body.get("queue")
        if not isinstance(queue, str) or queue not in self.queues:
            raise SignalingError(ErrorCode.INVALID_MESSAGE,
                                 f"queue is one of {', '.join(sorted(self.queues))}")
        return queue

    async def list(self, queue: str | None = None) -> list[QuickReply]:
        replies = [QuickReply(**r) for r in await self.registry.all()]
        return sorted((r for r in replies if queue is None or r.queue == queue),
                      key=lambda r: (r.queue, r.title.lower(), r.created_at))

    async def create(self, body: dict[str, Any]) -> QuickReply:
        queue = self._queue(body)
        title, text = _field(body, "title", MAX_TITLE), _field(body, "text", MAX_TEXT)
        if len(await self.list(queue)) >= MAX_PER_QUEUE:
            raise SignalingError(ErrorCode.TOO_MANY_QUICK_REPLIES,
                                 f"the {queue} queue has {MAX_PER_QUEUE} quick replies already")
        now = self.clock.now()
        reply = QuickReply("qr_" + secrets.token_hex(6), queue, title, text, now, now)
        await self.registry.put(reply.reply_id, reply.public())
        return reply

    async def get(self, reply_id: str) -> QuickReply:
        record = await self.registry.get(reply_id)
        if record is None:
            raise SignalingError(ErrorCode.QUICK_REPLY_NOT_FOUND, f"no quick reply {reply_id!r}")
        return QuickReply(**record)

    async def update(self, reply_id: str, body: dict[str, Any]) -> QuickReply:
        reply = await self.get(reply_id)
        if "queue" in body:
            reply.queue = self._queue(body)
        if "title" in body:
            reply.title = _field(body, "title", MAX_TITLE)
        if "text" in body:
            reply.text = _field(body, "text", MAX_TEXT)
        reply.updated_at = self.clock.now()
        if not await self.registry.update(reply_id, reply.public()):
            raise SignalingError(ErrorCode.QUICK_REPLY_NOT_FOUND, f"no quick reply {reply_id!r}")
        return reply

    async def delete(self, reply_id: str) -> None:
        if not await self.registry.delete(reply_id):
            raise SignalingError(ErrorCode.QUICK_REPLY_NOT_FOUND, f"no quick reply {reply_id!r}")
