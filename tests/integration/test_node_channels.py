"""NodeChannels on a real redis-server: two nodes in one process, ordered posts, requests with
replies and errors, a node that is gone, and the subscription coming back after Redis does."""

from __future__ import annotations

import asyncio
import time

import pytest

from signaling.errors import ErrorCode, SignalingError
from signaling.state.channels import NodeChannels
from tests.integration.test_redis_failover import (
    SERVICE,
    replicated,  # noqa: F401 - a fixture, used by name
)
from tests.support.eventually import eventually
from tests.support.redis_processes import RedisProcess


@pytest.fixture
async def pair(redis_url):
    centre, media = NodeChannels(redis_url, "centre-1"), NodeChannels(redis_url, "media-1")
    await centre.open()
    await media.open()
    yield centre, media
    await centre.close()
    await media.close()


async def test_a_thousand_posts_arrive_in_order(pair):
    centre, media = pair
    seen: list[int] = []

    async def note(body, sender):
        assert sender == "centre-1"
        seen.append(body["n"])

    media.handle("note", note)
    for n in range(1000):
        centre.post("media-1", "note", {"n": n})
    await eventually(lambda: len(seen) == 1000, timeout=20, message="1000 posts")
    assert seen == list(range(1000))


async def test_a_request_is_answered_after_the_posts_before_it(pair):
    centre, media = pair
    seen: list[int] = []

    async def note(body, sender):
        seen.append(body["n"])

    async def count(body, sender):
        return {"count": len(seen), "echo": body["sdp"]}

    media.handle("note", note)
    media.handle("count", count)
    for n in range(50):
        centre.post("media-1", "note", {"n": n})
    # an SDP-sized body (aiortc's offers with candidates are a few kB; a JPEG snapshot ~100 kB)
    sdp = "v=0\r\n" + "a=candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host\r\n" * 3000
    answer = await centre.request("media-1", "count", {"sdp": sdp})
    assert answer == {"count": 50, "echo": sdp}


async def test_a_handlers_refusal_is_raised_again_at_the_caller(pair):
    centre, media = pair

    async def negotiate(body, sender):
        raise SignalingError(ErrorCode.BAD_SDP, "the offer has no media section")

    async def broken(body, sender):
        raise RuntimeError("boom")

    media.handle("negotiate", negotiate)
    media.handle("broken", broken)
    with pytest.raises(SignalingError) as refused:
        await centre.request("media-1", "negotiate", {})
    assert refused.value.code is ErrorCode.BAD_SDP
    assert refused.value.message == "the offer has no media section"
    with pytest.raises(SignalingError) as failed:
        await centre.request("media-1", "broken", {})
    assert failed.value.code is ErrorCode.INTERNAL_ERROR
    with pytest.raises(SignalingError) as unknown:
        await centre.request("media-1", "no-such-kind", {})
    assert unknown.value.code is ErrorCode.INVALID_MESSAGE


async def test_a_node_that_is_gone_is_service_unavailable_at_once(pair):
    centre, _ = pair
    started = time.monotonic()
    with pytest.raises(SignalingError) as gone:
        await centre.request("media-gone", "stats", {}, timeout=3.0)
    assert gone.value.code is ErrorCode.SERVICE_UNAVAILABLE
    assert "media-gone" in gone.value.message
    assert time.monotonic() - started < 1.0  # nobody subscribed: no need to wait for the timeout
    centre.post("media-gone", "note", {})  # a post to nobody is dropped, never raised


async def test_a_node_that_does_not_answer_times_out_in_words(pair):
    centre, media = pair
    release = asyncio.Event()

    async def hang(body, sender):
        await release.wait()

    media.handle("hang", hang)
    started = time.monotonic()
    with pytest.raises(SignalingError) as late:
        await centre.request("media-1", "hang", {}, timeout=0.5)
    assert late.value.code is ErrorCode.SERVICE_UNAVAILABLE and "did not answer" in late.value.message
    assert 0.4 < time.monotonic() - started < 2.0
    release.set()


async def test_the_subscription_comes_back_after_redis_does(tmp_path):
    process = RedisProcess(tmp_path / "redis")
    centre, media = NodeChannels(process.url, "centre-2"), NodeChannels(process.url, "media-2")
    try:
        await centre.open()
        await media.open()
        got: list[int] = []

        async def note(body, sender):
            got.append(body["n"])

        async def ping(body, sender):
            return {"pong": True}

        media.handle("note", note)
        media.handle("ping", ping)
        assert await centre.request("media-2", "ping", {}) == {"pong": True}
        port, folder = process.port, process.folder
        process.kill()
        with pytest.raises(SignalingError) as away:
            await centre.request("media-2", "ping", {}, timeout=3.0)
        assert away.value.code is ErrorCode.SERVICE_UNAVAILABLE
        process = RedisProcess(folder, port=port)
        await eventually(lambda: media.subscribed.is_set() and centre.subscribed.is_set(), timeout=15,
                         message="both subscribed again")
        assert media.resubscriptions >= 1
        assert await centre.request("media-2", "ping", {}) == {"pong": True}
        centre.post("media-2", "note", {"n": 7})
        await eventually(lambda: got == [7], message="a post after the outage")
    finally:
        await centre.close()
        await media.close()
        process.stop()


async def test_a_blip_shorter_than_redis_pys_retries_is_told_to_the_mirrors_too(redis_url):
    """redis-py reconnects a dropped subscription by itself when Redis answers within its
    retries: what was published in the gap is lost all the same, so ``on_resubscribed`` runs."""
    import redis.asyncio as redis

    media = NodeChannels(redis_url, "media-blip")
    told: list[int] = []
    media.on_resubscribed.append(lambda: told.append(1))
    admin = redis.Redis.from_url(redis_url)
    try:
        await media.open()
        # Redis itself drops the subscriber's connection (as a restart or a network cut would)
        await admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        await eventually(lambda: told == [1], timeout=10, message="the mirrors told of the gap")
        assert media.resubscriptions == 1
        assert await admin.publish(media.channel, '{"kind":"x","from":"y"}') == 1  # subscribed again
    finally:
        await media.close()
        await admin.aclose()


async def test_the_channels_follow_a_sentinel_failover(replicated):  # noqa: F811 - the fixture
    primary, _, sentinel = replicated
    url = f"redis+sentinel://127.0.0.1:{sentinel.port}/{SERVICE}"
    centre, media = NodeChannels(url, "centre-3"), NodeChannels(url, "media-3")

    async def ping(body, sender):
        return {"pong": body["n"]}

    media.handle("ping", ping)
    try:
        await centre.open()
        await media.open()
        assert await centre.request("media-3", "ping", {"n": 1}) == {"pong": 1}
        primary.kill()

        async def answered() -> bool:
            try:
                return await centre.request("media-3", "ping", {"n": 2}, timeout=2.0) == {"pong": 2}
            except SignalingError as exc:
                assert exc.code is ErrorCode.SERVICE_UNAVAILABLE
                return False

        await eventually(answered, timeout=40, interval=0.5, message="a reply through the promoted replica")
    finally:
        await centre.close()
        await media.close()
