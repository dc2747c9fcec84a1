"""The call experience in headless Chromium: before calling the shopper sees whether experts
are online (and goes straight to a callback request when nobody is); during the call each
side's remote tile says "Camera off" / "Muted" when the other turns them off; the agent's
wrap-up countdown pauses while the notes are typed."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.browser.test_browser_call import connect_call, hang_up_and_expect_ended
from tests.support import browser as browser_support
from tests.support.browser import (
    PAGE_TIMEOUT_MS,
    BrowserPage,
    assert_no_page_errors,
    dump,
    expect_state,
)

pytestmark = pytest.mark.asyncio

silkline_server = browser_support.silkline_server
chromium_browser = browser_support.chromium_browser


async def test_the_shopper_sees_who_is_online_and_gets_the_callback_when_nobody_is(chromium_browser, silkline_server):
    server = silkline_server
    shopper = await BrowserPage.open(chromium_browser, f"{server.url}/demo/shop", "shopper")
    pages = [shopper]
    try:
        page = shopper.page
        await page.get_by_test_id("call-button").click()
        availability = page.get_by_test_id("availability")
        await expect(availability).to_contain_text("No expert is online right now", timeout=PAGE_TIMEOUT_MS)
        await expect(page.get_by_test_id("mode-video")).to_be_hidden()
        await page.get_by_test_id("callback-now").click()
        await expect(page.get_by_test_id("callback-name")).to_be_visible(timeout=PAGE_TIMEOUT_MS)

        agent = await BrowserPage.open(chromium_browser, f"{server.url}/agent?name=Ann", "agent")
        pages.append(agent)
        await expect_state(agent, "available")
        await page.get_by_test_id("call-again").click()
        await expect(availability).to_have_text("1 expert online", timeout=PAGE_TIMEOUT_MS)
        await expect(page.get_by_test_id("mode-video")).to_be_visible()
        await expect(page.get_by_test_id("callback-now")).to_be_hidden()
        assert_no_page_errors(*pages)
    except BaseException:
        print(await dump(pages, server), flush=True)
        raise
    finally:
        for bp in pages:
            await bp.close()


async def test_remote_tiles_say_camera_off_and_muted_and_the_wrap_up_pauses_while_typing(
        chromium_browser, silkline_server):
    server = silkline_server
    agent, shopper = await connect_call(chromium_browser, server)
    try:
        on_agent = agent.page.get_by_test_id("remote-media-state")
        on_shopper = shopper.page.get_by_test_id("remote-media-state")
        await expect(on_agent).to_be_hidden()
        await shopper.page.get_by_test_id("camera-off").click()
        await expect(on_agent).to_have_text("Camera off", timeout=PAGE_TIMEOUT_MS)
        await agent.page.get_by_test_id("mute").click()
        await expect(on_shopper).to_have_text("Muted", timeout=PAGE_TIMEOUT_MS)
        await shopper.page.get_by_test_id("mute").click()
        await expect(on_agent).to_have_text("Camera off · muted", timeout=PAGE_TIMEOUT_MS)
        await shopper.page.get_by_test_id("camera-off").click()
        await shopper.page.get_by_test_id("mute").click()
        await expect(on_agent).to_be_hidden(timeout=PAGE_TIMEOUT_MS)

        await hang_up_and_expect_ended(shopper, agent, server)
        timer = agent.page.get_by_test_id("wrap-up-timer")
        await expect(timer).to_contain_text("available again in", timeout=PAGE_TIMEOUT_MS)
        await agent.page.get_by_test_id("wrap-notes").press_sequentially("Camera trouble; ")
        await expect(timer).to_contain_text(re.compile(r"paused while you type \(\d+ s left\)"),
                                            timeout=PAGE_TIMEOUT_MS)
        assert_no_page_errors(agent, shopper)
    except BaseException:
        print(await dump([agent, shopper], server), flush=True)
        raise
    finally:
        for bp in (agent, shopper):
            await bp.close()
