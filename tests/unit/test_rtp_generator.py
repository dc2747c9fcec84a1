"""The load generator's raw RTP: the packetizer (RFC 7741 VP8, Opus) and the receive counter."""

from __future__ import annotations

import itertools
import random
import struct

import pytest

from load_tests.rtp_clip import (
    URI_ABS_SEND_TIME,
    URI_AUDIO_LEVEL,
    URI_MID,
    PacketizedClip,
    RtpStream,
    packetize_vp8,
)
from load_tests.rtp_counter import (
    StreamCounter,
    Vp8FrameAssembler,
    fields,
    payload_bounds,
    vp8_descriptor_length,
)

KEY = b"\x10\x02\x00\x9d\x01\x2a"  # a VP8 keyframe tag (bit 0 clear) + start code
DELTA = b"\x31\x02\x00"  # an interframe tag (bit 0 set)


def _clip(sizes: list[int], keyframes: set[int]) -> PacketizedClip:
    frames = []
    for i, size in enumerate(sizes):
        head = KEY if i in keyframes else DELTA
        frames.append(head + bytes([i]) * (size - len(head)))
    return PacketizedClip("video", frames)


def test_vp8_descriptor_sets_s_on_the_first_packet_only_and_pid_zero() -> None:
    frame = bytes(range(256)) * 12  # 3072 bytes: three packets
    payloads = packetize_vp8(frame, max_payload=1200)
    assert len(payloads) == 3
    assert [p[0] for p in payloads] == [0x10, 0x00, 0x00]  # X=0, N=0, S on the first, PID=0
    assert all(len(p) <= 1200 for p in payloads)
    assert b"".join(p[1:] for p in payloads) == frame  # nothing lost or reordered
    assert max(map(len, payloads)) - min(map(len, payloads)) <= 1  # equal shares
    assert packetize_vp8(b"\x00" * 10) == (b"\x10" + b"\x00" * 10,)


def test_marker_on_the_last_packet_of_each_frame_and_fields_as_negotiated() -> None:
    clip = _clip([2500, 300], {0})
    exts = {URI_MID: 4, URI_ABS_SEND_TIME: 3}
    stream = RtpStream(clip, payload_type=97, ssrc=0xCAFE, step=3000, extensions=exts, mid="1",
                       rng=random.Random(1))
    index, ts, packets = stream.next_frame(b"\x01\x02\x03")
    assert index == 0 and len(packets) == 3
    for n, packet in enumerate(packets):
        assert packet[0] >> 6 == 2 and packet[0] & 0x10  # version 2, extension present
        assert packet[1] & 0x7F == 97
        assert bool(packet[1] & 0x80) == (n == 2)  # marker on the frame's last packet
        _seq, timestamp, ssrc = fields(packet)
        assert ssrc == 0xCAFE and timestamp == ts
        start, end = payload_bounds(packet)
        # RFC 8285 one-byte header: abs-send-time (id 3, 3 bytes), then mid (id 4, "1")
        assert packet[12:14] == b"\xbe\xde"
        assert packet[16:20] == b"\x32\x01\x02\x03" and packet[20:22] == b"\x401"
        assert (start - 16) % 4 == 0 and packet[start] == (0x10 if n == 0 else 0)
    audio = PacketizedClip("audio", [b"opus-a", b"opus-b"])
    voice = RtpStream(audio, 111, 7, 960, {URI_MID: 1, URI_AUDIO_LEVEL: 2}, mid="0")
    _, _, (packet,) = voice.next_frame()
    assert not packet[1] & 0x80  # Opus: one packet per frame, no marker
    start, end = payload_bounds(packet)
    assert packet[start:end] == b"opus-a"
    assert packet[16:18] == b"\x100" and packet[18:20] == b"\x20\x9e"  # mid "0", audio level -30 dBov


def test_sequence_numbers_and_timestamps_continue_across_clip_loops() -> None:
    clip = _clip([1500, 200, 2600], {0})
    stream = RtpStream(clip, 96, 1, 3000, rng=random.Random(7))
    stream.seq = 0xFFFE  # wraps during the first frame
    stream.timestamp = 0xFFFFFFFF - 3000  # wraps at the second frame
    seqs, stamps, indices = [], [], []
    for _ in range(7):  # more than two loops of the clip
        index, ts, packets = stream.next_frame()
        indices.append(index)
        stamps.append(ts)
        seqs += [fields(p)[0] for p in packets]
    assert indices == [0, 1, 2, 0, 1, 2, 0]
    assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))
    assert all((b - a) & 0xFFFFFFFF == 3000 for a, b in itertools.pairwise(stamps))
    assert stream.packets == len(seqs) and stream.frames == 7
    first_seq = fields(RtpStream(clip, 96, 1, 3000).next_frame()[2][0])
    assert first_seq[0] < 0x8000  # starts below 2^15, as libwebrtc


def test_a_keyframe_request_sends_the_next_keyframe_early_without_a_timestamp_jump() -> None:
    clip = _clip([100] * 6, {0, 3})
    stream = RtpStream(clip, 96, 1, 3000)
    first = stream.next_frame()
    stream.request_keyframe()
    second = stream.next_frame()
    assert (first[0], second[0]) == (0, 3)
    assert (second[1] - first[1]) & 0xFFFFFFFF == 3000
    assert stream.next_frame()[0] == 4
    stream.index = 5
    stream.request_keyframe()
    assert stream.next_frame()[0] == 0  # past the last keyframe: wraps to the clip's first


def test_a_video_clip_without_keyframe_is_refused() -> None:
    with pytest.raises(ValueError):
        PacketizedClip("video", [DELTA])


def test_loss_from_sequence_gaps_including_wraparound() -> None:
    counter = StreamCounter(90000)
    for seq in [65530, 65531, 65533, 65534, 65535, 0, 1, 3, 4]:  # 65532 and 2 lost, across a wrap
        counter.add(seq, 0, 0.0, 100)
    assert counter.packets == 9 and counter.bytes == 900
    assert counter.expected == 11 and counter.lost == 2
    counter.add(2, 0, 0.0, 100)  # late: fills the gap, does not move the range
    assert counter.expected == 11 and counter.lost == 1
    counter.add(4, 0, 0.0, 100)  # duplicate
    assert counter.lost == 0
    many = StreamCounter(48000)
    for n in range(3 * 65536 + 10):  # three wraps
        if n % 1000 != 999:
            many.add(n & 0xFFFF, 0, 0.0, 1)
    assert many.expected == 3 * 65536 + 10 and many.lost == (3 * 65536 + 10) // 1000


def test_jitter_is_zero_for_a_steady_stream_and_grows_with_variation() -> None:
    steady, wobbly = StreamCounter(90000), StreamCounter(90000)
    for n in range(100):
        steady.add(n, n * 3000, n / 30, 1)
        wobbly.add(n, n * 3000, n / 30 + (0.01 if n % 2 else 0.0), 1)
    assert steady.jitter_ms() == pytest.approx(0.0, abs=1e-6)
    assert 5 < wobbly.jitter_ms() < 11  # ~10 ms alternating offsets


def _packet(seq: int, ts: int, marker: bool, payload: bytes) -> bytes:
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | 96, seq, ts, 5) + payload


def test_frames_join_at_the_marker_and_incomplete_frames_are_dropped() -> None:
    assembler = Vp8FrameAssembler()

    def add(seq: int, ts: int, marker: bool, payload: bytes) -> bytes | None:
        data = _packet(seq, ts, marker, payload)
        start, end = payload_bounds(data)
        return assembler.add(data, seq, ts, marker, start, end)

    assert add(10, 3000, False, b"\x10ab") is None
    assert add(11, 3000, True, b"\x00cd") == b"abcd"
    # a descriptor with a 15-bit picture id (X, I, M) is skipped as well
    assert vp8_descriptor_length(b"\x90\x80\x81\x23", 0) == 4
    assert add(12, 6000, True, b"\x90\x80\x81\x23ef") == b"ef"
    # a gap inside a frame: dropped
    assert add(13, 9000, False, b"\x10gh") is None
    assert add(15, 9000, True, b"\x00kl") is None
    # a frame whose first packet (S=1) was lost: dropped
    assert add(17, 12000, True, b"\x00mn") is None
    # a frame whose marker was lost: dropped when the next one starts
    assert add(18, 15000, False, b"\x10op") is None
    assert add(19, 18000, True, b"\x10qr") == b"qr"
    assert assembler.incomplete == 3
