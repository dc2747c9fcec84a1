"""``GET /api/nodes``: the cluster's nodes as the registry knows them (supervisors and admins)."""

from __future__ import annotations

from aiohttp import web

from media.clock import Clock
from signaling.api.rest import authorize
from signaling.auth import Role, TokenService
from signaling.state.nodes import NodeRegistry


class NodesApi:
    def __init__(self, registry: NodeRegistry, tokens: TokenService, clock: Clock) -> None:
        self.registry = registry
        self.tokens = tokens
        self.clock = clock

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/api/nodes", self.nodes)]

    async def nodes(self, request: web.Request) -> web.Response:
        authorize(request, self.tokens, {Role.SUPERVISOR, Role.ADMIN})
        nodes = await self.registry.nodes(self.clock.now())
        return web.json_response({"nodes": nodes}, headers={"Cache-Control": "no-store"})
