"""The store seam webhooks hear from: only durable writes are reported, each shop event once
where it must be, and an observer's failure never fails the write."""

from __future__ import annotations

from signaling.centre.store_events import ObservedStore
from signaling.centre.webhooks import sign, verify
from signaling.state.memory import MemoryStateStore


async def test_durable_call_events_map_to_shop_events(tmp_path):
    heard: list[tuple[str, str]] = []
    store = ObservedStore(MemoryStateStore(tmp_path), lambda kind, call_id, event: heard.append((kind, call_id)))
    await store.open()
    await store.create_call({"call_id": "c1", "created_at": 1.0, "state": "waiting"})
    for kind in ("queued", "connected", "transferred", "connected", "composed", "rated",
                 "callback_requested", "ended"):
        await store.append_call_event("c1", {"type": kind, "at": 2.0})
    assert heard == [("call.started", "c1"), ("recording.ready", "c1"), ("rating.submitted", "c1"),
                     ("callback.requested", "c1"), ("call.ended", "c1")]
    await store.close()


async def test_a_failing_observer_never_fails_the_write(tmp_path):
    def broken(kind: str, call_id: str, event: dict) -> None:
        raise RuntimeError("observer bug")

    store = ObservedStore(MemoryStateStore(tmp_path), broken)
    await store.open()
    await store.create_call({"call_id": "c1", "created_at": 1.0, "state": "waiting"})
    await store.append_call_event("c1", {"type": "ended", "at": 2.0, "reason": "hang_up"})
    assert (await store.get_call("c1"))["state"] == "ended"
    await store.close()


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body():
    # computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
    header = sign("whsec_test", 1700000000, b'{"a":1}')
    assert header == "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
    assert verify("whsec_test", header, b'{"a":1}', now=1700000100)
    assert not verify("whsec_test", header, b'{"a":2}', now=1700000100)
    assert not verify("whsec_test", header, b'{"a":1}', now=1700000000 + 301)  # too old: a replay
    assert not verify("whsec_test", "garbage", b'{"a":1}', now=1700000000)
