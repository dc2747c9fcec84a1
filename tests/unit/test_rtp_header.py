"""The RTP path's header rewriting on bytes: sequence numbers and timestamps continuous across
a rebind, extension ids remapped by URI, payload type and SSRC of the leg, RTX wrap/unwrap,
and the codec checks (frame start, keyframe start)."""

from __future__ import annotations

from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from sfu.rtp_header import (
    ABS_SEND_TIME_URI,
    MID_URI,
    ExtensionPlan,
    HeaderRewriter,
    abs_send_time,
    pack_extensions,
    parse_header,
    seq_newer,
    starts_frame,
    starts_keyframe,
    unwrap_rtx,
    wrap_rtx,
)

AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
SEND_TIME = abs_send_time(1_800_000_000.0)


def ext_map(ids: dict[str, int]) -> HeaderExtensionsMap:
    m = HeaderExtensionsMap()
    m.configure(RTCRtpParameters(headerExtensions=[RTCRtpHeaderExtensionParameters(id=i, uri=u)
                                                   for u, i in ids.items()]))
    return m


def packet(seq: int, ts: int, payload: bytes = b"\x10\x00payload", marker: int = 0, pt: int = 96,
           ssrc: int = 1111, ids: dict[str, int] | None = None, mid: str = "7",
           level: tuple[bool, int] | None = (True, 30)) -> bytes:
    """A packet as a publisher's browser would send it, serialized by aiortc itself."""
    ids = ids if ids is not None else {MID_URI: 4, ABS_SEND_TIME_URI: 2, AUDIO_LEVEL_URI: 1}
    p = RtpPacket(payload_type=pt, marker=marker, sequence_number=seq, timestamp=ts, ssrc=ssrc, payload=payload)
    p.extensions.mid = mid
    p.extensions.abs_send_time = 0x123456
    if level is not None:
        p.extensions.audio_level = level
    return p.serialize(ext_map(ids))


def leg(first_seq: int = 500, first_ts: int = 9000) -> HeaderRewriter:
    rewriter = HeaderRewriter(ssrc=2222, payload_type=111, clock_rate=90000,
                              first_seq=first_seq, first_ts=first_ts)
    source = {4: MID_URI, 2: ABS_SEND_TIME_URI, 1: AUDIO_LEVEL_URI}
    target = {MID_URI: 1, ABS_SEND_TIME_URI: 3, AUDIO_LEVEL_URI: 9}
    rewriter.rebind(ExtensionPlan(source, target, mid="0"))
    return rewriter


def rewrite(rewriter: HeaderRewriter, data: bytes, now: float) -> RtpPacket | None:
    out = rewriter.rewrite(parse_header(data), data, now, SEND_TIME)
    if out is None:
        return None
    return RtpPacket.parse(out, ext_map({MID_URI: 1, ABS_SEND_TIME_URI: 3, AUDIO_LEVEL_URI: 9}))


def test_parse_reads_what_aiortc_wrote():
    data = packet(65535, 4_000_000_000, marker=1)
    h = parse_header(data)
    assert (h.sequence_number, h.timestamp, h.ssrc, h.payload_type, h.marker) == (65535, 4_000_000_000, 1111, 96, 1)
    assert dict(h.extensions())[4] == b"7"
    assert data[h.payload_start:] == b"\x10\x00payload"


def test_leg_gets_its_ssrc_payload_type_and_extension_ids_payload_untouched():
    out = rewrite(leg(), packet(100, 3000, marker=1), now=1.0)
    assert out is not None
    assert (out.ssrc, out.payload_type, out.marker) == (2222, 111, 1)
    assert (out.sequence_number, out.timestamp) == (500, 9000)
    assert out.payload == b"\x10\x00payload"
    assert out.extensions.mid == "0"  # this leg's MID, not the publisher's "7"
    assert out.extensions.audio_level == (True, 30)  # copied under the leg's id (9, not 1)
    assert out.extensions.abs_send_time == int.from_bytes(SEND_TIME, "big")  # restamped


def test_extensions_the_leg_did_not_negotiate_are_dropped():
    rewriter = HeaderRewriter(ssrc=5, payload_type=96, clock_rate=48000, first_seq=1, first_ts=0)
    rewriter.rebind(ExtensionPlan({4: MID_URI, 1: AUDIO_LEVEL_URI}, {MID_URI: 1}, mid="3"))
    data = packet(10, 960)
    out = rewriter.rewrite(parse_header(data), data, 0.0, SEND_TIME)
    assert out is not None
    assert dict(parse_header(out).extensions()) == {1: b"3"}
    bare = HeaderRewriter(ssrc=5, payload_type=96, clock_rate=48000)
    bare.rebind(ExtensionPlan({4: MID_URI}, {}, mid=None))
    out = bare.rewrite(parse_header(data), data, 0.0, SEND_TIME)
    assert out is not None and out[0] & 0x10 == 0 and parse_header(out).extensions() == []


def test_sequence_and_timestamp_run_on_across_a_rebind():
    rewriter = leg()
    seqs, stamps = [], []
    for i in range(5):  # first publisher: seq 65533.. wraps, 30 fps
        out = rewrite(rewriter, packet((65533 + i) & 0xFFFF, 1000 + 3000 * i), now=i / 30)
        seqs.append(out.sequence_number)
        stamps.append(out.timestamp)
    assert seqs == [500, 501, 502, 503, 504] and stamps == [9000 + 3000 * i for i in range(5)]
    # a reconnect: another publisher, unrelated numbering, 100 ms after the last packet
    rewriter.rebind(ExtensionPlan({4: MID_URI}, {MID_URI: 1}, mid="0"))
    out = rewrite(rewriter, packet(7, 123_456_789, ids={MID_URI: 4}), now=4 / 30 + 0.1)
    assert out.sequence_number == 505
    assert out.timestamp == stamps[-1] + 9000  # 0.1 s at 90 kHz
    out = rewrite(rewriter, packet(8, 123_459_789, ids={MID_URI: 4}), now=4 / 30 + 0.133)
    assert (out.sequence_number, out.timestamp) == (506, stamps[-1] + 12000)
    # a late packet of the new source from before the switch point is not sent
    assert rewrite(rewriter, packet(6, 123_453_789, ids={MID_URI: 4}), now=0.3) is None
    # a gap in the source stays a gap on the leg (the receiver NACKs it); reordering is kept
    assert rewrite(rewriter, packet(10, 123_465_789, ids={MID_URI: 4}), now=0.4).sequence_number == 508
    assert rewrite(rewriter, packet(9, 123_462_789, ids={MID_URI: 4}), now=0.4).sequence_number == 507
    assert rewriter.last_seq == 508 and rewriter.unrewrite_seq(507) == 9


def test_sequence_numbers_wrap_on_the_leg():
    rewriter = leg(first_seq=65535)
    outs = [rewrite(rewriter, packet(10 + i, 3000 * i), now=0).sequence_number for i in range(3)]
    assert outs == [65535, 0, 1]
    assert seq_newer(0, 65535) and not seq_newer(65535, 0)


def test_rtx_wrap_and_unwrap_round_trip():
    rewriter = leg()
    original = rewriter.rewrite(parse_header(packet(100, 3000, marker=1)), packet(100, 3000, marker=1), 0.0,
                                SEND_TIME)
    rtx = wrap_rtx(original, payload_type=112, sequence_number=42, ssrc=3333)
    h = parse_header(rtx)
    assert (h.payload_type, h.sequence_number, h.ssrc, h.marker, h.timestamp) == (112, 42, 3333, 1, 9000)
    osn, start = unwrap_rtx(rtx, h)
    assert osn == 500 and rtx[start:] == b"\x10\x00payload"
    assert dict(h.extensions()) == dict(parse_header(original).extensions())
    padding = RtpPacket(payload_type=112, sequence_number=1, timestamp=0, ssrc=3333)
    padding.padding_size = 224
    probe = padding.serialize()
    assert unwrap_rtx(probe, parse_header(probe)) is None  # a bandwidth probe, not a packet


def test_one_and_two_byte_extension_blocks():
    assert pack_extensions([]) == b""
    one = pack_extensions([(1, b"ab"), (14, b"x")])
    assert one[:2] == b"\xbe\xde" and len(one) % 4 == 0
    two = pack_extensions([(20, b"abc")])  # id > 14 needs the two-byte form (RFC 8285 4.3)
    assert two[:2] == b"\x10\x00"
    data = packet(1, 1, ids={}, level=None, mid="")
    head = data[:12]
    for block in (one, two):
        rebuilt = bytes([head[0] | 0x10]) + head[1:] + block + b"payload"
        h = parse_header(rebuilt)
        assert rebuilt[h.payload_start:] == b"payload"
        assert dict(h.extensions()) == ({1: b"ab", 14: b"x"} if block is one else {20: b"abc"})


def test_vp8_frame_and_keyframe_starts():
    from media.synthetic import encode_vp8_clip

    key, delta = encode_vp8_clip(frames=2, keyframe_interval=30)
    # descriptor: X=1, S=1, PID=0; I=1 with a 15-bit picture id
    descriptor = bytes([0x90, 0x80, 0x80, 0x01])
    assert starts_frame("VP8", descriptor + key) and starts_keyframe("VP8", descriptor + key)
    assert starts_frame("VP8", descriptor + delta) and not starts_keyframe("VP8", descriptor + delta)
    middle = bytes([0x80, 0x80, 0x80, 0x01])  # S=0: a continuation packet
    assert not starts_frame("VP8", middle + key) and not starts_keyframe("VP8", middle + key)
    assert starts_keyframe("VP8", b"\x10" + key)  # no extension byte
    # H.264: IDR NAL, STAP-A with an SPS, FU-A start of an IDR; a P slice is not a keyframe
    assert starts_keyframe("H264", b"\x65abc")
    assert starts_keyframe("H264", b"\x18\x00\x03\x67ab\x00\x02\x68a")
    assert starts_keyframe("H264", b"\x7c\x85rest") and not starts_frame("H264", b"\x7c\x05rest")
    assert not starts_keyframe("H264", b"\x41abc")
    assert starts_keyframe("opus", b"\x01")


def test_a_long_stream_keeps_flowing_past_half_the_sequence_space():
    rewriter = leg(first_seq=100)
    data = packet(0, 0)
    header = parse_header(data)
    outs = []
    for i in range(70_000):  # more than 2^16 packets of one source, wrapping twice
        header.sequence_number = i & 0xFFFF
        header.timestamp = (i * 300) & 0xFFFFFFFF
        out = rewriter.rewrite(header, data, i / 100, SEND_TIME)
        assert out is not None, i
        outs.append(parse_header(out).sequence_number)
    assert outs[-1] == (100 + 69_999) & 0xFFFF and outs[40_000] == (100 + 40_000) & 0xFFFF
