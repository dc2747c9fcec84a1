"""A real aiortc client peer for integration tests: publishes synthetic media, records
what it receives (encoded-frame hashes before decoding, decoded frame counters after)."""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from typing import Any

from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.jitterbuffer import JitterBuffer
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media import framestamp
from media.aiortc_hooks import (
    decoder_queue,
    intercept_datagrams,
    intercept_rtp,
    on_keyframe_request,
    replace_decoder_queue,
    replace_jitter_buffer,
)
from media.synthetic import (
    EncodedAudioTrack,
    EncodedVideoTrack,
    SyntheticAudioTrack,
    SyntheticVideoTrack,
    encode_opus_clip,
    encode_vp8_clip,
)


def tee(receiver: Any, on_frame: Any) -> None:
    replace_decoder_queue(receiver, TeeQueue(decoder_queue(receiver), on_frame))


class TeeQueue:
    """Sees every encoded frame on its way to the receiver's decoder thread."""

    def __init__(self, inner: Any, on_frame: Any) -> None:
        self.inner = inner
        self.on_frame = on_frame

    def put(self, item: Any) -> None:
        if item is not None:
            self.on_frame(item[1].data)
        self.inner.put(item)

    def get(self, *args: Any, **kwargs: Any) -> Any:
        return self.inner.get(*args, **kwargs)


class ClientPeer:
    """One side of a call. ``encoded=True`` publishes pre-encoded VP8 whose bytes are known."""

    def __init__(self, name: str, encoded: bool = True, clip: list[bytes] | None = None,
                 extra_audio: bool = True, audio_clip: list[bytes] | None = None,
                 configuration: RTCConfiguration | None = None) -> None:
        self.name = name
        self.received_audio_hashes: list[str] = []
        self.keyframe_requests = 0
        self._drop_until = 0.0
        self.dropped_packets = 0
        self.configuration = configuration
        self.encoded = encoded
        self.extra = extra_audio
        self.renewals = 0
        self.sent_hashes: set[str] = set()
        self.received_hashes: list[str] = []
        self.received_counters: list[int] = []
        self.first_decoded_at: float | None = None
        self.audio_frames = 0
        self.video_frames_decoded = 0
        self.decoded = asyncio.Event()
        self.audio_arrived = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self.video_clip = clip or _clip() if encoded else None
        self.audio_clip = audio_clip or _opus() if encoded else None
        self._connect()

    def _connect(self) -> None:
        """A peer connection sending this peer's sources. aiortc ends a sender's track when its
        peer connection closes, so each connection gets fresh tracks over the same clips."""
        if self.video_clip is not None and self.audio_clip is not None:
            self.video: Any = EncodedVideoTrack(self.video_clip, on_send=self._sent)
            self.audio: Any = EncodedAudioTrack(self.audio_clip)
        else:
            self.video = SyntheticVideoTrack()
            self.audio = SyntheticAudioTrack()
        self.pc = RTCPeerConnection(self.configuration or RTCConfiguration(
            iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
        self.audio_transceiver = self.pc.addTransceiver(self.audio, "sendrecv")
        self.video_transceiver = self.pc.addTransceiver(self.video, "sendrecv")
        self.extra_audio = self.pc.addTransceiver("audio", "recvonly") if self.extra else None
        for transceiver in filter(None, (self.audio_transceiver, self.extra_audio)):
            tee(transceiver.receiver, self._received_audio)
        if self.encoded:
            on_keyframe_request(self.video_transceiver.sender, self._keyframe_requested)
        tee(self.video_transceiver.receiver, self._received)
        self.pc.on("track", self._on_track)

    async def renew(self) -> ClientPeer:
        """The call's media moved (``migrated``): close this peer connection and build a new one
        with the same sources, ready to offer (``SignalingClient.follow_media(call_id, peer.renew)``)."""
        await self._close_connection()
        self.renewals += 1
        self._connect()
        return self

    def _keyframe_requested(self) -> None:
        self.keyframe_requests += 1
        self.video.request_keyframe()

    def drop_incoming_video(self, seconds: float, jitter_capacity: int = 64) -> None:
        """Lose every incoming video packet for a while, like a bad radio link.

        A small jitter buffer makes this client give up on the hole quickly and send a PLI
        (as a browser does) instead of waiting for 512 packets, aiortc's default."""
        receiver = self.video_transceiver.receiver
        replace_jitter_buffer(receiver, JitterBuffer(capacity=jitter_capacity, is_video=True))
        # the new buffer must see packets before the hole, or it cannot tell there was one
        drop_from = time.monotonic() + 0.3
        self._drop_until = drop_from + seconds

        def keep(packet: Any) -> bool:
            if drop_from <= time.monotonic() < self._drop_until:
                self.dropped_packets += 1
                return False
            return True

        intercept_rtp(receiver, keep)

    def lose_incoming(self, fraction: float, seed: int = 7) -> None:
        """Drop ``fraction`` of the SRTP/SRTCP datagrams arriving at this client, at random:
        an impaired link (media and feedback alike; STUN and DTLS still pass)."""
        chance = random.Random(seed)

        def keep(datagram: bytes) -> bool:
            if chance.random() < fraction:
                self.dropped_packets += 1
                return False
            return True

        intercept_datagrams(self.video_transceiver.receiver.transport, keep)

    def _sent(self, data: bytes, pts: int, at: float) -> None:
        self.sent_hashes.add(hashlib.sha256(data).hexdigest())

    def _received_audio(self, data: bytes) -> None:
        self.received_audio_hashes.append(hashlib.sha256(data).hexdigest())

    def _received(self, data: bytes) -> None:
        self.received_hashes.append(hashlib.sha256(data).hexdigest())

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._tasks.append(asyncio.ensure_future(self._consume(track)))

    async def _consume(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                if track.kind == "audio":
                    self.audio_frames += 1
                    self.audio_arrived.set()
                    continue
                self.video_frames_decoded += 1
                counter = framestamp.read(frame.to_ndarray(format="rgb24"))
                if counter is not None:
                    self.received_counters.append(counter)
                if self.first_decoded_at is None:
                    self.first_decoded_at = time.monotonic()
                self.decoded.set()
        except MediaStreamError:
            pass

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept_answer(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def wait_decoded(self, frames: int, timeout: float = 20.0) -> None:
        async def _wait() -> None:
            while self.video_frames_decoded < frames or self.audio_frames < 10:
                await asyncio.sleep(0.05)
        await asyncio.wait_for(_wait(), timeout)

    async def _close_connection(self) -> None:
        await self.pc.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def close(self) -> None:
        await self._close_connection()


def hashes(clip: list[bytes]) -> set[str]:
    return {hashlib.sha256(p).hexdigest() for p in clip}


class MonitorPeer:
    """A supervisor: sends a (distinctive) voice, receives up to two audio and two video tracks."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
        self.audio_clip = encode_opus_clip(50, frequency=880.0)
        self.voice = self.pc.addTransceiver(EncodedAudioTrack(self.audio_clip), "sendrecv")
        self.extra_audio = self.pc.addTransceiver("audio", "recvonly")
        self.videos = [self.pc.addTransceiver("video", "recvonly") for _ in range(2)]
        self.video_hashes: list[list[str]] = [[], []]
        self.audio_hashes: list[str] = []
        for index, transceiver in enumerate(self.videos):
            tee(transceiver.receiver,
                lambda d, i=index: self.video_hashes[i].append(hashlib.sha256(d).hexdigest()))
        for transceiver in (self.voice, self.extra_audio):
            tee(transceiver.receiver, lambda d: self.audio_hashes.append(hashlib.sha256(d).hexdigest()))

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept_answer(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def close(self) -> None:
        await self.pc.close()


_CLIP: list[bytes] | None = None
_OPUS: list[bytes] | None = None


def _clip() -> list[bytes]:
    global _CLIP
    if _CLIP is None:
        _CLIP = encode_vp8_clip(frames=90, keyframe_interval=30)
    return _CLIP


_AGENT_CLIP: list[bytes] | None = None


def agent_clip() -> list[bytes]:
    """Different bytes from the shopper's clip, so a receiver can tell who sent a frame."""
    global _AGENT_CLIP
    if _AGENT_CLIP is None:
        _AGENT_CLIP = encode_vp8_clip(frames=90, width=352, height=288, keyframe_interval=30)
    return _AGENT_CLIP


def _opus() -> list[bytes]:
    global _OPUS
    if _OPUS is None:
        _OPUS = encode_opus_clip(50)
    return _OPUS
