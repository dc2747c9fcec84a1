"""What the shops measure and ask for, end to end in headless Chromium through the real server:
the agent inserts a quick reply into the chat with "/" and a few letters (and with a click), the
shopper receives it; after the call the shop reports an order with its API key and the
supervisor's figures show the agent's conversion rate and the revenue after calls."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from playwright.async_api import expect

from tests.browser.test_browser_contact_centre import connect
from tests.support import browser as browser_support
from tests.support.browser import (
    PAGE_TIMEOUT_MS,
    BrowserPage,
    assert_no_page_errors,
    demo_token,
    expect_state,
    pages_of,
    screenshot,
)

pytestmark = pytest.mark.asyncio

silkline_server = browser_support.silkline_server
chromium_browser = browser_support.chromium_browser

T = PAGE_TIMEOUT_MS
QUEUES = ("general", "jewellery", "electronics")
SIZES = "Our rings come in sizes 48 to 62; resizing is free within 30 days."
HELLO = "Hello! I'm happy to help you choose."


async def post(server, path: str, token: str, body: dict) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http, \
            http.post(f"{server.url}{path}", json=body, headers={"Authorization": f"Bearer {token}"}) as res:
        return res.status, await res.json()


async def test_quick_reply_by_slash_then_an_order_shows_as_conversion(chromium_browser, silkline_server):
    server = silkline_server
    admin = await demo_token(server, "admin")
    status, created = await post(server, "/api/api-keys", admin, {"shop": "Lumen Jewels"})
    assert status == 201
    key = created["key"]
    for queue in QUEUES:  # whichever queue the demo shop's page picks
        for title, text in (("Ring sizes", SIZES), ("Hello", HELLO)):
            assert (await post(server, "/api/quick-replies", admin, {"queue": queue, "title": title, "text": text}))[0] == 201
    async with pages_of(server) as pages:
        agent, shopper = await connect(chromium_browser, server, shop_path="/demo/shop?customer=cust-1042")
        pages += [agent, shopper]
        call_id = await shopper.page.evaluate("() => window.silkline.callId()")
        page = agent.page
        buttons = page.get_by_test_id("quick-reply")
        await expect(buttons).to_have_count(2, timeout=T)
        await expect(buttons.nth(0)).to_have_text("Hello")
        chat_input = page.get_by_test_id("chat-input")
        suggestions = page.get_by_test_id("quick-reply-suggestions")

        # "/" + letters that match nothing: said so; Escape closes the list and keeps the text
        await chat_input.press_sequentially("/zz")
        await expect(suggestions).to_be_visible()
        await expect(suggestions).to_contain_text("No quick reply")
        await chat_input.press("Escape")
        await expect(suggestions).to_be_hidden()
        await expect(chat_input).to_have_value("/zz")
        await chat_input.fill("")

        # "/" alone lists every reply; the arrow keys move, "ri" narrows it to one
        await chat_input.press_sequentially("/")
        await expect(suggestions.get_by_role("option")).to_have_count(2)
        await chat_input.press("ArrowDown")
        await expect(suggestions.get_by_role("option").nth(1)).to_have_attribute("aria-selected", "true")
        await chat_input.press_sequentially("ri")
        await expect(suggestions.get_by_role("option")).to_have_count(1)
        await expect(suggestions).to_contain_text("Ring sizes")
        await expect(chat_input).to_have_attribute("aria-expanded", "true")
        await screenshot(agent, "quick-reply-suggestions")
        await chat_input.press("Enter")  # inserts; does not send "/ri"
        await expect(suggestions).to_be_hidden()
        await expect(chat_input).to_have_value(SIZES)
        await chat_input.press("Enter")  # now it sends
        await expect(shopper.page.get_by_test_id("chat-log")).to_contain_text(SIZES, timeout=T)
        await expect(chat_input).to_have_value("")

        # a click inserts at the caret, after what was typed
        await chat_input.fill("Welcome!")
        await buttons.nth(0).click()
        await expect(chat_input).to_have_value(f"Welcome! {HELLO}")
        await page.get_by_test_id("chat-send").click()
        await expect(shopper.page.get_by_test_id("chat-log")).to_contain_text(HELLO, timeout=T)

        await shopper.page.get_by_test_id("hang-up").click()
        await asyncio.gather(expect_state(shopper, "ended"), expect_state(agent, "ended"))
        await expect(buttons).to_have_count(0)  # no call, no quick replies

        # the shop's backend reports the customer's order: the call converted
        order = {"order_id": "LJ-5501", "customer_id": "cust-1042", "amount": "129.90", "currency": "EUR"}
        status, reported = await post(server, "/api/orders", key, order)
        assert status == 201 and reported["call_id"] == call_id, reported
        assert (await post(server, "/api/orders", key, {**order, "at": reported["at"]})) == (200, reported)

        sup = await BrowserPage.open(chromium_browser, f"{server.url}/supervisor", "supervisor")
        pages.append(sup)
        await sup.page.get_by_test_id("name-input").fill("Sue")
        await sup.page.get_by_test_id("sign-in").click()
        await sup.page.get_by_role("link", name="Figures").click()
        await sup.page.get_by_test_id("load-figures").click()
        row = sup.page.get_by_test_id("figures-agents").locator("tbody tr", has_text="Ann")
        await expect(row.locator('td[data-col="conversion_rate"]')).to_have_text("100 % (1)", timeout=T)
        await expect(row.locator('td[data-col="revenue_after_calls"]')).to_contain_text("129.90")
        total = sup.page.get_by_test_id("figures-total")
        await expect(total).to_contain_text("Conversion")
        await expect(total).to_contain_text("100 %")
        await expect(sup.page.get_by_test_id("figures-queues")).to_contain_text("129.90")
        await screenshot(sup, "conversion-figures")
        assert_no_page_errors(*pages)
