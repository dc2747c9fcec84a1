"""One synthetic caller's media: a cheap aiortc peer for load tests.

Sending: a VP8 clip and an Opus clip, encoded once per process and looped; aiortc only
repacketizes them. Every frame handed to aiortc is noted (payload hash → sequence number and
``time.monotonic()``), so the receiving side of the same call, in the same process, can tell
exactly which frame arrived and how long it took.

Receiving: each receiver's decoder queue (aiortc internals, pinned 1.16, reached through
``media.aiortc_hooks``) is replaced by a :class:`ReceiveTap` that counts and times the encoded
frames and decodes almost none of them: only the first keyframe (the join time is "first remote frame *decoded*") and one
keyframe every ``verify_interval`` seconds, whose stamped frame counter must match the frame
the sender sent (media.framestamp). ``put(None)`` still reaches the decoder thread, so it is
released when aiortc stops the receiver.

The receivers' jitter buffers are replaced by ``MarkerJitterBuffer``, which hands a frame
over as soon as its last packet (RTP marker bit) arrives, as browsers do. aiortc's own buffer
waits for the first packet of the *next* frame (one frame interval for video; four frames,
80 ms, for audio), which would charge the client's own wait to the server.
"""

from __future__ import annotations

import asyncio
import collections
import queue
import time
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media import framestamp
from media.aiortc_hooks import (  # the same completion rule as the node's frame path
    MarkerJitterBuffer,
    on_keyframe_request,
    replace_decoder_queue,
    replace_jitter_buffer,
    send_pli,
)
from media.synthetic import AUDIO_SAMPLES, EncodedAudioTrack, EncodedVideoTrack

FREEZE_GAP = 0.200  # seconds between received video frames that count as a freeze
TIMELINE_GAP = 0.100  # a silence between received video frames this long is kept (fault mode)
MAX_GAPS = 2000
STARTUP_PLI_INTERVAL = 0.1  # seconds between PLIs while delta frames arrive before any keyframe
VIDEO_STEP = 3000  # RTP ticks per frame at 30 fps / 90 kHz
AUDIO_STEP = AUDIO_SAMPLES  # 960 ticks per 20 ms at 48 kHz


@dataclass
class Sent:
    """What one side handed to aiortc: per kind, the send time of each frame by sequence."""

    times: list[float] = field(default_factory=list)
    by_hash: dict[int, int] = field(default_factory=dict)


@dataclass
class Received:
    """What one side got from the other, per kind."""

    frames: int = 0
    bytes: int = 0
    first_at: float | None = None
    last_at: float | None = None
    seqs: set[int] = field(default_factory=set)  # sender sequence numbers matched by hash
    unmatched: int = 0  # frames whose bytes the sender never sent (altered in transit)
    timestamps: set[int] = field(default_factory=set)  # RTP timestamps (count-based accounting)
    latency_ms: list[float] = field(default_factory=list)
    freezes: int = 0
    freeze_ms: float = 0.0
    max_gap_ms: float = 0.0
    gaps: list[tuple[float, float]] = field(default_factory=list)  # (last frame before, first after)
    epochs: list[tuple[int, int]] = field(default_factory=list)  # earlier peer connections: (span, distinct)

    def note_gap(self, before: float, after: float) -> None:
        """Keep a silence of at least TIMELINE_GAP (video): the fault mode's time to resume."""
        if after - before >= TIMELINE_GAP and len(self.gaps) < MAX_GAPS:
            self.gaps.append((before, after))

    def close_epoch(self, step: int) -> None:
        """A new peer connection follows (a migration): its RTP timestamps start elsewhere, so the
        timestamp span of this one is counted on its own."""
        if self.timestamps:
            span = (max(self.timestamps) - min(self.timestamps)) // step + 1
            self.epochs.append((span, len(self.timestamps)))
            self.timestamps = set()

    def timestamp_count(self, step: int) -> tuple[int, int]:
        """(expected, received) by RTP timestamps over every peer connection of this side."""
        spans = list(self.epochs)
        if self.timestamps:
            spans.append(((max(self.timestamps) - min(self.timestamps)) // step + 1, len(self.timestamps)))
        return sum(s for s, _ in spans), sum(n for _, n in spans)


class Clips:
    """The encoded clips, shared by every peer of a process (hashes computed once)."""

    def __init__(self, video: list[bytes], audio: list[bytes]) -> None:
        self.video = video
        self.audio = audio
        self.video_hash = [hash(d) for d in video]
        self.audio_hash = [hash(d) for d in audio]
        counts = collections.Counter(self.audio_hash)
        # an audio payload that occurs twice in the clip cannot be told apart: no latency
        self.audio_unique = {h for h, n in counts.items() if n == 1}
        self.video_index = {h: i for i, h in enumerate(self.video_hash)}


class _AudioTrack(EncodedAudioTrack):
    def __init__(self, clips: Clips, peer: LoadPeer) -> None:
        super().__init__(clips.audio)
        self._clips = clips
        self._peer = peer

    async def recv(self) -> av.Packet:
        packet = await super().recv()
        self._peer._sent_audio(packet.pts // AUDIO_SAMPLES)
        return packet


class ReceiveTap:
    """Stands in for an aiortc receiver's decoder queue (see module docstring)."""

    def __init__(self, peer: LoadPeer, kind: str) -> None:
        self.peer = peer
        self.kind = kind
        self.inner: queue.Queue = queue.Queue()  # what the decoder thread really reads

    def put(self, item: Any) -> None:
        if item is None:
            self.inner.put(None)  # releases aiortc's decoder thread
            return
        try:
            if self.kind == "video":
                if self.peer._received_video(item[1]):
                    self.inner.put(item)
            else:
                self.peer._received_audio(item[1])
        except Exception as exc:  # never break aiortc's receive loop
            self.peer.errors.append(f"tap: {exc!r}")

    def get(self, *args: Any, **kwargs: Any) -> Any:
        return self.inner.get(*args, **kwargs)


class LoadPeer:
    """One side of a load-test call."""

    def __init__(self, role: str, clips: Clips, fps: int = 30, verify_interval: float = 5.0) -> None:
        self.role = role
        self.clips = clips
        self.verify_interval = verify_interval
        self.remote: LoadPeer | None = None  # the other side of the same call
        self.errors: list[str] = []
        self.sent_video = Sent()
        self.sent_audio = Sent()
        self.video_in = Received()
        self.audio_in = Received()
        self.first_decoded_at: float | None = None
        self.decoded = asyncio.Event()
        self.samples_decoded = 0
        self.samples_verified = 0
        self.samples_mismatched = 0
        self.samples_unreadable = 0
        self.samples_reencoded = 0
        self.keyframe_requests = 0
        self.startup_plis = 0  # PLIs sent because delta frames came before any keyframe
        self.first_keyframe_at: float | None = None
        self._startup_pli_at = -STARTUP_PLI_INTERVAL
        self._pending_checks: collections.deque[int | None] = collections.deque()
        self._last_sample_at = 0.0
        self._tasks: list[asyncio.Task] = []
        self.renegotiations = 0
        self.video = EncodedVideoTrack(clips.video, fps=fps, on_send=self._sent_video)
        self.audio = _AudioTrack(clips, self)
        self._make_pc()

    def _make_pc(self) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.audio_transceiver = self.pc.addTransceiver(self.audio, "sendrecv")
        self.video_transceiver = self.pc.addTransceiver(self.video, "sendrecv")
        on_keyframe_request(self.video_transceiver.sender, self._keyframe_requested)
        for transceiver, kind in ((self.audio_transceiver, "audio"), (self.video_transceiver, "video")):
            receiver = transceiver.receiver
            replace_decoder_queue(receiver, ReceiveTap(self, kind))  # raises if aiortc moved it
            replace_jitter_buffer(receiver, MarkerJitterBuffer(
                capacity=512 if kind == "video" else 16, is_video=kind == "video"))
        self.pc.on("track", self._on_track)

    async def renew(self) -> None:
        """A new peer connection with the same tracks (the server moved the call, or the socket
        came back ``resumed``); what was sent and received so far stays counted."""
        try:
            await asyncio.wait_for(self.pc.close(), 10)
        except (TimeoutError, Exception) as exc:  # bounded: the old connection may be half dead
            self.errors.append(f"close before renew: {exc!r}")
        self.video_in.close_epoch(VIDEO_STEP)
        self.audio_in.close_epoch(AUDIO_STEP)
        self.renegotiations += 1
        self._make_pc()

    # sending --------------------------------------------------------------------
    def _keyframe_requested(self) -> None:
        self.keyframe_requests += 1
        self.video.request_keyframe()

    def _sent_video(self, data: bytes, pts: int, at: float) -> None:
        sent = self.sent_video
        sent.by_hash[hash(data)] = len(sent.times)
        sent.times.append(at)

    def _sent_audio(self, index: int) -> None:
        sent = self.sent_audio
        h = self.clips.audio_hash[index % len(self.clips.audio)]
        sent.by_hash[h] = len(sent.times)
        sent.times.append(time.monotonic())

    # receiving (on the event loop, from aiortc's receive path) -------------------
    def _arrival(self, got: Received, data: bytes, sent: Sent | None, usable: bool) -> int | None:
        now = time.monotonic()
        got.frames += 1
        got.bytes += len(data)
        if got.first_at is None:
            got.first_at = now
        elif got.last_at is not None:
            gap = now - got.last_at
            if gap > got.max_gap_ms / 1000:
                got.max_gap_ms = gap * 1000
            if got is self.video_in:
                got.note_gap(got.last_at, now)
        got.last_at = now
        if sent is None:
            return None
        seq = sent.by_hash.get(hash(data))
        if seq is None:
            got.unmatched += 1
            return None
        got.seqs.add(seq)
        if usable:
            got.latency_ms.append((now - sent.times[seq]) * 1000)
        return seq

    def _received_video(self, frame: JitterFrame) -> bool:
        """Count a video frame; True if it should also be decoded (a sample)."""
        got = self.video_in
        previous = got.last_at
        remote = self.remote.sent_video if self.remote is not None else None
        self._arrival(got, frame.data, remote, True)
        got.timestamps.add(frame.timestamp)
        if previous is not None and got.last_at - previous > FREEZE_GAP:
            got.freezes += 1
            got.freeze_ms += (got.last_at - previous) * 1000
        data = frame.data
        now = got.last_at
        if not data or data[0] & 0x01:  # not a VP8 keyframe (RFC 6386 9.1)
            if self.first_keyframe_at is None and now - self._startup_pli_at >= STARTUP_PLI_INTERVAL:
                self._startup_pli()  # the first keyframe was missed: ask, as a browser does
                self._startup_pli_at = now
            return False
        if self.first_keyframe_at is None:
            self.first_keyframe_at = now
        if self.samples_decoded and now - self._last_sample_at < self.verify_interval:
            return False
        if len(self._pending_checks) > 4:  # the decoder thread is behind: skip this one
            return False
        self._last_sample_at = now
        self.samples_decoded += 1
        self._pending_checks.append(self.clips.video_index.get(hash(data)))
        return True

    def _startup_pli(self) -> None:
        receiver = self.video_transceiver.receiver
        sources = receiver.getSynchronizationSources()
        if sources:
            self.startup_plis += 1
            self._tasks.append(asyncio.ensure_future(send_pli(receiver, sources[-1].source)))

    def _received_audio(self, frame: JitterFrame) -> None:
        got = self.audio_in
        remote = self.remote.sent_audio if self.remote is not None else None
        usable = hash(frame.data) in self.clips.audio_unique
        self._arrival(got, frame.data, remote if usable else None, usable)
        got.timestamps.add(frame.timestamp)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "video":
            self._tasks.append(asyncio.ensure_future(self._consume_video(track)))

    async def _consume_video(self, track: MediaStreamTrack) -> None:
        """Only the sampled keyframes come out of the decoder: time the first, check all."""
        try:
            while True:
                frame = await track.recv()
                if self.first_decoded_at is None:
                    self.first_decoded_at = time.monotonic()
                    self.decoded.set()
                expected = self._pending_checks.popleft() if self._pending_checks else None
                counter = read_counter(frame)
                if counter is None:
                    self.samples_unreadable += 1
                elif expected is None:  # bytes no sender sent (a transcoding relay): counter only
                    if 0 <= counter < len(self.clips.video):
                        self.samples_reencoded += 1
                    else:
                        self.samples_mismatched += 1
                elif counter == expected:
                    self.samples_verified += 1
                else:
                    self.samples_mismatched += 1
        except MediaStreamError:
            pass
        except Exception as exc:
            self.errors.append(f"decode check: {exc!r}")

    # negotiation and teardown ----------------------------------------------------
    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept_answer(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def rtp_stats(self) -> dict[str, Any]:
        """aiortc's inbound-rtp (per kind, the media SSRC) and outbound-rtp counters."""
        out: dict[str, Any] = {}
        for transceiver in (self.audio_transceiver, self.video_transceiver):
            kind = transceiver.kind
            inbound = [s for s in (await transceiver.receiver.getStats()).values()
                       if s.type == "inbound-rtp"]
            main = max(inbound, key=lambda s: s.packetsReceived, default=None)
            clock = 90000 if kind == "video" else 48000
            outbound = [s for s in (await transceiver.sender.getStats()).values()
                        if s.type == "outbound-rtp"]
            out[kind] = {
                "packets_received": main.packetsReceived if main else 0,
                "packets_lost": max(0, main.packetsLost) if main else 0,
                "jitter_ms": round(main.jitter * 1000 / clock, 3) if main else None,
                "rtx_packets_received": sum(s.packetsReceived for s in inbound if s is not main),
                "packets_sent": sum(s.packetsSent for s in outbound),
            }
        return out

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.pc.close(), 10)
        except (TimeoutError, Exception) as exc:  # bounded teardown
            self.errors.append(f"close: {exc!r}")
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def read_counter(frame: av.VideoFrame) -> int | None:
    """The stamped counter from the luma plane only (no colour conversion)."""
    plane = frame.planes[0]
    rows = np.frombuffer(plane, dtype=np.uint8).reshape(-1, plane.line_size)
    return framestamp.read(rows[: frame.height, : frame.width])
