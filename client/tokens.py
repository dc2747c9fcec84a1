"""The REST side a script needs: demo tokens (``POST /api/demo/tokens``, embedded/demo mode
only) and authorised JSON requests with a token (``Authorization: Bearer``)."""

from __future__ import annotations

from typing import Any

import aiohttp

from client.errors import RestError


async def request_json(http: aiohttp.ClientSession, method: str, base_url: str, path: str, *,
                       token: str | None = None, body: Any = None, timeout: float = 15.0) -> Any:
    """``method path`` with an optional bearer token and JSON body; the decoded JSON answer.

    Raises :class:`RestError` for any status of 400 or more."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with http.request(method, base_url.rstrip("/") + path, json=body, headers=headers,
                            timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
        if resp.status >= 400:
            raise RestError(method, path, resp.status, await resp.text())
        return await resp.json()


async def get_json(http: aiohttp.ClientSession, base_url: str, path: str, token: str, *,
                   timeout: float = 15.0) -> Any:
    """``GET path`` with ``token``: e.g. ``/api/calls/{call_id}`` for a call record."""
    return await request_json(http, "GET", base_url, path, token=token, timeout=timeout)


async def demo_token(http: aiohttp.ClientSession, base_url: str, role: str, *, timeout: float = 15.0,
                     **extra: Any) -> dict[str, Any]:
    """A signed token from the demo endpoint: ``{"token", "role", "call_id"}`` for a shopper
    (a new call), ``{"token", "role", "agent_id"}`` for an agent. ``extra`` goes in the body:
    ``name``, ``vip``, ``customer_id``, ``skills``."""
    answer: dict[str, Any] = await request_json(http, "POST", base_url, "/api/demo/tokens",
                                                body={"role": role, **extra}, timeout=timeout)
    return answer
