"""Unit tests of the aiortc hook and the subscriber queue (no sockets)."""

from __future__ import annotations

import asyncio

import aiortc
import pytest
from aiortc import RTCPeerConnection

from media.encoded import EncodedFrame, is_keyframe
from media.synthetic import encode_vp8_clip
from sfu.forwarder import FrameTap, install_tap
from sfu.subscriber import Subscriber


def test_aiortc_is_the_pinned_version_with_the_hooked_internals():
    assert aiortc.__version__.startswith("1.16."), "sfu/forwarder.py hooks aiortc 1.16 internals"


async def test_tap_replaces_the_decoder_queue():
    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver("video", "recvonly")
    frames: list[EncodedFrame] = []
    tap = install_tap(transceiver.receiver, frames.append, "video")
    assert getattr(transceiver.receiver, "_RTCRtpReceiver__decoder_queue") is tap
    await pc.close()


def test_tap_turns_jitter_frames_into_encoded_frames():
    class Codec:
        name, clockRate = "VP8", 90000

    class Jitter:
        def __init__(self, data: bytes) -> None:
            self.data, self.timestamp = data, 3000

    clip = encode_vp8_clip(frames=3, keyframe_interval=30)
    frames: list[EncodedFrame] = []
    tap = FrameTap("video", frames.append)
    tap.put((Codec, Jitter(clip[0])))
    tap.put((Codec, Jitter(clip[1])))
    assert [f.keyframe for f in frames] == [True, False]
    assert frames[0].data == clip[0] and frames[0].timestamp == 3000
    tap.put(None)
    assert tap.get() is None  # the parked decoder thread is released on stop


def test_keyframe_detection():
    clip = encode_vp8_clip(frames=4, keyframe_interval=2)
    assert [is_keyframe("VP8", f) for f in clip] == [True, False, True, False]
    assert is_keyframe("H264", b"\x00\x00\x00\x01\x67abc\x00\x00\x01\x65xyz")
    assert not is_keyframe("H264", b"\x00\x00\x00\x01\x41abc")
    assert is_keyframe("opus", b"\x01")


class FakePublisher:
    participant_id = "pub"

    def __init__(self) -> None:
        self.subscribers: list = []
        self.keyframe_requests = 0

    def add_subscriber(self, s) -> None:
        self.subscribers.append(s)

    def remove_subscriber(self, s) -> None:
        self.subscribers.remove(s)

    def request_keyframe(self) -> None:
        self.keyframe_requests += 1


def frame(ts: int, key: bool) -> EncodedFrame:
    return EncodedFrame("video", "VP8", b"\x00" if key else b"\x01", ts, 90000, key)


async def test_subscriber_starts_on_a_keyframe_and_keeps_timestamps_continuous():
    sub = Subscriber("video", "me")
    first, second = FakePublisher(), FakePublisher()
    sub.bind(first)
    assert first.keyframe_requests == 1
    sub.push(frame(1000, False))  # dropped: cannot be decoded without a keyframe
    sub.push(frame(4000, True))
    sub.push(frame(7000, False))
    assert (await sub.recv()).pts == 0
    assert (await sub.recv()).pts == 3000
    # switch publisher (the other side reconnected): timestamps continue, keyframe first
    sub.bind(second)
    assert second.keyframe_requests == 1 and first.subscribers == []
    sub.push(frame(500_000, False))
    sub.push(frame(503_000, True))
    assert (await sub.recv()).pts == 6000
    assert sub.frames_dropped == 2
    sub.stop()
    with pytest.raises(aiortc.mediastreams.MediaStreamError):
        await sub.recv()


async def test_subscriber_overflow_drops_to_next_keyframe_and_asks_for_one():
    sub = Subscriber("video", "me")
    pub = FakePublisher()
    sub.bind(pub)
    sub.push(frame(0, True))
    for i in range(1, 100):  # nobody reads: the queue (60) overflows
        sub.push(frame(i * 3000, False))
    assert sub._queue.qsize() <= 60
    assert pub.keyframe_requests >= 2
    assert sub.frames_dropped > 0
    sub.push(frame(999_000, True))
    packet = await asyncio.wait_for(sub.recv(), 1)
    assert bytes(packet) == b"\x00"  # the first frame out after overflow is the keyframe
    sub.stop()


def test_marker_jitter_buffer_completes_a_frame_at_its_marker_bit():
    from aiortc.rtp import RtpPacket

    from sfu.forwarder import MarkerJitterBuffer

    def packet(seq: int, ts: int, data: bytes, marker: bool) -> RtpPacket:
        p = RtpPacket(payload_type=96, sequence_number=seq, timestamp=ts, marker=int(marker))
        p._data = data
        return p

    video = MarkerJitterBuffer(capacity=64, is_video=True)
    assert video.add(packet(100, 3000, b"a", False))[1] is None
    frame = video.add(packet(101, 3000, b"b", True))[1]  # no need to wait for the next frame
    assert frame is not None and frame.data == b"ab" and frame.timestamp == 3000
    # a lost marker: the next frame's first packet completes the previous one
    assert video.add(packet(102, 6000, b"c", False))[1] is None
    frame = video.add(packet(103, 9000, b"d", False))[1]
    assert frame is not None and frame.data == b"c"
    # a hole: nothing until it is filled (e.g. by RTX)
    hole = MarkerJitterBuffer(capacity=64, is_video=True)
    assert hole.add(packet(10, 1, b"x", False))[1] is None
    assert hole.add(packet(12, 1, b"z", True))[1] is None
    assert hole.add(packet(11, 1, b"y", False))[1].data == b"xyz"
    audio = MarkerJitterBuffer(capacity=16, is_video=False)
    assert audio.add(packet(5, 960, b"opus", False))[1].data == b"opus"  # no prefetch wait


async def test_tap_installs_the_marker_jitter_buffer():
    from sfu.forwarder import MarkerJitterBuffer

    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver("video", "recvonly")
    install_tap(transceiver.receiver, lambda f: None, "video")
    assert isinstance(getattr(transceiver.receiver, "_RTCRtpReceiver__jitter_buffer"), MarkerJitterBuffer)
    await pc.close()
