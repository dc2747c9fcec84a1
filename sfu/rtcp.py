"""The RTCP the RTP forwarding path writes and reads (RFC 3550, 4585, 5104, REMB draft).

Built and parsed with aiortc's public RTCP packet classes: RTCP is a few packets a second
per leg, not per media packet, so clarity wins over speed here.
"""

from __future__ import annotations

import time

from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpPacket,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
    pack_remb_fci,
    unpack_remb_fci,
)

from sfu.rtp_header import NTP_EPOCH_OFFSET

__all__ = [
    "RtcpPacket",
    "RtcpReceiverInfo",
    "nack",
    "ntp_now",
    "ntp_seconds",
    "pack_compound",
    "pli",
    "receiver_report",
    "remb",
    "remb_bitrate",
    "sdes",
    "sender_report",
]


def ntp_now(wall: float | None = None) -> int:
    """64-bit NTP timestamp (RFC 3550 4) of the wall clock."""
    wall = time.time() if wall is None else wall
    return int((wall + NTP_EPOCH_OFFSET) * (1 << 32))


def ntp_seconds(ntp: int) -> float:
    return ntp / (1 << 32) - NTP_EPOCH_OFFSET


def pli(sender_ssrc: int, media_ssrc: int) -> bytes:
    """Picture Loss Indication (RFC 4585 6.3.1), addressed to the media SSRC."""
    return bytes(RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=sender_ssrc, media_ssrc=media_ssrc))


def nack(sender_ssrc: int, media_ssrc: int, lost: list[int]) -> bytes:
    """Generic NACK (RFC 4585 6.2.1) for ``lost`` sequence numbers."""
    packet = RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=sender_ssrc, media_ssrc=media_ssrc)
    packet.lost = sorted(set(lost))
    return bytes(packet)


def remb(sender_ssrc: int, bitrate: int, ssrcs: list[int]) -> bytes:
    """Receiver Estimated Maximum Bitrate (draft-alvestrand-rmcat-remb)."""
    return bytes(RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=sender_ssrc, media_ssrc=0,
                                fci=pack_remb_fci(int(bitrate), ssrcs)))


def remb_bitrate(packet: RtcpPsfbPacket) -> tuple[int, list[int]] | None:
    try:
        return unpack_remb_fci(packet.fci)
    except ValueError:
        return None


def sender_report(ssrc: int, ntp: int, rtp_timestamp: int, packets: int, octets: int,
                  reports: list[RtcpReceiverInfo] | None = None) -> bytes:
    """SR (RFC 3550 6.4.1), carrying report blocks when this SSRC also receives."""
    return bytes(RtcpSrPacket(ssrc=ssrc, sender_info=RtcpSenderInfo(
        ntp_timestamp=ntp, rtp_timestamp=rtp_timestamp & 0xFFFFFFFF,
        packet_count=packets & 0xFFFFFFFF, octet_count=octets & 0xFFFFFFFF),
        reports=list(reports or [])[:31]))


def receiver_report(ssrc: int, reports: list[RtcpReceiverInfo]) -> bytes:
    return bytes(RtcpRrPacket(ssrc=ssrc, reports=reports[:31]))


def sdes(cnames: dict[int, str]) -> bytes:
    if not cnames:
        return b""
    return bytes(RtcpSdesPacket(chunks=[RtcpSourceInfo(ssrc=s, items=[(1, c.encode())])
                                        for s, c in cnames.items()]))


def pack_compound(parts: list[bytes]) -> bytes:
    """One compound packet; RFC 3550 6.1 wants it to start with an SR or RR."""
    return b"".join(p for p in parts if p)
