"""In Chromium: above the node's limit (``--max-calls 1``) a second shopper's widget shows the
server's words — the lines are busy, the call keeps its place — and is offered to the free
agent as soon as the first call ends."""

from __future__ import annotations

import aiohttp
import pytest
from playwright.async_api import expect

from client import SignalingClient
from client import demo_token as client_demo_token
from tests.browser.test_browser_contact_centre import call_from_shop, connect
from tests.support import browser as browser_support
from tests.support.browser import PAGE_TIMEOUT_MS, BrowserPage, assert_no_page_errors, pages_of, screenshot

pytestmark = pytest.mark.asyncio

chromium_browser = browser_support.chromium_browser
T = PAGE_TIMEOUT_MS


@pytest.fixture
def small_server(tmp_path):
    server = browser_support.start_server(tmp_path, "--max-calls", "1")
    try:
        yield server
    finally:
        server.stop()


async def test_the_second_shopper_waits_with_words_above_the_limit(chromium_browser, small_server):
    server = small_server
    async with pages_of(server) as pages, aiohttp.ClientSession() as http:
        agent, shopper = await connect(chromium_browser, server)
        pages += [agent, shopper]
        bob = await SignalingClient(http, server.url).connect()  # a second, free agent
        await bob.send("join", token=(await client_demo_token(http, server.url, "agent", name="Bob"))["token"])
        await bob.expect("joined")
        second = await BrowserPage.open(chromium_browser, f"{server.url}/demo/shop", "second shopper")
        pages.append(second)
        await call_from_shop(second)
        state = second.page.get_by_test_id("call-state")
        await expect(state).to_contain_text("keep your place", timeout=T)
        await expect(state).to_have_attribute("data-state", "waiting")
        await screenshot(second, "admission-waiting")
        assert not bob.seen("call-offered")

        await shopper.page.get_by_test_id("hang-up").click()
        offered = await bob.expect("call-offered", timeout=15)
        await bob.send("accept", call_id=offered["call_id"])
        await expect(state).to_have_attribute("data-state", "connecting", timeout=T)
        await bob.close()
        assert_no_page_errors(*pages)
