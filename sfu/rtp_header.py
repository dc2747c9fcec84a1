"""RTP header reading and per-leg rewriting, on bytes (RFC 3550 section 5.1, RFC 8285).

The RTP forwarding path never builds aiortc ``RtpPacket`` objects: it reads the few header
fields routing needs, and for each subscriber leg writes a new header (SSRC, sequence number,
timestamp, payload type, header-extension ids as negotiated on that leg) in front of the
publisher's untouched payload. Also: RTX wrapping (RFC 4588) and the codec checks the leg
needs (does this packet start a keyframe? does it start a frame?).
"""

from __future__ import annotations

import random
import struct

_FIXED = struct.Struct("!BBHII")
_OSN = struct.Struct("!H")
_EXT_HEAD = struct.Struct("!HH")
ONE_BYTE_PROFILE = 0xBEDE

MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900 (NTP) to 1970 (Unix)


class RtpHeader:
    """What routing needs from one RTP packet; ``payload_start`` indexes the packet bytes.

    The extension elements are read only when asked for (:meth:`extensions`): a leg that
    rewrites every extension it sends (video: MID, abs-send-time) never needs them.
    """

    __slots__ = ("_elements", "csrc", "ext_block", "ext_profile", "first_byte", "marker",
                 "payload_start", "payload_type", "sequence_number", "ssrc", "timestamp")

    def __init__(self, marker: int, payload_type: int, sequence_number: int, timestamp: int, ssrc: int,
                 first_byte: int, csrc: bytes, ext_profile: int, ext_block: bytes, payload_start: int) -> None:
        self.marker = marker
        self.payload_type = payload_type
        self.sequence_number = sequence_number
        self.timestamp = timestamp
        self.ssrc = ssrc
        self.first_byte = first_byte  # V, P, X, CC as received
        self.csrc = csrc
        self.ext_profile = ext_profile
        self.ext_block = ext_block
        self.payload_start = payload_start
        self._elements: list[tuple[int, bytes]] | None = None

    def extensions(self) -> list[tuple[int, bytes]]:
        """(id, value) of each header extension element (RFC 8285)."""
        if self._elements is None:
            self._elements = _read_extensions(self.ext_profile, self.ext_block) if self.ext_block else []
        return self._elements


def parse_header(data: bytes) -> RtpHeader:
    """Read an RTP header; ValueError when it is not one."""
    if len(data) < 12:
        raise ValueError("RTP packet shorter than its fixed header")
    b0, b1, seq, ts, ssrc = _FIXED.unpack_from(data)
    if b0 >> 6 != 2:
        raise ValueError("not RTP version 2")
    pos = 12
    csrc = b""
    if b0 & 0x0F:
        pos += 4 * (b0 & 0x0F)
        csrc = data[12:pos]
    profile = 0
    block = b""
    if b0 & 0x10:
        profile, words = _EXT_HEAD.unpack_from(data, pos)
        end = pos + 4 + 4 * words
        if end > len(data):
            raise ValueError("RTP extension truncated")
        block = data[pos + 4:end]
        pos = end
    if pos > len(data):
        raise ValueError("RTP header truncated")
    return RtpHeader(b1 >> 7, b1 & 0x7F, seq, ts, ssrc, b0, csrc, profile, block, pos)


def _read_extensions(profile: int, block: bytes) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    i, n = 0, len(block)
    if profile == ONE_BYTE_PROFILE:
        while i < n:
            byte = block[i]
            if byte == 0:  # padding
                i += 1
                continue
            ext_id, length = byte >> 4, (byte & 0x0F) + 1
            if ext_id == 15:
                break
            out.append((ext_id, block[i + 1:i + 1 + length]))
            i += 1 + length
    elif profile & 0xFFF0 == 0x1000:  # two-byte header
        while i + 1 < n:
            ext_id = block[i]
            if ext_id == 0:
                i += 1
                continue
            length = block[i + 1]
            out.append((ext_id, block[i + 2:i + 2 + length]))
            i += 2 + length
    return out


def pack_extensions(elements: list[tuple[int, bytes]]) -> bytes:
    """The extension block (profile, length, elements, padding); empty when no elements."""
    if not elements:
        return b""
    if all(0 < i < 15 and 0 < len(v) <= 16 for i, v in elements):
        profile = ONE_BYTE_PROFILE
        body = b"".join(bytes(((i << 4) | (len(v) - 1),)) + v for i, v in elements)
    else:
        profile = 0x1000
        body = b"".join(bytes((i, len(v))) + v for i, v in elements)
    body += b"\x00" * (-len(body) % 4)
    return struct.pack("!HH", profile, len(body) // 4) + body


def abs_send_time(wall: float) -> bytes:
    """abs-send-time: 6.18 fixed-point NTP seconds, 24 bits (webrtc.org experiment)."""
    value = int((wall + NTP_EPOCH_OFFSET) * 262144) & 0xFFFFFF
    return value.to_bytes(3, "big")


def seq_newer(a: int, b: int) -> bool:
    """True when 16-bit sequence number ``a`` comes after ``b`` (RFC 1982 arithmetic)."""
    return a != b and ((a - b) & 0xFFFF) < 0x8000


class ExtensionPlan:
    """How one publisher leg's header extensions become one subscriber leg's.

    Matched by URI: an extension the subscriber leg did not negotiate is dropped; ``mid``
    carries the subscriber leg's own MID (browsers demultiplex a BUNDLE by it); abs-send-time
    is restamped with the node's send time (it feeds the receiver's bandwidth estimate).
    Compiled once per (publisher, leg): the MID element is pre-packed, and when nothing is
    copied from the packet (aiortc's video: MID and abs-send-time only) the block is built
    without reading the packet's extensions at all.
    """

    __slots__ = ("_abs_head", "_copy", "_fixed", "_mid", "_one_byte")

    def __init__(self, source: dict[int, str], target: dict[str, int], mid: str | None) -> None:
        self._copy: dict[int, int] = {}
        for ext_id, uri in source.items():
            if uri not in (MID_URI, ABS_SEND_TIME_URI) and uri in target:
                self._copy[ext_id] = target[uri]
        abs_id = target.get(ABS_SEND_TIME_URI)
        mid_id = target.get(MID_URI) if mid else None
        mid_value = (mid or "").encode()
        ids = [i for i in (abs_id, mid_id, *self._copy.values()) if i is not None]
        self._one_byte = all(0 < i < 15 for i in ids) and len(mid_value) <= 16
        self._mid = b""
        if mid_id is not None:
            self._mid = (bytes(((mid_id << 4) | (len(mid_value) - 1),)) if self._one_byte
                         else bytes((mid_id, len(mid_value)))) + mid_value
        self._abs_head: bytes | None = None
        if abs_id is not None:
            self._abs_head = bytes(((abs_id << 4) | 2,)) if self._one_byte else bytes((abs_id, 3))
        self._fixed: bytes | None = None
        if not self._copy and self._abs_head is None:
            self._fixed = _finish(self._mid, self._one_byte)

    def block(self, header: RtpHeader, send_time: bytes) -> bytes:
        if self._fixed is not None:
            return self._fixed
        body = self._mid
        if self._abs_head is not None:
            body += self._abs_head + send_time
        if self._copy:
            copy = self._copy
            one = self._one_byte
            for ext_id, value in header.extensions():
                target = copy.get(ext_id)
                if target is not None and value:
                    if one and len(value) <= 16:
                        body += bytes(((target << 4) | (len(value) - 1),)) + value
                    elif not one:
                        body += bytes((target, len(value))) + value
        return _finish(body, self._one_byte)


def _finish(body: bytes, one_byte: bool) -> bytes:
    """Profile, length and padding around extension elements (RFC 8285 4.2, 4.3)."""
    if not body:
        return b""
    body += b"\x00" * (-len(body) % 4)
    return (b"\xbe\xde" if one_byte else b"\x10\x00") + (len(body) // 4).to_bytes(2, "big") + body


class HeaderRewriter:
    """One subscriber leg's numbering: its SSRC and payload type, and sequence numbers and
    timestamps that run on without a jump when the leg switches publisher (a reconnect, a
    transfer), so the receiver's jitter buffer and decoder never see a discontinuity.

    ``rebind()`` marks a switch; the next packet given to ``rewrite()`` fixes the new offsets.
    Packets of the new source older than that first one are dropped (they would land before
    the switch on this leg).
    """

    __slots__ = (
        "_first_seq",
        "_guard",
        "_seq_offset",
        "_switching",
        "clock_rate",
        "last_seq",
        "last_time",
        "last_ts",
        "out_seq",
        "payload_type",
        "plan",
        "ssrc",
        "ts_offset",
    )

    def __init__(self, ssrc: int, payload_type: int, clock_rate: int,
                 first_seq: int | None = None, first_ts: int | None = None) -> None:
        self.ssrc = ssrc
        self.payload_type = payload_type
        self.clock_rate = clock_rate
        self.plan: ExtensionPlan | None = None
        # like aiortc's senders: a random start below 2^15 (no early ROC wrap), random timestamp
        self.last_seq = (random.getrandbits(15) if first_seq is None else first_seq - 1) & 0xFFFF
        self.last_ts = (random.getrandbits(32) if first_ts is None else first_ts) & 0xFFFFFFFF
        self.last_time: float | None = None
        self.out_seq = self.last_seq  # the sequence number of the packet last rewritten
        self._seq_offset = 0
        self.ts_offset = 0
        self._first_seq = 0
        self._guard = False
        self._switching = True

    def rebind(self, plan: ExtensionPlan | None) -> None:
        self.plan = plan
        self._switching = True

    def rewrite(self, header: RtpHeader, data: bytes, now: float, send_time: bytes) -> bytes | None:
        """This leg's copy of the packet (unprotected), or None when it must not be sent."""
        seq = header.sequence_number
        if self._switching:
            self._switching = False
            self._guard = True
            self._first_seq = seq
            self._seq_offset = (self.last_seq + 1 - seq) & 0xFFFF
            step = 0 if self.last_time is None else max(1, int((now - self.last_time) * self.clock_rate))
            self.ts_offset = (self.last_ts + step - header.timestamp) & 0xFFFFFFFF
        elif self._guard:
            ahead = (seq - self._first_seq) & 0xFFFF
            if ahead >= 0x8000:
                return None  # from before the switch
            if ahead > 0x4000:
                self._guard = False  # far past the switch: nothing from before it can come now
        out_seq = self.out_seq = (seq + self._seq_offset) & 0xFFFF
        out_ts = (header.timestamp + self.ts_offset) & 0xFFFFFFFF
        if 0 < ((out_seq - self.last_seq) & 0xFFFF) < 0x8000:  # newer than the last (RFC 1982)
            self.last_seq = out_seq
            self.last_ts = out_ts
            self.last_time = now
        plan = self.plan
        ext = plan.block(header, send_time) if plan is not None else b""
        fixed = _FIXED.pack((header.first_byte & 0xEF) | (0x10 if ext else 0),
                            (header.marker << 7) | self.payload_type, out_seq, out_ts, self.ssrc)
        return b"".join((fixed, header.csrc, ext, data[header.payload_start:]))

    def unrewrite_seq(self, out_seq: int) -> int:
        """The publisher's sequence number for one of ours (to forward a NACK upstream)."""
        return (out_seq - self._seq_offset) & 0xFFFF


def wrap_rtx(packet: bytes, payload_type: int, sequence_number: int, ssrc: int) -> bytes:
    """The RFC 4588 retransmission of one of our packets: RTX payload type, sequence number
    and SSRC, the original sequence number (OSN) before the original payload."""
    header = parse_header(packet)
    first = header.first_byte
    fixed = _FIXED.pack(first, (header.marker << 7) | payload_type, sequence_number,
                        header.timestamp, ssrc)
    ext_end = header.payload_start
    return b"".join((fixed, packet[12:ext_end], _OSN.pack(header.sequence_number),
                     packet[ext_end:]))


def unwrap_rtx(data: bytes, header: RtpHeader) -> tuple[int, int] | None:
    """The OSN and where the original payload starts in an RTX packet; None for padding
    (Chrome probes bandwidth with RTX padding packets) or a truncated one."""
    end = len(data)
    if header.first_byte & 0x20:
        end -= data[-1]
    if end - header.payload_start < 2:
        return None
    return _OSN.unpack_from(data, header.payload_start)[0], header.payload_start + 2


# -- codec checks on the payload ---------------------------------------------------------------

def vp8_descriptor(payload: bytes, start: int = 0) -> tuple[bool, int]:
    """(frame start: S bit set and partition index 0, offset of the VP8 payload) — RFC 7741 4.2."""
    n = len(payload)
    if n <= start:
        return False, n
    b = payload[start]
    pos = start + 1
    if b & 0x80 and pos < n:  # X: extension byte follows
        x = payload[pos]
        pos += 1
        if x & 0x80 and pos < n:  # I: picture id, 7 or 15 bits
            pos += 2 if payload[pos] & 0x80 else 1
        if x & 0x40:  # L: TL0PICIDX
            pos += 1
        if x & 0x30:  # T or K: TID/Y/KEYIDX
            pos += 1
    return bool(b & 0x10) and (b & 0x07) == 0, pos


def starts_frame(codec: str, payload: bytes, start: int = 0) -> bool:
    """Does this packet's payload begin a frame?"""
    if codec == "VP8":
        return vp8_descriptor(payload, start)[0]
    if codec == "H264":
        if len(payload) <= start:
            return False
        nal = payload[start] & 0x1F
        if nal == 28:  # FU-A: its start bit
            return len(payload) > start + 1 and bool(payload[start + 1] & 0x80)
        return True
    return True


def starts_keyframe(codec: str, payload: bytes, start: int = 0) -> bool:
    """Does this packet begin a frame that decodes on its own (VP8 keyframe, H.264 IDR/SPS)?"""
    if codec == "VP8":
        first, pos = vp8_descriptor(payload, start)
        return first and pos < len(payload) and (payload[pos] & 0x01) == 0
    if codec == "H264":
        if len(payload) <= start:
            return False
        nal = payload[start] & 0x1F
        if nal in (5, 7):
            return True
        if nal == 24:  # STAP-A: aggregated NAL units, each with a 16-bit size
            pos = start + 1
            while pos + 2 < len(payload):
                size = (payload[pos] << 8) | payload[pos + 1]
                if payload[pos + 2] & 0x1F in (5, 7):
                    return True
                pos += 2 + size
            return False
        if nal == 28 and len(payload) > start + 1:  # FU-A start of an IDR
            fu = payload[start + 1]
            return bool(fu & 0x80) and (fu & 0x1F) == 5
        return False
    return True
