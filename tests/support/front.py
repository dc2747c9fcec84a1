"""A loopback TCP front for browser tests against a cluster: what a load balancer is to the
shop's pages (docs/deploy.md, "One port, many processes").

A page has one origin; in a cluster of separate nodes each node has its own port, so a page
opened on a node's port could not come back once that node is killed. A ``Front`` listens on
one port and passes each new connection, byte for byte, to the first of its nodes that accepts
it (its preferred node first), as a load balancer with health checks does: the page stays on
its origin and reaches a live node with the same token::

    async with Front() as front:           # its port first: the nodes may list its origin
        front.route([node_b.url, node_c.url, node_a.url])
        page.goto(f"{front.url}/demo/shop")

Every connection's pipes are tasks this front owns; ``close`` cancels and awaits them.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from urllib.parse import urlsplit

CONNECT_TIMEOUT_S = 1.0
CHUNK = 65536


class Front:
    def __init__(self, upstreams: list[str] | None = None) -> None:
        self.upstreams: list[tuple[str, int]] = []
        self.route(upstreams or [])
        self.port = 0
        self.chosen: list[int] = []  # the upstream port each connection went to, in order
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def route(self, upstreams: list[str]) -> None:
        """The nodes new connections go to, the preferred one first."""
        self.upstreams = [(urlsplit(u).hostname or "127.0.0.1", urlsplit(u).port or 80) for u in upstreams]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Front:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.get_running_loop().create_task(self._serve(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream = await self._connect()
            if upstream is None:
                return  # no node answers: the browser sees the connection closed
            up_reader, up_writer = upstream
            try:
                pipes = [asyncio.ensure_future(_pipe(reader, up_writer)), asyncio.ensure_future(_pipe(up_reader, writer))]
                try:
                    await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for pipe in pipes:
                        pipe.cancel()
                    await asyncio.gather(*pipes, return_exceptions=True)
            finally:
                up_writer.close()
        finally:
            writer.close()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        for host, port in self.upstreams:
            try:
                opened = await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT_S)
            except (OSError, TimeoutError):
                continue
            self.chosen.append(port)
            return opened
        return None


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copies until end of stream or a broken connection (a killed node resets it)."""
    with contextlib.suppress(OSError):
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
