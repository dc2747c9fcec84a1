"""``--media-ports``: a call through the server, whose server-side ICE candidates (in the
answers the server sends) are all in the configured UDP range, and media flows on them."""

from __future__ import annotations

import pytest

from media import aiortc_hooks
from silkline.cli import build_parser, config_from_args
from silkline.config import from_env, parse_port_range
from tests.conftest import close_sides, make_config, start_call
from tests.integration.test_forwarder import candidate_ports, free_udp_range


@pytest.fixture
def server_config(tmp_path):
    # the server's two peers and the test's two client peers (same process) share the range
    yield make_config(tmp_path, media_ports=free_udp_range(40))
    aiortc_hooks.restrict_port_range(None)  # process-wide: the next test's node starts clean


async def test_server_candidates_are_in_the_media_port_range(server):
    lo, hi = server.config.media_ports
    call_id, shopper, agent = await start_call(server)
    try:
        for side in (shopper, agent):
            answer = side.peer.pc.remoteDescription.sdp  # the server's answer
            ports = candidate_ports(answer)
            assert ports and all(lo <= p <= hi for p in ports), (ports, lo, hi)
        await shopper.peer.wait_decoded(5)
        await agent.peer.wait_decoded(5)
    finally:
        await close_sides(shopper, agent)


def test_media_ports_from_flag_and_environment():
    assert parse_port_range("40000-40999") == (40000, 40999)
    assert from_env({"SILKLINE_MEDIA_PORTS": "41000-41010"}).media_ports == (41000, 41010)
    args = build_parser().parse_args(["serve", "--media-ports", "40000-40099"])
    assert config_from_args(args).media_ports == (40000, 40099)
    assert from_env({"SILKLINE_MEDIA_PUBLIC_ADDRESS": "203.0.113.10"}).media_public_address == "203.0.113.10"
    args = build_parser().parse_args(["serve", "--media-public-address", "198.51.100.7"])
    assert config_from_args(args).media_public_address == "198.51.100.7"
    for bad in ("40999-40000", "forty", "80-90", "40000-70000"):
        with pytest.raises(ValueError):
            parse_port_range(bad)
