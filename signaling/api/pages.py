"""The static pages (shop demo, agent console, supervisor, QA) and where they are found."""

from __future__ import annotations

import os
from pathlib import Path

from aiohttp import web


def find_web_client() -> Path:
    """The static pages: SILKLINE_WEB_ROOT, else beside the code (a checkout or an editable
    install), else ./web_client (a wheel installed from the repository, the Docker image)."""
    configured = os.environ.get("SILKLINE_WEB_ROOT")
    candidates = [Path(configured)] if configured else []
    candidates += [Path(__file__).resolve().parents[2] / "web_client", Path.cwd() / "web_client"]
    for candidate in candidates:
        if (candidate / "shop.html").is_file():
            return candidate
    return candidates[0]


WEB_CLIENT = find_web_client()


def page_routes(web_root: Path = WEB_CLIENT) -> list[web.AbstractRouteDef]:
    def page(name: str):  # noqa: ANN202 - returns an aiohttp handler
        async def handler(request: web.Request) -> web.FileResponse:
            return web.FileResponse(web_root / name, headers={"Cache-Control": "no-cache"})
        return handler

    async def index(request: web.Request) -> web.Response:
        raise web.HTTPFound("/demo/shop")

    return [
        web.get("/", index),
        web.get("/demo/shop", page("shop.html")),
        web.get("/agent", page("agent.html")),
        web.get("/supervisor", page("supervisor.html")),
        web.get("/qa", page("qa.html")),
        web.static("/static", web_root, follow_symlinks=False),
    ]
