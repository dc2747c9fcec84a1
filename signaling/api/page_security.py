"""Security headers on every HTTP response, set in one place (an ``on_response_prepare`` hook).

Pages and static assets get a strict Content-Security-Policy (W3C CSP Level 3): scripts, styles,
fonts and images only from this origin, no inline script or style, no plugins, no <base>,
WebSocket only to this host. Media plays from blob:/MediaStream, photos show as blob: URLs.
``frame-ancestors`` decides who may frame a page: staff pages only this origin; the shopper's
pages (demo shop, embed example) whatever the shop configured (SILKLINE_FRAME_ANCESTORS).

API and WebSocket responses carry ``nosniff`` and a deny-all policy. ``Server`` names no versions.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

SERVER_NAME = "Silkline"
SELF = "'self'"
# Pages a shop may embed or frame (the shopper's side); everything else is staff-only.
SHOPPER_PAGES = ("/demo/shop", "/static/embed-example.html")
API_PREFIXES = ("/api/", "/ws", "/health")
API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
API_PAGES = ("/api/docs",)  # pages of ours under /api/ (the OpenAPI docs page and its files)


@dataclass(frozen=True)
class PageSecurity:
    """The headers for one deployment. ``shop_frame_ancestors`` is a CSP source list."""

    shop_frame_ancestors: str = SELF
    staff_frame_ancestors: str = SELF

    def page_policy(self, host: str, frame_ancestors: str) -> str:
        sockets = f"ws://{host} wss://{host}" if host else ""
        directives = [
            f"default-src {SELF}",
            f"script-src {SELF}",
            f"style-src {SELF}",
            f"connect-src {SELF} {sockets}".strip(),
            f"img-src {SELF} blob: data:",
            f"media-src {SELF} blob:",
            f"font-src {SELF}",
            "object-src 'none'",
            "base-uri 'none'",
            f"form-action {SELF}",
            f"frame-ancestors {frame_ancestors}",
        ]
        return "; ".join(directives)

    def headers_for(self, path: str, host: str) -> dict[str, str]:
        headers = {
            "Server": SERVER_NAME,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        }
        if path.startswith(API_PREFIXES) and not path.startswith(API_PAGES):
            headers["Content-Security-Policy"] = API_POLICY
            return headers
        shopper = path.rstrip("/") in SHOPPER_PAGES
        frame_ancestors = self.shop_frame_ancestors if shopper else self.staff_frame_ancestors
        headers["Content-Security-Policy"] = self.page_policy(host, frame_ancestors)
        return headers

    async def on_response_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        # The Server header is set with setdefault after this signal: ours wins.
        response.headers.update(self.headers_for(request.path, request.host))

    def install(self, app: web.Application) -> None:
        app.on_response_prepare.append(self.on_response_prepare)
