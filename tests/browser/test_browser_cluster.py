"""In headless Chromium against three real node processes on a real redis-server: a video call
between the shop's widget and the agent console survives kill -9 of the node carrying its
media (and of the node deciding for the contact centre).

Each page reaches the cluster through a loopback ``Front`` (tests/support/front.py), as pages
reach a cluster through its load balancer: the shopper's front prefers one node that does not
hold the centre lease, the agent's the other one, and each passes a new connection to the next
node when its own is gone. The pages follow on their own: the socket that was on the killed node
closes, the page comes back through its origin with the same token (``joined{resumed}``), and
``migrated`` (media on a new node) brings a new peer connection; the shopper sees
"Reconnecting…", never "call ended". Prints ``RESUMED_S shopper=… agent=…`` (kill → remote
picture changing again; target 10 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.browser.test_browser_migration import PICTURE_CHECKSUM_JS
from tests.integration.test_cluster_faults import by_id, carrier, centre, record
from tests.support import browser as browser_support
from tests.support.browser import (
    MEDIA_FLOWING_JS,
    PAGE_TIMEOUT_MS,
    BrowserPage,
    assert_no_page_errors,
    expect_state,
    state_of,
    video_call_accepted,
)
from tests.support.cluster import Cluster
from tests.support.eventually import eventually
from tests.support.front import Front

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(180)]

chromium_browser = browser_support.chromium_browser

RESUME_S = 30.0  # the target is 10 s; generous on a machine shared with other work


class ClusterPages:
    """The pages of a test, printed with the nodes' logs when it fails (``pages_of`` for a cluster)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.pages: list[BrowserPage] = []

    def log_tail(self, n: int = 200) -> str:
        return "\n".join(self.cluster.logs().splitlines()[-n:])


@contextlib.asynccontextmanager
async def three_nodes(tmp_path: Path, redis_url: str) -> AsyncIterator[tuple[Cluster, ClusterPages, Front, Front]]:
    """Three nodes, and a front for the shopper (first non-holder node preferred) and one for the
    agent (the other non-holder node preferred)."""
    async with Front() as shop_front, Front() as agent_front:
        # no --allowed-origins: the pages are same-origin with their front, and a socket a node
        # relays to the holder is not checked again there (the relaying node checked it)
        async with Cluster(tmp_path, redis_url, nodes=3, env={"SILKLINE_DEMO": "1"},
                           args=["--grace-period", "30", "--lease-ttl", "3"]) as cluster:
            holder = by_id(cluster, await centre(cluster))
            first, second = [n for n in cluster.nodes if n is not holder]
            shop_front.route([first.url, second.url, holder.url])
            agent_front.route([second.url, first.url, holder.url])
            owner = ClusterPages(cluster)
            async with browser_support.pages_of(owner, owner.pages):
                yield cluster, owner, shop_front, agent_front


async def remote_picture(bp: BrowserPage) -> int | None:
    video = await bp.page.get_by_test_id("remote-video").element_handle()
    return await bp.page.evaluate(PICTURE_CHECKSUM_JS, video)


async def picture_changing(bp: BrowserPage, timeout_s: float = RESUME_S) -> float:
    """Seconds until, on the page's current peer connection, media flows and the remote picture
    changes between two looks 300 ms apart."""
    started = time.monotonic()

    async def changing() -> bool:
        video = await bp.page.get_by_test_id("remote-video").element_handle()
        if not await bp.page.evaluate(MEDIA_FLOWING_JS, video):
            return False
        first = await remote_picture(bp)
        await asyncio.sleep(0.3)
        second = await remote_picture(bp)
        return first is not None and second is not None and first != second
    await eventually(changing, timeout=timeout_s, interval=0.1, message=f"a moving remote picture on the {bp.name} page")
    return time.monotonic() - started


async def video_call(browser: Any, owner: ClusterPages, shopper_url: str, agent_url: str) -> tuple[BrowserPage, BrowserPage]:
    """Ann signs in on the agent console, Sam calls from the demo shop, Ann accepts: both see each other."""
    agent = await BrowserPage.open(browser, f"{agent_url}/agent?name=Ann&debug", "agent")
    owner.pages.append(agent)
    # on a failure the diagnostics show the console's protocol log (?debug); refused requests are kept by every page
    await expect_state(agent, "available")
    shopper = await BrowserPage.open(browser, f"{shopper_url}/demo/shop", "shopper")
    owner.pages.append(shopper)
    await video_call_accepted(shopper, agent)
    await asyncio.gather(expect_state(shopper, "connected"), expect_state(agent, "connected"))
    await asyncio.gather(picture_changing(shopper), picture_changing(agent))
    return shopper, agent


async def mark(bp: BrowserPage) -> None:
    await bp.page.evaluate("() => { window.__oldPeer = window.silkline.peer(); "
                           "window.__statesBefore = window.silkline.history().length; }")


async def states_since_mark(bp: BrowserPage) -> list[str]:
    return await bp.page.evaluate("() => window.silkline.history().slice(window.__statesBefore)")


async def followed(bp: BrowserPage, killed_at: float) -> float:
    """The page is connected again on a new peer connection with a moving remote picture;
    answers the seconds since the kill."""
    await bp.page.wait_for_function("() => window.silkline.peer() && window.silkline.peer() !== window.__oldPeer",
                                    timeout=RESUME_S * 1000)
    await expect_state(bp, "connected", timeout=int(RESUME_S * 1000))
    await picture_changing(bp, timeout_s=max(1.0, RESUME_S - (time.monotonic() - killed_at)))
    return time.monotonic() - killed_at


async def chat_both_ways(shopper: BrowserPage, agent: BrowserPage) -> None:
    for by, to, text in ((shopper, agent, "Still there after the hiccup?"), (agent, shopper, "Yes, still here.")):
        await by.page.get_by_test_id("chat-input").fill(text)
        await by.page.get_by_test_id("chat-send").click()
        for bp in (by, to):
            await expect(bp.page.get_by_test_id("chat-log")).to_contain_text(text, timeout=PAGE_TIMEOUT_MS)


async def hang_up(agent: BrowserPage, shopper: BrowserPage) -> None:
    await agent.page.get_by_test_id("hang-up").click()
    await asyncio.gather(expect_state(agent, "ended"), expect_state(shopper, "ended"))
    await expect(state_of(shopper)).to_contain_text("expert ended the call")
    assert_no_page_errors(shopper, agent)


async def test_kill_9_of_the_node_carrying_the_call_both_pages_follow(chromium_browser, tmp_path, redis_url):
    async with three_nodes(tmp_path, redis_url) as (cluster, owner, shop_front, agent_front):
        holder = by_id(cluster, await centre(cluster))
        first, second = [n for n in cluster.nodes if n is not holder]
        shopper, agent = await video_call(chromium_browser, owner, shop_front.url, agent_front.url)
        call_id = await shopper.page.evaluate("() => window.silkline.callId()")

        # the supervisor's node board: who decides for the centre, and every node active
        sup = await BrowserPage.open(chromium_browser, f"{agent_front.url}/supervisor", "supervisor")
        owner.pages.append(sup)
        await sup.page.get_by_test_id("name-input").fill("Sue")
        await sup.page.get_by_test_id("sign-in").click()
        holder_row = sup.page.get_by_test_id(f"node-{holder.node_id}")
        await expect(holder_row).to_have_attribute("data-centre", "true", timeout=PAGE_TIMEOUT_MS)
        await expect(holder_row).to_contain_text("Decides for the contact centre")
        for node in (first, second):
            row = sup.page.get_by_test_id(f"node-{node.node_id}")
            await expect(row).to_have_attribute("data-state", "active")
            await expect(row).to_have_attribute("data-centre", "false")

        victim = by_id(cluster, await carrier(cluster, call_id))
        assert victim is not holder  # the holder carries media only when it is alone
        for bp in (shopper, agent):
            await mark(bp)
        killed_at = time.monotonic()
        victim.kill()
        await victim.wait()

        await shopper.page.wait_for_function(
            "() => window.silkline.history().slice(window.__statesBefore).includes('reconnecting')",
            timeout=RESUME_S * 1000)
        shopper_s, agent_s = await asyncio.gather(followed(shopper, killed_at), followed(agent, killed_at))
        print(f"\nRESUMED_S shopper={shopper_s:.1f} agent={agent_s:.1f} (kill -9 of {victim.node_id}, "
              f"the node carrying the call; target 10 s)", flush=True)
        after = await states_since_mark(shopper)
        assert "ended" not in after and "error" not in after, after
        await expect(state_of(shopper)).not_to_contain_text(re.compile("ended", re.I))

        dead_row = sup.page.get_by_test_id(f"node-{victim.node_id}")
        await expect(dead_row).to_have_attribute("data-state", "dead", timeout=PAGE_TIMEOUT_MS)
        await expect(dead_row).to_contain_text("Not answering")

        await chat_both_ways(shopper, agent)
        moved = await record(cluster, call_id, holder)
        migrated = [e for e in moved["events"] if e["type"] == "migrated"]
        assert [e["reason"] for e in migrated] == ["node_lost"], migrated
        assert migrated[0]["from_node"] == victim.node_id and migrated[0]["to_node"] not in (None, victim.node_id)
        await hang_up(agent, shopper)
        ended = await record(cluster, call_id, holder)
        assert ended["state"] == "ended" and ended["end_reason"] == "hang_up", ended


async def test_kill_9_of_the_centre_holder_the_pages_come_back_through_another_node(
        chromium_browser, tmp_path, redis_url):
    async with three_nodes(tmp_path, redis_url) as (cluster, owner, shop_front, agent_front):
        holder = by_id(cluster, await centre(cluster))
        first, second = [n for n in cluster.nodes if n is not holder]
        shopper, agent = await video_call(chromium_browser, owner, shop_front.url, agent_front.url)
        call_id = await shopper.page.evaluate("() => window.silkline.callId()")
        for bp in (shopper, agent):
            await mark(bp)
        killed_at = time.monotonic()
        holder.kill()
        await holder.wait()

        async def successor() -> str | None:
            now = await centre(cluster)
            return now if now != holder.node_id else None
        new_holder = by_id(cluster, await eventually(successor, timeout=20, message="another centre holder"))
        shopper_s, agent_s = await asyncio.gather(followed(shopper, killed_at), followed(agent, killed_at))
        print(f"\nRESUMED_S shopper={shopper_s:.1f} agent={agent_s:.1f} (kill -9 of the centre holder "
              f"{holder.node_id}; {new_holder.node_id} decides now)", flush=True)
        after = await states_since_mark(shopper)
        assert "ended" not in after and "error" not in after, after
        await chat_both_ways(shopper, agent)
        moved = await record(cluster, call_id, new_holder)
        assert moved["state"] != "ended" and "migrated" in [e["type"] for e in moved["events"]]
        await hang_up(agent, shopper)


async def test_a_frozen_node_relaying_the_shop_page_the_page_notices_and_the_call_goes_on(
        chromium_browser, tmp_path, redis_url):
    """SIGSTOP of the node the shop's page reached: the page's socket stays open at its end,
    silent (a browser cannot ping it). The page's own ``ping`` goes unanswered, it gives the
    socket up and comes back through its origin (the balancer took the frozen node out) within
    the grace period: the same call, a new peer connection, never "ended"."""
    async with three_nodes(tmp_path, redis_url) as (cluster, owner, shop_front, agent_front):
        holder = by_id(cluster, await centre(cluster))
        relay = next(n for n in cluster.nodes if n is not holder)  # the shop front's first choice
        shopper, agent = await video_call(chromium_browser, owner, shop_front.url, agent_front.url)
        call_id = await shopper.page.evaluate("() => window.silkline.callId()")
        await mark(shopper)
        shop_front.route([n.url for n in cluster.nodes if n is not relay])  # its health check takes the node out
        frozen_at = time.monotonic()
        relay.kill(signal.SIGSTOP)
        try:
            await shopper.page.wait_for_function(
                "() => window.silkline.history().slice(window.__statesBefore).includes('reconnecting')",
                timeout=RESUME_S * 1000)
            shopper_s = await followed(shopper, frozen_at)
        finally:
            relay.kill(signal.SIGCONT)
        print(f"\nRESUMED_S shopper={shopper_s:.1f} (SIGSTOP of {relay.node_id}, the node relaying the shop page)",
              flush=True)
        after = await states_since_mark(shopper)
        assert "ended" not in after and "error" not in after, after
        await chat_both_ways(shopper, agent)
        await hang_up(agent, shopper)
        ended = await record(cluster, call_id, holder)
        assert ended["end_reason"] == "hang_up", ended
