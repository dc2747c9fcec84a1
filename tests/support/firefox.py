"""Debian Firefox ESR driven over WebDriver BiDi (W3C), for the browser tests.

Playwright's Firefox driver needs Playwright's own patched Firefox build, which is never
downloaded here, and geckodriver is not packaged by Debian; but Firefox speaks WebDriver BiDi
itself (``--remote-debugging-port``). This module is a small client of that protocol on
aiohttp's WebSocket: commands carry an id and get one response (``success`` or ``error`` with
the BiDi error text, raised as :class:`BidiError`), events arrive beside them. Every wait is
bounded. Firefox runs in a fresh profile (a test's ``tmp_path``) with a fake camera and
microphone, and is started and ended by its own PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from tests.support.browser import CSP_WATCH_INIT_JS, DIAGNOSTICS_JS, MEDIA_POLLER_INIT_JS, is_csp_violation

FIREFOX = "/usr/bin/firefox-esr"
START_TIMEOUT_S = 60.0  # a cold Firefox on a loaded 2-core machine
COMMAND_TIMEOUT_S = 30.0
CLOSE_TIMEOUT_S = 15.0
LISTENING = re.compile(r"WebDriver BiDi listening on (ws://[\w.\-\[\]:]+)")

# user.js of the test profile. The media prefs: a fake camera and microphone without a
# permission prompt; ICE over loopback with real host addresses (no mDNS names, which aiortc
# cannot resolve); media may play without a user gesture. The rest keeps a test Firefox quiet:
# no first-run pages, updates, telemetry or background traffic.
PREFS: dict[str, bool | int | str] = {
    "media.navigator.streams.fake": True,
    "media.navigator.permission.disabled": True,
    "media.peerconnection.ice.loopback": True,
    "media.peerconnection.ice.obfuscate_host_addresses": False,
    "media.peerconnection.ice.default_address_only": False,
    "media.peerconnection.ice.no_host": False,
    "media.peerconnection.ice.proxy_only_if_behind_proxy": False,
    "media.autoplay.default": 0,
    "media.autoplay.blocking_policy": 0,
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.startup.page": 0,
    "browser.aboutwelcome.enabled": False,
    "browser.tabs.warnOnClose": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "app.update.auto": False,
    "app.update.enabled": False,
    "extensions.update.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "remote.prefs.recommended": True,
}


def require_firefox() -> str:
    """The Firefox ESR binary; skip (outside CI) or fail (in CI) when it is missing."""
    if os.path.exists(FIREFOX) and os.access(FIREFOX, os.X_OK):
        return FIREFOX
    reason = (f"Debian Firefox ESR not found at {FIREFOX} (install the 'firefox-esr' package; "
              "browsers are never downloaded)")
    if os.environ.get("CI"):
        pytest.fail(reason + " — required in CI", pytrace=False)
    pytest.skip(reason)


class BidiError(Exception):
    """A BiDi command failed: ``error`` is the protocol's code, the message its words."""

    def __init__(self, method: str, error: str, message: str) -> None:
        super().__init__(f"{method}: {error}: {message}")
        self.error = error


class ScriptError(Exception):
    """The page's JavaScript threw (``script.callFunction`` returned an exception)."""


# -- values across the wire (WebDriver BiDi "script" module: LocalValue / RemoteValue) ---------

def to_local(value: Any) -> dict[str, Any]:
    """A Python value as a BiDi LocalValue argument."""
    if value is None:
        return {"type": "null"}
    if isinstance(value, bool):
        return {"type": "boolean", "value": value}
    if isinstance(value, (int, float)):
        return {"type": "number", "value": value}
    if isinstance(value, str):
        return {"type": "string", "value": value}
    if isinstance(value, (list, tuple)):
        return {"type": "array", "value": [to_local(v) for v in value]}
    if isinstance(value, dict):
        if "sharedId" in value:  # a node handed back from an earlier call
            return {"sharedId": value["sharedId"]}
        return {"type": "object", "value": [[str(k), to_local(v)] for k, v in value.items()]}
    raise TypeError(f"cannot pass {type(value).__name__} to the page")


def from_remote(value: dict[str, Any]) -> Any:
    """A BiDi RemoteValue as Python: primitives, lists, dicts; a node as ``{"sharedId": …}``."""
    kind = value.get("type")
    if kind in ("undefined", "null"):
        return None
    if kind in ("string", "boolean"):
        return value["value"]
    if kind == "number":
        v = value["value"]
        return float("nan") if v == "NaN" else v if not isinstance(v, str) else float(v.replace("Infinity", "inf"))
    if kind == "bigint":
        return int(value["value"])
    if kind in ("array", "set"):
        return [from_remote(v) for v in value.get("value", [])]
    if kind in ("object", "map"):
        out = {}
        for key, item in value.get("value", []):
            out[key if isinstance(key, str) else json.dumps(from_remote(key))] = from_remote(item)
        return out
    if kind == "node":
        return {"sharedId": value.get("sharedId"), "node": True}
    return {"type": kind}


class BidiConnection:
    """One WebSocket to Firefox's BiDi endpoint: commands by id, events to listeners."""

    def __init__(self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._http = http
        self._ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._listeners: dict[str, list[Callable[[dict[str, Any]], None]]] = {}
        self._closed_why = ""
        self.listener_errors: list[str] = []
        self._reader = asyncio.create_task(self._read(), name="bidi-reader")

    @classmethod
    async def open(cls, url: str, timeout: float = COMMAND_TIMEOUT_S) -> BidiConnection:
        http = aiohttp.ClientSession()
        try:
            ws = await asyncio.wait_for(http.ws_connect(url, timeout=aiohttp.ClientWSTimeout(ws_close=timeout),
                                                        max_msg_size=64 * 1024 * 1024), timeout)
        except BaseException:
            await http.close()
            raise
        return cls(http, ws)

    def on(self, event: str, listener: Callable[[dict[str, Any]], None]) -> None:
        self._listeners.setdefault(event, []).append(listener)

    async def send(self, method: str, params: dict[str, Any] | None = None,
                   timeout: float = COMMAND_TIMEOUT_S) -> dict[str, Any]:
        """Run one command and return its result; BidiError when Firefox answers an error."""
        if self._closed_why:
            raise BidiError(method, "connection closed", self._closed_why)
        command_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[command_id] = future
        try:
            await self._ws.send_json({"id": command_id, "method": method, "params": params or {}})
            message = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise BidiError(method, "timeout", f"no answer within {timeout:.0f} s") from None
        finally:
            self._pending.pop(command_id, None)
        if message.get("type") == "error":
            raise BidiError(method, str(message.get("error")), str(message.get("message", "")))
        return message.get("result", {})

    async def _read(self) -> None:
        try:
            async for frame in self._ws:
                if frame.type != aiohttp.WSMsgType.TEXT:
                    continue
                message = json.loads(frame.data)
                command_id = message.get("id")
                if command_id is not None:
                    future = self._pending.get(command_id)
                    if future is not None and not future.done():
                        future.set_result(message)
                elif message.get("type") == "event":
                    for listener in self._listeners.get(message.get("method", ""), []):
                        try:
                            listener(message.get("params", {}))
                        except Exception as exc:  # noqa: BLE001 - a listener's bug must not stop the replies
                            self.listener_errors.append(f"{message.get('method')}: {exc!r}")
        finally:
            self._closed_why = "the BiDi WebSocket closed"
            for future in self._pending.values():
                if not future.done():
                    future.set_result({"type": "error", "error": "connection closed", "message": self._closed_why})

    async def close(self) -> None:
        await self._ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        await self._http.close()


class FirefoxPage:
    """A tab in its own user context (its own cookies and storage, like a Playwright context),
    with its console kept. The same face as ``BrowserPage`` where the helpers need one
    (``name``, ``console``, ``csp_violations``, ``diagnostics()``, ``close()``)."""

    def __init__(self, browser: Firefox, name: str, context: str, user_context: str) -> None:
        self.browser = browser
        self.name = name
        self.context = context
        self.user_context = user_context
        self.console: list[str] = []
        self.csp_violations: list[str] = []

    def on_log(self, entry: dict[str, Any]) -> None:
        text = str(entry.get("text", ""))
        if entry.get("type") == "javascript":
            self.console.append(f"[pageerror] {text}")
            return
        self.console.append(f"[{entry.get('level', 'log')}] {text}")
        if is_csp_violation(text):
            self.csp_violations.append(text)

    async def goto(self, url: str, timeout: float = COMMAND_TIMEOUT_S) -> None:
        await self.browser.bidi.send("browsingContext.navigate",
                                     {"context": self.context, "url": url, "wait": "complete"}, timeout)

    async def evaluate(self, function: str, *args: Any, timeout: float = COMMAND_TIMEOUT_S) -> Any:
        """Call a JavaScript function (its source text) with ``args``; awaits a promise."""
        result = await self.browser.bidi.send("script.callFunction", {
            "functionDeclaration": function,
            "arguments": [to_local(a) for a in args],
            "target": {"context": self.context},
            "awaitPromise": True,
            "resultOwnership": "none",
            "serializationOptions": {"maxObjectDepth": 8, "maxDomDepth": 0},
        }, timeout)
        if result.get("type") == "exception":
            details = result.get("exceptionDetails", {})
            raise ScriptError(f"{self.name}: {details.get('text', 'the script threw')}")
        return from_remote(result.get("result", {"type": "undefined"}))

    async def wait_for(self, function: str, *args: Any, timeout: float = 30.0, interval: float = 0.1,
                       what: str = "condition") -> Any:
        """Evaluate ``function`` until it returns something truthy; that value, or AssertionError
        with the last value after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        value: Any = None
        while True:
            value = await self.evaluate(function, *args)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: timed out after {timeout:.0f} s waiting for {what}; "
                                     f"last value: {value!r}")
            await asyncio.sleep(interval)

    async def click(self, test_id: str, timeout: float = 30.0) -> None:
        """A real pointer click (trusted, with user activation) on the visible element with
        this ``data-testid``, looked up through open shadow roots."""
        node = await self.wait_for(FIND_VISIBLE_JS, test_id, timeout=timeout, what=f"{test_id} visible")
        await self.evaluate("(el) => el.scrollIntoView({block: 'center'})", node)
        await self.browser.bidi.send("input.performActions", {"context": self.context, "actions": [{
            "type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
            "actions": [
                {"type": "pointerMove", "x": 0, "y": 0,
                 "origin": {"type": "element", "element": {"sharedId": node["sharedId"]}}},
                {"type": "pointerDown", "button": 0},
                {"type": "pointerUp", "button": 0},
            ],
        }]})

    async def diagnostics(self) -> str:
        try:
            info = await self.evaluate(DIAGNOSTICS_JS, timeout=10)
        except (BidiError, ScriptError) as exc:
            info = f"(page not readable: {exc})"
        console = "\n".join(self.console[-60:])
        return f"=== {self.name} page (Firefox) ===\n{info}\n--- console ---\n{console}"

    async def close(self, *, check_csp: bool = True) -> None:
        with contextlib.suppress(BidiError):
            await self.browser.bidi.send("browsingContext.close", {"context": self.context}, 10)
        with contextlib.suppress(BidiError):
            await self.browser.bidi.send("browser.removeUserContext", {"userContext": self.user_context}, 10)
        if check_csp:
            assert not self.csp_violations, f"{self.name}: Content-Security-Policy violations: {self.csp_violations}"


# The first element with this data-testid that is displayed, searching open shadow roots too.
FIND_VISIBLE_JS = """
(testId) => {
  const seen = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll(`[data-testid="${testId}"]`)) seen.push(el);
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) walk(el.shadowRoot);
  };
  walk(document);
  return seen.find((el) => el.getClientRects().length > 0 && !el.closest('[hidden]')
                            && getComputedStyle(el).visibility !== 'hidden') || null;
}
"""


class Firefox:
    """A headless Firefox ESR process and its BiDi session."""

    def __init__(self, proc: asyncio.subprocess.Process, bidi: BidiConnection, profile: Path) -> None:
        self.proc = proc
        self.bidi = bidi
        self.profile = profile
        self.output: list[str] = []
        self.pages: dict[str, FirefoxPage] = {}
        self.version = ""
        self._drain: asyncio.Task[None] | None = None

    @classmethod
    async def launch(cls, profile: Path, executable: str = FIREFOX,
                     timeout: float = START_TIMEOUT_S) -> Firefox:
        profile.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - before the process starts
        (profile / "user.js").write_text(  # noqa: ASYNC240 - a few lines
            "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in PREFS.items()))
        env = dict(os.environ, MOZ_HEADLESS="1", MOZ_CRASHREPORTER_DISABLE="1")
        proc = await asyncio.create_subprocess_exec(
            executable, "--headless", "--no-remote", "--profile", str(profile),
            "--remote-debugging-port", "0", "--remote-allow-hosts", "127.0.0.1",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, env=env, start_new_session=True)
        output: list[str] = []
        try:
            url = await asyncio.wait_for(_listening_url(proc, output), timeout)
            bidi = await BidiConnection.open(url + "/session")
        except BaseException as exc:
            await _end(proc)
            if isinstance(exc, TimeoutError):
                raise RuntimeError(f"Firefox printed no 'WebDriver BiDi listening on' within {timeout:.0f} s:\n"
                                   + "".join(output[-40:])) from None
            raise
        browser = cls(proc, bidi, profile)
        browser.output = output
        browser._drain = asyncio.create_task(_keep_reading(proc, output), name=f"firefox-{proc.pid}-stderr")
        try:
            session = await bidi.send("session.new", {"capabilities": {"alwaysMatch": {"acceptInsecureCerts": True}}})
            browser.version = session.get("capabilities", {}).get("browserVersion", "")
            await bidi.send("session.subscribe", {"events": ["log.entryAdded"]})
            bidi.on("log.entryAdded", browser._on_log)
        except BaseException:
            await browser.close()
            raise
        return browser

    def _on_log(self, entry: dict[str, Any]) -> None:
        page = self.pages.get(entry.get("source", {}).get("context", ""))
        if page is not None:
            page.on_log(entry)

    async def new_page(self, url: str, name: str, init_scripts: tuple[str, ...] = (),
                       viewport: tuple[int, int] = (1280, 800)) -> FirefoxPage:
        """A tab in a fresh user context, with the suite's init scripts, navigated to ``url``."""
        user_context = (await self.bidi.send("browser.createUserContext"))["userContext"]
        for script in (CSP_WATCH_INIT_JS, MEDIA_POLLER_INIT_JS, *init_scripts):
            await self.bidi.send("script.addPreloadScript", {
                "functionDeclaration": f"() => {{ {script} }}", "userContexts": [user_context]})
        created = await self.bidi.send("browsingContext.create", {"type": "tab", "userContext": user_context})
        page = FirefoxPage(self, name, created["context"], user_context)
        self.pages[page.context] = page
        await self.bidi.send("browsingContext.setViewport", {
            "context": page.context, "viewport": {"width": viewport[0], "height": viewport[1]}})
        await page.goto(url)
        return page

    async def close(self) -> None:
        """End the session and the browser; the process is ended by its PID if it lingers."""
        with contextlib.suppress(BidiError):
            await self.bidi.send("browser.close", timeout=CLOSE_TIMEOUT_S)
        await self.bidi.close()
        await _end(self.proc)
        if self._drain is not None:
            self._drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drain


async def _listening_url(proc: asyncio.subprocess.Process, output: list[str]) -> str:
    assert proc.stderr is not None
    while True:
        line = await proc.stderr.readline()
        if not line:
            raise RuntimeError("Firefox exited before listening:\n" + "".join(output[-40:]))
        text = line.decode(errors="replace")
        output.append(text)
        m = LISTENING.search(text)
        if m:
            return m.group(1)


async def _keep_reading(proc: asyncio.subprocess.Process, output: list[str]) -> None:
    """Drains Firefox's stderr for its whole life (a full pipe would block it); keeps the tail."""
    assert proc.stderr is not None
    while line := await proc.stderr.readline():
        output.append(line.decode(errors="replace"))
        del output[:-200]


async def _end(proc: asyncio.subprocess.Process) -> None:
    """Wait for Firefox to exit; SIGTERM then SIGKILL its own process group (started by us with
    start_new_session, so its content processes go with it), never anything by name."""
    for sig in (None, signal.SIGTERM, signal.SIGKILL):
        if sig is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
        try:
            await asyncio.wait_for(proc.wait(), CLOSE_TIMEOUT_S)
            return
        except TimeoutError:
            continue


@pytest_asyncio.fixture
async def firefox_browser(tmp_path: Path) -> AsyncIterator[Firefox]:
    """Headless Debian Firefox ESR with a fake camera and microphone, in a fresh profile."""
    executable = require_firefox()
    browser = await Firefox.launch(tmp_path / "firefox-profile", executable)
    try:
        yield browser
    finally:
        await browser.close()
