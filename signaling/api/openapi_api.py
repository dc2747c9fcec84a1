"""Serves the OpenAPI document (``/api/openapi.json``) and a page that lists it
(``/api/docs``): static files of ours, no CDN, CSP-friendly (one ES module, no inline script)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from signaling.api.openapi import document

PAGE = Path(__file__).resolve().parent / "docs_page"
CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; base-uri 'none'"
ASSETS = {"docs.js": "text/javascript", "docs.css": "text/css"}


class OpenApiDocs:
    def __init__(self) -> None:
        self.document = document()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/openapi.json", self.openapi),
            web.get("/api/docs", self.page),
            web.get("/api/docs/{asset}", self.asset),
        ]

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(self.document, headers={"Cache-Control": "no-cache"})

    async def page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(PAGE / "index.html", headers={
            "Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": CSP,
            "Cache-Control": "no-cache"})

    async def asset(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["asset"]
        if name not in ASSETS:
            raise web.HTTPNotFound(reason="no such file")
        return web.FileResponse(PAGE / name, headers={"Content-Type": ASSETS[name], "Cache-Control": "no-cache"})
