"""The shopper's call view in headless Chromium. On a phone (390x844, touch) the call is the
whole screen with its controls at the bottom and the shop page behind it locked; before the
expert answers the shopper sees their own camera and picks the camera and microphone. On a
desktop the call minimises to a bar while the media goes on; the dialog keeps the keyboard focus,
Escape minimises a call (never hangs up) and closes the panel after it; after the call the
conversation downloads as one self-contained page."""

from __future__ import annotations

import asyncio
import base64
import re

import pytest
from playwright.async_api import expect

from tests.browser.test_browser_call import connect_call
from tests.support import browser as browser_support
from tests.support.browser import (
    PAGE_TIMEOUT_MS,
    VIDEO_FRAMES_JS,
    BrowserPage,
    assert_no_page_errors,
    dump,
    expect_state,
    pages_of,
    poll,
    screenshot,
    state_of,
    tiny_png,
)

pytestmark = pytest.mark.asyncio

silkline_server = browser_support.silkline_server
chromium_browser = browser_support.chromium_browser

PHONE = (390, 844)

# Where the widget's parts are, from inside its shadow root.
LAYOUT_JS = """
() => {
  const root = document.querySelector('silkline-call').shadowRoot;
  const box = (sel) => { const r = root.querySelector(sel).getBoundingClientRect();
                         return { top: r.top, bottom: r.bottom, left: r.left, right: r.right }; };
  return { panel: box('.sl-panel'), controls: box('.sl-controls'), hangup: box('[data-testid="hang-up"]'),
           width: innerWidth, height: innerHeight, scrollY: window.scrollY,
           scrollable: document.documentElement.scrollHeight > innerHeight };
}
"""

# Which device each of the call's tracks comes from: the local stream and what the peer sends.
DEVICES_JS = """
() => {
  const w = window.silkline.widget;
  const stream = w.session && w.session.localStream;
  const pc = window.silkline.peer();
  const id = (t) => (t && t.getSettings ? t.getSettings().deviceId : null);
  return {
    mic: stream ? id(stream.getAudioTracks()[0]) : null,
    cam: stream ? id(stream.getVideoTracks()[0]) : null,
    sentMic: pc ? id((pc.getSenders().find((s) => s.track && s.track.kind === 'audio') || {}).track) : null,
  };
}
"""

# The id of the focused element inside the widget (null when the focus is elsewhere).
FOCUSED_JS = """
() => {
  const host = document.querySelector('silkline-call');
  if (document.activeElement !== host) return null;
  const a = host.shadowRoot.activeElement;
  if (!a) return null;
  return { testid: a.dataset.testid || a.className, inPanel: !!a.closest('.sl-panel') };
}
"""


async def test_phone_call_is_full_screen_with_a_preview_and_device_choice(chromium_browser, silkline_server):
    server = silkline_server
    async with pages_of(server) as pages:
        agent = await BrowserPage.open(chromium_browser, f"{server.url}/agent?name=Ann", "agent")
        pages.append(agent)
        await expect_state(agent, "available")
        shopper = await BrowserPage.open(chromium_browser, f"{server.url}/demo/shop", "shopper",
                                         viewport=PHONE, mobile=True)
        pages.append(shopper)
        page = shopper.page
        assert (await page.evaluate(LAYOUT_JS))["scrollable"], "the demo shop should scroll on a phone"
        await page.get_by_test_id("call-button").click()
        await page.get_by_test_id("mode-video").click()
        await expect(state_of(shopper)).to_have_attribute("data-state", re.compile("waiting|ringing"),
                                                          timeout=PAGE_TIMEOUT_MS)

        # Before the expert answers: the shopper's own camera, large, and the device lists.
        preview = page.get_by_test_id("device-preview")
        await expect(preview).to_be_visible(timeout=PAGE_TIMEOUT_MS)
        await page.wait_for_function(
            "() => document.querySelector('silkline-call').shadowRoot"
            ".querySelector('[data-testid=\"device-preview\"]').videoWidth > 0", timeout=PAGE_TIMEOUT_MS)
        cameras = page.get_by_test_id("device-camera")
        microphones = page.get_by_test_id("device-microphone")
        await expect(cameras.locator("option")).not_to_have_count(0, timeout=PAGE_TIMEOUT_MS)
        mic_options = await microphones.locator("option").evaluate_all("(os) => os.map((o) => o.value)")
        assert len(mic_options) >= 2, f"Chromium's fake devices should offer two microphones: {mic_options}"
        used = await page.evaluate(DEVICES_JS)
        assert used["mic"] in mic_options and await microphones.input_value() == used["mic"]
        other = next(o for o in mic_options if o != used["mic"])
        await microphones.select_option(other)
        await poll(page, DEVICES_JS, lambda d: d["mic"] == other, what="the chosen microphone in the call")
        level = page.get_by_test_id("microphone-level")
        await poll(page, "() => Number(document.querySelector('silkline-call').shadowRoot"
                         ".querySelector('[data-testid=\"microphone-level\"]').getAttribute('aria-valuenow'))",
                   lambda v: v > 0, what="the microphone level moving")
        await expect(level).to_be_visible()
        await screenshot(shopper, "call-view-phone-preview")

        # The expert answers: full screen, the controls at the bottom, the page behind locked.
        await agent.page.get_by_test_id("accept-call").click()
        await asyncio.gather(expect_state(shopper, "connected"), expect_state(agent, "connected"))
        await expect(preview).to_be_hidden()
        await expect(page.get_by_test_id("local-video")).to_be_visible()
        sent = await page.evaluate(DEVICES_JS)
        assert sent["sentMic"] == other, sent  # the call sends the microphone chosen while waiting
        layout = await page.evaluate(LAYOUT_JS)
        panel, controls = layout["panel"], layout["controls"]
        assert (panel["top"], panel["left"], panel["right"], panel["bottom"]) == (0, 0, PHONE[0], PHONE[1]), layout
        assert controls["bottom"] <= PHONE[1] + 0.5 and controls["bottom"] >= PHONE[1] - 2, layout
        assert layout["hangup"]["bottom"] <= PHONE[1] and layout["hangup"]["top"] >= PHONE[1] - 120, layout
        await page.mouse.wheel(0, 600)
        await page.evaluate("() => window.scrollBy(0, 600)")
        await page.touchscreen.tap(10, 300)
        await asyncio.sleep(0.3)
        assert (await page.evaluate(LAYOUT_JS))["scrollY"] == 0, "the page behind the call scrolled"
        await screenshot(shopper, "call-view-phone-call")

        # After the call, closed: the page scrolls again.
        await page.get_by_test_id("hang-up").click()
        await expect_state(shopper, "ended")
        await page.get_by_test_id("close-panel").click()
        await page.evaluate("() => window.scrollTo(0, 300)")
        await poll(page, LAYOUT_JS, lambda v: v["scrollY"] > 0, what="the page scrolling after the call")
        assert_no_page_errors(*pages)


async def tab_through(page, presses: int) -> list[dict | None]:
    seen = []
    for _ in range(presses):
        await page.keyboard.press("Tab")
        seen.append(await page.evaluate(FOCUSED_JS))
    return seen


async def test_minimise_focus_trap_escape_and_the_conversation_download(chromium_browser, silkline_server, tmp_path):
    server = silkline_server
    agent, shopper = await connect_call(chromium_browser, server)
    pages = [agent, shopper]
    try:
        page = shopper.page
        # The focus stays in the dialog: every Tab (and Shift+Tab) lands on a control inside it.
        seen = await tab_through(page, 24)
        assert all(f and f["inPanel"] for f in seen), seen
        assert any(f["testid"] == "hang-up" for f in seen) and any(f["testid"] == "call-minimise" for f in seen), seen
        for _ in range(12):
            await page.keyboard.press("Shift+Tab")
            focused = await page.evaluate(FOCUSED_JS)
            assert focused and focused["inPanel"], focused

        # Escape during the call minimises it (it never hangs up); the media goes on.
        await page.keyboard.press("Escape")
        restore = page.get_by_test_id("call-restore")
        await expect(restore).to_be_visible()
        await expect(restore).to_be_focused()
        await expect(page.get_by_test_id("hang-up")).to_be_hidden()
        await expect(page.get_by_test_id("mini-state")).to_have_text("In a call with Ann")
        await expect_state(agent, "connected")
        frames = await page.evaluate(VIDEO_FRAMES_JS)
        await poll(page, VIDEO_FRAMES_JS, lambda n: n > frames + 20, what="video frames while minimised")
        assert not await page.evaluate(
            "() => document.querySelector('silkline-call').shadowRoot.querySelector('.sl-remote').paused")
        # The shop is usable meanwhile: it scrolls (no lock on a desktop), and a chat line is counted.
        await page.evaluate("() => window.scrollTo(0, 200)")
        await agent.page.get_by_test_id("chat-input").fill("Take your time, I'm here.")
        await agent.page.get_by_test_id("chat-send").click()
        await expect(page.locator(".sl-mini-note")).to_have_text("1 new message", timeout=PAGE_TIMEOUT_MS)
        await screenshot(shopper, "call-view-minimised")
        await restore.click()
        await expect(page.get_by_test_id("hang-up")).to_be_visible()
        await expect(page.get_by_test_id("chat-log")).to_contain_text("Take your time, I'm here.")
        # The minimise button does the same as Escape.
        await page.get_by_test_id("call-minimise").click()
        await expect(restore).to_be_visible()
        await restore.click()

        # Something to keep: a chat line and a photo from the shopper.
        await page.get_by_test_id("chat-input").fill("Here is the <b>stone</b>")
        await page.get_by_test_id("chat-send").click()
        await page.get_by_test_id("photo-input").set_input_files(
            files=[{"name": "ring.png", "mimeType": "image/png", "buffer": tiny_png()}])
        await expect(page.get_by_test_id("chat-photo")).to_have_count(1, timeout=PAGE_TIMEOUT_MS)

        # A normal end: the rating is asked, and the conversation downloads.
        await page.get_by_test_id("hang-up").click()
        await expect_state(shopper, "ended")
        await expect(page.get_by_test_id("submit-rating")).to_be_visible()
        download_button = page.get_by_test_id("conversation-download")
        await expect(download_button).to_be_visible()
        async with page.expect_download() as info:
            await download_button.click()
        download = await info.value
        saved = tmp_path / "conversation.html"
        await download.save_as(saved)
        html = await asyncio.to_thread(saved.read_text, encoding="utf-8")
        assert download.suggested_filename.startswith("conversation-") and download.suggested_filename.endswith(".html")
        assert "Your conversation with Ann" in html
        assert "Take your time, I&#x27;m here." in html and "Here is the &lt;b&gt;stone&lt;/b&gt;" in html
        photos = re.findall(r'src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)"', html)
        assert len(photos) == 1 and base64.b64decode(photos[0])[:2] == b"\xff\xd8"
        assert "<script" not in html

        # After the call the close button is in the tab order, and Escape closes the panel.
        seen = await tab_through(page, 16)
        assert any(f and f["testid"] == "close-panel" for f in seen), seen
        assert all(f and f["inPanel"] for f in seen), seen
        await page.keyboard.press("Escape")
        await expect(page.get_by_test_id("call-button")).to_be_visible()
        await expect(page.get_by_test_id("call-button")).to_be_focused()
        await expect(page.get_by_test_id("hang-up")).to_be_hidden()
        assert_no_page_errors(*pages)
    except BaseException:
        print(await dump(pages, server), flush=True)
        raise
    finally:
        for bp in pages:
            await bp.close()
