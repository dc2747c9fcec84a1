"""Picture uploads over the real REST path: a tiny file that declares 30000x30000 pixels is
refused from its header (image_too_large) without the server allocating for it; broken files
are not_an_image, never a 500; a good picture still arrives in the call."""

from __future__ import annotations

import numpy as np
import psutil
import pytest

from tests.support.images import (
    gif_claiming,
    jpeg_claiming,
    picture,
    png_claiming,
    webp_claiming,
)

RSS_BOUND = 200 * 1024 * 1024  # one decoded 30000x30000 picture would be 2.7 GB


@pytest.fixture
def server_config(tmp_path, request):
    from tests.conftest import make_config

    return make_config(tmp_path, **getattr(request, "param", {}))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def waiting_call(server):
    """A shopper's live call (ringing an agent who is signed in, so it is not unavailable)."""
    agent = await server.client()
    await agent.send("join", token=(await server.token("agent", name="Ann"))["token"])
    await agent.expect("joined")
    token = await server.token("shopper")
    ws = await server.client()
    await ws.send("join", token=token["token"], context={"product_id": "ring-42"})
    await ws.expect("joined", call_id=token["call_id"])
    await agent.expect("call-offered", call_id=token["call_id"])
    yield token, ws
    await ws.close()
    await agent.close()


async def upload(server, token: dict, body: bytes, content_type: str = "image/png") -> tuple[int, dict]:
    url = f"{server.url}/api/calls/{token['call_id']}/photos"
    async with server.http.post(url, data=body, headers={**bearer(token["token"]),
                                                         "Content-Type": content_type}) as resp:
        return resp.status, await resp.json()


async def test_bombs_broken_files_and_a_good_picture(server, waiting_call):
    token, ws = waiting_call
    process = psutil.Process()
    rss_before = process.memory_info().rss
    for body, kind in ((png_claiming(30000, 30000), "image/png"),
                       (jpeg_claiming(30000, 30000), "image/jpeg"),
                       (jpeg_claiming(30000, 30000, progressive=True), "image/jpeg"),
                       (webp_claiming(16000, 16000), "image/webp"),
                       (gif_claiming(30000, 30000), "image/gif"),
                       (png_claiming(7000, 7000), "image/png")):
        status, answer = await upload(server, token, body, kind)
        assert (status, answer["error"]["code"]) == (413, "image_too_large"), answer
    rng = np.random.default_rng(11)
    for body in (picture("PNG", (640, 480))[:900], picture("JPEG", (640, 480))[:700],
                 bytes(rng.integers(0, 256, 50_000, dtype=np.uint8)), b""):
        status, answer = await upload(server, token, body)
        assert (status, answer["error"]["code"]) == (400, "not_an_image"), answer
    assert process.memory_info().rss - rss_before < RSS_BOUND

    status, answer = await upload(server, token, picture("JPEG", (64, 48)), "image/jpeg")
    assert status == 201, answer
    photo = await ws.expect("photo", call_id=token["call_id"])
    assert (photo["width"], photo["height"]) == (64, 48)
    status, answer = await upload(server, token, picture("WEBP", (32, 24)), "image/webp")
    assert status == 201 and (answer["width"], answer["height"]) == (32, 24), answer


async def test_multipart_upload_takes_the_same_guard(server, waiting_call):
    import aiohttp

    token, _ = waiting_call
    form = aiohttp.FormData()
    form.add_field("photo", png_claiming(30000, 30000), filename="bomb.png", content_type="image/png")
    url = f"{server.url}/api/calls/{token['call_id']}/photos"
    async with server.http.post(url, data=form, headers=bearer(token["token"])) as resp:
        assert resp.status == 413
        assert (await resp.json())["error"]["code"] == "image_too_large"


@pytest.mark.parametrize("server_config", [{"max_image_side": 100}], indirect=True)
async def test_the_side_cap_is_configurable(server, waiting_call):
    token, _ = waiting_call
    status, answer = await upload(server, token, picture("PNG", (101, 10)))
    assert (status, answer["error"]["code"]) == (413, "image_too_large")
    status, _ = await upload(server, token, picture("PNG", (100, 10)))
    assert status == 201
