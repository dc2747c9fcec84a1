"""/healthz and /readyz: what a load balancer or an orchestrator asks a node.

Alive (``/healthz``) means the process answers HTTP. Ready (``/readyz``) means it should
get new calls: the state store answers within a second, the node is not draining
(SIGTERM sets that first, so the balancer stops sending calls while live ones end) and it is
under its admission limit (``at_capacity`` otherwise: new calls would only wait here, so a
balancer with another node should send them there; live calls and their sockets go on).
Neither needs a token: they say nothing about calls or people.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from aiohttp import web

from sfu import Admission

logger = logging.getLogger(__name__)

STORE_TIMEOUT_S = 1.0
PROBE_CALL_ID = "readiness-probe"  # never a real call id (those are c_…): one cheap lookup


class ReachableStore(Protocol):
    async def get_call(self, call_id: str) -> dict[str, Any] | None: ...


class Health:
    def __init__(self, store: ReachableStore, timeout: float = STORE_TIMEOUT_S,
                 admission: Admission | None = None, node_id: str = "") -> None:
        self.store = store
        self.node_id = node_id  # which process answered, through a port its workers share
        self.timeout = timeout
        self.admission = admission
        self.draining = False

    def start_draining(self) -> None:
        self.draining = True
        if self.admission is not None:
            self.admission.draining = True  # and the node opens no new room

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/healthz", self.healthz), web.get("/readyz", self.readyz)]

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "alive", "node_id": self.node_id}, headers={"Cache-Control": "no-store"})

    async def readyz(self, request: web.Request) -> web.Response:
        reason = await self.not_ready_reason()
        if reason is not None:
            return web.json_response({"status": "not_ready", "reason": reason}, status=503,
                                     headers={"Cache-Control": "no-store", "Retry-After": "5"})
        return web.json_response({"status": "ready"}, headers={"Cache-Control": "no-store"})

    async def not_ready_reason(self) -> str | None:
        if self.draining:
            return "draining"
        try:
            # a single-key read in both backends (listing would sort every record in memory)
            await asyncio.wait_for(self.store.get_call(PROBE_CALL_ID), self.timeout)
        except Exception as exc:  # noqa: BLE001 - any failure to answer is "unreachable"
            logger.warning("readiness: state store unreachable: %s: %s", type(exc).__name__, exc)
            return f"store_unreachable: {type(exc).__name__}"
        if self.admission is not None and self.admission.refusal() is not None:
            return "at_capacity"
        return None
