"""One synthetic caller that sends and counts raw RTP: the cheap generator (``--generator rtp``).

aiortc sets up ICE, DTLS and SDP and keeps RTCP (its senders' SRs, with the counts we give
them, and their handling of the server's PLI/FIR); its media loops stay idle
(``media.aiortc_hooks.SilentTrack``) and its receivers see no RTP.

Sending: the process's :class:`~load_tests.pacer.PacedSender` sends this peer's pre-packetized
clips with the payload types, SSRCs and header-extension ids negotiated on its transceivers.
A PLI/FIR from the server makes the next video frame the clip's next keyframe. Every frame sent
is noted (clip index → frame sequence number, send time), as :mod:`load_tests.peer` does.

Receiving: every RTP packet, unprotected in the datagram callback, is counted per SSRC (packets,
bytes, loss from sequence numbers, jitter); video payloads are joined into frames at the marker
bit and identified by payload hash (the SFU forwards the encoded bytes unchanged), which gives
loss, latency and freezes as the aiortc generator measures them. Only the first keyframe (join
time) and one keyframe per ``verify_interval`` are decoded, in a thread, and their stamped frame
counter checked (media.framestamp); a failed check sends a PLI. Like a browser's receiver, a peer
whose first complete frames are delta frames (it missed the first keyframe: it was not ready when
it was sent, or it was lost) sends a PLI, at most every ``STARTUP_PLI_INTERVAL``, until a keyframe
arrives.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import av
from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.rtp import RtcpPsfbPacket

from load_tests.pacer import Outlet, PacedSender
from load_tests.peer import FREEZE_GAP, Clips, Received, read_counter
from load_tests.rtp_clip import PacketizedClip, RtpStream
from load_tests.rtp_counter import (
    StreamCounter,
    Vp8FrameAssembler,
    fields,
    payload_bounds,
)
from media.aiortc_hooks import (
    SilentTrack,
    local_ssrc,
    negotiated_codecs,
    negotiated_header_extensions,
    on_decrypted_rtp,
    on_keyframe_request,
    send_rtcp_now,
)
from media.synthetic import AUDIO_PTIME, AUDIO_SAMPLES

MAX_ERRORS = 20
PLI_FMT = 1  # RFC 4585 6.3.1
STARTUP_PLI_INTERVAL = 0.1  # seconds between PLIs while no keyframe has arrived yet


class RtpClips(Clips):
    """The clips of :class:`load_tests.peer.Clips`, also packetized once for the process."""

    def __init__(self, video: list[bytes], audio: list[bytes]) -> None:
        super().__init__(video, audio)
        self.video_rtp = PacketizedClip("video", video)
        self.audio_rtp = PacketizedClip("audio", audio)
        self.audio_index = {h: i for i, h in enumerate(self.audio_hash) if h in self.audio_unique}


class SentLog:
    """What one side sent of one kind: the send time of each frame by sequence, and the
    sequence of the latest sending of each clip frame (the clip loops)."""

    def __init__(self, clip_length: int) -> None:
        self.times: list[float] = []
        self.latest: list[int] = [-1] * clip_length

    def note(self, index: int, at: float) -> None:
        self.latest[index] = len(self.times)
        self.times.append(at)


class RtpLoadPeer:
    """One side of a load-test call (the same interface as :class:`load_tests.peer.LoadPeer`)."""

    def __init__(self, role: str, clips: RtpClips, pacer: PacedSender, fps: int = 30,
                 verify_interval: float = 5.0) -> None:
        self.role = role
        self.clips = clips
        self.pacer = pacer
        self.fps = fps
        self.verify_interval = verify_interval
        self.remote: RtpLoadPeer | None = None
        self.errors: list[str] = []
        self.sent_video = SentLog(len(clips.video))
        self.sent_audio = SentLog(len(clips.audio))
        self.video_in = Received()
        self.audio_in = Received()
        self.first_decoded_at: float | None = None
        self.decoded = asyncio.Event()
        self.samples_decoded = self.samples_verified = self.samples_mismatched = 0
        self.samples_unreadable = self.samples_reencoded = 0
        self.keyframe_requests = 0
        self.plis_sent = 0
        self.startup_plis = 0  # PLIs sent because delta frames came before any keyframe
        self.first_keyframe_at: float | None = None
        self._startup_pli_at = -STARTUP_PLI_INTERVAL
        self._last_sample_at = 0.0
        self._checking = False  # one sampled decode in flight per peer
        self._decoder: Any = None  # av's VP8 decoder, made on first use (in the decoding thread)
        self._tasks: set[asyncio.Task[None]] = set()
        self._counters: dict[int, StreamCounter] = {}
        self._ssrc_kind: dict[int, tuple[str, bool]] = {}  # ssrc → (kind, is_rtx)
        self._payload_kinds: dict[int, tuple[str, bool]] = {}
        self._assembler = Vp8FrameAssembler()
        self._video_ssrc: int | None = None  # the server's video SSRC towards us
        self._outlets: list[Outlet] = []
        self._unhook: Callable[[], None] | None = None
        self._keyframe_seen = False  # on this peer connection (a renewed one waits for its own)
        self.renegotiations = 0
        self._make_pc()

    def _make_pc(self) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.audio_transceiver = self.pc.addTransceiver(SilentTrack("audio"), "sendrecv")
        self.video_transceiver = self.pc.addTransceiver(SilentTrack("video"), "sendrecv")
        on_keyframe_request(self.video_transceiver.sender, self._keyframe_requested)

    async def renew(self) -> None:
        """A new peer connection with the same media (the server moved the call, or the socket
        came back ``resumed``): stop sending on the old one, close it, make a fresh one to offer.
        What was sent and received so far stays counted; the clips carry on."""
        self._unwire()
        try:
            await asyncio.wait_for(self.pc.close(), 10)
        except Exception as exc:  # noqa: BLE001  (bounded: the old connection may be half dead)
            self._error(f"close before renew: {exc!r}")
        self.video_in.close_epoch(90000 // self.fps)
        self.audio_in.close_epoch(AUDIO_SAMPLES)
        self._assembler = Vp8FrameAssembler()
        self._video_ssrc = None
        self._keyframe_seen = False
        self.renegotiations += 1
        self._make_pc()

    def _unwire(self) -> None:
        for outlet in self._outlets:
            self.pacer.remove(outlet)
        self._outlets = []
        if self._unhook is not None:
            self._unhook()
            self._unhook = None

    # negotiation and wiring ---------------------------------------------------------
    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept_answer(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        self._wire()

    def _wire(self) -> None:
        """After the answer (BUNDLE has put both transceivers on one transport): streams with
        the negotiated parameters, and the receive interception."""
        dtls = self.video_transceiver.receiver.transport
        for transceiver, clip, step, period, sent in (
            (self.audio_transceiver, self.clips.audio_rtp, AUDIO_SAMPLES, AUDIO_PTIME, self.sent_audio),
            (self.video_transceiver, self.clips.video_rtp, 90000 // self.fps, 1 / self.fps, self.sent_video),
        ):
            kind = transceiver.kind
            codecs = negotiated_codecs(transceiver)
            for codec in codecs:
                if codec.payloadType is not None:
                    self._payload_kinds[codec.payloadType] = (kind, codec.mimeType.lower().endswith("/rtx"))
            media = next(c for c in codecs if not c.mimeType.lower().endswith("/rtx"))
            assert media.payloadType is not None  # negotiated codecs carry their payload type
            stream = RtpStream(clip, media.payloadType, local_ssrc(transceiver.sender), step,
                               negotiated_header_extensions(transceiver), transceiver.mid)
            outlet = Outlet(stream, dtls, transceiver.sender, period, sent.note)
            self._outlets.append(outlet)
            self.pacer.add(outlet)
        self._unhook = on_decrypted_rtp(dtls, self._on_rtp)

    def _keyframe_requested(self) -> None:
        self.keyframe_requests += 1
        for outlet in self._outlets:
            if outlet.stream.clip.kind == "video":
                outlet.stream.request_keyframe()

    # receiving (synchronously, in the datagram callback) ------------------------------
    def _error(self, text: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(text)

    def _on_rtp(self, data: bytes) -> None:
        try:
            now = time.monotonic()
            payload_type = data[1] & 0x7F
            seq, timestamp, ssrc = fields(data)
            counter = self._counters.get(ssrc)
            if counter is None:
                negotiated = self._payload_kinds.get(payload_type)
                if negotiated is None:
                    return  # not negotiated: aiortc would drop it too
                counter = self._counters[ssrc] = StreamCounter(90000 if negotiated[0] == "video" else 48000)
                self._ssrc_kind[ssrc] = negotiated
            counter.add(seq, timestamp, now, len(data))
            kind, rtx = self._ssrc_kind[ssrc]
            if rtx:
                return
            start, end = payload_bounds(data)
            if kind == "video":
                frame = self._assembler.add(data, seq, timestamp, data[1] & 0x80 != 0, start, end)
                if frame is not None:
                    self._video_ssrc = ssrc
                    self._received_video(frame, timestamp, now)
            else:
                self._received_audio(data[start:end], timestamp, now)
        except Exception as exc:  # noqa: BLE001  (a malformed packet must not break the datagram callback)
            self._error(f"rtp: {exc!r}")

    def _arrival(self, got: Received, size: int, now: float) -> None:
        got.frames += 1
        got.bytes += size
        if got.first_at is None:
            got.first_at = now
        elif got.last_at is not None:
            gap = now - got.last_at
            if gap > got.max_gap_ms / 1000:
                got.max_gap_ms = gap * 1000
            if got is self.video_in:
                got.note_gap(got.last_at, now)
                if gap > FREEZE_GAP:
                    got.freezes += 1
                    got.freeze_ms += gap * 1000
        got.last_at = now

    def _received_video(self, data: bytes, timestamp: int, now: float) -> None:
        got = self.video_in
        self._arrival(got, len(data), now)
        got.timestamps.add(timestamp)
        index = self.clips.video_index.get(hash(data))
        if index is None:
            got.unmatched += 1
        elif self.remote is not None:
            seq = self.remote.sent_video.latest[index]
            if seq >= 0:
                got.seqs.add(seq)
                got.latency_ms.append((now - self.remote.sent_video.times[seq]) * 1000)
        if data[0] & 0x01:  # not a keyframe (RFC 6386 9.1)
            if not self._keyframe_seen and now - self._startup_pli_at >= STARTUP_PLI_INTERVAL:
                self._startup_pli_at = now
                if self._request_keyframe():
                    self.startup_plis += 1
            return
        self._keyframe_seen = True
        if self.first_keyframe_at is None:
            self.first_keyframe_at = now
        if self._checking:  # busy decoding
            return
        if self.samples_decoded and now - self._last_sample_at < self.verify_interval:
            return
        self._last_sample_at = now
        self.samples_decoded += 1
        self._checking = True
        task = asyncio.get_running_loop().create_task(self._check(data, index))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _received_audio(self, payload: bytes, timestamp: int, now: float) -> None:
        got = self.audio_in
        self._arrival(got, len(payload), now)
        got.timestamps.add(timestamp)
        index = self.clips.audio_index.get(hash(payload))
        if index is not None and self.remote is not None:
            seq = self.remote.sent_audio.latest[index]
            if seq >= 0:
                got.seqs.add(seq)
                got.latency_ms.append((now - self.remote.sent_audio.times[seq]) * 1000)

    # the sampled picture check ----------------------------------------------------------
    def _decode(self, data: bytes) -> int | None | bool:
        """In a thread: the stamped counter of one keyframe (None: unreadable; False: no picture)."""
        if self._decoder is None:
            self._decoder = av.CodecContext.create("vp8", "r")
        frames = self._decoder.decode(av.Packet(data))
        if not frames:
            return False
        return read_counter(frames[-1])

    async def _check(self, data: bytes, expected: int | None) -> None:
        try:
            counter = await asyncio.to_thread(self._decode, data)
        except Exception as exc:  # noqa: BLE001  (counted as unreadable)
            self._error(f"decode check: {exc!r}")
            self.samples_unreadable += 1
            return
        finally:
            self._checking = False
        if counter is False:
            self.samples_unreadable += 1
            self._request_keyframe()
            return
        if self.first_decoded_at is None:
            self.first_decoded_at = time.monotonic()
            self.decoded.set()
        if counter is None:
            self.samples_unreadable += 1
        elif expected is None:  # bytes no sender sent (a transcoding relay): the counter's range only
            if 0 <= counter < len(self.clips.video):
                self.samples_reencoded += 1
                return
            self.samples_mismatched += 1
        elif counter == expected:
            self.samples_verified += 1
            return
        else:
            self.samples_mismatched += 1
        self._request_keyframe()

    def _request_keyframe(self) -> bool:
        """A PLI to the server for the video it sends us (a failed picture check, or no keyframe
        yet); True if it went out."""
        if self._video_ssrc is None:
            return False
        packet = RtcpPsfbPacket(fmt=PLI_FMT, ssrc=local_ssrc(self.video_transceiver.sender),
                                media_ssrc=self._video_ssrc)
        if send_rtcp_now(self.video_transceiver.receiver.transport, bytes(packet)):
            self.plis_sent += 1
            return True
        return False

    # figures and teardown ----------------------------------------------------------------
    async def rtp_stats(self) -> dict[str, Any]:
        """Per kind, what :meth:`load_tests.peer.LoadPeer.rtp_stats` reports, from our own counts."""
        out: dict[str, Any] = {}
        for transceiver in (self.audio_transceiver, self.video_transceiver):
            out[transceiver.kind] = self._kind_stats(transceiver)
        return out

    def _kind_stats(self, transceiver: RTCRtpTransceiver) -> dict[str, Any]:
        kind = transceiver.kind
        media = [c for s, c in self._counters.items() if self._ssrc_kind[s] == (kind, False)]
        rtx = [c for s, c in self._counters.items() if self._ssrc_kind[s] == (kind, True)]
        main = max(media, key=lambda c: c.packets, default=None)
        sent = sum(o.stream.packets for o in self._outlets if o.stream.clip.kind == kind)
        return {
            "packets_received": main.packets if main else 0,
            "packets_lost": main.lost if main else 0,
            "jitter_ms": round(main.jitter_ms(), 3) if main else None,
            "rtx_packets_received": sum(c.packets for c in rtx),
            "packets_sent": sent,
        }

    def assembler_incomplete(self) -> int:
        return self._assembler.incomplete

    async def close(self) -> None:
        self._unwire()
        try:
            await asyncio.wait_for(self.pc.close(), 10)
        except Exception as exc:  # noqa: BLE001  (bounded teardown: record, go on)
            self._error(f"close: {exc!r}")
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
