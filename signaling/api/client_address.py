"""Who is asking, by network address: the key of every per-address limit.

The client is the TCP peer. Only when the peer is one of the proxies the operator trusts
(``--trusted-proxies``) does ``X-Forwarded-For`` count: read from the right, the first address
that is not a trusted proxy is the client (anything to its left was written by the client and
proves nothing). Addresses in ``--rate-limit-exempt`` (loopback by default: the load tool, the
browser tests, an operator's own scripts) skip the per-address limits — but not a loopback peer
that carries ``X-Forwarded-For`` without being trusted: that is a local proxy relaying somebody
else, who must not inherit the exemption.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from aiohttp import web

logger = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
DEFAULT_EXEMPT = ("127.0.0.0/8", "::1/128")
UNKNOWN = "unknown"


@dataclass(frozen=True)
class ClientAddress:
    ip: str
    exempt: bool = False  # skips the per-address limits and caps


def networks(entries: Iterable[str], what: str) -> tuple[Network, ...]:
    out = []
    for entry in entries:
        try:
            out.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{what}: {entry!r} is not an IP address or network (10.0.0.0/8)") from None
    return tuple(out)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip().strip('"')
    if text.startswith("[") and "]" in text:
        text = text[1:text.index("]")]  # [v6]:port
    elif text.count(":") == 1:
        text = text.split(":")[0]  # v4:port
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class ClientAddresses:
    def __init__(self, trusted_proxies: Iterable[str] = (), exempt: Iterable[str] = DEFAULT_EXEMPT,
                 relayed: Callable[[web.Request], str | None] | None = None) -> None:
        self.trusted = networks(trusted_proxies, "--trusted-proxies")
        self.relayed = relayed  # cluster: the client address another node relayed, signed
        self.exempt = networks(exempt, "--rate-limit-exempt")
        self._warned = False

    def _in(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address, nets: tuple[Network, ...]) -> bool:
        return any(address.version == net.version and address in net for net in nets)

    def of(self, request: web.Request) -> ClientAddress:
        relayed = _ip(self.relayed(request) or "") if self.relayed is not None else None
        if relayed is not None:
            return ClientAddress(str(relayed), self._in(relayed, self.exempt))
        peer = _ip(request.remote or "")
        if peer is None:
            return ClientAddress(UNKNOWN)
        forwarded = request.headers.getall("X-Forwarded-For", [])
        if forwarded and self._in(peer, self.trusted):
            hops = [h for line in forwarded for h in line.split(",") if h.strip()]
            client = peer
            for hop in reversed(hops):
                address = _ip(hop)
                if address is None:
                    break  # garbage from the client's side: the last good hop stands
                client = address
                if not self._in(address, self.trusted):
                    break
            return ClientAddress(str(client), self._in(client, self.exempt))
        if forwarded and not self._warned:
            self._warned = True
            logger.warning("a request from %s carries X-Forwarded-For, but %s is not a trusted proxy: "
                           "every client behind it counts as %s (set --trusted-proxies)", peer, peer, peer)
        proxied = bool(forwarded) or "Forwarded" in request.headers
        return ClientAddress(str(peer), self._in(peer, self.exempt) and not proxied)
