"""Negative control: the comparison-only transcoding relay delivers media, and the
byte-identity check of test_call_media catches it — so that check really could fail."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import close_sides, make_config, start_call


@pytest.fixture
def server_config(tmp_path):
    return make_config(tmp_path, forwarding="transcode")


async def test_transcoding_relay_changes_the_bytes(server):
    call_id, shopper, agent = await start_call(server)
    await asyncio.gather(shopper.peer.wait_decoded(20, timeout=30), agent.peer.wait_decoded(20, timeout=30))
    received = agent.peer.received_hashes
    assert received
    altered = [h for h in received if h not in shopper.peer.sent_hashes]
    assert len(altered) > 0.9 * len(received)
    await close_sides(shopper, agent)
