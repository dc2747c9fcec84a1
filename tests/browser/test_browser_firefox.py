"""End to end across browsers, through the SFU's default RTP path: a shopper in Firefox ESR
(driven over WebDriver BiDi, tests/support/firefox.py) and an agent in Chromium, the other way
round, and both in Firefox.

Firefox and Chromium number their RTP header extensions differently (Firefox's MID is id 3 and
abs-send-time 4, Chromium's 4 and 2), use payload types of their own (VP8 120 / 96, its RTX
124 / 97, Opus 109 / 111) and signal RTX SSRCs in FID groups: the node rewrites each packet for
the other browser's leg. Both sides must decode the
other's picture (frames advance, the decoded pixels are the sender's fake camera, not black) and
receive audio, and the node's stats must show the rewriting.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from playwright.async_api import expect

from tests.support import browser as browser_support
from tests.support import firefox as firefox_support
from tests.support.browser import (
    INBOUND_STATS_JS,
    MEDIA_FLOWING_JS,
    VIDEO_FRAMES_JS,
    WATCH_ACCEPT_CLICK_JS,
    WATCH_FIRST_FRAME_JS,
    BrowserPage,
    demo_token,
    dump,
    get_json,
    state_of,
)
from tests.support.firefox import FIND_VISIBLE_JS, FirefoxPage

pytestmark = pytest.mark.asyncio

# The fixtures, by assignment (an import would read as unused and then redefined).
silkline_server = browser_support.silkline_server
chromium_browser = browser_support.chromium_browser
firefox_browser = firefox_support.firefox_browser

CALL_TIMEOUT_S = 60.0  # generous: two browsers and the node on a loaded 2-core machine
CALL_TIMEOUT_MS = int(CALL_TIMEOUT_S * 1000)
END_TIMEOUT_S = 15.0

MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"

# The data-state of the page's call-state element (the widget keeps it in its shadow root).
CALL_STATE_JS = f"""
() => {{ const el = ({FIND_VISIBLE_JS})('call-state'); return el ? el.dataset.state : null; }}
"""

# MEDIA_FLOWING_JS with the remote <video> looked up in the page (a BiDi call cannot pass an
# element handle the way Playwright does).
REMOTE_MEDIA_FLOWING_JS = f"""
() => ({MEDIA_FLOWING_JS})(({FIND_VISIBLE_JS})('remote-video'))
"""

# The decoded picture of the <video> with this data-testid, drawn onto a canvas at its own size:
# a 4x4 grid of pixels, the distinct colours on a 32x24 grid (quantized to 32 levels), and a
# checksum of that grid (it changes when the picture does).
SAMPLE_PICTURE_JS = f"""
(testId) => {{
  const v = ({FIND_VISIBLE_JS})(testId);
  if (!v || !v.videoWidth) return null;
  const c = document.createElement('canvas');
  c.width = v.videoWidth;
  c.height = v.videoHeight;
  const ctx = c.getContext('2d');
  ctx.drawImage(v, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  const at = (x, y) => {{ const i = 4 * (y * c.width + x); return [d[i], d[i + 1], d[i + 2]]; }};
  const pixels = [];
  for (let y = 1; y <= 4; y++) for (let x = 1; x <= 4; x++) {{
    pixels.push(at(Math.floor(c.width * x / 5), Math.floor(c.height * y / 5)));
  }}
  const colours = new Set();
  let sum = 0;
  for (let y = 0; y < 24; y++) for (let x = 0; x < 32; x++) {{
    const p = at(Math.floor((x + 0.5) * c.width / 32), Math.floor((y + 0.5) * c.height / 24));
    colours.add(p.map((v) => v >> 3).join(','));
    sum = (sum * 31 + p[0] * 65536 + p[1] * 256 + p[2]) % 2147483647;
  }}
  return {{ size: [c.width, c.height], pixels, colours: colours.size, checksum: sum, time: v.currentTime }};
}}
"""


class PageFace:
    """One page of a call, whichever browser shows it: the few actions the flow takes."""

    def __init__(self, page: BrowserPage | FirefoxPage) -> None:
        self.page = page
        self.name = page.name

    async def evaluate(self, js: str, *args: object) -> Any:
        if isinstance(self.page, FirefoxPage):
            return await self.page.evaluate(js, *args)
        return await self.page.page.evaluate(js, *args)

    async def wait_for(self, js: str, *args: object, what: str, timeout: float = CALL_TIMEOUT_S) -> Any:
        if isinstance(self.page, FirefoxPage):
            return await self.page.wait_for(js, *args, timeout=timeout, what=what)
        return await browser_support.poll(self.page.page, js, bool, arg=args[0] if args else None,
                                          timeout_s=timeout, what=f"{self.name}: {what}")

    async def wait_state(self, pattern: str, timeout: float = CALL_TIMEOUT_S) -> str:
        if isinstance(self.page, FirefoxPage):
            return str(await self.page.wait_for(
                f"(p) => {{ const s = ({CALL_STATE_JS})(); return s && new RegExp(p).test(s) ? s : null; }}",
                pattern, timeout=timeout, what=f"call state /{pattern}/"))
        await expect(state_of(self.page)).to_have_attribute("data-state", re.compile(pattern),
                                                           timeout=int(timeout * 1000))
        return str(await state_of(self.page).get_attribute("data-state"))

    async def click(self, test_id: str) -> None:
        if isinstance(self.page, FirefoxPage):
            await self.page.click(test_id, timeout=CALL_TIMEOUT_S)
        else:
            await self.page.page.get_by_test_id(test_id).click(timeout=CALL_TIMEOUT_MS)


async def connect_cross_browser_call(agent: BrowserPage | FirefoxPage,
                                     shopper: BrowserPage | FirefoxPage) -> None:
    """The flow of test_browser_call.connect_call on pages of any browser: the agent is
    available, the shopper calls by video, the agent accepts, both decode video and hear audio."""
    a, s = PageFace(agent), PageFace(shopper)
    await a.wait_state("^available$")
    await a.evaluate(WATCH_ACCEPT_CLICK_JS)
    for side in (a, s):
        await side.evaluate(WATCH_FIRST_FRAME_JS)
    await s.click("call-button")
    await s.click("mode-video")
    await s.wait_state("waiting|ringing")
    await a.wait_state("^ringing$")
    await a.click("accept-call")
    for side in (s, a):
        await side.wait_for("() => window.__silklineFirstFrameAt", what="the first remote video frame decoded")
    accept_at = await a.evaluate("() => window.__silklineAcceptAt")
    firsts = [await side.evaluate("() => window.__silklineFirstFrameAt") for side in (s, a)]
    assert accept_at, "the accept click was not recorded"
    print(f"\nJOIN_MS shopper={firsts[0] - accept_at} agent={firsts[1] - accept_at}", flush=True)
    for side in (s, a):
        await side.wait_for(REMOTE_MEDIA_FLOWING_JS, what="remote video decoded and audio arriving")
        await side.wait_state("^connected$")
        print(f"{side.name} inbound: {await side.evaluate(INBOUND_STATS_JS)}", flush=True)


async def frames_advance(side: PageFace, by: int = 30) -> None:
    before = int(await side.evaluate(VIDEO_FRAMES_JS))
    await side.wait_for(f"() => ({VIDEO_FRAMES_JS})() > {before + by}", what=f"{by} more video frames decoded")


def spread(pixel: list[int]) -> int:
    return max(pixel) - min(pixel)


async def pictures(side: PageFace, test_id: str, count: int = 3, every: float = 0.7) -> list[dict[str, Any]]:
    out = []
    for _ in range(count):
        out.append(await side.wait_for(SAMPLE_PICTURE_JS, test_id, what=f"a picture in {test_id}"))
        await asyncio.sleep(every)
    return out


async def assert_sees_camera(side: PageFace, sender: str) -> None:
    """The decoded remote picture is the other browser's fake camera, and it moves."""
    seen = await pictures(side, "remote-video")
    for picture in seen:
        pixels = picture["pixels"]
        if sender == "firefox":
            # Firefox's fake camera fills the frame with one saturated colour that cycles
            first = pixels[0]
            assert spread(first) > 60, f"{side.name}: Firefox's camera colour is missing: {picture}"
            assert all(max(abs(p - q) for p, q in zip(px, first, strict=True)) < 40 for px in pixels), \
                f"{side.name}: Firefox's camera picture is one colour; this is something else: {picture}"
        else:
            # Chromium's draws a pattern (a moving pie and a frame counter on a green background)
            assert any(max(px) > 60 for px in pixels), f"{side.name}: the picture is black: {picture}"
            assert picture["colours"] > 2, f"{side.name}: Chromium's camera pattern is missing: {picture}"
    assert len({p["checksum"] for p in seen}) > 1, f"{side.name}: the picture never changes: {seen}"


# Per kind, the RTP numbering this page's browser uses on the call's first audio and video
# transceivers: what it sends (outbound codec payload type, the sender's negotiated header
# extensions) and what it receives (inbound codec payload type of the packets that arrived,
# the receiver's negotiated extensions). Where the browser's API leaves them out (Firefox reports
# no headerExtensions in getParameters() and no rtxSsrc in its stats) they are read from the
# browser's own offer (its local description), media section of that transceiver: the extmap
# lines it offered (a superset of those negotiated), its FID group.
RTP_VIEW_JS = """
async () => {
  const pc = window.silkline.peer();
  const section = (sdp, mid) => sdp.split(/\\r?\\n(?=m=)/).find((m) => m.includes(`\\r\\na=mid:${mid}\\r\\n`)) || '';
  const extmap = (text) => Object.fromEntries([...text.matchAll(/^a=extmap:(\\d+)\\S* (\\S+)/gm)]
                                             .map((m) => [m[2], Number(m[1])]));
  const fid = (text) => { const m = text.match(/^a=ssrc-group:FID (\\d+) (\\d+)/m); return m ? Number(m[2]) : null; };
  const stats = await pc.getStats();
  const byId = new Map();
  stats.forEach((r) => byId.set(r.id, r));
  const out = {};
  for (const t of pc.getTransceivers().slice(0, 2)) {
    const kind = t.receiver.track.kind;
    const ext = (p) => Object.fromEntries((p.headerExtensions || []).map((e) => [e.uri, e.id]));
    const rtp = (type) => {
      let found = {};
      stats.forEach((r) => {
        if (r.type === type && r.kind === kind && r.codecId && byId.get(r.codecId)) {
          found = { pt: byId.get(r.codecId).payloadType, ssrc: r.ssrc, rtxSsrc: r.rtxSsrc ?? null };
        }
      });
      return found;
    };
    const sent = rtp('outbound-rtp');
    const received = rtp('inbound-rtp');
    const local = section(pc.localDescription.sdp, t.mid);
    const sentExt = ext(t.sender.getParameters());
    const receivedExt = ext(t.receiver.getParameters());
    out[kind] = { sent_pt: sent.pt, sent_ssrc: sent.ssrc, sent_rtx_ssrc: sent.rtxSsrc ?? fid(local),
                  sent_ext: Object.keys(sentExt).length ? sentExt : extmap(local),
                  received_pt: received.pt, received_ssrc: received.ssrc,
                  received_ext: Object.keys(receivedExt).length ? receivedExt : extmap(local) };
  }
  return out;
}
"""


def assert_rewritten(stats: dict, publisher_role: str, sender_view: dict,
                     subscriber_role: str, receiver_view: dict) -> tuple[list[str], bool]:
    """On /api/sfu/stats: the publisher's numbering is what its browser sends, the subscriber
    leg's is what the other browser negotiated and received. Returns the findings, and whether
    the two numberings differ anywhere (payload types, RTX payload type, extension ids)."""
    (room,) = stats["rooms"]
    people = {p["role"]: p for p in room["participants"]}
    source, sink = people[publisher_role], people[subscriber_role]
    findings = []
    differs = False
    for kind in ("audio", "video"):
        (publisher,) = [p for p in source["publishers"] if p["kind"] == kind]
        legs = [s["rtp"] for s in sink["subscribers"]
                if s["kind"] == kind and s["source"] == source["participant_id"]]
        assert legs, f"the {subscriber_role} has no {kind} leg from the {publisher_role}: {sink['subscribers']}"
        leg = legs[0]
        sent, received = sender_view[kind], receiver_view[kind]
        findings.append(f"{kind} {publisher_role}->{subscriber_role}: publisher pt {publisher['payload_type']} "
                        f"rtx {publisher['rtx_payload_type']} ext {publisher['extensions']} => leg pt "
                        f"{leg['payload_type']} rtx {leg['rtx_payload_type']} ext {leg['extensions']} "
                        f"(sent {leg['packets_sent']}, retransmitted {leg['retransmitted']})")
        assert publisher["packets"] > 50 and leg["packets_sent"] > 50, findings[-1]
        assert publisher["payload_type"] == sent["sent_pt"], (findings[-1], sent)
        assert leg["payload_type"] == received["received_pt"], (findings[-1], received)
        # the SSRCs: the publisher's as its browser sends them (the RTX one from the SDP's FID
        # group), the leg's as the other browser receives it
        assert publisher["ssrc"] in (None, sent["sent_ssrc"]) and leg["ssrc"] == received["received_ssrc"], \
            (findings[-1], sent, received, publisher, leg)
        if sent["sent_rtx_ssrc"] is not None:
            assert publisher["rtx_ssrc"] == sent["sent_rtx_ssrc"], (findings[-1], sent, publisher)
        # each extension id the node reads on the publisher's leg is the sending browser's own,
        # and each it writes on the leg is the receiving browser's own
        assert publisher["extensions"].items() <= sent["sent_ext"].items(), (findings[-1], sent)
        assert leg["extensions"].items() <= received["received_ext"].items(), (findings[-1], received)
        assert MID_URI in leg["extensions"], findings[-1]
        differs = differs or any(publisher[key] != leg[key]
                                 for key in ("payload_type", "rtx_payload_type", "extensions"))
        if kind == "video":
            assert publisher["rtx_payload_type"] is not None, f"no RTX offered by the publisher: {findings[-1]}"
            assert leg["rtx_payload_type"] is not None, f"no RTX negotiated on the leg: {findings[-1]}"
            assert publisher["keyframes"] > 0, publisher
    for who in (source, sink):
        transport = who["transport"]
        findings.append(f"{who['role']} transport: {transport}")
        assert transport["srtp_errors"] == 0, findings[-1]
    return findings, differs


# Browsers of (shopper, agent). Chromium and Firefox number extensions and payload types
# differently (Firefox: MID 3, VP8 120, RTX 124, Opus 109; Chromium: MID 4, VP8 96, RTX 97,
# Opus 111), so a mixed call only works when the node rewrites them per leg.
COMBINATIONS = [("firefox", "chromium"), ("chromium", "firefox"), ("firefox", "firefox")]


@pytest.mark.parametrize(("shopper_in", "agent_in"), COMBINATIONS, ids=[f"{a}-shopper-{b}-agent"
                                                                       for a, b in COMBINATIONS])
async def test_cross_browser_call_on_the_rtp_path(chromium_browser, firefox_browser, silkline_server,
                                                  shopper_in, agent_in):
    server = silkline_server
    browsers = {"chromium": chromium_browser, "firefox": firefox_browser}

    async def open_page(browser_name: str, path: str, name: str) -> BrowserPage | FirefoxPage:
        label = f"{name} ({browser_name})"
        if browser_name == "firefox":
            return await browsers["firefox"].new_page(f"{server.url}{path}", label)
        return await BrowserPage.open(browsers["chromium"], f"{server.url}{path}", label)

    pages: list[BrowserPage | FirefoxPage] = []
    try:
        agent = await open_page(agent_in, "/agent?name=Ann", "agent")
        pages.append(agent)
        shopper = await open_page(shopper_in, "/demo/shop", "shopper")
        pages.append(shopper)
        await connect_cross_browser_call(agent, shopper)
        a, s = PageFace(agent), PageFace(shopper)
        await frames_advance(a)
        await frames_advance(s)
        await assert_sees_camera(a, shopper_in)
        await assert_sees_camera(s, agent_in)

        stats = await get_json(server, "/api/sfu/stats", await demo_token(server, "supervisor"))
        views = {"shopper": await s.evaluate(RTP_VIEW_JS), "agent": await a.evaluate(RTP_VIEW_JS)}
        for publisher_role, subscriber_role in (("shopper", "agent"), ("agent", "shopper")):
            findings, differs = assert_rewritten(stats, publisher_role, views[publisher_role],
                                                 subscriber_role, views[subscriber_role])
            print("\n".join(findings), flush=True)
            # across browsers the numberings really differ: the call above worked only because
            # the node rewrote each packet for the other browser's leg
            assert differs or shopper_in == agent_in, findings

        await s.click("hang-up")
        await s.wait_state("^ended$", timeout=END_TIMEOUT_S)
        await a.wait_state("^ended$", timeout=END_TIMEOUT_S)
        errors = [f"{p.name}: {line}" for p in pages for line in p.console if line.startswith("[pageerror]")]
        assert not errors, "uncaught errors in the pages:\n" + "\n".join(errors)
    except BaseException:
        print(await dump(pages, server), flush=True)  # type: ignore[arg-type]  # the same diagnostics()
        if "firefox" in (shopper_in, agent_in):
            print("=== Firefox output (tail) ===\n" + "".join(browsers["firefox"].output[-40:]), flush=True)
        raise
    finally:
        for page in pages:
            await page.close(check_csp=False)
    for page in pages:
        assert not page.csp_violations, f"{page.name}: Content-Security-Policy violations: {page.csp_violations}"
