"""RtpLeg: one subscriber leg on the RTP forwarding path.

It receives the bound publisher's packets (already unprotected), rewrites each one for this
peer connection (``HeaderRewriter``: SSRC, sequence number, timestamp, payload type, extension
ids), keeps it in a short history, and sends it SRTP-protected with this leg's keys, all in the
publisher's datagram callback. After a (re)bind a video leg starts at a keyframe: until it
has forwarded one it drops the source's delta frames and keeps asking the publisher for a
keyframe (at most every ``KEYFRAME_RETRY`` s from here, rate-limited again per publisher), as
LiveKit's down-tracks do. One request at start is not enough: it may
be folded into the publisher's rate limit, or the keyframe it brings may arrive before this leg
is started, and then the subscriber would wait for the publisher's next periodic keyframe.

RTCP of the leg: NACKs are answered from the history with RTX (RFC 4588), or mapped to the
publisher's numbering and forwarded upstream when the packet is gone; PLI/FIR go to the
publisher (rate-limited there); REMB is kept for the publisher's relayed estimate; the sender
report maps the node's wall clock to this leg's RTP clock through the publisher's own sender
report, so the audio and video legs of one publisher stay in sync in the browser.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Protocol

from media.aiortc_hooks import SrtpSender
from sfu import rtcp
from sfu.rtp_header import ExtensionPlan, HeaderRewriter, RtpHeader, wrap_rtx

if TYPE_CHECKING:
    from sfu.rtp_receive import IncomingStream

logger = logging.getLogger(__name__)

HISTORY = 1024  # packets kept for retransmission (~4 s of 1 Mbit/s video)
REMB_FRESH = 5.0  # seconds a subscriber's bandwidth estimate stays valid
MAX_HELD = 256  # packets of one video frame held before its marker (a 300 kB keyframe)
KEYFRAME_RETRY = 0.1  # seconds between this leg's keyframe requests while it waits for one


class RtpSource(Protocol):
    """What a leg needs from the publisher it forwards (sfu.publisher.Publisher)."""

    kind: str
    codec: str | None
    extension_ids: dict[int, str]  # id -> URI on the publisher's leg
    stream: IncomingStream | None

    def request_keyframe(self) -> None: ...

    def request_retransmission(self, sequence_numbers: list[int]) -> None: ...


class RtpLeg:
    def __init__(
        self,
        kind: str,
        sender: SrtpSender,
        ssrc: int,
        payload_type: int,
        clock_rate: int,
        extension_ids: dict[str, int],
        mid: str | None,
        rtx_ssrc: int | None = None,
        rtx_payload_type: int | None = None,
        cname: str | None = None,
    ) -> None:
        self.kind = kind
        self.sender = sender
        self.ssrc = ssrc
        self.rtx_ssrc = rtx_ssrc
        self.rtx_payload_type = rtx_payload_type
        self.clock_rate = clock_rate
        self.extension_ids = dict(extension_ids)
        self.mid = mid
        self.cname = cname
        self.rewriter = HeaderRewriter(ssrc, payload_type, clock_rate)
        self.source: RtpSource | None = None
        self.need_keyframe = kind == "video"
        self._held: list[tuple[RtpHeader, bytes, float, bytes]] = []  # the current video frame
        keep = rtx_payload_type is not None and rtx_ssrc is not None
        self._history: list[bytes | None] | None = [None] * HISTORY if keep else None
        self._rtx_seq = self.rewriter.last_seq ^ 0x5A5A
        self.packets_sent = 0
        self.frames_sent = 0  # packets with the marker bit (video), every packet (audio)
        self.octets_sent = 0
        self.dropped = 0
        self.retransmitted = 0
        self.nacks_forwarded = 0
        self.keyframe_requests = 0  # PLI/FIR from the subscriber
        self.keyframe_asks = 0  # our own requests while waiting for a (first) keyframe
        self._asked_at = -KEYFRAME_RETRY
        self.waiting_since: float | None = None  # when this leg began waiting for a keyframe
        self.keyframe_wait: float | None = None  # the last wait, start (or rebind) to keyframe (s)
        self.remb: tuple[int, float] | None = None  # (bits/s, monotonic time)
        self.remote_loss = 0  # cumulative loss the subscriber reported
        self.ready = False  # set by start(): the peer connection is up and the sender started
        self.closed = False

    # binding -------------------------------------------------------------------
    def rebind(self, source: RtpSource | None) -> None:
        """Forward ``source`` from its next keyframe (video); numbering runs on. The unsent
        part of a frame of the previous source is dropped."""
        self.dropped += len(self._held)
        self._held = []
        self.source = source
        self.need_keyframe = self.kind == "video"
        plan = None if source is None else ExtensionPlan(source.extension_ids, self.extension_ids, self.mid)
        self.rewriter.rebind(plan)
        if self.ready and self.need_keyframe:  # asks on the first delta packet it must drop
            self.waiting_since = time.monotonic()
            self._asked_at = -KEYFRAME_RETRY

    def start(self) -> None:
        """Begin sending (from the next keyframe, for video)."""
        if self.ready or self.closed:
            return
        self.ready = True
        self._wait_for_keyframe(time.monotonic())

    def _wait_for_keyframe(self, now: float) -> None:
        if self.kind != "video" or not self.need_keyframe:
            return
        self.waiting_since = now
        self._asked_at = -KEYFRAME_RETRY
        self._ask_keyframe(now)

    def _ask_keyframe(self, now: float) -> None:
        if self.source is not None and now - self._asked_at >= KEYFRAME_RETRY:
            self._asked_at = now
            self.keyframe_asks += 1
            self.source.request_keyframe()

    # the media path (synchronous, per packet) --------------------------------------
    def forward(self, header: RtpHeader, data: bytes, now: float, send_time: bytes, keyframe: bool) -> None:
        """Send one of the source's packets on this leg.

        Video packets of a frame are held until the frame's marker-bit packet (or the next
        frame's first packet, when the marker is lost), then sent together: the frame cannot
        be decoded before its last packet anyway, and a rebind in the middle of a frame then
        drops the unsent part instead of leaving the receiver half a frame, which it would
        splice onto the next source's keyframe.
        """
        if not self.ready:
            return
        if self.need_keyframe:
            if not keyframe:
                self.dropped += 1
                self._ask_keyframe(now)
                return
            self.need_keyframe = False
            if self.waiting_since is not None:
                self.keyframe_wait = now - self.waiting_since
                self.waiting_since = None
        if self.kind != "video":
            self._send(header, data, now, send_time)
            return
        held = self._held
        if held and held[0][0].timestamp != header.timestamp:
            self._flush()
        if header.marker and not held:
            self._send(header, data, now, send_time)
            return
        held.append((header, data, now, send_time))
        if header.marker or len(held) >= MAX_HELD:
            self._flush()

    def _flush(self) -> None:
        held = self._held
        self._held = []
        for header, data, now, send_time in held:
            self._send(header, data, now, send_time)

    def _send(self, header: RtpHeader, data: bytes, now: float, send_time: bytes) -> None:
        out = self.rewriter.rewrite(header, data, now, send_time)
        if out is None:
            self.dropped += 1
            return
        history = self._history
        if history is not None:
            history[self.rewriter.out_seq % HISTORY] = out
        if self.sender.send_rtp(out):
            self.packets_sent += 1
            self.octets_sent += len(data) - header.payload_start
            if header.marker or self.kind == "audio":
                self.frames_sent += 1

    # RTCP from the subscriber ---------------------------------------------------
    def on_nack(self, lost: list[int]) -> None:
        """Answer from the history with RTX; what is gone is asked of the publisher."""
        upstream: list[int] = []
        history = self._history
        for seq in lost:
            packet = history[seq % HISTORY] if history is not None else None
            if packet is not None and int.from_bytes(packet[2:4], "big") == seq:
                rtx = wrap_rtx(packet, self.rtx_payload_type, self._rtx_seq, self.rtx_ssrc)  # type: ignore[arg-type]
                self._rtx_seq = (self._rtx_seq + 1) & 0xFFFF
                if self.sender.send_rtp(rtx):
                    self.retransmitted += 1
            else:
                upstream.append(self.rewriter.unrewrite_seq(seq))
        if upstream and self.source is not None:
            self.nacks_forwarded += len(upstream)
            self.source.request_retransmission(upstream)

    def on_keyframe_request(self) -> None:
        self.keyframe_requests += 1
        if self.source is not None:
            self.source.request_keyframe()

    def on_remb(self, bitrate: int, now: float) -> None:
        self.remb = (bitrate, now)

    def on_receiver_report(self, packets_lost: int) -> None:
        self.remote_loss = packets_lost

    def estimate(self, now: float) -> int | None:
        if self.remb is None or now - self.remb[1] > REMB_FRESH:
            return None
        return self.remb[0]

    # RTCP to the subscriber -------------------------------------------------------
    def sender_report(self, now: float, wall: float | None = None,
                      reports: list[rtcp.RtcpReceiverInfo] | None = None) -> bytes:
        """SR for this leg (RFC 3550 6.4.1), or b"" before the first packet.

        RTP time now = the publisher's last SR mapping, carried forward by the elapsed time
        and shifted by this leg's timestamp offset; without a publisher SR yet, the leg's
        last packet carried forward.
        """
        if self.packets_sent == 0:
            return b""
        wall = time.time() if wall is None else wall
        rewriter = self.rewriter
        stream = self.source.stream if self.source is not None else None
        if stream is not None and stream.sr_ntp is not None and rewriter.last_time is not None:
            offset = rewriter.ts_offset
            rtp_now = stream.sr_rtp + offset + int((now - stream.sr_at) * self.clock_rate)
        elif rewriter.last_time is not None:
            rtp_now = rewriter.last_ts + int((now - rewriter.last_time) * self.clock_rate)
        else:
            return b""
        return rtcp.sender_report(self.ssrc, rtcp.ntp_now(wall), rtp_now, self.packets_sent, self.octets_sent,
                                  reports)

    def close(self) -> None:
        self.closed = True
        self._held = []
        self.source = None
        self._history = None

    def stats(self) -> dict:
        return {"ssrc": self.ssrc, "packets_sent": self.packets_sent, "frames_sent": self.frames_sent,
                "dropped": self.dropped,
                "retransmitted": self.retransmitted, "nacks_forwarded": self.nacks_forwarded,
                "keyframe_requests": self.keyframe_requests, "keyframe_asks": self.keyframe_asks,
                "keyframe_wait_ms": None if self.keyframe_wait is None else round(self.keyframe_wait * 1000, 1),
                "remote_loss": self.remote_loss,
                "remb": self.remb[0] if self.remb else None,
                # this leg's own numbering, as negotiated with its subscriber
                "payload_type": self.rewriter.payload_type, "rtx_payload_type": self.rtx_payload_type,
                "rtx_ssrc": self.rtx_ssrc, "mid": self.mid, "extensions": dict(self.extension_ids)}
