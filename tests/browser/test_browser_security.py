"""Every page is served with its security headers and runs under them without a single
Content-Security-Policy violation (shop, embed example, agent, supervisor, QA)."""

from __future__ import annotations

import aiohttp
import pytest
from playwright.async_api import expect

from tests.support import browser as browser_support
from tests.support.browser import (
    PAGE_TIMEOUT_MS,
    BrowserPage,
    assert_no_page_errors,
    expect_state,
    pages_of,
    start_server,
)

chromium_browser = browser_support.chromium_browser

SHOP_EMBEDDERS = "'self' https://shop.example"
PAGES = {
    "/demo/shop": SHOP_EMBEDDERS,
    "/demo/shop?product=phone": SHOP_EMBEDDERS,
    "/static/embed-example.html": SHOP_EMBEDDERS,
    "/agent": "'self'",
    "/supervisor": "'self'",
    "/qa": "'self'",
}
STATIC = ["/static/js/widget.js", "/static/css/widget.css", "/static/js/agent.js"]


@pytest.fixture
def framed_server(tmp_path):
    """A server whose shop pages may be framed by https://shop.example (SILKLINE_FRAME_ANCESTORS)."""
    server = start_server(tmp_path, "--frame-ancestors", SHOP_EMBEDDERS)
    try:
        yield server
    finally:
        server.stop()


def directives(policy: str) -> dict[str, str]:
    out = {}
    for part in policy.split(";"):
        name, _, value = part.strip().partition(" ")
        if name:
            out[name] = value.strip()
    return out


def assert_common(headers, what: str) -> None:
    assert headers.get("X-Content-Type-Options") == "nosniff", what
    assert headers.get("Referrer-Policy") in ("no-referrer", "strict-origin-when-cross-origin"), what
    assert headers.get("Server") == "Silkline", f"{what}: Server {headers.get('Server')!r}"


def assert_page_policy(headers, what: str, host: str, frame_ancestors: str) -> None:
    assert_common(headers, what)
    csp = directives(headers.get("Content-Security-Policy", ""))
    assert csp.get("default-src") == "'self'", (what, csp)
    for name in ("script-src", "style-src"):
        assert csp.get(name) == "'self'", (what, name, csp)  # no 'unsafe-inline', no hashes
    assert set(csp["connect-src"].split()) == {"'self'", f"ws://{host}", f"wss://{host}"}, (what, csp)
    assert set(csp["img-src"].split()) == {"'self'", "blob:", "data:"}, (what, csp)
    assert set(csp["media-src"].split()) == {"'self'", "blob:"}, (what, csp)
    assert csp.get("object-src") == "'none'", (what, csp)
    assert csp.get("base-uri") == "'none'", (what, csp)
    assert csp.get("frame-ancestors") == frame_ancestors, (what, csp)


async def test_headers_on_pages_static_files_and_api(framed_server):
    host = framed_server.url.split("://", 1)[1]
    async with aiohttp.ClientSession() as http:
        for path, ancestors in PAGES.items():
            async with http.get(framed_server.url + path) as res:
                assert res.status == 200, path
                assert_page_policy(res.headers, path, host, ancestors)
        for path in STATIC:
            async with http.get(framed_server.url + path) as res:
                assert res.status == 200, path
                assert_page_policy(res.headers, path, host, "'self'")
        for path, status in (("/api/health", 200), ("/api/calls", 401), ("/api/nothing-here", 404)):
            async with http.get(framed_server.url + path) as res:
                assert res.status == status, path
                assert_common(res.headers, path)
                assert "frame-ancestors 'none'" in res.headers.get("Content-Security-Policy", ""), path


async def test_every_page_runs_without_a_csp_violation(chromium_browser, framed_server):
    server = framed_server
    async with pages_of(server) as pages:
        # an expert signs in first: with nobody on duty the widget offers only a callback
        agent = await BrowserPage.open(chromium_browser, f"{server.url}/agent?name=Ann", "agent")
        pages.append(agent)
        await expect_state(agent, "available")

        shop = await BrowserPage.open(chromium_browser, f"{server.url}/demo/shop?product=phone", "shop")
        pages.append(shop)
        await shop.page.get_by_test_id("call-button").click()
        await expect(shop.page.get_by_test_id("mode-video")).to_be_visible()

        embed = await BrowserPage.open(chromium_browser, f"{server.url}/static/embed-example.html", "embed")
        pages.append(embed)
        await expect(embed.page.get_by_test_id("call-button")).to_be_visible()

        sup = await BrowserPage.open(chromium_browser, f"{server.url}/supervisor?name=Sam", "supervisor")
        pages.append(sup)
        await expect(sup.page.get_by_test_id("connection-state")).to_have_attribute(
            "data-state", "live", timeout=PAGE_TIMEOUT_MS)
        await expect(sup.page.get_by_test_id("agents-table")).to_contain_text("Ann", timeout=PAGE_TIMEOUT_MS)

        qa = await BrowserPage.open(chromium_browser, f"{server.url}/qa", "qa")
        pages.append(qa)
        await qa.page.get_by_test_id("qa-sign-in").click()
        await expect(qa.page.get_by_test_id("who")).to_contain_text("QA", timeout=PAGE_TIMEOUT_MS)
        await expect(qa.page.get_by_test_id("results-status")).not_to_have_text("Searching…",
                                                                                timeout=PAGE_TIMEOUT_MS)
        assert_no_page_errors(*pages)
        for bp in pages:
            assert await bp.page.evaluate("() => window.__silklineCsp.length") == 0, bp.name


async def test_the_watch_sees_a_violation(chromium_browser, framed_server):
    """The check in every browser test can fail: an inline script is refused and reported."""
    bp = await BrowserPage.open(chromium_browser, f"{framed_server.url}/agent", "agent")
    try:
        await bp.page.evaluate(
            "() => { const s = document.createElement('script'); s.textContent = 'window.__ran = 1';"
            " document.body.append(s); const d = document.createElement('div');"
            " d.setAttribute('style', 'color: red'); document.body.append(d); }")
        await bp.page.wait_for_function("() => window.__silklineCsp.length >= 2", timeout=PAGE_TIMEOUT_MS)
        assert await bp.page.evaluate("() => window.__ran === undefined")
        assert len(bp.csp_violations) >= 1, bp.console
    finally:
        bp.csp_violations.clear()
        await bp.close()
