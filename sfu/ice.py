"""Which local addresses aiortc offers as ICE host candidates.

aioice offers every interface except loopback. A node serving on 127.0.0.1 (the embedded
default, every test and load test) must offer 127.0.0.1 only, so media never leaves loopback;
a production node names its public interface addresses. aioice has no option for this, so
we replace its address lookup (aioice is pinned with aiortc).
"""

from __future__ import annotations

import aioice.ice

_original = aioice.ice.get_host_addresses


def restrict_host_addresses(addresses: list[str] | None) -> None:
    """Offer exactly ``addresses`` as host candidates; None restores aioice's default."""
    if not addresses:
        aioice.ice.get_host_addresses = _original
        return
    fixed = list(addresses)

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in fixed if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    aioice.ice.get_host_addresses = host_addresses
