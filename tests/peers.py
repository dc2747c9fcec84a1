"""A real aiortc client peer for integration tests: publishes synthetic media, records
what it receives (encoded-frame hashes before decoding, decoded frame counters after)."""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media import framestamp
from media.synthetic import (
    EncodedAudioTrack,
    EncodedVideoTrack,
    SyntheticAudioTrack,
    SyntheticVideoTrack,
    encode_opus_clip,
    encode_vp8_clip,
)

_QUEUE_ATTR = "_RTCRtpReceiver__decoder_queue"


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

    def __init__(self, name: str, encoded: bool = True) -> None:
        self.name = name
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.sent_hashes: set[str] = set()
        self.received_hashes: list[str] = []
        self.received_counters: list[int] = []
        self.first_decoded_at: float | None = None
        self.audio_frames = 0
        self.video_frames_decoded = 0
        self.decoded = asyncio.Event()
        self.audio_arrived = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        if encoded:
            clip = _clip()
            self.video = EncodedVideoTrack(clip, on_send=self._sent)
            self.audio = EncodedAudioTrack(_opus())
        else:
            self.video = SyntheticVideoTrack()
            self.audio = SyntheticAudioTrack()
        self.audio_transceiver = self.pc.addTransceiver(self.audio, "sendrecv")
        self.video_transceiver = self.pc.addTransceiver(self.video, "sendrecv")
        if encoded:
            self.video_transceiver.sender._send_keyframe = self.video.request_keyframe
        receiver = self.video_transceiver.receiver
        setattr(receiver, _QUEUE_ATTR, TeeQueue(getattr(receiver, _QUEUE_ATTR), self._received))
        self.pc.on("track", self._on_track)

    def _sent(self, data: bytes, pts: int, at: float) -> None:
        self.sent_hashes.add(hashlib.sha256(data).hexdigest())

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

    async def close(self) -> None:
        await self.pc.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


_CLIP: list[bytes] | None = None
_OPUS: list[bytes] | None = None


def _clip() -> list[bytes]:
    global _CLIP
    if _CLIP is None:
        _CLIP = encode_vp8_clip(frames=90, keyframe_interval=30)
    return _CLIP


def _opus() -> list[bytes]:
    global _OPUS
    if _OPUS is None:
        _OPUS = encode_opus_clip(50)
    return _OPUS
