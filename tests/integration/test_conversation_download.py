"""The shopper's copy of the conversation (GET /api/calls/{id}/conversation) over the real REST
path: only the shopper token of that call gets it, and only once the call has ended; the file
is self-contained (the photo inlined, no script, its own policy) and escapes what was said."""

from __future__ import annotations

import base64
import re

from tests.conftest import answered_call
from tests.support.images import picture


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def download(server, call_id: str, token: str | None, tz: str = "") -> tuple[int, str, dict]:
    url = f"{server.url}/api/calls/{call_id}/conversation" + (f"?tz={tz}" if tz else "")
    async with server.http.get(url, headers=bearer(token) if token else {}) as resp:
        return resp.status, await resp.text(), dict(resp.headers)


async def test_only_the_shopper_of_that_call_downloads_it_once_it_ended(server):
    call = await answered_call(server, context={"title": "Aurelia sapphire ring"})
    call_id, shopper, agent, shopper_token = call.call_id, call.shopper_ws, call.agent_ws, call.shopper_token
    agent_token = call.agent_token
    try:
        await shopper.send("chat", call_id=call_id, text="Is the <b>stone</b> scratched?")
        await shopper.expect("chat", call_id=call_id)
        await agent.send("chat", call_id=call_id, text="Hold it to the light, please.")
        await shopper.expect("chat", call_id=call_id, role="agent")
        jpeg = picture("JPEG", (32, 24))
        async with server.http.post(f"{server.url}/api/calls/{call_id}/photos", data=jpeg,
                                    headers={**bearer(shopper_token["token"]), "Content-Type": "image/jpeg"}) as resp:
            assert resp.status == 201, await resp.text()
        await shopper.expect("photo", call_id=call_id)

        # while the call is live: not yet
        status, _, _ = await download(server, call_id, shopper_token["token"])
        assert status == 409

        await shopper.send("hangup", call_id=call_id)
        await shopper.expect("call-ended", call_id=call_id)
    finally:
        await shopper.close()
        await agent.close()

    status, page, headers = await download(server, call_id, shopper_token["token"], tz="Europe/Paris")
    assert status == 200, page
    assert headers["Content-Type"].startswith("text/html")
    assert headers["Content-Disposition"] == f'attachment; filename="conversation-{call_id}.html"'
    assert "Your conversation with Ann" in page and "Aurelia sapphire ring" in page
    assert "Is the &lt;b&gt;stone&lt;/b&gt; scratched?" in page and "<b>stone" not in page
    assert "Hold it to the light, please." in page
    assert "<script" not in page and "default-src 'none'" in page
    inlined = re.findall(r'src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(inlined) == 1 and base64.b64decode(inlined[0])[:2] == b"\xff\xd8"
    assert "http://" not in page and "https://" not in page  # nothing fetched when opened

    # nobody else: another shopper, the agent, no token at all
    other = await server.token("shopper")
    assert (await download(server, call_id, other["token"]))[0] == 403
    assert (await download(server, call_id, agent_token["token"]))[0] == 403
    assert (await download(server, call_id, None))[0] == 401
    # a shopper token whose call never started: nothing to download
    assert (await download(server, other["call_id"], other["token"]))[0] == 404
