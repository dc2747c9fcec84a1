"""People, not ids, in headless Chromium: the agent console names the customer and shows a
returning customer's past calls when the call rings; the supervisor board names the customer,
the agent and the supervisor, and a supervisor who starts monitoring sees the chat so far; the
shopper freezes the expert's video, draws on it and sends it into the chat both keep; the QA
timeline shows silent, whisper and barge-in as distinct markers with a legend."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import pytest
from playwright.async_api import expect

from client import SignalingClient, demo_token
from tests.browser.test_browser_call import connect_call
from tests.browser.test_browser_contact_centre import call_from_shop, sign_in_agent
from tests.support import browser as browser_support
from tests.support.browser import (
    PAGE_TIMEOUT_MS,
    BrowserPage,
    assert_no_page_errors,
    call_timeline,
    expect_state,
    pages_of,
)

pytestmark = pytest.mark.asyncio

silkline_server = browser_support.silkline_server
chromium_browser = browser_support.chromium_browser

T = PAGE_TIMEOUT_MS

# How much of an <img> is the shopper's blue: drawn onto a canvas (a blob URL: same origin).
BLUE_SHARE_JS = """(img) => {
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const ctx = c.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  let blue = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (Math.abs(d[i] - 10) < 40 && Math.abs(d[i + 1] - 132) < 40 && d[i + 2] > 200) blue += 1;
  }
  return {blue, total: d.length / 4, width: c.width, height: c.height};
}"""


async def test_names_and_past_calls_on_the_agent_console_and_the_supervisor_board(chromium_browser, silkline_server):
    server = silkline_server
    async with pages_of(server) as pages:
        ann = await sign_in_agent(chromium_browser, server, "Ann")
        pages.append(ann)
        shopper = await BrowserPage.open(chromium_browser, f"{server.url}/demo/shop?customer=cust-1042", "shopper")
        pages.append(shopper)
        await call_from_shop(shopper)
        incoming = ann.page.locator("#incoming")
        await expect(incoming).to_be_visible(timeout=T)
        await expect(ann.page.get_by_test_id("call-context")).to_contain_text("Maria Rossi")
        await expect(ann.page.get_by_test_id("customer-history-note")).to_have_text(
            "First call from this customer.", timeout=T)
        await expect(ann.page.get_by_test_id("customer-history-row")).to_have_count(0)
        await ann.page.get_by_test_id("accept-call").click()
        await asyncio.gather(expect_state(shopper, "connected"), expect_state(ann, "connected"))
        await shopper.page.get_by_test_id("chat-input").fill("Is the clasp gold?")
        await shopper.page.get_by_test_id("chat-send").click()
        await expect(ann.page.get_by_test_id("chat-log")).to_contain_text("Maria Rossi (shopper)", timeout=T)
        call_id = await shopper.page.evaluate("() => window.silkline.callId()")

        # the supervisor's board: the customer and the agent by name, never an id as the label
        sup = await BrowserPage.open(chromium_browser, f"{server.url}/supervisor", "supervisor")
        pages.append(sup)
        await sup.page.get_by_test_id("name-input").fill("Sue")
        await sup.page.get_by_test_id("sign-in").click()
        row = sup.page.locator(f'[data-testid="calls-table"] tr[data-key="{call_id}"]')
        await expect(row.get_by_test_id("call-customer")).to_have_text("Maria Rossi", timeout=T)
        await expect(row.get_by_test_id("call-agent")).to_have_text("Ann")
        await expect(sup.page.get_by_test_id("agents-table").get_by_test_id("agent-name")).to_have_text(["Ann"])
        # monitoring mid-call: the chat so far is there at once
        await sup.page.get_by_test_id(f"monitor-{call_id}").click()
        await expect(sup.page.get_by_test_id("monitor-mode")).to_have_attribute("data-mode", "silent", timeout=T)
        await expect(sup.page.get_by_test_id("monitor-chat")).to_contain_text("Is the clasp gold?", timeout=T)
        await expect(sup.page.get_by_test_id("monitor-chat")).to_contain_text("Maria Rossi (shopper)")
        await expect(sup.page.locator("#label-shopper")).to_have_text("Shopper · Maria Rossi")
        await expect(row).to_contain_text("You", timeout=T)

        # the call ends, is wrapped up as a sale and rated 4
        await shopper.page.get_by_test_id("hang-up").click()
        await asyncio.gather(expect_state(shopper, "ended"), expect_state(ann, "ended"))
        await ann.page.get_by_test_id("disposition").select_option("sale")
        await ann.page.get_by_test_id("submit-wrap-up").click()
        await expect_state(ann, "available")
        await shopper.page.get_by_test_id("rating-4").click()
        await shopper.page.get_by_test_id("submit-rating").click()
        await expect(shopper.page.get_by_test_id("thanks")).to_be_visible(timeout=T)

        # she calls again: the ring shows that call, with the agent, the outcome and the rating
        again = await BrowserPage.open(chromium_browser, f"{server.url}/demo/shop?customer=cust-1042", "again")
        pages.append(again)
        await call_from_shop(again)
        await expect(incoming).to_be_visible(timeout=T)
        rows = ann.page.get_by_test_id("customer-history").get_by_test_id("customer-history-row")
        await expect(rows).to_have_count(1, timeout=T)
        await expect(rows.first).to_contain_text("with Ann")
        await expect(rows.first).to_contain_text("Sale")
        await expect(rows.first.locator('[aria-label="rated 4 of 5"]')).to_be_visible()
        await expect(ann.page.get_by_test_id("customer-history-note")).to_have_text("1 past call")
        await expect(ann.page.get_by_test_id("badge-returning")).to_be_visible()
        assert_no_page_errors(*pages)


async def test_the_shopper_freezes_the_experts_video_and_sends_the_marked_still_into_the_chat(
        chromium_browser, silkline_server):
    server = silkline_server
    agent, shopper = await connect_call(chromium_browser, server)
    async with pages_of(server, [agent, shopper]) as pages:
        page = shopper.page
        await page.get_by_test_id("freeze-agent").click()
        still = page.get_by_test_id("shopper-still")
        await expect(still).to_be_visible(timeout=T)
        await page.get_by_test_id("still-pen").click()
        surface = page.get_by_test_id("still-surface")
        await expect(surface).to_be_visible()
        box = await surface.bounding_box()
        assert box and box["width"] > 50, box
        x0, y0 = box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5
        await page.mouse.move(x0, y0)
        await page.mouse.down()
        for i in range(1, 16):
            await page.mouse.move(x0 + box["width"] * 0.4 * i / 15, y0 + box["height"] * 0.1 * (i % 3), steps=2)
        await page.mouse.up()
        await page.get_by_test_id("still-send").click()
        await expect(still).to_be_hidden(timeout=T)

        # both keep it in the chat: the expert's picture, at its size, with the shopper's blue line
        for bp in (agent, shopper):
            photo = bp.page.get_by_test_id("chat-log").get_by_test_id("chat-photo")
            await expect(photo).to_have_count(1, timeout=T)
            await bp.page.wait_for_function("(img) => img.complete && img.naturalWidth > 0",
                                            arg=await photo.element_handle(), timeout=T)
            share = await bp.page.evaluate(BLUE_SHARE_JS, await photo.element_handle())
            assert share["blue"] > 40, (bp.name, share)
        call_id = await page.evaluate("() => window.silkline.callId()")
        record, _kinds = await call_timeline(server, call_id)
        snaps = [e for e in record["events"] if e["type"] == "snapshot"]
        assert [(e["role"], e["target"]) for e in snaps] == [("shopper", "agent")]
        # the still sent is the SFU's full-resolution picture of the expert's video
        assert [share["width"], share["height"]] == [snaps[0]["width"], snaps[0]["height"]], (share, snaps)
        assert [e["role"] for e in record["events"] if e["type"] == "photo"] == ["shopper"]
        assert_no_page_errors(*pages)


async def _supervised_call(base: str) -> str:
    """An answered call (no media needed) that a supervisor, Sue, monitors silently, then
    whispers to the agent, then barges in, then leaves; the call then ends."""
    async with aiohttp.ClientSession() as http:
        agent_token = await demo_token(http, base, "agent", name="Ann")
        agent = await SignalingClient(http, base).connect()
        await agent.send("join", token=agent_token["token"])
        await agent.expect("joined")
        shopper_token = await demo_token(http, base, "shopper", name="Maria Rossi")
        call_id = shopper_token["call_id"]
        shopper = await SignalingClient(http, base).connect()
        await shopper.send("join", token=shopper_token["token"], context={"title": "Pearl earrings"})
        await shopper.expect("joined")
        await agent.expect("call-offered", call_id=call_id)
        await agent.send("accept", call_id=call_id)
        await shopper.expect("agent-joined", call_id=call_id)
        sue = await SignalingClient(http, base).connect()
        await sue.send("join", token=(await demo_token(http, base, "supervisor", name="Sue"))["token"])
        await sue.expect("joined")
        await sue.send("monitor", call_id=call_id)
        await sue.expect("monitoring", mode="silent")
        for mode in ("whisper", "barge"):
            await asyncio.sleep(0.4)  # markers apart on the timeline
            await sue.send("monitor-mode", call_id=call_id, mode=mode)
            await sue.expect("monitoring", mode=mode)
        await asyncio.sleep(0.4)
        await sue.send("unmonitor", call_id=call_id)
        await sue.expect("call-ended", call_id=call_id)
        await shopper.send("hangup", call_id=call_id)
        await agent.expect("call-ended", call_id=call_id)
        for ws in (sue, shopper, agent):
            await ws.close()
        return call_id


async def test_the_qa_timeline_tells_silent_whisper_and_barge_in_apart(chromium_browser, silkline_server):
    server = silkline_server
    call_id = await _supervised_call(server.url)
    async with pages_of(server) as pages:
        qa = await BrowserPage.open(chromium_browser, f"{server.url}/qa", "qa", viewport=(1440, 1000))
        pages.append(qa)
        page = qa.page
        await page.get_by_test_id("qa-sign-in").click()
        await expect(page.get_by_test_id("who")).to_contain_text("QA", timeout=T)
        # the filters are pick lists of names
        await expect(page.get_by_test_id("filter-agent").locator("option", has_text="Ann")).to_have_count(1, timeout=T)
        await expect(page.get_by_test_id("filter-queue").locator("option", has_text="Jewellery")).to_have_count(1)
        await page.get_by_test_id("filter-agent").select_option(label="Ann")
        await page.get_by_test_id("search").click()
        row = page.get_by_test_id(f"call-row-{call_id}")
        await expect(row).to_be_visible(timeout=T)
        await expect(row.get_by_test_id("result-agent")).to_contain_text("Ann")
        await row.click()
        await expect(page.get_by_test_id("call-detail")).to_be_visible(timeout=T)

        markers = {mode: page.get_by_test_id(f"marker-monitor_{mode}-0") for mode in ("silent", "whisper", "barge", "left")}
        for marker in markers.values():
            await expect(marker).to_be_visible(timeout=T)
        await expect(markers["silent"]).to_have_attribute("aria-label", re.compile(r"^Sue started monitoring silently"))
        await expect(markers["whisper"]).to_have_attribute("aria-label", re.compile(r"^Sue whispered to the agent"))
        await expect(markers["barge"]).to_have_attribute("aria-label", re.compile(r"^Sue barged in"))
        colours = {mode: await m.evaluate("(b) => getComputedStyle(b).borderColor") for mode, m in markers.items()}
        assert len(set(colours.values())) == 4, colours
        shapes = {mode: await m.evaluate("(b) => getComputedStyle(b).borderRadius + ' ' + getComputedStyle(b).borderStyle")
                  for mode, m in markers.items() if mode != "left"}
        assert len(set(shapes.values())) == 3, shapes
        legend = page.get_by_test_id("supervision-legend")
        await expect(legend.locator("li")).to_have_text([
            "Silent: listens, nobody hears", "Whisper: only the agent hears", "Barge-in: both hear", "Supervisor left"])
        assert_no_page_errors(*pages)
