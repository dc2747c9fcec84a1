"""Staff sign in with accounts in real Chromium: the accounts are made by the real CLI
(`silkline users add`, as docs/deploy.md tells an operator) before a real `silkline serve` starts.
An agent signs in with a password and takes a real call; a supervisor sees the live board; QA
sees the calls; wrong passwords, a disabled account and the wrong page's role get words next to
the form; a reload keeps the session; signing out forgets it. Single sign-on goes through a fake
OIDC provider on 127.0.0.1 and back to the page, in the browser."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer
from playwright.async_api import expect

from tests.support import browser as browser_support
from tests.support.browser import (
    MEDIA_FLOWING_JS,
    PAGE_TIMEOUT_MS,
    REPO_ROOT,
    BrowserPage,
    dump,
    expect_state,
    start_server,
    state_of,
    video_call_accepted,
)
from tests.support.oidc_provider import CLIENT_ID, CLIENT_SECRET, FakeProvider

pytestmark = pytest.mark.asyncio
chromium_browser = browser_support.chromium_browser

PASSWORD = "a long enough password"
PEOPLE = [("ann", "agent", "Ann Archer"), ("sam", "supervisor", "Sam Stone"), ("quinn", "qa", "Quinn Quill"),
          ("dora", "agent", "Dora Disabled")]


def users(data_dir, *args: str, stdin: str = "") -> None:
    done = subprocess.run([sys.executable, "-m", "silkline", "users", *args, "--data-dir", str(data_dir)],
                          input=stdin, capture_output=True, text=True, cwd=REPO_ROOT, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


@pytest.fixture
def accounts_server(tmp_path):
    """A server whose data folder already holds an agent, a supervisor, a QA reviewer and a disabled agent."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    for name, role, display in PEOPLE:
        skills = [f"--skill={s}=3" for s in ("general", "jewellery", "electronics")] if role == "agent" else []
        users(data_dir, "add", name, "--role", role, "--display-name", display, *skills, "--password-stdin",
              stdin=PASSWORD + "\n")
    users(data_dir, "disable", "dora")
    server = start_server(tmp_path)
    try:
        yield server
    finally:
        server.stop()


async def sign_in(bp: BrowserPage, username: str, password: str = PASSWORD) -> None:
    await bp.page.get_by_test_id("sign-in-username").fill(username)
    await bp.page.get_by_test_id("sign-in-password").fill(password)
    await bp.page.get_by_test_id("sign-in-submit").click()


async def test_an_agent_signs_in_with_a_password_takes_a_call_and_signs_out(chromium_browser, accounts_server):
    server = accounts_server
    agent = await BrowserPage.open(chromium_browser, f"{server.url}/agent", "agent")
    pages = [agent]
    try:
        error = agent.page.get_by_test_id("sign-in-error")
        # loopback quick start: the demo block is offered beside the form
        await expect(agent.page.get_by_test_id("sign-in")).to_be_visible(timeout=PAGE_TIMEOUT_MS)
        await sign_in(agent, "ann", "not the password at all")
        await expect(error).to_have_text(re.compile("user name or the password is wrong"))
        await sign_in(agent, "dora")
        await expect(error).to_have_text(re.compile("disabled"))
        await sign_in(agent, "sam")
        await expect(error).to_have_text(re.compile("Sam Stone, a supervisor account"))
        await sign_in(agent, "ann")
        await expect_state(agent, "available")
        await expect(agent.page.locator("#who-name")).to_have_text("Ann Archer")
        await expect(error).to_have_text("")

        # A reload keeps this tab's session.
        await agent.page.reload()
        await expect_state(agent, "available")
        await expect(agent.page.locator("#who-name")).to_have_text("Ann Archer")

        # The account's token takes a real call from the demo shop.
        shopper = await BrowserPage.open(chromium_browser, f"{server.url}/demo/shop", "shopper")
        pages.append(shopper)
        await video_call_accepted(shopper, agent)
        for bp in (shopper, agent):
            video = await bp.page.get_by_test_id("remote-video").element_handle(timeout=PAGE_TIMEOUT_MS)
            await bp.page.wait_for_function(MEDIA_FLOWING_JS, arg=video, timeout=PAGE_TIMEOUT_MS, polling=100)
        await shopper.page.get_by_test_id("hang-up").click()
        await expect_state(agent, "ended")
        await agent.page.get_by_test_id("submit-wrap-up").click()
        await expect_state(agent, "available")

        # Signing out forgets the session: the form is back, and a reload does not sign in.
        await agent.page.get_by_test_id("sign-out").click()
        await expect(agent.page.get_by_test_id("sign-in-username")).to_be_visible()
        await expect(state_of(agent)).to_have_text("Not signed in")
        await agent.page.reload()
        await expect(agent.page.get_by_test_id("sign-in-username")).to_be_visible()
        assert await agent.page.evaluate("() => sessionStorage.getItem('silkline.agent.session')") is None
    except BaseException:
        print(await dump(pages, server), flush=True)
        raise
    finally:
        for bp in pages:
            await bp.close()


async def test_a_supervisor_signs_in_with_a_password_and_sees_the_live_board(chromium_browser, accounts_server):
    server = accounts_server
    sup = await BrowserPage.open(chromium_browser, f"{server.url}/supervisor", "supervisor")
    try:
        await sign_in(sup, "quinn")
        await expect(sup.page.get_by_test_id("sign-in-error")).to_have_text(re.compile("supervisor and admin"))
        await sign_in(sup, "sam")
        await expect(sup.page.get_by_test_id("connection-state")).to_have_attribute("data-state", "live",
                                                                                    timeout=PAGE_TIMEOUT_MS)
        await expect(sup.page.locator("#who")).to_have_text("Signed in as Sam Stone")
        await sup.page.get_by_test_id("sign-out").click()
        await expect(sup.page.get_by_test_id("sign-in-username")).to_be_visible()
        await expect(sup.page.locator("#live")).to_be_hidden()
    except BaseException:
        print(await dump([sup], server), flush=True)
        raise
    finally:
        await sup.close()


async def test_qa_signs_in_with_a_password_and_the_lockout_is_told_in_words(chromium_browser, accounts_server):
    server = accounts_server
    qa = await BrowserPage.open(chromium_browser, f"{server.url}/qa", "qa")
    try:
        error = qa.page.get_by_test_id("sign-in-error")
        await sign_in(qa, "quinn")
        await expect(qa.page.get_by_test_id("tab-calls")).to_be_visible(timeout=PAGE_TIMEOUT_MS)
        await expect(qa.page.get_by_test_id("who")).to_contain_text("Quinn Quill")
        await qa.page.get_by_test_id("sign-out").click()
        await expect(qa.page.get_by_test_id("sign-in-username")).to_be_visible()
        for _ in range(5):
            await sign_in(qa, "quinn", "wrong password, again")
            await expect(error).to_have_text(re.compile("wrong|locked"))
        await sign_in(qa, "quinn")
        await expect(error).to_have_text(re.compile(r"locked\. Try again in 1[45] minutes"))
    except BaseException:
        print(await dump([qa], server), flush=True)
        raise
    finally:
        await qa.close()


@pytest_asyncio.fixture
async def sso_server(tmp_path, monkeypatch):
    """A server with single sign-on through a fake provider running in this test's event loop."""
    provider = FakeProvider()
    provider.claims.update(sub="u-77", preferred_username="quinn@shop.example", name="Quinn Quill",
                           roles=["shop-qa"])
    idp = TestServer(provider.app(), host="127.0.0.1")
    await idp.start_server()
    provider.url = str(idp.make_url("")).rstrip("/")
    monkeypatch.setenv("SILKLINE_OIDC_CLIENT_SECRET", CLIENT_SECRET)
    server = start_server(tmp_path, "--oidc-issuer", provider.url, "--oidc-client-id", CLIENT_ID,
                          "--oidc-roles", "shop-qa=qa,shop-agents=agent")
    try:
        yield server, provider
    finally:
        server.stop()
        await idp.close()


async def test_qa_signs_in_with_single_sign_on_in_the_browser(chromium_browser, sso_server):
    server, provider = sso_server
    qa = await BrowserPage.open(chromium_browser, f"{server.url}/qa", "qa")
    try:
        sso = qa.page.get_by_test_id("sign-in-sso")
        await expect(sso).to_have_text("Sign in with single sign-on", timeout=PAGE_TIMEOUT_MS)
        await sso.click()
        await expect(qa.page.get_by_test_id("who")).to_contain_text("Quinn Quill", timeout=PAGE_TIMEOUT_MS)
        await expect(qa.page.get_by_test_id("tab-calls")).to_be_visible()
        assert "sso" not in qa.page.url  # the page tidied its address; no token was ever in it
        saved = await qa.page.evaluate("() => JSON.parse(sessionStorage.getItem('silkline.qa.session'))")
        assert saved["name"] == "quinn" and saved["role"] == "qa"
        # the provider stops granting a Silkline role: the next sign-in is refused in words
        await qa.page.get_by_test_id("sign-out").click()
        provider.claims["roles"] = ["shop-customers"]
        await qa.page.get_by_test_id("sign-in-sso").click()
        await expect(qa.page.get_by_test_id("sign-in-error")).to_contain_text("no Silkline role",
                                                                              timeout=PAGE_TIMEOUT_MS)
        await expect(qa.page.get_by_test_id("tab-calls")).to_be_hidden()
    except BaseException:
        print(await dump([qa], server), flush=True)
        raise
    finally:
        await qa.close()
