"""``GET /api/nodes``: the cluster's nodes as the registry knows them (supervisors and admins)."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from media.clock import Clock
from signaling.api.rest import authorize
from signaling.auth import Role, TokenService
from signaling.state.nodes import NodeRegistry


class NodesApi:
    def __init__(self, registry: NodeRegistry, tokens: TokenService, clock: Clock,
                 centre: Callable[[], str | None] = lambda: None) -> None:
        self.registry = registry
        self.centre = centre  # the node holding the centre lease, as this node last read it
        self.tokens = tokens
        self.clock = clock

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/api/nodes", self.nodes)]

    async def nodes(self, request: web.Request) -> web.Response:
        authorize(request, self.tokens, {Role.SUPERVISOR, Role.ADMIN})
        nodes = await self.registry.nodes(self.clock.now())
        centre = self.centre()
        for node in nodes:
            node["centre"] = node["node_id"] == centre
        return web.json_response({"nodes": nodes, "centre": centre}, headers={"Cache-Control": "no-store"})
