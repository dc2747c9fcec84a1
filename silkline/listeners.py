"""The addresses a node listens on in cluster mode, besides its public port.

Every node of a cluster (``--redis``) also answers on a private address, plain HTTP, the same
app: other nodes forward sockets and requests to it (its URL is in the node's registry entry).
It is bound before the app starts, so the first heartbeat already carries the URL. The public
port is opened with SO_REUSEPORT in cluster mode, so the worker processes of one supervisor
(silkline/workers.py) share it and the kernel spreads new connections over them.
"""

from __future__ import annotations

import logging
import socket

from silkline.config import Config

logger = logging.getLogger(__name__)

PORT_PLACEHOLDER = "{port}"  # in --advertise-url: each node's own bound internal port
WILDCARDS = ("0.0.0.0", "::", "")


def bind_internal(config: Config) -> socket.socket:
    """Bind the internal address (port 0: any free port) and set ``config.internal_url``.

    A ValueError in words when the address cannot be bound: it is a configuration that cannot
    work, like a TLS key that does not load."""
    host, port = config.internal_host, config.internal_port
    try:
        family = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        raise ValueError(f"cannot use the internal address {host}:{port} (--internal-host): {exc}") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ValueError(f"cannot listen on the internal address {host}:{port} "
                         f"(--internal-host / --internal-port): {exc}") from exc
    config.internal_url = internal_url(config, int(sock.getsockname()[1]))
    if not config.advertise_url and host in WILDCARDS:
        logger.warning("the internal address listens on every interface but other nodes are told %s: "
                       "set --advertise-url to an address they can reach", config.internal_url)
    return sock


def internal_url(config: Config, bound_port: int) -> str:
    """What other nodes use to reach this one: ``--advertise-url`` (``{port}`` in it becomes the
    bound port, for the workers of one supervisor), or ``http://<internal_host>:<port>``."""
    if config.advertise_url:
        return config.advertise_url.replace(PORT_PLACEHOLDER, str(bound_port)).rstrip("/")
    host = config.internal_host or "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal
    return f"http://{host}:{bound_port}"
