"""RtpLeg (one subscriber leg on the RTP path) and FrameAssembler, on bytes, without sockets."""

from __future__ import annotations

import fractions

import av
from aiortc import RTCRtpCodecParameters
from aiortc.codecs import get_encoder
from aiortc.rtp import RtcpPacket, RtcpSrPacket, RtpPacket

from media.encoded import EncodedFrame
from media.synthetic import encode_vp8_clip
from sfu.frame_assembler import FrameAssembler
from sfu.rtp_header import ABS_SEND_TIME_URI, MID_URI, pack_extensions, parse_header
from sfu.rtp_leg import RtpLeg
from sfu.rtp_receive import IncomingStream

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=97)


class Wire:
    """Stands in for SrtpSender: keeps what the leg sends."""

    def __init__(self) -> None:
        self.rtp: list[bytes] = []
        self.packets = 0

    def send_rtp(self, packet: bytes) -> bool:
        self.rtp.append(packet)
        return True

    def send_rtcp(self, packet: bytes) -> bool:
        return True


class Source:
    kind = "video"
    codec = "VP8"

    def __init__(self, clock_rate: int = 90000) -> None:
        self.extension_ids = {1: MID_URI}
        self.stream = IncomingStream(1234, clock_rate, nack_enabled=True)
        self.keyframe_requests = 0
        self.retransmissions: list[int] = []

    def request_keyframe(self) -> None:
        self.keyframe_requests += 1

    def request_retransmission(self, sequence_numbers: list[int]) -> None:
        self.retransmissions += sequence_numbers


def vp8_packets(frames: list[bytes], first_seq: int = 1000) -> list[tuple[bytes, bool]]:
    """RTP packets as aiortc's VP8 payloader makes them; (packet, starts a keyframe)."""
    encoder = get_encoder(VP8)
    out, seq = [], first_seq
    for i, data in enumerate(frames):
        packet = av.Packet(data)
        packet.pts, packet.time_base = i * 3000, fractions.Fraction(1, 90000)
        payloads, ts = encoder.pack(packet)
        for j, payload in enumerate(payloads):
            p = RtpPacket(payload_type=97, sequence_number=seq & 0xFFFF, timestamp=ts, ssrc=1234,
                          marker=int(j == len(payloads) - 1), payload=payload)
            out.append((p.serialize(), j == 0 and not data[0] & 1))
            seq += 1
    return out


def new_leg(wire: Wire, rtx: bool = True) -> RtpLeg:
    leg = RtpLeg("video", wire, ssrc=555, payload_type=100, clock_rate=90000,  # type: ignore[arg-type]
                 extension_ids={MID_URI: 3}, mid="2", rtx_ssrc=556 if rtx else None,
                 rtx_payload_type=101 if rtx else None)
    leg.start()
    return leg


def test_a_leg_waits_for_a_keyframe_then_forwards_and_answers_nacks_with_rtx():
    clip = encode_vp8_clip(frames=4, keyframe_interval=2)  # K d K d
    packets = vp8_packets([clip[1], clip[0], clip[1]])  # a delta frame first
    wire, source = Wire(), Source()
    leg = new_leg(wire)
    leg.rebind(source)
    for data, key in packets:
        leg.forward(parse_header(data), data, 0.0, b"\x00\x00\x00", key)
    assert leg.dropped > 0 and wire.rtp  # the leading delta frame never went out
    sent = [parse_header(p) for p in wire.rtp]
    assert [h.sequence_number for h in sent] == list(range(sent[0].sequence_number,
                                                          sent[0].sequence_number + len(sent)))
    assert {h.ssrc for h in sent} == {555} and {h.payload_type for h in sent} == {100}
    # the subscriber lost its second packet: RTX from the history, with the OSN
    lost = sent[1].sequence_number
    leg.on_nack([lost])
    rtx = parse_header(wire.rtp[-1])
    assert (rtx.ssrc, rtx.payload_type) == (556, 101)
    assert int.from_bytes(wire.rtp[-1][rtx.payload_start:rtx.payload_start + 2], "big") == lost
    assert wire.rtp[-1][rtx.payload_start + 2:] == wire.rtp[1][sent[1].payload_start:]
    # a packet the history no longer holds is asked of the publisher, in its numbering
    leg.on_nack([(sent[0].sequence_number - 50) & 0xFFFF])
    assert source.retransmissions and leg.nacks_forwarded == 1


def test_a_leg_relays_keyframe_requests_and_keeps_the_latest_estimate():
    wire, source = Wire(), Source()
    leg = new_leg(wire, rtx=False)
    leg.rebind(source)
    leg.on_keyframe_request()
    assert source.keyframe_requests == 1  # the subscriber's PLI, towards the publisher
    leg.on_remb(300_000, now=10.0)
    assert leg.estimate(11.0) == 300_000 and leg.estimate(20.0) is None  # stale after 5 s
    leg.on_nack([1, 2])  # no RTX on this leg: both go upstream
    assert len(source.retransmissions) == 2


def test_sender_report_maps_wall_clock_through_the_publishers_report():
    wire, source = Wire(), Source()
    leg = new_leg(wire)
    leg.rebind(source)
    assert leg.sender_report(0.0) == b""  # nothing sent yet: no SR (RFC 3550 6.4)
    packets = vp8_packets(encode_vp8_clip(frames=2, keyframe_interval=2))
    for data, key in packets:
        leg.forward(parse_header(data), data, 1.0, b"\x00\x00\x00", key)
    first_in = parse_header(packets[0][0]).timestamp
    first_out = parse_header(wire.rtp[0]).timestamp
    # the publisher said: its RTP time 500_000 was at our monotonic 2.0
    source.stream.on_sender_report(ntp=1 << 40, rtp_timestamp=500_000, now=2.0)
    report = RtcpPacket.parse(leg.sender_report(now=3.0, wall=1_800_000_000.0))[0]
    assert isinstance(report, RtcpSrPacket) and report.ssrc == 555
    offset = (first_out - first_in) & 0xFFFFFFFF
    assert report.sender_info.rtp_timestamp == (500_000 + 90_000 + offset) & 0xFFFFFFFF  # 1 s later
    assert report.sender_info.packet_count == len(wire.rtp)
    assert report.sender_info.octet_count == sum(len(p) - parse_header(p).payload_start for p in wire.rtp)


def test_incoming_stream_nacks_a_gap_once_then_again_and_counts_the_repair():
    stream = IncomingStream(1, 90000, nack_enabled=True)
    assert stream.add(100, 0, 0.0) is None
    assert stream.add(103, 3000, 0.01) == [101, 102]  # asked at once
    assert stream.add(104, 6000, 0.03) is None
    assert stream.add(105, 9000, 0.10) == [101, 102]  # still missing after 80 ms: asked again
    stream.add(101, 0, 0.11)  # the retransmission
    assert stream.recovered == 1 and 101 not in stream.missing
    block = stream.report(0.2)
    assert block.highest_sequence == 105 and block.packets_lost == 1


def test_frame_assembler_rebuilds_frames_and_drops_incomplete_ones():
    clip = encode_vp8_clip(frames=3, keyframe_interval=30)
    packets = vp8_packets(clip)
    frames: list[EncodedFrame] = []
    assembler = FrameAssembler("video", VP8, frames.append)
    for data, _ in packets:
        assembler.add(parse_header(data), data)
    assert [f.data for f in frames] == clip and frames[0].keyframe and frames[0].timestamp == 0
    # lose one packet of the (multi-packet) keyframe: that frame is never handed on
    frames.clear()
    assembler = FrameAssembler("video", VP8, frames.append)
    key_packets = [p for p in packets if parse_header(p[0]).timestamp == parse_header(packets[0][0]).timestamp]
    assert len(key_packets) > 1
    for data, _ in packets:
        if data is not key_packets[1][0]:
            assembler.add(parse_header(data), data)
    assert [f.data for f in frames] == clip[1:] and assembler.incomplete == 1
    # packets out of order within a frame still make the frame
    frames.clear()
    assembler = FrameAssembler("video", VP8, frames.append)
    for data, _ in reversed(key_packets):
        assembler.add(parse_header(data), data)
    assert [f.data for f in frames] == clip[:1]


def test_a_rebind_in_the_middle_of_a_frame_sends_no_half_frame_and_no_gap():
    clip = encode_vp8_clip(frames=3, keyframe_interval=30)
    first = vp8_packets(clip, first_seq=100)
    key_ts = parse_header(first[0][0]).timestamp
    key_packets = [p for p in first if parse_header(p[0]).timestamp == key_ts]
    assert len(key_packets) >= 2
    wire, old, new = Wire(), Source(), Source()
    leg = new_leg(wire)
    leg.rebind(old)
    for data, key in key_packets[:-1]:  # the old publisher vanishes before the marker packet
        leg.forward(parse_header(data), data, 0.0, b"\x00\x00\x00", key)
    assert wire.rtp == []  # held: the frame is not complete
    leg.rebind(new)
    for data, key in vp8_packets(clip, first_seq=40_000):
        leg.forward(parse_header(data), data, 0.1, b"\x00\x00\x00", key)
    sent = [parse_header(p) for p in wire.rtp]
    assert len(sent) == len(first)  # only the new source's whole frames
    seqs = [h.sequence_number for h in sent]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # and no hole for the dropped part
    assert sent[-1].marker == 1


def test_a_firefox_publisher_on_a_chromium_leg_gets_the_legs_numbering():
    """Firefox numbers VP8 120, its RTX 124, MID 3, abs-send-time 4 and offers toffset 5;
    Chromium's leg negotiated VP8 96, RTX 97, MID 4, abs-send-time 2 and no toffset. What the
    browser test (tests/browser/test_browser_firefox.py) sees end to end, on bytes here."""
    toffset = "urn:ietf:params:rtp-hdrext:toffset"
    firefox = Source()
    firefox.extension_ids = {3: MID_URI, 4: ABS_SEND_TIME_URI, 5: toffset}
    wire = Wire()
    leg = RtpLeg("video", wire, ssrc=777, payload_type=96, clock_rate=90000,  # type: ignore[arg-type]
                 extension_ids={ABS_SEND_TIME_URI: 2, MID_URI: 4}, mid="1", rtx_ssrc=778, rtx_payload_type=97)
    leg.start()
    leg.rebind(firefox)
    clip = encode_vp8_clip(frames=1, keyframe_interval=1)
    ext = pack_extensions([(3, b"0"), (4, b"\x01\x02\x03"), (5, b"\x00\x00\x10")])
    sent = []
    for data, key in vp8_packets(clip[:1]):
        h = parse_header(data)  # aiortc's packet, re-made with Firefox's numbering
        ff = bytes((data[0] | 0x10, (data[1] & 0x80) | 120)) + data[2:12] + ext + data[h.payload_start:]
        sent.append(ff)
        leg.forward(parse_header(ff), ff, 0.0, b"\x0a\x0b\x0c", key)
    assert len(wire.rtp) == len(sent) > 0
    for original, out in zip(sent, wire.rtp, strict=True):
        h = parse_header(out)
        assert (h.payload_type, h.ssrc) == (96, 777)
        assert dict(h.extensions()) == {4: b"1", 2: b"\x0a\x0b\x0c"}  # MID and send time, no toffset
        assert out[h.payload_start:] == original[parse_header(original).payload_start:]
    leg.on_nack([parse_header(wire.rtp[0]).sequence_number])
    assert parse_header(wire.rtp[-1]).payload_type == 97 and parse_header(wire.rtp[-1]).ssrc == 778
    stats = leg.stats()
    assert (stats["payload_type"], stats["rtx_payload_type"], stats["rtx_ssrc"], stats["mid"]) == (96, 97, 778, "1")
    assert stats["extensions"] == {ABS_SEND_TIME_URI: 2, MID_URI: 4} and stats["retransmitted"] == 1
