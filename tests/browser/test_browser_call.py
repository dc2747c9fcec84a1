"""End to end in headless Chromium: a shopper on the demo shop calls, an agent accepts, both see
and hear each other through the real server, then one of them hangs up.

Prints `JOIN_MS shopper=… agent=…`: from the agent's click on accept to the first remote video
frame decoded on each side (getStats polled every 50 ms).
"""

from __future__ import annotations

import asyncio
import re

import pytest
from playwright.async_api import expect

from tests.support import browser as browser_support
from tests.support.browser import (
    INBOUND_STATS_JS,
    MEDIA_FLOWING_JS,
    PAGE_TIMEOUT_MS,
    VIDEO_FRAMES_JS,
    WATCH_ACCEPT_CLICK_JS,
    WATCH_FIRST_FRAME_JS,
    BrowserPage,
    assert_no_page_errors,
    dump,
    expect_state,
    pages_of,
    screenshot,
    state_of,
)

pytestmark = pytest.mark.asyncio

# The fixtures, by assignment (an import would read as unused and then redefined).
silkline_server = browser_support.silkline_server
chromium_browser = browser_support.chromium_browser

# A participant that comes back mid-call gets a new video subscriber, which needs a keyframe:
# the SFU asks the other browser with a PLI addressed to its media SSRC (not the RTX one, which
# Chrome ignores). These tests caught that bug.

CALL_TIMEOUT_MS = PAGE_TIMEOUT_MS  # generous: loopback, but a loaded CI machine
END_TIMEOUT_MS = 10_000
RESUME_TIMEOUT_MS = 10_000  # media back after a reconnect


async def connect_call(browser, server, *, shopper_viewport=(1280, 800),
                       shopper_mobile: bool = False) -> tuple[BrowserPage, BrowserPage]:
    """Agent signs in, shopper calls, agent accepts, media flows both ways. Returns (agent, shopper)."""
    agent = await BrowserPage.open(browser, f"{server.url}/agent?name=Ann", "agent")
    pages = [agent]
    try:
        await expect_state(agent, "available")
        await agent.page.evaluate(WATCH_ACCEPT_CLICK_JS)
        await agent.page.evaluate(WATCH_FIRST_FRAME_JS)

        shopper = await BrowserPage.open(browser, f"{server.url}/demo/shop", "shopper",
                                         viewport=shopper_viewport, mobile=shopper_mobile)
        pages.append(shopper)
        await shopper.page.evaluate(WATCH_FIRST_FRAME_JS)
        call_button = shopper.page.get_by_test_id("call-button")
        await expect(call_button).to_be_visible(timeout=CALL_TIMEOUT_MS)
        await expect(call_button).to_have_text(re.compile("Video call an expert"))
        await call_button.click()
        await shopper.page.get_by_test_id("mode-video").click()
        await expect(state_of(shopper)).to_have_attribute(
            "data-state", re.compile("waiting|ringing"), timeout=CALL_TIMEOUT_MS
        )

        accept = agent.page.get_by_test_id("accept-call")
        await expect(accept).to_be_visible(timeout=CALL_TIMEOUT_MS)
        await expect_state(agent, "ringing")
        await accept.click()

        # First decoded remote frame on each side (timestamps taken in the pages).
        for bp in (shopper, agent):
            await bp.page.wait_for_function("() => !!window.__silklineFirstFrameAt", timeout=CALL_TIMEOUT_MS)
        accept_at = await agent.page.evaluate("() => window.__silklineAcceptAt")
        shopper_at = await shopper.page.evaluate("() => window.__silklineFirstFrameAt")
        agent_at = await agent.page.evaluate("() => window.__silklineFirstFrameAt")
        assert accept_at, "the accept click was not recorded"
        print(f"\nJOIN_MS shopper={shopper_at - accept_at} agent={agent_at - accept_at}", flush=True)

        # Video decoded, audio arriving, and a picture in the remote <video>, on both sides.
        for bp in (shopper, agent):
            video = await bp.page.get_by_test_id("remote-video").element_handle(timeout=CALL_TIMEOUT_MS)
            await bp.page.wait_for_function(MEDIA_FLOWING_JS, arg=video, timeout=CALL_TIMEOUT_MS, polling=100)
            await expect(bp.page.get_by_test_id("local-video")).to_be_visible()
        await asyncio.gather(expect_state(shopper, "connected"), expect_state(agent, "connected"))
        for bp in (shopper, agent):
            print(f"{bp.name} inbound: {await bp.page.evaluate(INBOUND_STATS_JS)}", flush=True)
        return agent, shopper
    except BaseException:
        print(await dump(pages, server), flush=True)
        for bp in pages:
            await bp.close()
        raise


async def hang_up_and_expect_ended(by: BrowserPage, other: BrowserPage, server) -> None:
    try:
        await by.page.get_by_test_id("hang-up").click()
        await asyncio.gather(
            expect_state(by, "ended", timeout=END_TIMEOUT_MS),
            expect_state(other, "ended", timeout=END_TIMEOUT_MS),
        )
        assert_no_page_errors(by, other)
    except BaseException:
        print(await dump([by, other], server), flush=True)
        raise


async def test_shopper_calls_agent_accepts_shopper_hangs_up(chromium_browser, silkline_server):
    agent, shopper = await connect_call(chromium_browser, silkline_server)
    try:
        await screenshot(shopper, "shop-connected")
        await screenshot(agent, "agent-connected")
        await hang_up_and_expect_ended(shopper, agent, silkline_server)
        await expect(state_of(shopper)).to_contain_text("You ended the call")
        await expect(state_of(agent)).to_contain_text("shopper ended the call")
        await screenshot(shopper, "shop-ended")
        await screenshot(agent, "agent-wrap-up")
        # Wrap-up done: the agent is available again, and the next call rings.
        await agent.page.get_by_test_id("submit-wrap-up").click()
        await expect_state(agent, "available", timeout=END_TIMEOUT_MS)
        next_shopper = await BrowserPage.open(chromium_browser, f"{silkline_server.url}/demo/shop", "next shopper")
        try:
            await next_shopper.page.get_by_test_id("call-button").click()
            await next_shopper.page.get_by_test_id("mode-video").click()
            await expect_state(agent, "ringing")
            await expect(agent.page.get_by_test_id("accept-call")).to_be_visible()
        finally:
            await next_shopper.close()
    finally:
        await shopper.close()
        await agent.close()


async def test_agent_hangs_up(chromium_browser, silkline_server):
    agent, shopper = await connect_call(chromium_browser, silkline_server)
    try:
        await hang_up_and_expect_ended(agent, shopper, silkline_server)
        await expect(state_of(shopper)).to_contain_text("expert ended the call")
        await screenshot(agent, "agent-ended")
    finally:
        await shopper.close()
        await agent.close()


async def frames_decoded(bp: BrowserPage) -> int:
    await bp.page.wait_for_function(f"() => ({VIDEO_FRAMES_JS})() >= 0", timeout=CALL_TIMEOUT_MS)
    return int(await bp.page.evaluate(VIDEO_FRAMES_JS))


async def test_shopper_socket_drop_resumes_call(chromium_browser, silkline_server):
    """The shopper's WebSocket drops mid-call: the widget rejoins with the same token, sends a
    fresh offer on a new peer connection, and video flows both ways again."""
    agent, shopper = await connect_call(chromium_browser, silkline_server)
    async with pages_of(silkline_server, [shopper, agent]):
        await shopper.page.evaluate("() => { window.__oldPeer = window.silkline.peer(); }")
        agent_frames_before = await frames_decoded(agent)
        # Drop the socket without `leave`, as a network switch would (not an intentional close).
        await shopper.page.evaluate("() => window.silkline.widget.session.signaling.ws.close(4000, 'test: network lost')")
        await shopper.page.wait_for_function(
            "() => window.silkline.history().includes('reconnecting')", timeout=CALL_TIMEOUT_MS
        )
        await shopper.page.wait_for_function(
            "() => window.silkline.peer() && window.silkline.peer() !== window.__oldPeer", timeout=CALL_TIMEOUT_MS
        )
        await expect_state(shopper, "connected")
        video = await shopper.page.get_by_test_id("remote-video").element_handle()
        await shopper.page.wait_for_function(MEDIA_FLOWING_JS, arg=video, timeout=RESUME_TIMEOUT_MS, polling=100)
        # The agent keeps its peer connection and gets the shopper's new stream.
        await agent.page.wait_for_function(
            f"() => ({VIDEO_FRAMES_JS})() > {agent_frames_before + 30}", timeout=RESUME_TIMEOUT_MS, polling=100
        )
        await expect_state(agent, "connected")
        await hang_up_and_expect_ended(shopper, agent, silkline_server)


async def test_agent_media_failure_new_offer_on_same_socket(chromium_browser, silkline_server):
    """ICE fails on the agent's side while its socket stays open: the console replaces the peer
    connection with a fresh offer (protocol: `offer` replaces) and video comes back both ways."""
    agent, shopper = await connect_call(chromium_browser, silkline_server)
    async with pages_of(silkline_server, [shopper, agent]):
        await agent.page.evaluate("() => { window.__oldPeer = window.silkline.peer(); }")
        await agent.page.evaluate("() => window.silkline.session()._onIceProblem('failed')")
        await agent.page.wait_for_function(
            "() => window.silkline.peer() && window.silkline.peer() !== window.__oldPeer", timeout=CALL_TIMEOUT_MS
        )
        await expect_state(agent, "connected")
        video = await agent.page.get_by_test_id("remote-video").element_handle()
        await agent.page.wait_for_function(MEDIA_FLOWING_JS, arg=video, timeout=RESUME_TIMEOUT_MS, polling=100)
        await hang_up_and_expect_ended(agent, shopper, silkline_server)
