"""RtpTransport: the RTP forwarding path of one Peer (one BUNDLEd DTLS-SRTP transport).

Every SRTP datagram from the client is unprotected in the datagram callback
(``media.aiortc_hooks.intercept_srtp``) and handled right there, synchronously, without
aiortc's receiver, jitter buffer or per-packet coroutines:

- RTP is routed by SSRC (learnt from the payload type when the SDP named none) to the
  Publisher of that kind, which rewrites and sends it on every subscriber leg at once; an RTX
  packet (RFC 4588) from the client is unwrapped first and counts as the original.
- RTCP from the client: its sender reports go to its publishers (for our receiver reports and
  the legs' NTP/RTP mapping); NACK, PLI/FIR, REMB and receiver reports about our legs go to
  those legs.

A periodic task (owned by the Peer) sends our RTCP: an SR per leg that has sent, one RR with a
block per publisher, and each publisher's relayed REMB (the lowest of its subscribers' fresh
estimates: the publisher must not send more than its slowest subscriber takes).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import TYPE_CHECKING

import pylibsrtp
from aiortc import RTCDtlsTransport
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSrPacket,
)

from media.aiortc_hooks import SrtpSender, intercept_srtp
from media.throttled_log import ThrottledLog
from sfu import rtcp
from sfu.rtp_header import parse_header

if TYPE_CHECKING:
    from sfu.publisher import Publisher
    from sfu.rtp_leg import RtpLeg

logger = logging.getLogger(__name__)

RTCP_INTERVAL = 1.0  # seconds, varied by ±50 % (RFC 3550 6.2)


class RtpTransport:
    def __init__(self, label: str, dtls: RTCDtlsTransport) -> None:
        self.label = label
        self.sender = SrtpSender(dtls)
        self.publishers: list[Publisher] = []
        self.legs: dict[int, RtpLeg] = {}
        self._by_ssrc: dict[int, tuple[Publisher, bool]] = {}  # ssrc -> (publisher, is RTX)
        self._by_pt: dict[int, tuple[Publisher, bool]] = {}
        self._errors = ThrottledLog(logger, logging.ERROR)
        self.rtp_packets = 0
        self.rtcp_packets = 0
        self.unrouted = 0
        self.srtp_errors = 0
        self.closed = False
        self._undo = intercept_srtp(dtls, self.on_rtp, self.on_rtcp, self._srtp_error)

    # registration ----------------------------------------------------------------
    def add_publisher(self, publisher: Publisher, payload_type: int, rtx_payload_type: int | None,
                      ssrc: int | None, rtx_ssrc: int | None) -> None:
        self.publishers.append(publisher)
        self._by_pt[payload_type] = (publisher, False)
        if rtx_payload_type is not None:
            self._by_pt[rtx_payload_type] = (publisher, True)
        if ssrc is not None:
            self._by_ssrc[ssrc] = (publisher, False)
        if rtx_ssrc is not None:
            self._by_ssrc[rtx_ssrc] = (publisher, True)

    def remove_publisher(self, publisher: Publisher) -> None:
        if publisher in self.publishers:
            self.publishers.remove(publisher)
        for table in (self._by_ssrc, self._by_pt):
            for key in [k for k, (p, _) in table.items() if p is publisher]:
                del table[key]

    def add_leg(self, leg: RtpLeg) -> None:
        self.legs[leg.ssrc] = leg

    # incoming (the datagram callback) ------------------------------------------------
    def on_rtp(self, data: bytes) -> None:
        try:
            header = parse_header(data)
        except ValueError:
            self.unrouted += 1
            return
        self.rtp_packets += 1
        route = self._by_ssrc.get(header.ssrc)
        if route is None:
            route = self._by_pt.get(header.payload_type)
            if route is None:
                self.unrouted += 1
                return
            self._by_ssrc[header.ssrc] = route  # SSRC learnt from the payload type
        publisher, rtx = route
        try:
            publisher.on_rtp(header, data, rtx)
        except Exception:  # a forwarding bug must not take the datagram callback down
            self._errors.exception("%s: RTP forwarding failed", self.label)

    def on_rtcp(self, data: bytes) -> None:
        self.rtcp_packets += 1
        try:
            packets = rtcp.RtcpPacket.parse(data)
        except ValueError:
            return
        now = time.monotonic()
        try:
            for packet in packets:
                self._handle_rtcp(packet, now)
        except Exception:
            self._errors.exception("%s: RTCP handling failed", self.label)

    def _handle_rtcp(self, packet: object, now: float) -> None:
        legs = self.legs
        if isinstance(packet, RtcpSrPacket):
            route = self._by_ssrc.get(packet.ssrc)
            if route is not None and not route[1]:
                route[0].on_sender_report(packet.sender_info.ntp_timestamp,
                                          packet.sender_info.rtp_timestamp, now)
        if isinstance(packet, (RtcpSrPacket, RtcpRrPacket)):
            for report in packet.reports:
                leg = legs.get(report.ssrc)
                if leg is not None:
                    leg.on_receiver_report(report.packets_lost)
        elif isinstance(packet, RtcpRtpfbPacket):
            leg = legs.get(packet.media_ssrc)
            if leg is not None and packet.fmt == RTCP_RTPFB_NACK:
                leg.on_nack(packet.lost)
        elif isinstance(packet, RtcpPsfbPacket):
            if packet.fmt == RTCP_PSFB_PLI:
                leg = legs.get(packet.media_ssrc)
                if leg is not None:
                    leg.on_keyframe_request()
            elif packet.fmt == RTCP_PSFB_FIR:  # RFC 5104 4.3.1: the SSRC is in the FCI
                for i in range(0, len(packet.fci) - 7, 8):
                    leg = legs.get(int.from_bytes(packet.fci[i:i + 4], "big"))
                    if leg is not None:
                        leg.on_keyframe_request()
            elif packet.fmt == RTCP_PSFB_APP:
                estimate = rtcp.remb_bitrate(packet)
                if estimate is not None:
                    bitrate, ssrcs = estimate
                    for ssrc in ssrcs:
                        leg = legs.get(ssrc)
                        if leg is not None:
                            leg.on_remb(bitrate, now)

    def _srtp_error(self, exc: Exception) -> None:
        self.srtp_errors += 1
        if not isinstance(exc, pylibsrtp.Error):
            self._errors.exception("%s: SRTP datagram handling failed", self.label)

    # outgoing RTCP ----------------------------------------------------------------
    def send_rtcp(self, packet: bytes) -> bool:
        return self.sender.send_rtcp(packet)

    def reports(self, now: float, wall: float | None = None) -> bytes:
        """The compound RTCP packet of one reporting interval (RFC 3550 6.1): an SR per leg
        that has sent, the report blocks about our publishers in the SR of the SSRC they are
        sent from (or an RR of their own), SDES, then each publisher's relayed REMB."""
        wall = time.time() if wall is None else wall
        blocks: dict[int, list[rtcp.RtcpReceiverInfo]] = {}
        rembs = []
        for publisher in self.publishers:
            block = publisher.stream.report(now) if publisher.stream is not None else None
            if block is not None and publisher.feedback_ssrc is not None:
                blocks.setdefault(publisher.feedback_ssrc, []).append(block)
            remb = publisher.relayed_remb(now)
            if remb:
                rembs.append(remb)
        parts = []
        for leg in self.legs.values():
            if leg.closed:
                continue
            report = leg.sender_report(now, wall, blocks.get(leg.ssrc))
            if report:
                blocks.pop(leg.ssrc, None)
                parts.append(report)
        parts += [rtcp.receiver_report(ssrc, items) for ssrc, items in blocks.items()]
        if not parts:
            return b""
        cnames = {leg.ssrc: leg.cname for leg in self.legs.values() if leg.cname and leg.packets_sent}
        return rtcp.pack_compound([*parts, rtcp.sdes(cnames), *rembs])

    async def run_reports(self) -> None:
        """The reporting loop; the Peer owns (and cancels) the task."""
        while not self.closed:
            await asyncio.sleep(RTCP_INTERVAL * (0.5 + random.random()))
            packet = self.reports(time.monotonic())
            if packet:
                self.send_rtcp(packet)

    def close_legs(self) -> None:
        """Stop sending on every leg (before the transport closes); receiving goes on."""
        for leg in self.legs.values():
            leg.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._undo()
        for leg in self.legs.values():
            leg.close()
        self.legs.clear()
        self.publishers.clear()
        self._by_ssrc.clear()
        self._by_pt.clear()

    def stats(self) -> dict:
        return {"rtp_packets": self.rtp_packets, "rtcp_packets": self.rtcp_packets,
                "unrouted": self.unrouted, "srtp_errors": self.srtp_errors,
                "sent": self.sender.packets}
