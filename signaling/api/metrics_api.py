"""GET /metrics (Prometheus text format) and the HTTP half of the rejected-inputs count.

No token by default: operators keep the port off the internet or set ``--metrics-token``,
after which a scrape needs ``Authorization: Bearer <token>`` (compared in constant time).
"""

from __future__ import annotations

import hmac
import json

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from signaling.metrics.series import Metrics


class MetricsApi:
    def __init__(self, metrics: Metrics, token: str | None = None) -> None:
        self.metrics = metrics
        self.token = token or None

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/metrics", self.scrape)]

    async def scrape(self, request: web.Request) -> web.Response:
        if self.token is not None:
            scheme, _, given = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                                     self.token.encode()):
                return web.json_response(
                    {"error": {"code": "unauthorized", "message": "send Authorization: Bearer <metrics token>"}},
                    status=401, headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        body, content_type = self.metrics.exposition(request.headers.get("Accept", ""))
        return web.Response(body=body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})

    def middleware(self) -> Middleware:
        """Counts every HTTP answer ≥ 400 by its error code (outside the error middleware,
        which has already turned exceptions into coded JSON)."""
        metrics = self.metrics

        @web.middleware
        async def count_rejections(request: web.Request, handler: Handler) -> web.StreamResponse:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                if exc.status >= 400:
                    metrics.rejected("http", _status_code(exc.status))
                raise
            if response.status >= 400:
                metrics.rejected("http", _error_code(response))
            return response

        return count_rejections


def _error_code(response: web.StreamResponse) -> str:
    body = getattr(response, "body", None)
    if isinstance(body, bytes) and body[:1] == b"{":
        try:
            code = json.loads(body)["error"]["code"]
        except (ValueError, KeyError, TypeError):
            code = None
        if isinstance(code, str):
            return code
    return _status_code(response.status)


def _status_code(status: int) -> str:
    return {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
            405: "method_not_allowed", 413: "too_large"}.get(status, f"http_{status}")
