"""An error's HTTP answer, ``{"error": {"code", "message"}}`` with the code's status: one shape
for the REST faces (signaling/api/) and for the cluster's relay (signaling/cluster/forward.py),
which refuses before any face is reached."""

from __future__ import annotations

import math

from aiohttp import web

from signaling.errors import ErrorCode, SignalingError


def json_error(code: ErrorCode, message: str, status: int | None = None,
               retry_after: float | None = None) -> web.Response:
    """An HTTP refusal: the code's own status unless ``status`` says otherwise; with
    ``retry_after`` (seconds) when asking again later can succeed."""
    headers = {"Retry-After": str(max(1, math.ceil(retry_after)))} if retry_after is not None else None
    return web.json_response({"error": {"code": code.value, "message": message}},
                             status=status or code.status, headers=headers)


def refused(exc: SignalingError) -> web.Response:
    """A SignalingError's HTTP answer, with Retry-After when trying later can succeed."""
    return json_error(exc.code, exc.message, retry_after=exc.retry_after)
