"""QA replay end to end: a real recorded call (made by aiortc test peers, no browser), then the
/qa page in headless Chromium finds it, plays the composed recording, jumps along the timeline
and saves a scorecard.

The call: shopper and agent connect in the jewellery queue (which always records), talk ~4 s
with a chat message each way, a photo and a short recording pause, the agent hangs up and
wraps up, the shopper rates. We wait for the server to compose the QA playback file.

Screenshots land in /tmp/silkline-shots/qa-*.png.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time

import aiohttp
import cv2
import numpy as np
import pytest
from playwright.async_api import expect

from client import SignalingClient, demo_token
from tests.support import browser as browser_support
from tests.support.browser import BrowserPage
from tests.support.peers import ClientPeer, agent_clip

# the fixtures this module uses: a `silkline serve` subprocess per test, headless Chromium
silkline_server = browser_support.silkline_server
chromium_browser = browser_support.chromium_browser

pytestmark = pytest.mark.asyncio

COMPOSE_TIMEOUT_S = 120.0
UI_TIMEOUT_MS = 20_000
AUTH_WORDS = "Your sign-in has expired or you may not see recordings"
CONTEXT = {
    "product_id": "ring-42", "title": "Sapphire halo ring", "price": "1290.00", "currency": "EUR",
    "url": "https://shop.example/rings/sapphire-halo", "category": "rings",
}
SHOPPER_CHAT = "Hi! Is the stone natural?"
AGENT_CHAT = "Yes, a natural Ceylon sapphire, heat-treated."
CRITERIA = ("greeting", "product_knowledge", "problem_solved", "courtesy", "compliance")


# ------------------------------------------------------------------------------- the call

def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def jpeg_photo() -> bytes:
    image = np.zeros((240, 320, 3), np.uint8)
    image[:] = (40, 90, 200)
    cv2.putText(image, "ring", (80, 135), cv2.FONT_HERSHEY_SIMPLEX, 2, (255, 255, 255), 3)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return data.tobytes()


async def record_a_call(base_url: str) -> str:
    """Agent and shopper (aiortc peers) talk ~4 s in the jewellery queue; returns the call id."""
    # The peers encode their VP8 clips when built (~2 s of CPU, blocking this event loop): build
    # them before any socket is open, or a loaded machine misses the server's WebSocket
    # heartbeat (5 s, pong within 2.5 s) and the server drops the agent mid-negotiation.
    shopper, agent = ClientPeer("shopper"), ClientPeer("agent", clip=agent_clip())
    peers = [shopper, agent]
    async with aiohttp.ClientSession() as http:
        agent_ws: SignalingClient | None = None
        shopper_ws: SignalingClient | None = None
        try:
            agent_token = await demo_token(http, base_url, "agent", name="Ann")
            agent_ws = await SignalingClient(http, base_url).connect()
            await agent_ws.send("join", token=agent_token["token"])
            await agent_ws.expect("joined")
            shopper_token = await demo_token(http, base_url, "shopper", name="Sam")
            call_id = shopper_token["call_id"]
            shopper_ws = await SignalingClient(http, base_url).connect()
            await shopper_ws.send("join", token=shopper_token["token"], context=CONTEXT)
            await shopper_ws.expect("joined", call_id=call_id)
            await agent_ws.expect("call-offered", call_id=call_id, timeout=15)
            await agent_ws.send("accept", call_id=call_id)
            await shopper_ws.expect("call-state", state="connecting", timeout=15)
            await agent_ws.expect("call-state", state="connecting", timeout=15)
            await asyncio.gather(shopper_ws.negotiate(shopper, call_id), agent_ws.negotiate(agent, call_id))
            await shopper_ws.expect("recording", state="on", timeout=15)
            await asyncio.gather(shopper.wait_decoded(10), agent.wait_decoded(10))

            await asyncio.sleep(1.0)
            await shopper_ws.send("chat", call_id=call_id, text=SHOPPER_CHAT)
            await shopper_ws.expect("chat", call_id=call_id, role="shopper")
            await asyncio.sleep(0.8)
            async with http.post(f"{base_url}/api/calls/{call_id}/photos", data=jpeg_photo(),
                                 headers={**bearer(shopper_token["token"]), "Content-Type": "image/jpeg"}) as resp:
                assert resp.status == 201, await resp.text()
            await agent_ws.send("chat", call_id=call_id, text=AGENT_CHAT)
            await agent_ws.expect("chat", call_id=call_id, role="agent")
            await agent_ws.send("pause-recording", call_id=call_id)
            await shopper_ws.expect("recording", state="paused")
            await asyncio.sleep(0.6)
            await agent_ws.send("resume-recording", call_id=call_id)
            await shopper_ws.expect("recording", state="on")
            await asyncio.sleep(1.0)

            await agent_ws.send("hangup", call_id=call_id)
            await shopper_ws.expect("call-ended", call_id=call_id)
            await agent_ws.expect("call-ended", call_id=call_id)
            await agent_ws.send("wrap-up", call_id=call_id, disposition="sale", notes="Sold, with resizing")
            async with http.post(f"{base_url}/api/calls/{call_id}/rating", headers=bearer(shopper_token["token"]),
                                 json={"score": 5, "comment": "Very helpful"}) as resp:
                assert resp.status == 201, await resp.text()
        finally:
            for peer in peers:
                await peer.close()
            for ws in (shopper_ws, agent_ws):
                if ws is not None:
                    await ws.close()
    return call_id


async def wait_composite(base_url: str, call_id: str, timeout: float = COMPOSE_TIMEOUT_S) -> dict:
    """Polls GET /api/recordings/{id} (as QA) until the playback file is composed and the
    agent's wrap-up is on the record."""
    async with aiohttp.ClientSession() as http:
        qa = (await demo_token(http, base_url, "qa", name="Test"))["token"]
        deadline = time.monotonic() + timeout
        detail: dict = {}
        while time.monotonic() < deadline:
            async with http.get(f"{base_url}/api/recordings/{call_id}", headers=bearer(qa)) as resp:
                assert resp.status == 200, await resp.text()
                detail = await resp.json()
            state = detail["composite"].get("state")
            assert state != "failed", f"composition failed: {detail['composite']}"
            if state == "complete" and detail["call"].get("disposition"):
                return detail
            await asyncio.sleep(0.5)
    raise AssertionError(f"the recording was not composed within {timeout:.0f} s: {detail.get('composite')}")


def forged_token() -> str:
    """Looks like a QA token, signed with the wrong key."""
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64(json.dumps({"role": "qa", "sub": "mallory", "exp": int(time.time()) + 3600}).encode())
    return f"{header}.{payload}.{b64(b'not-the-server-signature-000000')}"


# ------------------------------------------------------------------------------- page helpers

async def screenshot(bp: BrowserPage, name: str, full_page: bool = True) -> None:
    await browser_support.screenshot(bp, name, full_page=full_page, scroll_to_top=True)


def page_errors(bp: BrowserPage) -> list[str]:
    return [line for line in bp.console if line.startswith("[pageerror]")]


# ------------------------------------------------------------------------------- the test

async def test_qa_replays_a_recorded_call_and_scores_it(chromium_browser, silkline_server):
    base = silkline_server.url
    started = time.monotonic()
    call_id = await record_a_call(base)
    detail = await wait_composite(base, call_id)
    print(f"\ncall {call_id} recorded and composed in {time.monotonic() - started:.1f} s", flush=True)
    origin = detail["timeline_origin"]
    chat_at = next(e["at"] for e in detail["call"]["events"] if e["type"] == "chat")
    chat_offset = chat_at - origin

    bp = await BrowserPage.open(chromium_browser, f"{base}/qa", "qa", viewport=(1440, 1000))
    page = bp.page
    try:
        # A token the server did not sign is refused, in words, and the sign-in stays.
        await page.get_by_test_id("token-input").fill(forged_token())
        await page.get_by_test_id("token-sign-in").click()
        await expect(page.get_by_test_id("error")).to_contain_text(AUTH_WORDS, timeout=UI_TIMEOUT_MS)
        await expect(page.get_by_test_id("qa-sign-in")).to_be_visible()
        await screenshot(bp, "qa-signin-refused")

        # Demo sign-in, search, the call's row.
        await page.get_by_test_id("qa-sign-in").click()
        await expect(page.get_by_test_id("error")).to_be_empty()
        await expect(page.get_by_test_id("who")).to_contain_text("QA")
        # Filters reach the server: nothing was recorded from tomorrow on.
        await expect(page.get_by_test_id("results-status")).not_to_have_text("Searching…", timeout=UI_TIMEOUT_MS)
        tomorrow = await page.evaluate(
            "() => { const d = new Date(Date.now() + 86400000);"
            " return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`; }")
        await page.get_by_test_id("filter-from").fill(tomorrow)
        await page.get_by_test_id("search").click()
        await expect(page.get_by_test_id("results-status")).to_have_text("No calls match these filters.",
                                                                         timeout=UI_TIMEOUT_MS)
        await page.get_by_test_id("filter-from").fill("")
        await page.get_by_test_id("filter-queue").select_option(label="Jewellery")
        await page.get_by_test_id("filter-has-recording").select_option("true")
        await page.get_by_test_id("search").click()
        row = page.get_by_test_id(f"call-row-{call_id}")
        await expect(row).to_be_visible(timeout=UI_TIMEOUT_MS)
        for text in ("Jewellery", "Ann", "Answered", "Sale", "Ready to play", "Sapphire halo ring"):
            await expect(row).to_contain_text(text)
        await screenshot(bp, "qa-results")

        # Open it. The first answers are rewritten to "composing" by this test, so the page
        # shows its progress bar and polls (every second) until the file is complete.
        rewritten: list[float] = []

        async def composing_first(route):
            if len(rewritten) >= 2:
                await route.continue_()
                return
            response = await route.fetch()
            body = await response.json()
            progress = 0.35 if not rewritten else 0.8
            rewritten.append(progress)
            body["composite"] = {"state": "composing", "progress": progress}
            await route.fulfill(response=response, json=body)

        await page.route(re.compile(rf"/api/recordings/{call_id}$"), composing_first)
        await row.click()
        await expect(page.get_by_test_id("call-detail")).to_be_visible()
        progress = page.get_by_test_id("compose-progress")
        await expect(progress).to_be_visible(timeout=UI_TIMEOUT_MS)
        await expect(page.get_by_test_id("composite-state")).to_have_attribute("data-state", "composing")
        await screenshot(bp, "qa-composing", full_page=False)
        player = page.get_by_test_id("player")
        await expect(player).to_be_visible(timeout=UI_TIMEOUT_MS)
        await page.unroute(re.compile(rf"/api/recordings/{call_id}$"))
        assert rewritten == [0.35, 0.8], rewritten

        # The composed file plays from its signed URL.
        video = await player.element_handle()
        assert (await player.get_attribute("poster") or "").startswith("/media/")
        await page.wait_for_function("(v) => v.readyState >= 3", arg=video, timeout=UI_TIMEOUT_MS)
        await page.evaluate("async (v) => { v.muted = true; await v.play(); }", video)
        await page.wait_for_function("(v) => v.currentTime > 1.0", arg=video, timeout=UI_TIMEOUT_MS)
        duration = await page.evaluate("(v) => v.duration", video)
        assert 3.0 < duration < 15.0, duration

        # Timeline markers, placed at (event time - timeline origin).
        for test_id in ("marker-joined-0", "marker-chat-0", "marker-chat-1", "marker-photo-0",
                        "marker-recording_paused-0", "marker-recording_resumed-0", "marker-hang-up-0"):
            await expect(page.get_by_test_id(test_id)).to_be_visible()
        chat_marker = page.get_by_test_id("marker-chat-0")
        await expect(chat_marker).to_have_attribute("title", re.compile(re.escape(SHOPPER_CHAT)))
        marker_offset = float(await chat_marker.get_attribute("data-offset"))
        assert abs(marker_offset - chat_offset) < 0.01, (marker_offset, chat_offset)
        assert 0.5 < marker_offset < duration - 1.0, (marker_offset, duration)

        # Clicking the chat marker seeks there, from near the end; the playhead follows.
        await page.evaluate("(v) => { v.pause(); v.currentTime = v.duration - 0.2; }", video)
        await page.wait_for_function("(v) => !v.seeking && v.currentTime > v.duration - 0.6", arg=video,
                                     timeout=UI_TIMEOUT_MS)
        await expect(page.get_by_test_id("chat-item-0")).to_have_attribute("data-state", re.compile("past|current"))
        await chat_marker.click()
        await page.wait_for_function(
            "([v, t]) => !v.seeking && Math.abs(v.currentTime - t) <= 1.0", arg=[video, marker_offset],
            timeout=UI_TIMEOUT_MS)
        at = await page.evaluate("(v) => v.currentTime", video)
        assert abs(at - marker_offset) <= 1.0, (at, marker_offset)
        playhead_pct = await page.evaluate(
            "() => parseFloat(document.querySelector('[data-testid=playhead]').style.left)")
        assert abs(playhead_pct - 100 * at / duration) < 3, (playhead_pct, at, duration)

        # The side panel reveals what has happened by now: the shopper's message, not yet the
        # agent's answer (it came ~1 s later).
        await expect(page.get_by_test_id("chat-item-0")).to_have_attribute("data-state", "current")
        await expect(page.get_by_test_id("chat-item-0")).to_contain_text(SHOPPER_CHAT)
        await expect(page.get_by_test_id("chat-item-1")).to_have_attribute("data-state", "upcoming")
        # The photo was fetched with the token and shows.
        await page.wait_for_function(
            "() => { const i = document.querySelector('[data-testid=photo-item-0] img');"
            " return !!i && i.complete && i.naturalWidth === 320; }", timeout=UI_TIMEOUT_MS)

        # Keyboard: the joined marker is a focusable button; Enter jumps to the start.
        await page.get_by_test_id("marker-joined-0").focus()
        await page.keyboard.press("Enter")
        await page.wait_for_function("(v) => !v.seeking && v.currentTime < 0.6", arg=video, timeout=UI_TIMEOUT_MS)

        # Call facts.
        facts = page.get_by_test_id("call-facts")
        for text in ("Sapphire halo ring", "Rings", "Jewellery", "Ann", "Very helpful", "Sale",
                     "Sold, with resizing", "always records"):
            await expect(facts).to_contain_text(text)
        await expect(page.get_by_test_id("tracks").locator("tbody tr")).to_have_count(5)  # playback + 4 tracks

        # Jump to the agent's answer for the screenshot.
        await chat_marker.click()
        await page.get_by_test_id("marker-chat-1").click()
        await expect(page.get_by_test_id("chat-item-1")).to_have_attribute("data-state", re.compile("current|past"))
        await screenshot(bp, "qa-call")

        # Score it.
        for index, criterion in enumerate(CRITERIA):
            await page.get_by_test_id(f"score-{criterion}").select_option(str(5 - index % 2))
        await page.get_by_test_id("score-comment").fill("Warm greeting and accurate stone facts. Offer the care guide.")
        await page.get_by_test_id("save-scorecard").click()
        saved = page.get_by_test_id("saved-scorecard")
        await expect(saved).to_be_visible(timeout=UI_TIMEOUT_MS)
        await expect(saved).to_contain_text("92 %")  # (5+4+5+4+5) / 25
        await expect(saved).to_contain_text("Offer the care guide")
        await screenshot(bp, "qa-scored")

        # Listed on the Scorecards tab, and the results row says "Scored".
        await page.get_by_test_id("tab-scorecards").click()
        card_row = page.get_by_test_id(f"scorecard-row-{call_id}")
        await expect(card_row).to_be_visible(timeout=UI_TIMEOUT_MS)
        await expect(card_row).to_contain_text("92 %")
        await screenshot(bp, "qa-scorecards")
        await page.get_by_test_id("tab-calls").click()
        await expect(page.get_by_test_id(f"call-row-{call_id}")).to_contain_text("Scored")

        assert not page_errors(bp), "uncaught errors in the page:\n" + "\n".join(page_errors(bp))
    except BaseException:
        print(await bp.diagnostics(), flush=True)
        print(f"=== server output (tail) ===\n{silkline_server.log_tail()}", flush=True)
        raise
    finally:
        await bp.close()


async def test_qa_page_refuses_an_agent_token(chromium_browser, silkline_server):
    """Staff without a QA role get the sign-in again, with the reason in words."""
    async with aiohttp.ClientSession() as http:
        agent = await demo_token(http, silkline_server.url, "agent", name="Ann")
    bp = await BrowserPage.open(chromium_browser, f"{silkline_server.url}/qa", "qa")
    try:
        await bp.page.get_by_test_id("token-input").fill(agent["token"])
        await bp.page.get_by_test_id("token-sign-in").click()
        await expect(bp.page.get_by_test_id("error")).to_contain_text(AUTH_WORDS, timeout=UI_TIMEOUT_MS)
        await expect(bp.page.get_by_test_id("error")).to_contain_text("agent role may not")
        await expect(bp.page.get_by_test_id("token-sign-in")).to_be_visible()
        assert not page_errors(bp), page_errors(bp)
    finally:
        await bp.close()
