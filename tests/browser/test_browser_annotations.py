"""Marks on live video in headless Chromium: the agent points and draws on the shopper's video
(on `annotate-surface`, laid over the picture of the remote video); the shopper's page draws
the same mark on its `annotation-overlay` canvas over the self view, at the same normalized
point of the picture, mirrored as the self view is. On a desktop and a phone viewport. Then
freeze-frame: a still from the SFU, a circle drawn on it, sent into the chat, where the
shopper's page shows it with the circle.

Prints `ANNOTATION_LATENCY_MS p50=… p95=… n=…`: the agent's send time (the pointer move
leaving the page) to the shopper's first frame showing that mark, both read from
`performance.timeOrigin + performance.now()` on the same machine.
"""

from __future__ import annotations

import asyncio
import statistics

import pytest
from playwright.async_api import expect

from tests.browser.test_browser_call import connect_call, hang_up_and_expect_ended
from tests.support import browser as browser_support
from tests.support.browser import BrowserPage, dump, screenshot

pytestmark = pytest.mark.asyncio

silkline_server = browser_support.silkline_server
chromium_browser = browser_support.chromium_browser

RED = (0xFF, 0x3B, 0x30)
GREEN = (0x34, 0xC7, 0x59)
BLUE = (0x0A, 0x84, 0xFF)  # the shopper's pointer
MARK_TIMEOUT_MS = 10_000

# The colour found near a normalized point of the picture on the shopper's overlay canvas.
# The picture rect is worked out here from the self view's size (object-fit: cover) and the
# canvas's size, independently of the page's own code; mirrored when the self view is.
OVERLAY_PIXELS_JS = """
([x, y, radius]) => {
  const root = document.querySelector('silkline-call').shadowRoot;
  const canvas = root.querySelector('[data-testid="annotation-overlay"]');
  const video = root.querySelector('[data-testid="local-video"]');
  const t = getComputedStyle(video).transform;
  const mirrored = t !== 'none' && new DOMMatrixReadOnly(t).a < 0;
  const cw = canvas.width, ch = canvas.height, vw = video.videoWidth, vh = video.videoHeight;
  if (!cw || !ch || !vw || !vh || canvas.hidden) return null;
  const scale = Math.max(cw / vw, ch / vh);
  const w = vw * scale, h = vh * scale;
  const left = (cw - w) / 2, top = (ch - h) / 2;
  const at = (nx) => Math.round(left + nx * (w - 1));
  const px = at(mirrored ? 1 - x : x), py = Math.round(top + y * (h - 1));
  const unmirroredPx = at(x);
  const ctx = canvas.getContext('2d');
  const read = (cx) => {
    const size = 2 * radius + 1;
    const d = ctx.getImageData(cx - radius, py - radius, size, size).data;
    const out = [];
    for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 200) out.push([d[i], d[i + 1], d[i + 2]]);
    return out;
  };
  return { mirrored, canvas: [cw, ch], css: [canvas.clientWidth, canvas.clientHeight],
           video: [video.clientWidth, video.clientHeight], at: [px, py],
           pixels: read(px), unmirrored: px === unmirroredPx ? null : read(unmirroredPx) };
}
"""


def near(pixel, colour, tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))


async def overlay_shows(shopper: BrowserPage, point, colour, radius: int) -> dict:
    """Waits until the shopper's overlay shows `colour` near `point`; returns what it read."""
    last = None
    for _ in range(100):
        last = await shopper.page.evaluate(OVERLAY_PIXELS_JS, [point[0], point[1], radius])
        if last and any(near(p, colour) for p in last["pixels"]):
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"the shopper's overlay does not show {colour} at {point}: {last}")


async def surface_box(agent: BrowserPage) -> dict:
    surface = agent.page.get_by_test_id("annotate-surface")
    await expect(surface).to_be_visible(timeout=MARK_TIMEOUT_MS)
    box = await surface.bounding_box()
    assert box and box["width"] > 50 and box["height"] > 50, box
    return box


def at(box: dict, point) -> tuple[float, float]:
    return box["x"] + point[0] * box["width"], box["y"] + point[1] * box["height"]


async def check_surface_over_picture(agent: BrowserPage, box: dict) -> None:
    """The surface covers the remote video's picture exactly (letterboxing left out)."""
    video = await agent.page.evaluate("""() => {
        const v = document.querySelector('[data-testid="remote-video"]');
        const r = v.getBoundingClientRect();
        return {x: r.x, y: r.y, w: r.width, h: r.height, vw: v.videoWidth, vh: v.videoHeight};
    }""")
    scale = min(video["w"] / video["vw"], video["h"] / video["vh"])
    w, h = video["vw"] * scale, video["vh"] * scale
    expected = (video["x"] + (video["w"] - w) / 2, video["y"] + (video["h"] - h) / 2, w, h)
    actual = (box["x"], box["y"], box["width"], box["height"])
    assert all(abs(a - b) <= 2 for a, b in zip(actual, expected, strict=True)), (actual, expected)


async def draw_pointer_and_circle(agent: BrowserPage, shopper: BrowserPage) -> None:
    box = await surface_box(agent)
    await check_surface_over_picture(agent, box)
    mouse = agent.page.mouse

    pointer = (0.3, 0.4)
    await agent.page.get_by_test_id("annotate-pointer").click()
    await mouse.move(*at(box, pointer))
    await mouse.down()
    await mouse.up()
    seen = await overlay_shows(shopper, pointer, RED, radius=1)
    assert seen["mirrored"] is True, seen  # the front camera's self view is a mirror
    assert not any(near(p, RED) for p in seen["unmirrored"] or []), seen  # not at the unmirrored spot

    centre, rim = (0.65, 0.55), (0.75, 0.55)
    await agent.page.get_by_test_id("annotate-color-green").click()
    await agent.page.get_by_test_id("annotate-circle").click()
    await mouse.move(*at(box, centre))
    await mouse.down()
    await mouse.move(*at(box, rim), steps=4)
    await mouse.up()
    ring = await overlay_shows(shopper, rim, GREEN, radius=2)
    inside = await shopper.page.evaluate(OVERLAY_PIXELS_JS, [centre[0], centre[1], 1])
    assert not any(near(p, GREEN) for p in inside["pixels"]), (ring, inside)  # a ring, not a disc
    # the agent sees their own marks over the remote video too
    assert any(near(p, GREEN) for p in await agent_marks_at(agent, rim, 2))


# The opaque pixels near a normalized point of the picture under a marks canvas (the picture is
# letterboxed into the canvas like the video it lies over). ``orEmpty``: [] while the canvas or
# the video has no size yet (a poller asks again), instead of failing.
MARKS_OVER_VIDEO_JS = """([canvasId, videoId, x, y, r, orEmpty]) => {
    const c = document.querySelector(`[data-testid="${canvasId}"]`);
    const v = document.querySelector(`[data-testid="${videoId}"]`);
    if (orEmpty && (!c.width || !v.videoWidth)) return [];
    const s = Math.min(c.width / v.videoWidth, c.height / v.videoHeight);
    const w = v.videoWidth * s, h = v.videoHeight * s;
    const px = Math.round((c.width - w) / 2 + x * (w - 1)), py = Math.round((c.height - h) / 2 + y * (h - 1));
    const d = c.getContext('2d').getImageData(px - r, py - r, 2 * r + 1, 2 * r + 1).data;
    const out = []; for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 200) out.push([d[i], d[i + 1], d[i + 2]]);
    return out;
}"""


async def supervisor_marks_at(sup: BrowserPage, point, radius: int) -> list:
    """The same on the monitoring supervisor's marks over the shopper's tile ([] until it has a size)."""
    return await sup.page.evaluate(MARKS_OVER_VIDEO_JS, ["monitor-annotations", "monitor-video-shopper", point[0],
                                                         point[1], radius, True])


async def agent_marks_at(agent: BrowserPage, point, radius: int) -> list:
    """The opaque pixels near a normalized point of the picture on the agent's marks canvas."""
    return await agent.page.evaluate(MARKS_OVER_VIDEO_JS, ["annotate-marks", "remote-video", point[0], point[1],
                                                         radius, False])


# Where a point of the shopper's picture (as sent) is shown on the page: in the self view,
# object-fit: cover, mirrored.
SELF_VIEW_POINT_JS = """([x, y]) => {
  const root = document.querySelector('silkline-call').shadowRoot;
  const v = root.querySelector('[data-testid="local-video"]');
  const t = getComputedStyle(v).transform;
  const mirrored = t !== 'none' && new DOMMatrixReadOnly(t).a < 0;
  const b = v.getBoundingClientRect();
  const cw = v.clientWidth, ch = v.clientHeight;
  const s = Math.max(cw / v.videoWidth, ch / v.videoHeight);
  const w = v.videoWidth * s, h = v.videoHeight * s;
  return [b.left + v.clientLeft + (cw - w) / 2 + (mirrored ? 1 - x : x) * w,
          b.top + v.clientTop + (ch - h) / 2 + y * h];
}"""


async def shopper_points(agent: BrowserPage, shopper: BrowserPage, touch: bool) -> None:
    """The shopper taps their own picture; the agent sees the shopper's pointer at that spot."""
    spot = (0.3, 0.6)
    await shopper.page.get_by_test_id("annotate-point").click()
    await expect(shopper.page.get_by_test_id("annotate-point")).to_have_attribute("aria-pressed", "true")
    where = await shopper.page.evaluate(SELF_VIEW_POINT_JS, list(spot))
    await (shopper.page.touchscreen.tap(*where) if touch else shopper.page.mouse.click(*where))
    for _ in range(60):
        if any(near(p, BLUE) for p in await agent_marks_at(agent, spot, 2)):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the agent does not see the shopper's pointer at {spot}: "
                         f"{await agent_marks_at(agent, spot, 4)}")


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
async def test_the_shopper_sees_the_agents_marks_where_they_were_drawn(chromium_browser, silkline_server,
                                                                       viewport):
    options = {"shopper_viewport": (390, 844), "shopper_mobile": True} if viewport == "phone" else {}
    agent, shopper = await connect_call(chromium_browser, silkline_server, **options)
    try:
        await draw_pointer_and_circle(agent, shopper)
        await screenshot(agent, f"annotate-agent-{viewport}")
        await screenshot(shopper, f"annotate-shopper-{viewport}")
        # the shopper clears the marks; the agent's view is cleared too
        await shopper.page.get_by_test_id("annotate-clear").click()
        for _ in range(100):
            left = await shopper.page.evaluate(OVERLAY_PIXELS_JS, [0.75, 0.55, 2])
            agent_left = await agent_marks_at(agent, (0.75, 0.55), 2)
            if left and not any(near(p, GREEN) for p in left["pixels"] + agent_left):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"the marks were not cleared: {left}, agent: {agent_left}")
        await shopper_points(agent, shopper, touch=viewport == "phone")
        if viewport == "desktop":
            await label_then_undo(agent, shopper)
            await measure_latency(agent, shopper)
        await hang_up_and_expect_ended(agent, shopper, silkline_server)
    except BaseException:
        print(await dump([agent, shopper], silkline_server), flush=True)
        raise
    finally:
        await agent.close()
        await shopper.close()


LABEL_BOX = (20, 20, 20)  # the dark box behind a text label (as the recorder draws it)


async def label_then_undo(agent: BrowserPage, shopper: BrowserPage) -> None:
    """A text label (typed, then placed with a click) shows on the shopper's side; undo takes it away."""
    box = await surface_box(agent)
    await agent.page.get_by_test_id("annotate-text").click()
    await agent.page.get_by_test_id("annotate-text-input").fill("here")
    anchor = (0.1, 0.1)  # the label's top-left: its box starts there (mirrored: it ends there)
    await agent.page.mouse.click(*at(box, (anchor[0], anchor[1])))
    inside = (anchor[0] + 0.01, anchor[1] + 0.02)
    seen = await shopper.page.evaluate(OVERLAY_PIXELS_JS, [inside[0], inside[1], 1])
    for _ in range(100):
        if seen and any(near(p, LABEL_BOX, 10) for p in seen["pixels"]):
            break
        await asyncio.sleep(0.05)
        seen = await shopper.page.evaluate(OVERLAY_PIXELS_JS, [inside[0], inside[1], 1])
    else:
        raise AssertionError(f"no label on the shopper's overlay: {seen}")
    await agent.page.get_by_test_id("annotate-undo").click()
    for _ in range(100):
        seen = await shopper.page.evaluate(OVERLAY_PIXELS_JS, [inside[0], inside[1], 1])
        if seen and not seen["pixels"]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"undo did not take the label away: {seen}")


async def measure_latency(agent: BrowserPage, shopper: BrowserPage, moves: int = 20) -> None:
    box = await surface_box(agent)
    mouse = agent.page.mouse
    await agent.page.get_by_test_id("annotate-pointer").click()
    await mouse.move(*at(box, (0.2, 0.5)))
    await mouse.down()
    for i in range(moves):
        await mouse.move(*at(box, (0.2 + 0.6 * (i + 1) / moves, 0.5)))
        await asyncio.sleep(0.1)  # slower than the 50 ms coalescing: every move is sent
    await mouse.up()
    await asyncio.sleep(0.5)
    sent = await agent.page.evaluate(
        "() => Object.fromEntries(document.querySelector('[data-testid=\"annotate-surface\"]').annotationSentAt)")
    drawn = await shopper.page.evaluate("""() => Object.fromEntries(document.querySelector('silkline-call')
        .shadowRoot.querySelector('[data-testid="annotation-overlay"]').annotationDrawnAt)""")
    latencies = sorted(drawn[k] - sent[k] for k in sent if k in drawn)
    latencies = latencies[-moves:]  # the moves just made (the earlier marks were drawn too)
    assert len(latencies) >= moves // 2, (len(sent), len(drawn))
    p50 = statistics.median(latencies)
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    print(f"\nANNOTATION_LATENCY_MS p50={p50:.1f} p95={p95:.1f} n={len(latencies)} "
          f"min={latencies[0]:.1f} max={latencies[-1]:.1f}", flush=True)
    assert all(v > 0 for v in latencies), latencies  # drawn after it was sent: the clocks agree


# The shopper's chat photos, drawn into a canvas: the colour near a normalized point of each.
CHAT_PHOTO_PIXELS_JS = """
async ([x, y, radius]) => {
  const root = document.querySelector('silkline-call').shadowRoot;
  const out = [];
  for (const img of root.querySelectorAll('[data-testid="chat-photo"] img, img[data-testid="chat-photo"]')) {
    if (!img.complete || !img.naturalWidth) continue;
    const c = document.createElement('canvas');
    c.width = img.naturalWidth; c.height = img.naturalHeight;
    const ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const px = Math.round(x * (c.width - 1)), py = Math.round(y * (c.height - 1));
    const d = ctx.getImageData(px - radius, py - radius, 2 * radius + 1, 2 * radius + 1).data;
    const pixels = [];
    for (let i = 0; i < d.length; i += 4) pixels.push([d[i], d[i + 1], d[i + 2]]);
    out.push({ size: [c.width, c.height], pixels });
  }
  return out;
}
"""


async def test_freeze_frame_into_the_chat(chromium_browser, silkline_server):
    agent, shopper = await connect_call(chromium_browser, silkline_server)
    try:
        await agent.page.get_by_test_id("annotate-freeze").click()
        await expect(agent.page.get_by_test_id("annotate-still")).to_be_visible(timeout=MARK_TIMEOUT_MS)
        box = await surface_box(agent)
        still = await agent.page.evaluate("""() => {
            const i = document.querySelector('#freeze-img'); const r = i.getBoundingClientRect();
            return {x: r.x, y: r.y, w: r.width, h: r.height, nw: i.naturalWidth, nh: i.naturalHeight};
        }""")
        assert still["nw"] >= 320, still  # the SFU's full-resolution still
        scale = min(still["w"] / still["nw"], still["h"] / still["nh"])
        assert abs(box["width"] - still["nw"] * scale) <= 2 and abs(box["height"] - still["nh"] * scale) <= 2

        centre, rim = (0.5, 0.5), (0.62, 0.5)
        mouse = agent.page.mouse
        await agent.page.get_by_test_id("annotate-circle").click()
        await mouse.move(*at(box, centre))
        await mouse.down()
        await mouse.move(*at(box, rim), steps=4)
        await mouse.up()
        await screenshot(agent, "annotate-freeze")
        await agent.page.get_by_test_id("annotate-send").click()
        await expect(agent.page.get_by_test_id("annotate-still")).to_be_hidden(timeout=MARK_TIMEOUT_MS)

        photos = shopper.page.get_by_test_id("chat-photo")
        await expect(photos).to_have_count(1, timeout=MARK_TIMEOUT_MS)
        found = None
        for _ in range(100):
            found = await shopper.page.evaluate(CHAT_PHOTO_PIXELS_JS, [rim[0], rim[1], 3])
            if found and any(near(p, RED, 70) for p in found[0]["pixels"]):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"the shopper's chat photo has no red circle at the rim: {found}")
        assert found[0]["size"] == [still["nw"], still["nh"]]  # sent at the still's resolution
        await screenshot(shopper, "annotate-freeze-chat")
        await hang_up_and_expect_ended(agent, shopper, silkline_server)
    except BaseException:
        print(await dump([agent, shopper], silkline_server), flush=True)
        raise
    finally:
        await agent.close()
        await shopper.close()




async def test_a_monitoring_supervisor_sees_the_marks(chromium_browser, silkline_server):
    agent, shopper = await connect_call(chromium_browser, silkline_server)
    sup = None
    try:
        call_id = await shopper.page.evaluate("() => window.silkline.callId()")
        sup = await BrowserPage.open(chromium_browser, f"{silkline_server.url}/supervisor", "supervisor")
        await sup.page.get_by_test_id("name-input").fill("Sue")
        await sup.page.get_by_test_id("sign-in").click()
        await sup.page.get_by_test_id(f"monitor-{call_id}").click()
        await expect(sup.page.get_by_test_id("monitor-mode")).to_have_attribute("data-mode", "silent",
                                                                               timeout=MARK_TIMEOUT_MS)
        await sup.page.wait_for_function(
            "() => document.querySelector('[data-testid=\"monitor-video-shopper\"]').videoWidth > 0",
            timeout=MARK_TIMEOUT_MS)

        box = await surface_box(agent)
        centre, rim = (0.4, 0.5), (0.5, 0.5)
        mouse = agent.page.mouse
        await agent.page.get_by_test_id("annotate-circle").click()
        await mouse.move(*at(box, centre))
        await mouse.down()
        await mouse.move(*at(box, rim), steps=4)
        await mouse.up()
        for _ in range(60):
            if any(near(p, RED) for p in await supervisor_marks_at(sup, rim, 2)):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the supervisor does not see the agent's circle over the shopper's tile")
        assert not any(near(p, RED) for p in await supervisor_marks_at(sup, centre, 1))
        await hang_up_and_expect_ended(agent, shopper, silkline_server)
    except BaseException:
        print(await dump([p for p in (agent, shopper, sup) if p], silkline_server), flush=True)
        raise
    finally:
        for page in (agent, shopper, sup):
            if page is not None:
                await page.close()
