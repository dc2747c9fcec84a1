"""Which local addresses aiortc offers as ICE host candidates.

aioice offers every interface except loopback. A node serving on 127.0.0.1 (the embedded
default, every test and load test) must offer 127.0.0.1 only, so media never leaves loopback;
a production node names its public interface addresses. aioice has no option for this, so
the hook (``media.aiortc_hooks.restrict_host_addresses``) replaces its address lookup.

A node behind a firewall or in a container binds its media to a published UDP port range
(``restrict_port_range``); aioice binds ephemeral ports and has no option for that either.
Behind 1:1 NAT it announces the public address instead of the bound one
(``announce_host_address``).
"""

from __future__ import annotations

from media.aiortc_hooks import (
    MediaPortsExhausted,
    announce_host_address,
    restrict_host_addresses,
    restrict_port_range,
)

__all__ = ["MediaPortsExhausted", "announce_host_address", "restrict_host_addresses", "restrict_port_range"]
