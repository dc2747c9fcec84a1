"""A short server outage in the middle of a call, in headless Chromium: the server process is
killed (SIGKILL, as a crash) and started again on the same port with the same data directory
and secret. The restarted server closes the call it carried (reason `error`), so the shopper is
told in words that the call was dropped and is never asked to rate it; the agent console signs
in again on its own with its token and takes the next call; the supervisor page marks its board
stale while the connection is gone and fresh again once a new picture arrives. An agent on a
break is on a break again after the next outage."""

from __future__ import annotations

import asyncio
import os
import re
import signal

import pytest
from playwright.async_api import expect

from tests.browser.test_browser_call import connect_call
from tests.conftest import SECRET
from tests.support import browser as browser_support
from tests.support.browser import (
    PAGE_TIMEOUT_MS,
    BrowserPage,
    assert_no_page_errors,
    demo_token,
    dump,
    expect_state,
    get_json,
    screenshot,
    start_server,
    state_of,
)

pytestmark = pytest.mark.asyncio

chromium_browser = browser_support.chromium_browser

BACK_TIMEOUT_MS = 60_000  # the pages' backoff (0.5, 1, 2, 4, 8 s…) plus a restart on a busy machine


async def test_after_a_restart_mid_call_no_rating_agent_signed_in_again_board_fresh(chromium_browser, tmp_path):
    server = start_server(tmp_path, "--secret", SECRET)
    servers = [server]
    pages: list[BrowserPage] = []
    try:
        agent, shopper = await connect_call(chromium_browser, server)
        pages += [agent, shopper]
        supervisor = await BrowserPage.open(chromium_browser, f"{server.url}/supervisor?name=Sam", "supervisor")
        pages.append(supervisor)
        sup = supervisor.page
        await expect(sup.get_by_test_id("connection-state")).to_have_attribute("data-state", "live",
                                                                               timeout=PAGE_TIMEOUT_MS)
        agents_table = sup.get_by_test_id("agents-table")
        await expect(agents_table).to_contain_text("Ann", timeout=PAGE_TIMEOUT_MS)
        stale = sup.get_by_test_id("stale-marker")
        await expect(stale).to_be_hidden()

        # The outage: the process dies at once, sockets and media with it.
        os.kill(server.proc.pid, signal.SIGKILL)  # our own child, by its PID
        server.proc.wait(10)
        server.stop()
        await expect(stale).to_be_visible(timeout=PAGE_TIMEOUT_MS)
        await expect(stale).to_contain_text("Stale")
        await expect(agents_table.locator("tbody tr[data-key]").first).to_have_attribute("data-stale", "true")
        await expect(state_of(shopper)).to_have_attribute("data-state", "reconnecting", timeout=PAGE_TIMEOUT_MS)
        await screenshot(supervisor, "outage-supervisor-stale")

        again = start_server(tmp_path, "--secret", SECRET, "--port", str(server.port))
        servers.append(again)
        assert again.url == server.url

        # The shopper: told the call was dropped, in words; no rating for it, ever.
        await expect_state(shopper, "ended", timeout=BACK_TIMEOUT_MS)
        await expect(state_of(shopper)).to_contain_text(re.compile("dropped", re.I))
        await expect(shopper.page.get_by_test_id("submit-rating")).to_be_hidden()
        await expect(shopper.page.get_by_test_id("widget-error")).to_be_empty()  # no refusal shown
        await expect(shopper.page.get_by_test_id("call-again")).to_be_visible()
        await screenshot(shopper, "outage-shopper-dropped")

        # The agent: signed in again on their own, available for the next call.
        await expect_state(agent, "available", timeout=BACK_TIMEOUT_MS)
        live = await get_json(again, "/api/live", await demo_token(again, "supervisor"))
        assert [(a["name"], a["state"]) for a in live["agents"]] == [("Ann", "available")], live["agents"]

        # The supervisor: reconnected, the board fresh again.
        await expect(sup.get_by_test_id("connection-state")).to_have_attribute("data-state", "live",
                                                                               timeout=BACK_TIMEOUT_MS)
        await expect(stale).to_be_hidden(timeout=PAGE_TIMEOUT_MS)
        await expect(agents_table.locator("tbody tr[data-key]").first).to_have_attribute("data-stale", "false")
        await expect(agents_table).to_contain_text("Ann")

        # An agent on a break stays on a break through the next outage (a fresh server would
        # make them available): the console restores what it was.
        await agent.page.get_by_test_id("set-away").click()
        await expect_state(agent, "away")
        os.kill(again.proc.pid, signal.SIGKILL)
        again.proc.wait(10)
        again.stop()
        await expect(stale).to_be_visible(timeout=PAGE_TIMEOUT_MS)
        third = start_server(tmp_path, "--secret", SECRET, "--port", str(server.port))
        servers.append(third)
        await expect(stale).to_be_hidden(timeout=BACK_TIMEOUT_MS)
        await expect(agent.page.get_by_test_id("agent-state")).to_have_attribute("data-state", "away",
                                                                                 timeout=BACK_TIMEOUT_MS)
        sup_token = await demo_token(third, "supervisor")
        agents: list = []
        for _ in range(50):  # bounded: the console's set-state follows its join on the same socket
            agents = [(a["name"], a["state"]) for a in (await get_json(third, "/api/live", sup_token))["agents"]]
            if agents == [("Ann", "away")]:
                break
            await asyncio.sleep(0.2)
        assert agents == [("Ann", "away")], agents
        await agent.page.get_by_test_id("set-available").click()
        await expect_state(agent, "available")

        # And the next call rings that agent.
        await shopper.page.get_by_test_id("call-again").click()
        await shopper.page.get_by_test_id("mode-video").click()
        await expect(agent.page.get_by_test_id("accept-call")).to_be_visible(timeout=PAGE_TIMEOUT_MS)
        await expect(shopper.page.get_by_test_id("submit-rating")).to_be_hidden()
        assert_no_page_errors(*pages)
    except BaseException:
        print(await dump(pages, servers[-1]), flush=True)
        raise
    finally:
        for bp in pages:
            await bp.close()
        for s in servers:
            s.stop()
