"""Helpers for browser end-to-end tests: a real `silkline serve` subprocess and headless
Debian Chromium driven by Playwright (async API).

No browser is ever downloaded: the tests use the system Chromium at /usr/bin/chromium, with a
fake camera and microphone. Outside CI a missing Chromium skips the browser tests (with the
reason); in CI (env `CI` set) it fails them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio

from tests.support.ports import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOT_DIR = Path(os.environ.get("SILKLINE_SCREENSHOT_DIR", "/tmp/silkline-shots"))
SERVER_READY = re.compile(r"Silkline listening on (https?://[\w.\-\[\]:]+)")
SERVER_START_TIMEOUT_S = 30.0


def require_chromium() -> str:
    """The Chromium binary; skip (outside CI) or fail (in CI) when it is missing."""
    if os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    reason = f"Debian Chromium not found at {CHROMIUM} (install the 'chromium' package; browsers are never downloaded)"
    if os.environ.get("CI"):
        pytest.fail(reason + " — required in CI", pytrace=False)
    pytest.skip(reason)


@dataclass
class SilklineServer:
    """A `python -m silkline serve` subprocess. Its output goes to `log_path` (and `lines`)."""

    proc: subprocess.Popen
    url: str
    port: int
    data_dir: Path
    recordings_dir: Path
    log_path: Path
    lines: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None

    def log_tail(self, n: int = 80) -> str:
        return "".join(self.lines[-n:])

    def stop(self, timeout: float = 10.0) -> None:
        """Terminates this process (by its PID only), then kills it if it does not exit."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)
        if self._reader is not None:
            self._reader.join(timeout=5)


def start_server(tmp_path: Path, *extra_args: str, timeout: float = SERVER_START_TIMEOUT_S) -> SilklineServer:
    """Starts `python -m silkline serve` on a free loopback port and waits for its ready line."""
    port = free_port()
    data_dir = tmp_path / "data"
    recordings_dir = tmp_path / "recordings"
    data_dir.mkdir(parents=True, exist_ok=True)
    recordings_dir.mkdir(parents=True, exist_ok=True)
    log_path = tmp_path / "server.log"
    cmd = [
        sys.executable, "-m", "silkline", "serve",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--data-dir", str(data_dir),
        "--recordings-dir", str(recordings_dir),
        "--drain-timeout", "2",  # stop() sends SIGTERM: calls still live end soon (a later flag wins)
        # as in-process (tests/conftest.py) and in the cluster: the sampled limits read a shared,
        # browser-laden machine, not the node (a busy core made the node hold or withdraw calls);
        # rooms and tracks still apply (test_browser_admission.py), the rest is unit-tested
        "--max-cpu-pct", "0", "--max-loop-lag-ms", "0",
        *extra_args,
    ]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        cmd,
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    ready = threading.Event()
    found: dict[str, str] = {}
    lines: list[str] = []

    def read_output() -> None:
        # Drains the pipe for the whole life of the process, so the server never blocks on it.
        with open(log_path, "w", encoding="utf-8") as log:
            for line in proc.stdout:  # type: ignore[union-attr]
                lines.append(line)
                log.write(line)
                log.flush()
                if not ready.is_set():
                    m = SERVER_READY.search(line)
                    if m:
                        found["url"] = m.group(1).rstrip("/")
                        ready.set()
        ready.set()  # EOF: the process ended

    reader = threading.Thread(target=read_output, name=f"silkline-serve-{proc.pid}", daemon=True)
    reader.start()
    server = SilklineServer(proc, "", port, data_dir, recordings_dir, log_path, lines, reader)
    if not ready.wait(timeout) or "url" not in found:
        server.stop()
        raise RuntimeError(
            f"silkline serve did not print 'Silkline listening on …' within {timeout:.0f} s "
            f"(exit code {proc.returncode}); command: {' '.join(cmd)}\n--- output ---\n{server.log_tail()}"
        )
    server.url = found["url"]
    return server


@pytest.fixture
def silkline_server(tmp_path):
    """A fresh server per test (no agent or call leaks from one test into the next)."""
    server = start_server(tmp_path)
    try:
        yield server
    finally:
        server.stop()


@pytest_asyncio.fixture
async def chromium_browser():
    """Headless Debian Chromium with a fake camera and microphone."""
    executable = require_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


# Installed in every page before its scripts run: each Content-Security-Policy violation (in the
# document or in a shadow root: the event is composed) lands in window.__silklineCsp and in the
# console as "[csp] …", so a test sees it even after the page navigated.
CSP_WATCH_INIT_JS = """
(() => {
  window.__silklineCsp = [];
  document.addEventListener('securitypolicyviolation', (e) => {
    const what = `${e.effectiveDirective || e.violatedDirective} blocked ${e.blockedURI || '(inline)'}`
      + ` in ${e.sourceFile || e.documentURI}:${e.lineNumber}`;
    console.error(`[csp] ${what}`);
    window.__silklineCsp.push(what);
  }, true);
})();
"""


def is_csp_violation(console_text: str) -> bool:
    """A console line reporting a CSP violation: ours ("[csp] …") or Chromium's ("Refused to …")."""
    return console_text.startswith(("[csp]", "Refused to"))


class BrowserPage:
    """A page in its own browser context (its own cookies, its own camera), with its console kept.
    Closing it fails the test when the page logged a Content-Security-Policy violation."""

    def __init__(self, name: str, context, page):
        self.name = name
        self.context = context
        self.page = page
        self.console: list[str] = []
        self.csp_violations: list[str] = []
        page.on("console", self._on_console)
        page.on("pageerror", lambda err: self.console.append(f"[pageerror] {err}"))
        # the console says only "Failed to load resource: 403": keep which request it was
        page.on("response", lambda resp: self.console.append(f"[http {resp.status}] {resp.request.method} {resp.url}")
                if resp.status >= 400 else None)

    def _on_console(self, msg) -> None:
        self.console.append(f"[{msg.type}] {msg.text}")
        if is_csp_violation(msg.text):
            self.csp_violations.append(f"{self.page.url}: {msg.text}")

    @classmethod
    async def open(cls, browser, url: str, name: str, *, viewport=(1280, 800),
                   init_scripts: tuple[str, ...] = (), mobile: bool = False) -> BrowserPage:
        phone = {"is_mobile": True, "has_touch": True, "device_scale_factor": 3} if mobile else {}
        context = await browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, **phone)
        await context.grant_permissions(["camera", "microphone"])
        await context.add_init_script(CSP_WATCH_INIT_JS)
        await context.add_init_script(MEDIA_POLLER_INIT_JS)
        for script in init_scripts:
            await context.add_init_script(script)
        page = await context.new_page()
        bp = cls(name, context, page)
        await page.goto(url)
        return bp

    async def close(self, *, check_csp: bool = True) -> None:
        await self.context.close()
        if check_csp:
            assert_no_csp_violations(self)

    async def diagnostics(self) -> str:
        try:
            info = await self.page.evaluate(DIAGNOSTICS_JS)
        except Exception as exc:  # noqa: BLE001 — the page may be gone, any error says so
            info = f"(page not readable: {exc})"
        console = "\n".join(self.console[-60:])
        return f"=== {self.name} page ===\n{info}\n--- console ---\n{console}"


# Returns Date.now() of the first inbound video frame decoded, polling getStats every 50 ms.
# Installed before the call is accepted; the result lands in window.__silklineFirstFrameAt.
WATCH_FIRST_FRAME_JS = """
() => {
  window.__silklineFirstFrameAt = null;
  if (window.__silklineFirstFrameTimer) clearInterval(window.__silklineFirstFrameTimer);
  let busy = false;
  window.__silklineFirstFrameTimer = setInterval(async () => {
    if (busy || window.__silklineFirstFrameAt) return;
    const pc = window.silkline && window.silkline.peer();
    if (!pc) return;
    busy = true;
    try {
      const stats = await pc.getStats();
      stats.forEach((r) => {
        if (r.type === 'inbound-rtp' && r.kind === 'video' && r.framesDecoded > 0 && !window.__silklineFirstFrameAt) {
          window.__silklineFirstFrameAt = Date.now();
          clearInterval(window.__silklineFirstFrameTimer);
        }
      });
    } catch (e) { /* the peer connection may be replaced meanwhile */ }
    busy = false;
  }, 50);
}
"""

# Records Date.now() when the accept button is clicked (capture phase: before the page acts).
WATCH_ACCEPT_CLICK_JS = """
() => {
  window.__silklineAcceptAt = null;
  document.addEventListener('click', (ev) => {
    if (ev.target.closest && ev.target.closest('[data-testid="accept-call"]') && !window.__silklineAcceptAt) {
      window.__silklineAcceptAt = Date.now();
    }
  }, true);
}
"""

# Installed in every page before its scripts run: every 100 ms, the inbound media counters of
# the page's current RTCPeerConnection land in window.__silklineMedia. (Playwright's
# wait_for_function does not await a predicate's promise, so getStats() cannot be polled from
# the predicate itself: a pending promise is truthy.)
MEDIA_POLLER_INIT_JS = """
(() => {
  let busy = false;
  setInterval(async () => {
    if (busy) return;
    const pc = window.silkline && window.silkline.peer && window.silkline.peer();
    if (!pc) { window.__silklineMedia = null; return; }
    busy = true;
    try {
      const m = { pc, videoFrames: 0, audioPackets: 0, audioSamples: 0, at: Date.now() };
      (await pc.getStats()).forEach((r) => {
        if (r.type !== 'inbound-rtp') return;
        if (r.kind === 'video') m.videoFrames = Math.max(m.videoFrames, r.framesDecoded || 0);
        if (r.kind === 'audio') {
          m.audioPackets = Math.max(m.audioPackets, r.packetsReceived || 0);
          m.audioSamples = Math.max(m.audioSamples, r.totalSamplesReceived || 0);
        }
      });
      window.__silklineMedia = m;
    } catch (e) { /* replaced or closed meanwhile */ }
    busy = false;
  }, 100);
})();
"""

# True when, on the page's current peer connection, video frames are decoded, audio arrives,
# and the remote <video> (the argument) has a picture. Synchronous: reads the poller's numbers.
MEDIA_FLOWING_JS = """
(video) => {
  const m = window.__silklineMedia;
  const pc = window.silkline && window.silkline.peer();
  return !!(m && pc && m.pc === pc && m.videoFrames > 0 && (m.audioPackets > 0 || m.audioSamples > 0)
            && video && video.videoWidth > 0);
}
"""

# Video frames decoded so far on the current peer connection (-1 if unknown).
VIDEO_FRAMES_JS = """
() => {
  const m = window.__silklineMedia;
  const pc = window.silkline && window.silkline.peer();
  return m && pc && m.pc === pc ? m.videoFrames : -1;
}
"""

INBOUND_STATS_JS = """
async () => {
  const pc = window.silkline && window.silkline.peer();
  if (!pc) return null;
  const out = {};
  (await pc.getStats()).forEach((r) => {
    if (r.type === 'inbound-rtp') {
      out[r.kind] = { packetsReceived: r.packetsReceived, framesDecoded: r.framesDecoded,
                      frameWidth: r.frameWidth, frameHeight: r.frameHeight, codecId: r.codecId };
    }
  });
  return out;
}
"""

DIAGNOSTICS_JS = """
async () => {
  const s = window.silkline || {};
  const pc = s.peer ? s.peer() : null;
  const stateEls = [...document.querySelectorAll('[data-testid="call-state"]')];
  const host = document.querySelector('silkline-call');
  if (host && host.shadowRoot) stateEls.push(...host.shadowRoot.querySelectorAll('[data-testid="call-state"]'));
  return JSON.stringify({
    url: location.href,
    states: s.history ? s.history() : null,
    stateText: stateEls.map((e) => `${e.dataset.state}: ${e.textContent}`),
    pc: pc ? { signaling: pc.signalingState, ice: pc.iceConnectionState, conn: pc.connectionState } : null,
  }, null, 1);
}
"""


async def poll(page, js: str, until, *, arg=None, timeout_s: float = 30.0, interval_s: float = 0.1,
               what: str = "condition"):
    """Evaluates `js` (which may return a promise: getStats) every `interval_s` until
    `until(value)` holds; returns the value, or fails with the last value after `timeout_s`.
    (Playwright's wait_for_function does not await a predicate's promise.)"""
    import asyncio
    import time

    deadline = time.monotonic() + timeout_s
    value = None
    while True:
        value = await page.evaluate(js, arg) if arg is not None else await page.evaluate(js)
        if until(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}; last value: {value!r}")
        await asyncio.sleep(interval_s)


# Inbound RTP figures per transceiver of the page's current peer connection, in transceiver
# order: [{kind, mid, direction, packets, frames}]. Shopper/agent: 0 audio, 1 video, 2 the
# extra audio (supervisor). Supervisor: 0 audio (shopper), 1 audio (agent), 2 video (shopper),
# 3 video (agent).
TRANSCEIVER_STATS_JS = """
async () => {
  const pc = window.silkline && window.silkline.peer && window.silkline.peer();
  if (!pc) return null;
  const out = [];
  for (const t of pc.getTransceivers()) {
    const row = { kind: t.receiver.track.kind, mid: t.mid, direction: t.currentDirection || t.direction,
                  packets: 0, frames: 0, sent: 0 };
    (await t.receiver.getStats()).forEach((r) => {
      if (r.type === 'inbound-rtp') {
        row.packets += r.packetsReceived || 0;
        row.frames += r.framesDecoded || 0;
      }
    });
    if (t.sender && t.sender.track) {
      (await t.sender.getStats()).forEach((r) => {
        if (r.type === 'outbound-rtp') row.sent += r.packetsSent || 0;
      });
    }
    out.push(row);
  }
  return out;
}
"""

# Records every getUserMedia request (its constraints) in window.__gumCalls.
RECORD_GET_USER_MEDIA_JS = """
(() => {
  window.__gumCalls = [];
  const md = navigator.mediaDevices;
  if (!md || !md.getUserMedia) return;
  const original = md.getUserMedia.bind(md);
  md.getUserMedia = (constraints) => {
    window.__gumCalls.push(JSON.parse(JSON.stringify(constraints || {})));
    return original(constraints);
  };
})();
"""


def tiny_png(width: int = 64, height: int = 48) -> bytes:
    """A small valid PNG (a colour gradient), made without any imaging library."""
    import struct
    import zlib

    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 4 % 256, y * 5 % 256, 160)) for x in range(width)) for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


async def demo_token(server, role: str, **extra) -> str:
    """A demo token from the running server (POST /api/demo/tokens)."""
    import aiohttp

    async with aiohttp.ClientSession() as http, \
            http.post(f"{server.url}/api/demo/tokens", json={"role": role, **extra}) as res:
        res.raise_for_status()
        return (await res.json())["token"]


async def get_json(server, path: str, token: str) -> dict:
    import aiohttp

    async with aiohttp.ClientSession() as http, \
            http.get(f"{server.url}{path}", headers={"Authorization": f"Bearer {token}"}) as res:
        res.raise_for_status()
        return await res.json()


# ------------------------------------------------------------------ helpers for the page tests

PAGE_TIMEOUT_MS = 30_000  # generous: loopback, but a loaded CI machine


def state_of(bp: BrowserPage):
    """The call-state element of the agent console or the widget."""
    return bp.page.get_by_test_id("call-state")


async def expect_state(bp: BrowserPage, state, timeout: int = PAGE_TIMEOUT_MS) -> None:
    from playwright.async_api import expect

    await expect(state_of(bp)).to_have_attribute("data-state", state, timeout=timeout)


async def video_call_accepted(shopper: BrowserPage, agent: BrowserPage) -> None:
    """The shopper asks for a video call on the shop page; the agent accepts it when it rings."""
    from playwright.async_api import expect

    call_button = shopper.page.get_by_test_id("call-button")
    await expect(call_button).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    await call_button.click()
    await shopper.page.get_by_test_id("mode-video").click()
    accept = agent.page.get_by_test_id("accept-call")
    await expect(accept).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    await accept.click()


async def screenshot(bp: BrowserPage, name: str, *, full_page: bool = False, scroll_to_top: bool = False) -> None:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - a test helper
    path = SCREENSHOT_DIR / f"{name}.png"
    if scroll_to_top:
        await bp.page.evaluate("() => window.scrollTo(0, 0)")
    await bp.page.screenshot(path=str(path), full_page=full_page)
    print(f"screenshot: {path}", flush=True)


async def dump(pages: list[BrowserPage], server) -> str:
    """Each page's diagnostics and the tail of the server's output."""
    parts = [await p.diagnostics() for p in pages]
    parts.append(f"=== server output (tail) ===\n{server.log_tail()}")
    return "\n".join(parts)


def assert_no_csp_violations(*pages: BrowserPage) -> None:
    found = [f"{bp.name}: {line}" for bp in pages for line in bp.csp_violations]
    assert not found, "Content-Security-Policy violations in the pages:\n" + "\n".join(found)


def assert_no_page_errors(*pages: BrowserPage) -> None:
    errors = [f"{bp.name}: {line}" for bp in pages for line in bp.console if line.startswith("[pageerror]")]
    assert not errors, "uncaught errors in the pages:\n" + "\n".join(errors)


@asynccontextmanager
async def pages_of(server, pages: list[BrowserPage] | None = None):
    """A list for the pages a test opens: on a failure their diagnostics and the server's output
    are printed, and in any case they are all closed at the end (in list order). Any
    Content-Security-Policy violation in any of them fails the test."""
    pages = pages if pages is not None else []
    try:
        yield pages
    except BaseException:
        print(await dump(pages, server), flush=True)
        raise
    finally:
        for bp in pages:
            await bp.close(check_csp=False)
    assert_no_csp_violations(*pages)


async def call_timeline(server, call_id: str) -> tuple[dict, list[str]]:
    """The call record (read with a supervisor token) and the types of its events, in order."""
    record = await get_json(server, f"/api/calls/{call_id}", await demo_token(server, "supervisor"))
    return record, [e["type"] for e in record["events"]]
