"""``GET /api/queues/{queue}/availability`` and ``GET /api/availability?category=…``: whether
experts are online, before the shopper calls. Public (no token): the widget asks before it has
a call, and the answer says only how many are on duty, never who."""

from __future__ import annotations

from aiohttp import web

from signaling.api.rest import json_error
from signaling.centre.calls import CallService
from signaling.errors import ErrorCode

NO_STORE = {"Cache-Control": "no-store"}


class AvailabilityApi:
    def __init__(self, calls: CallService) -> None:
        self.calls = calls

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/api/queues/{queue}/availability", self.of_queue),
                web.get("/api/availability", self.of_category)]

    async def of_queue(self, request: web.Request) -> web.Response:
        queue = request.match_info["queue"]
        if queue not in self.calls.queues.configs:
            return json_error(ErrorCode.NOT_FOUND, f"no queue {queue!r}")
        return web.json_response(self.calls.availability.of(queue), headers=NO_STORE)

    async def of_category(self, request: web.Request) -> web.Response:
        """By the page's category, the way a call from that page would be queued."""
        queue = self.calls.queues.queue_for(request.query.get("category", "")[:80])
        return web.json_response(self.calls.availability.of(queue), headers=NO_STORE)
