"""The shopper's copy of a call's conversation: ``GET /api/calls/{id}/conversation`` answers one
self-contained HTML file (conversation_html.py) to the shopper token of that call, once the call
has ended. Only that shopper: staff read calls on the QA page."""

from __future__ import annotations

import asyncio

from aiohttp import web

from signaling.api.conversation_html import conversation_html, time_zone
from signaling.api.rest import authorize, json_error
from signaling.auth import Role, TokenService
from signaling.errors import ErrorCode, SignalingError
from signaling.state.photos import PhotoStore
from signaling.state.store import StateStore


class ConversationApi:
    def __init__(self, store: StateStore, tokens: TokenService, photos: PhotoStore) -> None:
        self.store = store
        self.tokens = tokens
        self.photos = photos

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/api/calls/{call_id}/conversation", self.download)]

    async def download(self, request: web.Request) -> web.Response:
        call_id = request.match_info["call_id"]
        claims = authorize(request, self.tokens, {Role.SHOPPER})
        if claims.call_id != call_id:
            raise SignalingError(ErrorCode.FORBIDDEN, "your token is for another call")
        record = await self.store.get_call(call_id)
        if record is None:
            return json_error(ErrorCode.CALL_NOT_FOUND, f"no call {call_id!r}")
        if record.get("state") != "ended":
            return json_error(ErrorCode.INVALID_STATE, "the conversation can be downloaded once the call has ended")
        zone = time_zone(request.query.get("tz"))
        page = await asyncio.to_thread(conversation_html, record, lambda pid: self._photo(call_id, pid), zone)
        return web.Response(text=page, content_type="text/html", charset="utf-8", headers={
            "Content-Disposition": f'attachment; filename="conversation-{call_id}.html"',
            "Cache-Control": "no-store",
        })

    def _photo(self, call_id: str, photo_id: str) -> bytes | None:
        """A stored photo's bytes (read off the event loop: this runs in a worker thread)."""
        try:
            return self.photos.open(call_id, photo_id).read_bytes()
        except (SignalingError, OSError):
            return None
