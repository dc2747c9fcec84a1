"""The contact centre end to end in headless Chromium, through the real server:

1. shopper widget -> queue -> agent accepts -> video both ways -> chat and a photo -> hang up
   -> rating; the call record holds the whole timeline and the rating;
2. a supervisor monitors silently (both sides' media, nobody hears them), then whispers (only
   the agent hears), then barges in (both hear);
3. a voice-only shopper (no camera asked for) still sees the agent; "call me back instead"
   while waiting; no agent signed in -> unavailable -> callback form -> stored, and an agent
   marks it done.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from playwright.async_api import expect

from tests.support import browser as browser_support
from tests.support.browser import (
    MEDIA_FLOWING_JS,
    PAGE_TIMEOUT_MS,
    RECORD_GET_USER_MEDIA_JS,
    TRANSCEIVER_STATS_JS,
    BrowserPage,
    assert_no_page_errors,
    call_timeline,
    demo_token,
    expect_state,
    get_json,
    pages_of,
    poll,
    screenshot,
    state_of,
    tiny_png,
)
from tests.support.eventually import eventually

pytestmark = pytest.mark.asyncio

# The fixtures, by assignment (an import would read as unused and then redefined).
silkline_server = browser_support.silkline_server
chromium_browser = browser_support.chromium_browser

T = PAGE_TIMEOUT_MS  # ms: generous, loopback on a loaded CI machine
EXTRA_AUDIO = 2  # shopper/agent transceiver index of the supervisor's voice


async def sign_in_agent(browser, server, name: str = "Ann") -> BrowserPage:
    """The agent console's sign-in form (name + button, demo token)."""
    agent = await BrowserPage.open(browser, f"{server.url}/agent", f"agent {name}")
    await agent.page.get_by_test_id("name-input").fill(name)
    await agent.page.get_by_test_id("sign-in").click()
    await expect_state(agent, "available")
    await expect(agent.page.get_by_test_id("agent-state")).to_have_attribute("data-state", "available")
    return agent


async def call_from_shop(shopper: BrowserPage, mode: str = "video") -> None:
    await shopper.page.get_by_test_id("call-button").click()
    await shopper.page.get_by_test_id(f"mode-{mode}").click()


async def media_flowing(bp: BrowserPage) -> None:
    video = await bp.page.get_by_test_id("remote-video").element_handle(timeout=T)
    await bp.page.wait_for_function(MEDIA_FLOWING_JS, arg=video, timeout=T, polling=100)


async def extra_audio_packets(bp: BrowserPage) -> int:
    stats = await bp.page.evaluate(TRANSCEIVER_STATS_JS)
    assert stats and len(stats) == 3, f"{bp.name}: expected 3 transceivers, got {stats}"
    assert stats[EXTRA_AUDIO]["kind"] == "audio"
    return stats[EXTRA_AUDIO]["packets"]


async def connect(browser, server, *, mode="video", shop_path="/demo/shop"):
    agent = await sign_in_agent(browser, server)
    shopper = await BrowserPage.open(browser, f"{server.url}{shop_path}", "shopper")
    await call_from_shop(shopper, mode)
    await expect_state(shopper, re.compile("waiting|ringing"))
    await expect(agent.page.get_by_test_id("accept-call")).to_be_visible(timeout=T)
    await agent.page.get_by_test_id("accept-call").click()
    await asyncio.gather(expect_state(shopper, "connected"), expect_state(agent, "connected"))
    return agent, shopper


# --------------------------------------------------------------------------------------------


async def test_shopper_call_chat_photo_rating_and_timeline(chromium_browser, silkline_server):
    server = silkline_server
    async with pages_of(server) as pages:
        agent = await sign_in_agent(chromium_browser, server, "Ann")
        pages.append(agent)
        # The shopper looks at a phone first, then the ring: both pages go with the call.
        shopper = await BrowserPage.open(chromium_browser, f"{server.url}/demo/shop?product=phone", "shopper")
        pages.append(shopper)
        await expect(shopper.page.get_by_role("heading", level=1)).to_contain_text("smartphone")
        await shopper.page.get_by_role("link", name="Rings").click()
        await expect(shopper.page.get_by_role("heading", level=1)).to_have_text("Aurelia sapphire ring")
        await shopper.page.get_by_test_id("customer-select").select_option("cust-1042")  # "signed in"

        await shopper.page.get_by_test_id("call-button").click()
        await expect(shopper.page.get_by_test_id("mode-voice")).to_be_visible()
        await screenshot(shopper, "cc-shop-choose")
        await shopper.page.get_by_test_id("mode-video").click()
        await expect_state(shopper, re.compile("waiting|ringing"))

        # The agent sees who is calling, from where, in which queue.
        await expect(agent.page.get_by_test_id("accept-call")).to_be_visible(timeout=T)
        incoming = agent.page.locator("#incoming")
        await expect(incoming).to_contain_text("Jewellery queue")
        await expect(incoming).to_contain_text("Aurelia sapphire ring")
        await expect(incoming).to_contain_text("€2,480")
        await expect(incoming).to_contain_text("rings → Jewellery queue")
        await expect(incoming).to_contain_text("cust-1042")
        trail = agent.page.get_by_test_id("trajectory").locator("li")
        await expect(trail).to_have_count(2)
        await expect(trail.nth(0)).to_contain_text("smartphone")
        await expect(agent.page.get_by_test_id("incoming-waited")).to_contain_text("Waited")
        await screenshot(agent, "cc-agent-incoming")
        await agent.page.get_by_test_id("accept-call").click()

        # Video (and audio) both ways: framesDecoded > 0 on each side.
        await asyncio.gather(media_flowing(shopper), media_flowing(agent))
        await asyncio.gather(expect_state(shopper, "connected"), expect_state(agent, "connected"))
        await expect(agent.page.get_by_test_id("agent-state")).to_have_attribute("data-state", "busy")
        call_id = await shopper.page.evaluate("() => window.silkline.callId()")
        assert call_id and call_id == await agent.page.evaluate("() => window.silkline.callId()")

        # Chat: the shopper writes, both logs show it.
        await shopper.page.get_by_test_id("chat-input").fill("Is the stone heated?")
        await shopper.page.get_by_test_id("chat-send").click()
        for bp in (agent, shopper):
            await expect(bp.page.get_by_test_id("chat-log")).to_contain_text("Is the stone heated?", timeout=T)
        await agent.page.get_by_test_id("chat-input").fill("Yes, gently: it says so on the GIA report.")
        await agent.page.get_by_test_id("chat-input").press("Enter")
        await expect(shopper.page.get_by_test_id("chat-log")).to_contain_text("GIA report", timeout=T)

        # A photo: uploaded by the shopper, shown (fetched with the token) on both pages.
        await shopper.page.get_by_test_id("photo-input").set_input_files(
            {"name": "my-ring.png", "mimeType": "image/png", "buffer": tiny_png()})
        for bp in (agent, shopper):
            img = bp.page.get_by_test_id("chat-log").get_by_test_id("chat-photo")
            await expect(img).to_have_count(1, timeout=T)
            await bp.page.wait_for_function(
                "(img) => img.complete && img.naturalWidth === 64 && img.src.startsWith('blob:')",
                arg=await img.element_handle(), timeout=T)
        # A file that is not a photo is refused in words, before any upload.
        await shopper.page.get_by_test_id("photo-input").set_input_files(
            {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"})
        await expect(shopper.page.get_by_test_id("widget-error")).to_contain_text("Only JPEG and PNG")
        # A snapshot of the shopper's video: for the agent only.
        await agent.page.get_by_test_id("take-snapshot").click()
        snap = agent.page.get_by_test_id("chat-log").get_by_test_id("chat-snapshot")
        await expect(snap).to_have_count(1, timeout=T)
        await agent.page.wait_for_function("(img) => img.complete && img.naturalWidth > 100",
                                           arg=await snap.element_handle(), timeout=T)
        await expect(shopper.page.get_by_test_id("chat-log").get_by_test_id("chat-snapshot")).to_have_count(0)
        await screenshot(shopper, "cc-shop-chat")
        await screenshot(agent, "cc-agent-chat")

        # The shopper hangs up and rates the call.
        await shopper.page.get_by_test_id("hang-up").click()
        await asyncio.gather(expect_state(shopper, "ended"), expect_state(agent, "ended"))
        await expect(state_of(shopper)).to_contain_text("You ended the call")
        await shopper.page.get_by_test_id("rating-5").click()
        await expect(shopper.page.get_by_test_id("rating-5")).to_have_attribute("aria-pressed", "true")
        await shopper.page.get_by_test_id("rating-comment").fill("Very patient and clear, thank you!")
        await screenshot(shopper, "cc-shop-rating")
        await shopper.page.get_by_test_id("submit-rating").click()
        await expect(shopper.page.get_by_test_id("thanks")).to_contain_text("Thank you for your feedback")

        # The agent wraps up (countdown shown) and is available again.
        await expect(agent.page.get_by_test_id("wrap-up-timer")).to_contain_text("available again in")
        await agent.page.get_by_test_id("disposition").select_option("sale")
        await agent.page.get_by_test_id("wrap-notes").fill("Sold in size 54; ships Monday.")
        await screenshot(agent, "cc-agent-wrap-up")
        await agent.page.get_by_test_id("submit-wrap-up").click()
        await expect_state(agent, "available")
        await expect(agent.page.get_by_test_id("agent-state")).to_have_attribute("data-state", "available")

        # The call record: the whole timeline, the page context, the rating, the wrap-up.
        record, kinds = await call_timeline(server, call_id)
        for kind in ("requested", "queued", "offered", "accepted", "connected", "chat", "photo", "snapshot",
                     "ended", "rated"):
            assert kind in kinds, f"{kind!r} missing from the timeline {kinds}"
        order = [kinds.index(k) for k in ("requested", "queued", "offered", "accepted", "connected", "ended", "rated")]
        assert order == sorted(order), f"timeline out of order: {kinds}"
        assert record["rating"]["score"] == 5
        assert record["rating"]["comment"] == "Very patient and clear, thank you!"
        assert record["queue"] == "jewellery" and record["outcome"] == "answered"
        assert record["customer_id"] == "cust-1042"
        ctx = record["context"]
        assert ctx["category"] == "rings" and ctx["product_id"] == "AUR-152-WG" and ctx["price"] == 2480
        assert ctx["media"] == "video" and ctx["locale"]
        assert len(ctx["trajectory"]) == 2 and "product=phone" in ctx["trajectory"][0]
        assert record["disposition"] == "sale" and record["notes"] == "Sold in size 54; ships Monday."
        assert [e["text"] for e in record["events"] if e["type"] == "chat"][0] == "Is the stone heated?"
        assert_no_page_errors(*pages)


async def test_supervisor_monitors_silently_then_whispers_then_barges(chromium_browser, silkline_server):
    server = silkline_server
    async with pages_of(server) as pages:
        agent, shopper = await connect(chromium_browser, server)
        pages += [agent, shopper]
        await asyncio.gather(media_flowing(shopper), media_flowing(agent))
        call_id = await shopper.page.evaluate("() => window.silkline.callId()")

        sup = await BrowserPage.open(chromium_browser, f"{server.url}/supervisor", "supervisor")
        pages.append(sup)
        await sup.page.get_by_test_id("name-input").fill("Sue")
        await sup.page.get_by_test_id("sign-in").click()
        await expect(sup.page.get_by_test_id("connection-state")).to_have_attribute("data-state", "live", timeout=T)
        calls = sup.page.get_by_test_id("calls-table")
        await expect(calls).to_contain_text("Connected", timeout=T)
        await expect(calls).to_contain_text("Ann")
        await expect(sup.page.get_by_test_id("agents-table")).to_contain_text("In a call")
        await expect(sup.page.get_by_test_id("queues-table")).to_contain_text("Jewellery")
        node_row = sup.page.get_by_test_id("nodes-table").locator(f'tr[data-node$="-{server.proc.pid}"]')
        await expect(node_row).to_have_attribute("data-state", "active", timeout=T)  # this node, by its pid
        await expect(node_row).to_contain_text("Active")
        await screenshot(sup, "cc-supervisor-live")

        await sup.page.get_by_test_id(f"monitor-{call_id}").click()
        mode = sup.page.get_by_test_id("monitor-mode")
        await expect(mode).to_have_attribute("data-mode", "silent", timeout=T)
        await expect(mode).to_contain_text("Nobody hears you")

        # The supervisor gets both sides: two video receivers decode frames, both audios arrive,
        # and its own microphone is sending.
        stats = await poll(sup.page, TRANSCEIVER_STATS_JS,
                           lambda s: bool(s) and len(s) == 4 and all(s[i]["frames"] > 0 for i in (2, 3))
                           and all(s[i]["packets"] > 0 for i in (0, 1)) and s[0]["sent"] > 50,
                           what="both sides' media on the supervisor page")
        assert [t["kind"] for t in stats] == ["audio", "audio", "video", "video"], stats
        await screenshot(sup, "cc-supervisor-silent")

        # Silent: neither conversant receives anything on the supervisor slot, nor a notice.
        assert await extra_audio_packets(shopper) == 0
        assert await extra_audio_packets(agent) == 0
        await expect(shopper.page.get_by_test_id("supervisor-notice")).to_be_hidden()
        await expect(agent.page.get_by_test_id("supervisor-notice")).to_be_hidden()

        # Whisper: the agent hears the supervisor (and is told so); the shopper does not.
        await sup.page.get_by_test_id("whisper").click()
        await expect(mode).to_have_attribute("data-mode", "whisper", timeout=T)
        await expect(mode).to_contain_text("only the agent hears you")
        await expect(agent.page.get_by_test_id("supervisor-notice")).to_contain_text("only you can hear them", timeout=T)
        await poll(agent.page, TRANSCEIVER_STATS_JS, lambda s: s[EXTRA_AUDIO]["packets"] > 25,
                   what="the supervisor's whisper on the agent page")
        assert await extra_audio_packets(shopper) == 0
        await expect(shopper.page.get_by_test_id("supervisor-notice")).to_be_hidden()
        await screenshot(sup, "cc-supervisor-whisper")
        await screenshot(agent, "cc-agent-whisper")

        # Barge in: both hear the supervisor; the shopper is told.
        await sup.page.get_by_test_id("barge").click()
        await expect(mode).to_have_attribute("data-mode", "barge", timeout=T)
        await expect(shopper.page.get_by_test_id("supervisor-notice")).to_contain_text("A supervisor joined the call", timeout=T)
        await poll(shopper.page, TRANSCEIVER_STATS_JS, lambda s: s[EXTRA_AUDIO]["packets"] > 25,
                   what="the supervisor's voice on the shopper page")
        await screenshot(shopper, "cc-shop-barge")

        # Back to silent, then stop: the notices go away.
        await sup.page.get_by_test_id("silent").click()
        await expect(mode).to_have_attribute("data-mode", "silent", timeout=T)
        await expect(shopper.page.get_by_test_id("supervisor-notice")).to_be_hidden(timeout=T)
        await expect(agent.page.get_by_test_id("supervisor-notice")).to_be_hidden(timeout=T)
        await sup.page.get_by_test_id("stop-monitoring").click()
        await expect(sup.page.get_by_test_id("monitor-panel")).to_be_hidden(timeout=T)
        await expect(sup.page.get_by_test_id(f"monitor-{call_id}")).to_have_text("Monitor", timeout=T)

        async def stopped_on_record() -> list[str] | None:
            # the page closes its monitor at the click; the server records the stop a moment later
            _record, kinds = await call_timeline(server, call_id)
            return kinds if "monitor_stopped" in kinds else None
        kinds = await eventually(stopped_on_record, timeout=T / 1000, message="monitor_stopped on the record")
        assert "monitor_started" in kinds and kinds.count("monitor_mode") == 3, kinds

        # The call is still fine for its two parties.
        await expect_state(shopper, "connected")
        await shopper.page.get_by_test_id("hang-up").click()
        await asyncio.gather(expect_state(shopper, "ended"), expect_state(agent, "ended"))
        await expect(sup.page.get_by_test_id("calls-table")).to_contain_text("No calls right now", timeout=T)

        # Figures over a period, with the chart.
        await sup.page.get_by_test_id("load-figures").click()
        await expect(sup.page.get_by_test_id("figures-queues")).to_contain_text("Jewellery", timeout=T)
        await expect(sup.page.get_by_test_id("figures-agents")).to_contain_text("Ann")
        await expect(sup.page.get_by_test_id("figures-chart").locator("svg rect.bar")).to_have_count(3)
        await sup.page.get_by_test_id("figures-chart").scroll_into_view_if_needed()
        await screenshot(sup, "cc-supervisor-figures")
        assert_no_page_errors(*pages)


async def test_voice_only_then_callbacks(chromium_browser, silkline_server):
    server = silkline_server
    async with pages_of(server) as pages:
        agent = await sign_in_agent(chromium_browser, server, "Ann")
        pages.append(agent)
        shopper = await BrowserPage.open(chromium_browser, f"{server.url}/demo/shop?product=phone", "voice shopper",
                                         init_scripts=(RECORD_GET_USER_MEDIA_JS,))
        pages.append(shopper)
        await call_from_shop(shopper, "voice")
        await expect(agent.page.get_by_test_id("accept-call")).to_be_visible(timeout=T)
        await expect(agent.page.locator("#incoming")).to_contain_text("Incoming voice call")
        await expect(agent.page.get_by_test_id("badge-voice")).to_have_text("Voice only")
        await expect(agent.page.locator("#incoming")).to_contain_text("Electronics queue")
        await agent.page.get_by_test_id("accept-call").click()

        # The shopper sees (and hears) the agent; the agent hears the shopper.
        await media_flowing(shopper)
        await asyncio.gather(expect_state(shopper, "connected"), expect_state(agent, "connected"))
        await poll(agent.page, TRANSCEIVER_STATS_JS, lambda s: bool(s) and s[0]["packets"] > 0,
                   what="the shopper's voice on the agent page")
        # No camera was asked for, nothing is sent on video, and there is no self view.
        gum = await shopper.page.evaluate("() => window.__gumCalls")
        assert gum and all(not c.get("video") for c in gum), gum
        stats = await shopper.page.evaluate(TRANSCEIVER_STATS_JS)
        assert stats[1]["kind"] == "video" and stats[1]["direction"] == "recvonly" and stats[1]["sent"] == 0, stats
        await expect(shopper.page.get_by_test_id("local-video")).to_be_hidden()
        await expect(shopper.page.get_by_test_id("camera-off")).to_be_hidden()
        await expect(agent.page.locator("#stage-note")).to_contain_text("Voice-only call")
        await screenshot(shopper, "cc-shop-voice")
        await screenshot(agent, "cc-agent-voice")
        await agent.page.get_by_test_id("hang-up").click()
        await expect_state(shopper, "ended")
        await expect(shopper.page.get_by_test_id("submit-rating")).to_be_visible()  # answered: may rate

        # The agent takes a break (this ends the wrap-up): the next call waits in the queue,
        # and its shopper asks for a callback instead.
        await expect_state(agent, "ended")
        await agent.page.get_by_test_id("set-away").click()
        await expect_state(agent, "away")
        await expect(agent.page.get_by_test_id("agent-state")).to_have_attribute("data-state", "away")
        waiting = await BrowserPage.open(chromium_browser, f"{server.url}/demo/shop", "waiting shopper")
        pages.append(waiting)
        await call_from_shop(waiting, "video")
        await expect_state(waiting, "waiting")
        # the only expert is on a break: the callback is offered instead of "you're next" (issue 10)
        await expect(waiting.page.get_by_test_id("queue-position")).to_contain_text(
            "No expert can answer right now", timeout=T)
        await expect(waiting.page.get_by_test_id("cancel-call")).to_be_visible()
        await screenshot(waiting, "cc-shop-waiting")
        await waiting.page.get_by_test_id("callback-instead").click()
        await waiting.page.get_by_test_id("callback-name").fill("Maria Rossi")
        await waiting.page.get_by_test_id("callback-contact").fill("maria@example.com")
        await waiting.page.get_by_test_id("callback-question").fill("Does it come in yellow gold?")
        await waiting.page.get_by_test_id("submit-callback").click()
        await expect_state(waiting, "callback-sent")
        await expect(waiting.page.get_by_test_id("thanks")).to_contain_text("we'll call you back")
        await expect(agent.page.get_by_test_id("callbacks-list")).to_contain_text("Maria Rossi", timeout=T)

        # Nobody signed in: the call is unavailable, in words, and the shopper leaves a request.
        await agent.close()
        pages.remove(agent)
        alone = await BrowserPage.open(chromium_browser, f"{server.url}/demo/shop", "unserved shopper")
        pages.append(alone)
        # nobody on duty: the widget says so before calling and goes straight to the callback
        await alone.page.get_by_test_id("call-button").click()
        await expect(alone.page.get_by_test_id("availability")).to_contain_text(
            "No expert is online right now", timeout=T)
        await alone.page.get_by_test_id("callback-now").click()
        await expect(alone.page.get_by_test_id("callback-name")).to_be_visible(timeout=T)
        await alone.page.get_by_test_id("submit-callback").click()  # empty: refused in words
        await expect(alone.page.locator("silkline-call .sl-callback .sl-form-error")).to_contain_text("your name")
        await alone.page.get_by_test_id("callback-name").fill("Jonas Berg")
        await alone.page.get_by_test_id("callback-contact").fill("+46 70 123 45 67")
        await alone.page.get_by_test_id("callback-question").fill("Is the ring available in size 60?")
        await screenshot(alone, "cc-shop-unavailable")
        await alone.page.get_by_test_id("submit-callback").click()
        await expect_state(alone, "callback-sent")
        await screenshot(alone, "cc-shop-callback-thanks")

        supervisor = await demo_token(server, "supervisor")
        callbacks = (await get_json(server, "/api/callbacks", supervisor))["callbacks"]
        by_name = {c["name"]: c for c in callbacks}
        assert set(by_name) == {"Maria Rossi", "Jonas Berg"}, callbacks
        assert by_name["Jonas Berg"]["contact"] == "+46 70 123 45 67"
        assert by_name["Jonas Berg"]["question"] == "Is the ring available in size 60?"
        assert by_name["Jonas Berg"]["context"]["category"] == "rings"
        assert by_name["Maria Rossi"]["question"] == "Does it come in yellow gold?"

        # An agent signs in, sees both requests and marks one done.
        agent2 = await sign_in_agent(chromium_browser, server, "Ben")
        pages.append(agent2)
        listing = agent2.page.get_by_test_id("callbacks-list")
        await expect(listing).to_contain_text("Jonas Berg", timeout=T)
        await expect(listing).to_contain_text("Maria Rossi")
        await screenshot(agent2, "cc-agent-callbacks")
        jonas = by_name["Jonas Berg"]["call_id"]
        await agent2.page.get_by_test_id(f"callback-done-{jonas}").click()
        await expect(agent2.page.get_by_test_id(f"callback-{jonas}")).to_have_count(0, timeout=T)
        left = (await get_json(server, "/api/callbacks", supervisor))["callbacks"]
        assert [c["name"] for c in left] == ["Maria Rossi"], left
        assert_no_page_errors(*pages)


async def test_agent_transfers_to_a_colleague(chromium_browser, silkline_server):
    """Blind transfer to a named agent: the first agent wraps up, the shopper stays on the line,
    waits ("transferring"), and talks to the colleague on the same peer connection."""
    server = silkline_server
    async with pages_of(server) as pages:
        ann, shopper = await connect(chromium_browser, server)
        pages += [ann, shopper]
        await asyncio.gather(media_flowing(shopper), media_flowing(ann))
        ben = await sign_in_agent(chromium_browser, server, "Ben")
        pages.append(ben)
        ben_id = await ben.page.evaluate("() => window.silkline.session().agentId")
        shopper_peer = await shopper.page.evaluate("() => { window.__peer = window.silkline.peer(); return true; }")
        assert shopper_peer

        # a pick list of the colleagues free now, by name (the id only as the option's value)
        target = ann.page.get_by_test_id("transfer-target")
        await target.focus()
        await expect(target.locator("#transfer-agents option")).to_have_text(["Ben"], timeout=T)
        await expect(target.locator("#transfer-queues option").first).to_contain_text("queue")
        assert ben_id not in await target.inner_text()
        await target.select_option(label="Ben")
        assert await target.input_value() == f"agent:{ben_id}"
        await ann.page.get_by_test_id("transfer").click()
        await expect_state(ann, "ended")
        await expect(ann.page.locator("#ended-title")).to_have_text("Call transferred")
        await expect(ann.page.get_by_test_id("agent-state")).to_have_attribute("data-state", "wrap_up")
        await shopper.page.wait_for_function("() => window.silkline.history().includes('waiting')", timeout=T)

        await expect(ben.page.get_by_test_id("accept-call")).to_be_visible(timeout=T)
        frames_before = await shopper.page.evaluate(TRANSCEIVER_STATS_JS)
        await ben.page.get_by_test_id("accept-call").click()
        await asyncio.gather(expect_state(shopper, "connected"), expect_state(ben, "connected"))
        await media_flowing(ben)
        # The shopper's video keeps going, now from Ben, on the same peer connection.
        before = frames_before[1]["frames"]
        await poll(shopper.page, TRANSCEIVER_STATS_JS, lambda s: s[1]["frames"] > before + 30,
                   what="the new agent's video on the shopper page")
        assert await shopper.page.evaluate("() => window.silkline.peer() === window.__peer")
        await expect(shopper.page.locator("silkline-call .sl-title")).to_contain_text("Ben")
        await shopper.page.get_by_test_id("hang-up").click()
        await asyncio.gather(expect_state(shopper, "ended"), expect_state(ben, "ended"))

        call_id = await shopper.page.evaluate("() => window.silkline.callId()")
        _record, kinds = await call_timeline(server, call_id)
        assert kinds.count("accepted") == 2 and "transferred" in kinds, kinds
        assert_no_page_errors(*pages)


async def test_recording_consent_indicator_and_pause(chromium_browser, silkline_server):
    """The general queue asks before recording: the shopper allows it, both pages show the
    indicator, the agent pauses and resumes the recording, and both pages follow."""
    server = silkline_server
    async with pages_of(server) as pages:
        ann = await sign_in_agent(chromium_browser, server, "Ann")
        pages.append(ann)
        # Any page can embed the widget: this one has no category, so the call goes to "general".
        shopper = await BrowserPage.open(chromium_browser, f"{server.url}/static/embed-example.html", "shopper")
        pages.append(shopper)
        await call_from_shop(shopper, "video")
        await expect(ann.page.get_by_test_id("accept-call")).to_be_visible(timeout=T)
        await expect(ann.page.locator("#incoming")).to_contain_text("General queue")
        await ann.page.get_by_test_id("accept-call").click()
        await asyncio.gather(expect_state(shopper, "connected"), expect_state(ann, "connected"))

        await expect(shopper.page.get_by_test_id("consent-yes")).to_be_visible(timeout=T)
        await expect(shopper.page.locator("silkline-call .sl-consent")).to_contain_text("may be recorded for quality")
        for bp in (shopper, ann):
            await expect(bp.page.get_by_test_id("recording-indicator")).to_be_hidden()
        await screenshot(shopper, "cc-shop-consent")
        await shopper.page.get_by_test_id("consent-yes").click()
        for bp in (shopper, ann):
            await expect(bp.page.get_by_test_id("recording-indicator")).to_have_text("● Recording", timeout=T)
        await expect(shopper.page.get_by_test_id("consent-yes")).to_be_hidden()

        await ann.page.get_by_test_id("pause-recording").click()
        for bp in (shopper, ann):
            await expect(bp.page.get_by_test_id("recording-indicator")).to_have_text("Recording paused", timeout=T)
        await expect(ann.page.get_by_test_id("resume-recording")).to_be_visible()
        await expect(ann.page.get_by_test_id("pause-recording")).to_be_hidden()
        await screenshot(ann, "cc-agent-recording-paused")
        await ann.page.get_by_test_id("resume-recording").click()
        for bp in (shopper, ann):
            await expect(bp.page.get_by_test_id("recording-indicator")).to_have_text("● Recording", timeout=T)

        await ann.page.get_by_test_id("hang-up").click()
        await asyncio.gather(expect_state(shopper, "ended"), expect_state(ann, "ended"))
        for bp in (shopper, ann):
            await expect(bp.page.get_by_test_id("recording-indicator")).to_be_hidden()
        call_id = await shopper.page.evaluate("() => window.silkline.callId()")
        record, kinds = await call_timeline(server, call_id)
        assert record["queue"] == "general" and record.get("recording_consent") is True, record
        for kind in ("recording_consent_asked", "recording_consent", "recording_started",
                     "recording_paused", "recording_resumed"):
            assert kind in kinds, f"{kind!r} missing from {kinds}"
        assert_no_page_errors(*pages)
