"""Which web pages may talk to us: the shop's allowed origins (``--allowed-origins``).

Browsers send ``Origin`` on WebSocket handshakes and cross-origin requests; a page can't forge
it. So: a request without ``Origin`` is a non-browser client (a shop's backend, the Python
client) and goes on; a WebSocket handshake from an origin that is neither ours nor listed is
refused with HTTP 403 ``origin_not_allowed`` before the upgrade; the REST API answers CORS
(preflight ``OPTIONS`` and ``Access-Control-Allow-Origin``) only for listed origins, echoing
the origin (never ``*``, and no cookies: tokens travel in ``Authorization``). Our own origin
(the ``Host`` the request came to) is always allowed; ``*`` in the list allows every origin.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware

from signaling.api.rest import json_error
from signaling.errors import ErrorCode

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
ALLOW_METHODS = "GET, POST, DELETE, OPTIONS"
ALLOW_HEADERS = "Authorization, Content-Type"
PREFLIGHT_MAX_AGE = "600"


def normalize(origin: str) -> str | None:
    """``scheme://host[:port]`` in lower case without a default port; None if not an origin."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") \
            or parts.query or parts.fragment or parts.username or parts.password:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != DEFAULT_PORTS[parts.scheme] else "")


def _host_of(netloc: str, scheme: str) -> str:
    """``host[:port]`` without the scheme's default port."""
    netloc = netloc.lower()
    default = f":{DEFAULT_PORTS.get(scheme, 0)}"
    return netloc.removesuffix(default)


class OriginPolicy:
    def __init__(self, allowed: Iterable[str], relayed: Callable[[web.Request], bool] | None = None) -> None:
        # cluster: a request another node relayed was checked there, against the page's own host
        # (here the Host is this node's internal address); it is not checked again
        self.relayed = relayed
        self.any = False
        self.allowed: set[str] = set()
        for entry in allowed:
            if entry.strip() == "*":
                self.any = True
                continue
            origin = normalize(entry)
            if origin is None:
                raise ValueError(f"allowed origin {entry!r} is not scheme://host[:port]")
            self.allowed.add(origin)

    def same_origin(self, origin: str, request: web.Request) -> bool:
        parts = urlsplit(origin)
        if not parts.netloc or not request.host:
            return False
        return _host_of(parts.netloc, parts.scheme) == _host_of(request.host, parts.scheme)

    def listed(self, origin: str) -> bool:
        return self.any or normalize(origin) in self.allowed

    def middleware(self) -> Middleware:
        @web.middleware
        async def check_origin(request: web.Request, handler: Handler) -> web.StreamResponse:
            origin = request.headers.get("Origin")
            if origin is None or (self.relayed is not None and self.relayed(request)):
                return await handler(request)
            same = self.same_origin(origin, request)
            allowed = same or self.listed(origin)
            if request.path == "/ws":
                if not allowed:
                    return _refused(origin)
                return await handler(request)
            if not request.path.startswith("/api/"):
                return await handler(request)
            if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
                if not allowed:
                    return _refused(origin)
                return web.Response(status=204, headers={
                    "Access-Control-Allow-Origin": origin, "Access-Control-Allow-Methods": ALLOW_METHODS,
                    "Access-Control-Allow-Headers": ALLOW_HEADERS,
                    "Access-Control-Max-Age": PREFLIGHT_MAX_AGE, "Vary": "Origin"})
            response = await handler(request)
            if allowed and not same:
                response.headers["Access-Control-Allow-Origin"] = origin
                response.headers["Access-Control-Expose-Headers"] = "Retry-After"
                response.headers.add("Vary", "Origin")
            return response

        return check_origin


def _refused(origin: str) -> web.Response:
    return json_error(ErrorCode.ORIGIN_NOT_ALLOWED, f"pages from {origin[:200]} may not use this server")
