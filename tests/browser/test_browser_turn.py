"""End to end in headless Chromium through a real coturn: the shop widget and the agent
console, unchanged, are told to use relay candidates only (``iceTransportPolicy: "relay"``,
forced by a test-only init script that wraps RTCPeerConnection), with the per-participant
TURN credential the server hands out in ``joined``. Both decode video through the relay."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.support import browser as browser_support
from tests.support.browser import (
    MEDIA_FLOWING_JS,
    PAGE_TIMEOUT_MS,
    BrowserPage,
    assert_no_page_errors,
    expect_state,
    pages_of,
    poll,
    start_server,
    state_of,
    video_call_accepted,
)
from tests.support.coturn import Coturn

pytestmark = pytest.mark.asyncio

chromium_browser = browser_support.chromium_browser

# Every RTCPeerConnection the page makes uses relay candidates only; its configurations are
# kept in window.__pcConfigs for the test to read.
RELAY_ONLY_INIT_JS = """
(() => {
  const Native = window.RTCPeerConnection;
  if (!Native) return;
  window.__pcConfigs = [];
  function RelayOnly(config, ...rest) {
    const forced = Object.assign({}, config || {}, { iceTransportPolicy: 'relay' });
    window.__pcConfigs.push(JSON.parse(JSON.stringify(forced)));
    return new Native(forced, ...rest);
  }
  RelayOnly.prototype = Native.prototype;
  Object.setPrototypeOf(RelayOnly, Native);
  window.RTCPeerConnection = RelayOnly;
})();
"""

# The selected candidate pair of the page's current peer connection: local and remote types.
SELECTED_PAIR_JS = """
async () => {
  // the pair carrying the media: the selected one, or (when a busy machine made ICE switch
  // pairs and the new one has no bytes yet) the candidate pair that received the most
  const pc = window.silkline && window.silkline.peer && window.silkline.peer();
  if (!pc) return null;
  const stats = await pc.getStats();
  const byId = {};
  let pairId = null;
  stats.forEach((r) => {
    byId[r.id] = r;
    if (r.type === 'transport' && r.selectedCandidatePairId) pairId = r.selectedCandidatePairId;
  });
  let pair = pairId && byId[pairId];
  if (!pair || !pair.bytesReceived) {
    stats.forEach((r) => {
      if (r.type === 'candidate-pair' && (r.bytesReceived || 0) > ((pair && pair.bytesReceived) || 0)) pair = r;
    });
  }
  if (!pair) return null;
  const local = byId[pair.localCandidateId] || {};
  const remote = byId[pair.remoteCandidateId] || {};
  return { local: local.candidateType, relayProtocol: local.relayProtocol || null,
           remote: remote.candidateType, bytesReceived: pair.bytesReceived || 0 };
}
"""


@pytest.fixture
def turn_server(tmp_path: Path, coturn: Coturn):
    server = start_server(tmp_path, "--turn-url", coturn.url, "--turn-secret", coturn.secret,
                          "--turn-ttl", "600")
    try:
        yield server
    finally:
        server.stop()


async def test_chromium_call_through_the_turn_relay(chromium_browser, turn_server, coturn):
    async with pages_of(turn_server) as pages:
        agent = await BrowserPage.open(chromium_browser, f"{turn_server.url}/agent?name=Ann", "agent",
                                       init_scripts=(RELAY_ONLY_INIT_JS,))
        pages.append(agent)
        await expect_state(agent, "available")
        shopper = await BrowserPage.open(chromium_browser, f"{turn_server.url}/demo/shop", "shopper",
                                         init_scripts=(RELAY_ONLY_INIT_JS,))
        pages.append(shopper)
        await video_call_accepted(shopper, agent)

        for bp in (shopper, agent):
            video = await bp.page.get_by_test_id("remote-video").element_handle(timeout=PAGE_TIMEOUT_MS)
            await bp.page.wait_for_function(MEDIA_FLOWING_JS, arg=video, timeout=PAGE_TIMEOUT_MS, polling=100)
        await asyncio.gather(expect_state(shopper, "connected"), expect_state(agent, "connected"))

        usernames = set()
        for bp in (shopper, agent):
            configs = await bp.page.evaluate("() => window.__pcConfigs")
            assert configs, f"{bp.name} made no RTCPeerConnection"
            config = configs[-1]
            assert config["iceTransportPolicy"] == "relay"
            turn = [s for s in config["iceServers"] if any(u.startswith("turn:") for u in
                                                           ([s["urls"]] if isinstance(s["urls"], str) else s["urls"]))]
            assert len(turn) == 1, config
            assert re.fullmatch(r"\d+:[\w.@-]+", turn[0]["username"]), turn[0]
            assert turn[0]["credential"] and coturn.secret not in str(config)
            usernames.add(turn[0]["username"])
            pair = await poll(bp.page, SELECTED_PAIR_JS, lambda p: bool(p and p["bytesReceived"] > 0),
                              what=f"{bp.name}'s selected candidate pair")
            assert pair["local"] == "relay", pair
            assert pair["relayProtocol"] == "udp", pair
        assert len(usernames) == 2  # one credential per participant

        await shopper.page.get_by_test_id("hang-up").click()
        await asyncio.gather(expect_state(shopper, "ended"), expect_state(agent, "ended"))
        await expect(state_of(shopper)).to_contain_text("You ended the call")
        assert_no_page_errors(shopper, agent)
