"""A Publisher is one incoming track of a participant, fanned out without decoding.

Two forwarding paths (the node chooses one, ``SfuNode(forwarding=...)``):

- ``rtp``: the Peer's ``RtpTransport`` hands each unprotected RTP packet to :meth:`on_rtp`,
  which passes it to every subscriber leg (``RtpLeg``: rewrite, protect, send) in the datagram
  callback. Loss on the publisher's leg is NACKed at once (``IncomingStream``); frames are
  assembled only while a recorder sink or a snapshot needs them (``FrameAssembler``).
- ``frames``: aiortc's receiver reassembles frames; a ``FrameTap`` hands them to
  :meth:`_on_frame` and each subscriber's ``RTCRtpSender`` repacketizes them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiortc import RTCRtpCodecParameters, RTCRtpReceiver

from media.aiortc_hooks import rtx_ssrc_map, send_pli
from media.encoded import EncodedFrame, EncodedSink
from media.throttled_log import ThrottledLog
from sfu import rtcp
from sfu.forwarder import install_tap
from sfu.frame_assembler import FrameAssembler
from sfu.keyframes import KeyframeRequester
from sfu.rtp_header import RtpHeader, abs_send_time, starts_keyframe, unwrap_rtx
from sfu.rtp_receive import IncomingStream
from sfu.snapshot import snapshot_jpeg

if TYPE_CHECKING:
    from sfu.peer import Peer
    from sfu.rtp_transport import RtpTransport
    from sfu.subscriber import Subscriber

logger = logging.getLogger(__name__)

GOP_CACHE_FRAMES = 300  # 10 s at 30 fps; past that we wait for the next keyframe
SNAPSHOT_WAIT = 3.0  # seconds a snapshot waits for a keyframe on the RTP path
# Least time between two PLIs to one publisher (all its subscribers' requests fold into one).
# 0.25 s, not 0.5: a subscriber whose first keyframe was lost (its client was not ready yet)
# asks again within a few frames, and waited up to half a second for the fold to open.
PLI_MIN_INTERVAL = 0.25


class Publisher:
    def __init__(
        self,
        participant_id: str,
        kind: str,
        receiver: RTCRtpReceiver,
        peer: Peer,
        keyframe_interval: float = PLI_MIN_INTERVAL,
        transcode: bool = False,
        on_first_frame: Callable[[], None] | None = None,
        forwarding: str = "frames",
    ) -> None:
        self._on_first_frame = on_first_frame
        self.participant_id = participant_id
        self.kind = kind
        self.codec: str | None = None
        self.forwarding = "transcode" if transcode else forwarding
        self._receiver = receiver
        self._peer = peer
        self._subscribers: list[Subscriber] = []
        self._sinks: list[EncodedSink] = []
        self.keyframes = KeyframeRequester(self._send_pli, keyframe_interval)
        self.frames = 0
        self.bytes = 0
        self.packets = 0
        self.remb_relayed = 0
        self.keyframes_received = 0
        self.last_frame_at: float | None = None
        self.closed = False
        self._gop: list[EncodedFrame] = []
        self._sink_errors = ThrottledLog(logger, logging.ERROR)
        # the RTP path (set by attach_rtp once the answer is made)
        self.extension_ids: dict[int, str] = {}
        self.stream: IncomingStream | None = None
        self.feedback_ssrc: int | None = None
        self._rtp: RtpTransport | None = None
        self._media_ssrc: int | None = None
        self._payload_type = 0
        self._rtx_payload_type: int | None = None
        self._assembler: FrameAssembler | None = None
        self._codec_params: RTCRtpCodecParameters | None = None
        self._picture_waiters: list[asyncio.Future[None]] = []
        self.relay = None
        self.relay_source = None
        if self.forwarding == "transcode":  # comparison mode only: aiortc decodes, relay decoded
            from sfu.transcode import CountingTrack, new_relay

            self.relay = new_relay()
            self.relay_source = CountingTrack(receiver.track, self._on_decoded)
        elif self.forwarding == "frames":
            install_tap(receiver, self._on_frame, kind)

    @property
    def receiver(self) -> RTCRtpReceiver:
        return self._receiver

    def _on_decoded(self, at: float) -> None:
        self.frames += 1
        if self.frames == 1 and self._on_first_frame is not None:
            self._on_first_frame()
        self.last_frame_at = at

    # the RTP path ------------------------------------------------------------
    def attach_rtp(self, transport: RtpTransport, codec: RTCRtpCodecParameters, rtx_payload_type: int | None,
                   extension_ids: dict[int, str], feedback_ssrc: int | None, nack: bool) -> None:
        """Take this track's packets from the peer's RtpTransport (called once negotiated)."""
        self._rtp = transport
        self._codec_params = codec
        self.codec = codec.name
        self._payload_type = codec.payloadType or 0
        self._rtx_payload_type = rtx_payload_type
        self.extension_ids = dict(extension_ids)
        self.feedback_ssrc = feedback_ssrc
        rtx = rtx_ssrc_map(self._receiver)  # RTX SSRC -> media SSRC, if the SDP named them
        self._media_ssrc = next(iter(rtx.values()), None)
        self.stream = IncomingStream(self._media_ssrc or 0, codec.clockRate, nack)
        transport.add_publisher(self, self._payload_type, rtx_payload_type, self._media_ssrc,
                                next(iter(rtx), None))
        if self._sinks or self._picture_waiters:
            self._start_assembler()
        for subscriber in self._subscribers:
            subscriber.rebind_leg()

    def on_rtp(self, header: RtpHeader, data: bytes, rtx: bool) -> None:
        """One packet from the publisher (the datagram callback; synchronous)."""
        if self.closed:
            return
        if rtx:  # RFC 4588: restore the original sequence number and payload type
            original = unwrap_rtx(data, header)
            if original is None or self._media_ssrc is None:
                return  # padding only (a bandwidth probe), or before any media to repair
            header.sequence_number, header.payload_start = original
            header.payload_type = self._payload_type
            header.ssrc = self._media_ssrc
        elif self._media_ssrc is None:
            self._media_ssrc = header.ssrc
        now = time.monotonic()
        stream = self.stream
        if stream is not None:
            if stream.ssrc == 0:
                stream.ssrc = header.ssrc
            lost = stream.add(header.sequence_number, header.timestamp, now)
            if lost:
                self._send_nack(lost)
        self.packets += 1
        self.bytes += len(data) - header.payload_start
        first = self.last_frame_at is None
        self.last_frame_at = now
        if header.marker or self.kind == "audio":
            self.frames += 1
        keyframe = self.kind == "video" and starts_keyframe(self.codec or "", data, header.payload_start)
        if keyframe:
            self.keyframes_received += 1
        if self._subscribers:
            send_time = abs_send_time(time.time())
            for subscriber in self._subscribers:
                leg = subscriber.leg
                if leg is not None:
                    leg.forward(header, data, now, send_time, keyframe)
        if self._assembler is not None:
            self._assembler.add(header, data)
        if first and self._on_first_frame is not None:
            self._on_first_frame()

    def on_sender_report(self, ntp: int, rtp_timestamp: int, now: float) -> None:
        if self.stream is not None:
            self.stream.on_sender_report(ntp, rtp_timestamp, now)

    def request_retransmission(self, sequence_numbers: list[int]) -> None:
        """A subscriber lost packets its leg no longer has: ask the publisher (RFC 4585 NACK)."""
        self._send_nack(sequence_numbers)

    def _send_nack(self, lost: list[int]) -> None:
        if self._rtp is not None and self.feedback_ssrc is not None and self.stream is not None:
            self._rtp.send_rtcp(rtcp.nack(self.feedback_ssrc, self.stream.ssrc, lost))

    def relayed_remb(self, now: float) -> bytes:
        """REMB for the publisher: the lowest fresh estimate among its subscribers' legs."""
        if self.kind != "video" or self.feedback_ssrc is None or self.stream is None:
            return b""
        estimates = [e for e in (s.leg.estimate(now) for s in self._subscribers if s.leg is not None)
                     if e is not None]
        if not estimates:
            return b""
        self.remb_relayed += 1
        return rtcp.remb(self.feedback_ssrc, min(estimates), [self.stream.ssrc])

    def _start_assembler(self) -> None:
        if self._assembler is None and self._codec_params is not None:
            self._assembler = FrameAssembler(self.kind, self._codec_params, self._on_assembled)
            self.request_keyframe()

    def _stop_assembler_if_unused(self) -> None:
        if not self._sinks and not self._picture_waiters:
            self._assembler = None
            self._gop = []

    def _on_assembled(self, frame: EncodedFrame) -> None:
        self._keep_picture(frame)
        if frame.keyframe and self._picture_waiters:
            for waiter in self._picture_waiters:
                if not waiter.done():
                    waiter.set_result(None)
        self._to_sinks(frame)

    # the frame path ------------------------------------------------------------
    def _on_frame(self, frame: EncodedFrame) -> None:
        if self.closed:
            return
        self.codec = frame.codec
        self.frames += 1
        if self.frames == 1 and self._on_first_frame is not None:
            self._on_first_frame()
        self.bytes += len(frame.data)
        self.last_frame_at = frame.received_at
        if frame.keyframe and frame.kind == "video":
            self.keyframes_received += 1
        self._keep_picture(frame)
        for subscriber in self._subscribers:
            subscriber.push(frame)
        self._to_sinks(frame)

    def _keep_picture(self, frame: EncodedFrame) -> None:
        """Frames since the last keyframe: enough to decode the current picture on demand."""
        if frame.kind != "video":
            return
        if frame.keyframe:
            self._gop = [frame]
        elif self._gop and len(self._gop) < GOP_CACHE_FRAMES:
            self._gop.append(frame)
        else:
            self._gop = []

    def _to_sinks(self, frame: EncodedFrame) -> None:
        for sink in self._sinks:
            try:
                sink.on_frame(frame)
            except Exception:
                self._sink_errors.exception("sink failed on %s frame of %s", self.kind, self.participant_id)

    # subscribers and sinks -------------------------------------------------------
    def add_subscriber(self, subscriber: Subscriber) -> None:
        if subscriber not in self._subscribers:
            self._subscribers.append(subscriber)

    def remove_subscriber(self, subscriber: Subscriber) -> None:
        if subscriber in self._subscribers:
            self._subscribers.remove(subscriber)

    def add_sink(self, sink: EncodedSink) -> None:
        self._sinks.append(sink)
        if self.forwarding == "rtp":
            self._start_assembler()
        self.request_keyframe()

    def remove_sink(self, sink: EncodedSink) -> None:
        if sink in self._sinks:
            self._sinks.remove(sink)
        if self.forwarding == "rtp":
            self._stop_assembler_if_unused()

    # keyframes ---------------------------------------------------------------
    def request_keyframe(self) -> None:
        if self.kind == "video" and not self.closed:
            self.keyframes.request()

    def media_ssrc(self) -> int | None:
        """The publisher's media SSRC, never its RTX (RFC 4588) one: a PLI addressed to the
        retransmission stream is ignored (Chrome sends RTX padding before any media)."""
        if self._media_ssrc is not None:
            return self._media_ssrc
        rtx = rtx_ssrc_map(self._receiver)
        if rtx:
            return next(iter(rtx.values()))  # from the SDP's FID group: rtx ssrc → media ssrc
        media = [s.source for s in self._receiver.getSynchronizationSources() if s.source not in rtx]
        return media[-1] if media else None

    def _send_pli(self) -> bool:
        """False when no PLI could go out (no SSRC, no transport or keys yet): the request
        then does not count against the rate limit."""
        ssrc = self.media_ssrc()
        if ssrc is None:
            return False  # nothing received yet; the first frames will carry a keyframe anyway
        if self.forwarding == "rtp":
            if self._rtp is None or self.feedback_ssrc is None:
                return False  # not negotiated yet: the leg asks again once it waits for a keyframe
            return self._rtp.send_rtcp(rtcp.pli(self.feedback_ssrc, ssrc))
        self._peer.spawn(send_pli(self._receiver, ssrc))
        return True

    # snapshots -----------------------------------------------------------------
    def picture_frames(self) -> list[EncodedFrame]:
        """The encoded frames needed to decode the current picture (snapshot on demand)."""
        if not self._gop:
            self.request_keyframe()
        return list(self._gop)

    async def snapshot_jpeg(self) -> bytes | None:
        """The current picture as JPEG bytes, decoded now, off the event loop; None if no
        picture can be decoded yet (a keyframe has been asked for).

        On the RTP path nothing keeps frames unless a recorder does, so a snapshot assembles
        frames for as long as it takes a keyframe to arrive (at most ``SNAPSHOT_WAIT``).
        """
        if self.forwarding == "rtp" and not self._gop and not self.closed:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._picture_waiters.append(waiter)
            try:
                self._start_assembler()
                await asyncio.wait_for(waiter, SNAPSHOT_WAIT)
            except TimeoutError:
                pass
            finally:
                self._picture_waiters.remove(waiter)
            frames = self.picture_frames()
            self._stop_assembler_if_unused()
            return await snapshot_jpeg(frames)
        return await snapshot_jpeg(self.picture_frames())

    # lifetime --------------------------------------------------------------------
    def media_age(self, now: float | None = None) -> float | None:
        """Seconds since the last frame (or packet), or None if none ever arrived."""
        if self.last_frame_at is None:
            return None
        return (now if now is not None else time.monotonic()) - self.last_frame_at

    def close(self) -> None:
        self.closed = True
        self.keyframes.close()
        if self._rtp is not None:
            self._rtp.remove_publisher(self)
            self._rtp = None
        for waiter in self._picture_waiters:
            if not waiter.done():
                waiter.cancel()
        for subscriber in list(self._subscribers):
            subscriber.bind(None)
        self._subscribers.clear()
        self._sinks.clear()
        self._assembler = None

    def stats(self) -> dict:
        stats: dict[str, Any] = {
            "participant_id": self.participant_id,
            "kind": self.kind,
            "codec": self.codec,
            "frames": self.frames,
            "bytes": self.bytes,
            "keyframes": self.keyframes_received,
            "pli_sent": self.keyframes.sent,
            "subscribers": len(self._subscribers),
        }
        if self.stream is not None:
            stats.update(packets=self.packets, nacks_sent=self.stream.nacks_sent, remb_relayed=self.remb_relayed,
                         recovered=self.stream.recovered,
                         frames_assembled=self._assembler.frames if self._assembler else None,
                         # as negotiated on the publisher's leg: what each subscriber leg rewrites
                         payload_type=self._payload_type, rtx_payload_type=self._rtx_payload_type,
                         # the RTX SSRC from the SDP's FID group (aiortc reads it once DTLS is up)
                         ssrc=self._media_ssrc, rtx_ssrc=next(iter(rtx_ssrc_map(self._receiver)), None),
                         extensions={uri: ext_id for ext_id, uri in sorted(self.extension_ids.items())})
        return stats
