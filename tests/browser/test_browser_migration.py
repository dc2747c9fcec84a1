"""In headless Chromium: an admin moves a live call's media to a new room
(``POST /api/calls/{id}/move``). Both pages get ``migrated``: the shopper's widget says
"Reconnecting…" (not "call ended"), builds a new peer connection with the same camera and
microphone, offers it, and is connected again with a remote picture that moves; the agent's
console comes back too."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from playwright.async_api import expect

from tests.browser.test_browser_call import RESUME_TIMEOUT_MS, connect_call, hang_up_and_expect_ended
from tests.support import browser as browser_support
from tests.support.browser import (
    MEDIA_FLOWING_JS,
    PAGE_TIMEOUT_MS,
    TRANSCEIVER_STATS_JS,
    VIDEO_FRAMES_JS,
    call_timeline,
    demo_token,
    expect_state,
    get_json,
    pages_of,
    poll,
    state_of,
)

pytestmark = pytest.mark.asyncio

silkline_server = browser_support.silkline_server
chromium_browser = browser_support.chromium_browser

# A checksum of the remote <video>'s decoded picture on a 32x24 grid (null before a picture):
# it changes when the picture does.
PICTURE_CHECKSUM_JS = """
(video) => {
  if (!video || !video.videoWidth) return null;
  const c = document.createElement('canvas');
  c.width = video.videoWidth;
  c.height = video.videoHeight;
  const ctx = c.getContext('2d');
  ctx.drawImage(video, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  let sum = 0;
  for (let y = 0; y < 24; y++) for (let x = 0; x < 32; x++) {
    const i = 4 * (Math.floor((y + 0.5) * c.height / 24) * c.width + Math.floor((x + 0.5) * c.width / 32));
    sum = (sum * 31 + d[i] * 65536 + d[i + 1] * 256 + d[i + 2]) % 2147483647;
  }
  return sum;
}
"""


async def move(server, call_id: str) -> None:
    admin = await demo_token(server, "admin")
    async with aiohttp.ClientSession() as http, http.post(
            f"{server.url}/api/calls/{call_id}/move", headers={"Authorization": f"Bearer {admin}"}) as resp:
        assert resp.status == 202, await resp.text()


async def poll_composite(server, call_id: str, qa_token: str, timeout_s: float = 120.0) -> dict:
    """The QA detail of the call once its playback file is composed."""
    async def composite() -> dict:
        return await get_json(server, f"/api/recordings/{call_id}", qa_token)
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        detail = await composite()
        state = detail["composite"].get("state")
        assert state != "failed", detail["composite"]
        if state == "complete":
            return detail
        assert asyncio.get_running_loop().time() < deadline, f"not composed: {detail['composite']}"
        await asyncio.sleep(0.5)


async def moving_picture(bp: browser_support.BrowserPage, samples: int = 4) -> set[int]:
    """The distinct checksums of a few pictures of the remote video, 0.5 s apart."""
    video = await bp.page.get_by_test_id("remote-video").element_handle()
    seen: set[int] = set()
    for _ in range(samples):
        seen.add(await poll(bp.page, PICTURE_CHECKSUM_JS, lambda v: v is not None, arg=video,
                            timeout_s=10, what="a remote picture"))
        await bp.page.wait_for_timeout(500)
    return seen


async def test_moved_call_reconnects_both_pages_and_the_picture_moves_again(chromium_browser, silkline_server):
    agent, shopper = await connect_call(chromium_browser, silkline_server)
    async with pages_of(silkline_server, [shopper, agent]) as pages:
        live = await get_json(silkline_server, "/api/live", await demo_token(silkline_server, "supervisor"))
        (call_id,) = [c["call_id"] for c in live["calls"]]
        for bp in (shopper, agent):
            await bp.page.evaluate("() => { window.__oldPeer = window.silkline.peer(); "
                                   "window.__statesBefore = window.silkline.history().length; }")
        await move(silkline_server, call_id)

        # the shopper sees "Reconnecting…" (never an end), then is connected on a new peer connection
        await shopper.page.wait_for_function(
            "() => window.silkline.history().slice(window.__statesBefore).includes('reconnecting')",
            timeout=RESUME_TIMEOUT_MS)
        for bp in (shopper, agent):
            await bp.page.wait_for_function(
                "() => window.silkline.peer() && window.silkline.peer() !== window.__oldPeer",
                timeout=RESUME_TIMEOUT_MS)
            await expect_state(bp, "connected", timeout=RESUME_TIMEOUT_MS)
            video = await bp.page.get_by_test_id("remote-video").element_handle()
            await bp.page.wait_for_function(MEDIA_FLOWING_JS, arg=video, timeout=RESUME_TIMEOUT_MS, polling=100)
            await bp.page.wait_for_function(f"() => ({VIDEO_FRAMES_JS})() > 30", timeout=RESUME_TIMEOUT_MS,
                                            polling=100)
        after_move = await shopper.page.evaluate("() => window.silkline.history().slice(window.__statesBefore)")
        assert "ended" not in after_move and "error" not in after_move, after_move
        assert len(await moving_picture(shopper)) > 1, "the shopper's remote picture does not move after the move"
        record, kinds = await call_timeline(silkline_server, call_id)
        assert "migrated" in kinds and record["state"] != "ended"
        await hang_up_and_expect_ended(shopper, agent, silkline_server)
        await expect(state_of(shopper)).to_contain_text("You ended the call")

        # QA: the timeline marks the move, and every track has two parts (before and after it)
        qa_token = await demo_token(silkline_server, "qa")
        await poll_composite(silkline_server, call_id, qa_token)
        qa = await browser_support.BrowserPage.open(chromium_browser, f"{silkline_server.url}/qa", "qa",
                                                    viewport=(1440, 1000))
        pages.append(qa)
        await qa.page.get_by_test_id("qa-sign-in").click()
        row = qa.page.get_by_test_id(f"call-row-{call_id}")
        await expect(row).to_be_visible(timeout=PAGE_TIMEOUT_MS)
        await row.click()
        await expect(qa.page.get_by_test_id("call-detail")).to_be_visible()
        await expect(qa.page.get_by_test_id("marker-migrated-0")).to_be_visible(timeout=PAGE_TIMEOUT_MS)
        tracks = qa.page.get_by_test_id("tracks")
        await expect(tracks.locator("tbody tr")).to_have_count(9)  # the playback file + 2 parts of 4 tracks
        await expect(tracks).to_contain_text("Video · part 2")
        await expect(tracks).to_contain_text("Audio · part 1")


async def test_a_whispering_supervisor_follows_the_move(chromium_browser, silkline_server):
    """The supervisor page monitoring a call (whispering to the agent) gets ``migrated`` too:
    "Reconnecting…" in its mode line, a new peer connection, both sides' video again, and the
    agent still hears the whisper in the new room."""
    server = silkline_server
    agent, shopper = await connect_call(chromium_browser, server)
    async with pages_of(server, [shopper, agent]) as pages:
        call_id = await shopper.page.evaluate("() => window.silkline.callId()")
        sup = await browser_support.BrowserPage.open(chromium_browser, f"{server.url}/supervisor", "supervisor")
        pages.append(sup)
        await sup.page.get_by_test_id("name-input").fill("Sue")
        await sup.page.get_by_test_id("sign-in").click()
        await sup.page.get_by_test_id(f"monitor-{call_id}").click()
        mode = sup.page.get_by_test_id("monitor-mode")
        await expect(mode).to_have_attribute("data-mode", "silent", timeout=PAGE_TIMEOUT_MS)
        await sup.page.get_by_test_id("whisper").click()
        await expect(mode).to_contain_text("only the agent hears you", timeout=PAGE_TIMEOUT_MS)
        await poll(sup.page, TRANSCEIVER_STATS_JS, lambda st: bool(st) and all(st[i]["frames"] > 0 for i in (2, 3)),
                   what="both sides' video on the supervisor page")
        await sup.page.evaluate("() => { window.__oldPeer = window.silkline.peer(); }")

        await move(server, call_id)
        await sup.page.wait_for_function(
            "() => window.silkline.peer() && window.silkline.peer() !== window.__oldPeer", timeout=RESUME_TIMEOUT_MS)
        await poll(sup.page, TRANSCEIVER_STATS_JS, lambda st: bool(st) and all(st[i]["frames"] > 10 for i in (2, 3))
                   and st[0]["sent"] > 20, timeout_s=RESUME_TIMEOUT_MS / 1000,
                   what="both sides' video on the supervisor's new peer connection")
        await expect(mode).to_contain_text("only the agent hears you", timeout=RESUME_TIMEOUT_MS)
        await expect(mode).to_have_attribute("data-mode", "whisper")
        await expect_state(agent, "connected", timeout=RESUME_TIMEOUT_MS)
        await poll(agent.page, TRANSCEIVER_STATS_JS, lambda st: bool(st) and len(st) == 3 and st[2]["packets"] > 25,
                   timeout_s=RESUME_TIMEOUT_MS / 1000, what="the whisper on the agent's new peer connection")
        await hang_up_and_expect_ended(agent, shopper, server)
