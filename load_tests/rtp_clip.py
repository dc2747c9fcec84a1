"""The looped clips as RTP: packetized once per process, then sent by patching a few fields.

A clip frame becomes its payloads once (:class:`PacketizedClip`); each peer's outgoing stream
(:class:`RtpStream`) owns only what differs per stream — payload type, SSRC, header-extension
ids and the running sequence number and timestamp — and builds each packet as one join of a
12-byte header, the extension block and the pre-built payload.

VP8 (RFC 7741 4.2): a one-byte payload descriptor: X=0 (no picture id, as the SFU does not need
one), N=0, S=1 on the first packet of a frame only, PID=0 (the whole frame is one partition);
the marker bit is set on the last packet of a frame (RFC 7741 4.1). A frame is split into equal
parts of at most :data:`MAX_PAYLOAD` bytes, as libwebrtc does. Opus (RFC 7587): one packet per
20 ms frame, no marker.
"""

from __future__ import annotations

import random
import struct
import time
from dataclasses import dataclass

from media.encoded import is_keyframe

MAX_PAYLOAD = 1200  # RTP payload bytes, descriptor included: fits 1500-byte MTU with SRTP + exts
NTP_OFFSET = 2208988800  # seconds from 1900 (NTP) to 1970 (Unix)

URI_MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
URI_ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
URI_AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
AUDIO_LEVEL = 0x80 | 30  # voice activity, -30 dBov (RFC 6464): constant for the looped tone

_HEADER = struct.Struct("!BBHII")


def packetize_vp8(frame: bytes, max_payload: int = MAX_PAYLOAD) -> tuple[bytes, ...]:
    """One VP8 frame → RTP payloads, each a one-byte descriptor + an equal share of the frame."""
    room = max_payload - 1
    count = max(1, -(-len(frame) // room))
    size = -(-len(frame) // count) if frame else 0
    return tuple((b"\x10" if i == 0 else b"\x00") + frame[i * size:(i + 1) * size] for i in range(count))


@dataclass(frozen=True)
class ClipFrame:
    payloads: tuple[bytes, ...]
    keyframe: bool
    octets: int  # payload bytes (what an RTCP SR counts)


class PacketizedClip:
    """One encoded clip as RTP payloads, built once and shared by every stream of a process."""

    def __init__(self, kind: str, frames: list[bytes]) -> None:
        if not frames:
            raise ValueError("empty clip")
        self.kind = kind
        out = []
        for data in frames:
            payloads = packetize_vp8(data) if kind == "video" else (data,)
            out.append(ClipFrame(payloads, kind == "video" and is_keyframe("VP8", data),
                                 sum(map(len, payloads))))
        self.frames = out
        self.keyframes = [i for i, f in enumerate(out) if f.keyframe]
        if kind == "video" and not self.keyframes:
            raise ValueError("a video clip needs a keyframe")

    def __len__(self) -> int:
        return len(self.frames)

    def next_keyframe(self, index: int) -> int:
        """The first keyframe at or after ``index`` (wrapping to the clip's start)."""
        for k in self.keyframes:
            if k >= index:
                return k
        return self.keyframes[0]


def abs_send_time(now: float | None = None) -> bytes:
    """The abs-send-time extension's 3 bytes: NTP seconds, 6.18 fixed point, 24 bits."""
    now = time.time() if now is None else now
    return (int((now + NTP_OFFSET) * (1 << 18)) & 0xFFFFFF).to_bytes(3, "big")


def ntp_timestamp(now: float) -> int:
    """64-bit NTP timestamp of a ``time.time()`` value (for RTCP sender reports)."""
    return int((now + NTP_OFFSET) * (1 << 32)) & 0xFFFFFFFFFFFFFFFF


def _element(ext_id: int, data: bytes) -> bytes:
    return bytes([(ext_id << 4) | (len(data) - 1)]) + data  # RFC 8285 one-byte element


class RtpStream:
    """One outgoing RTP stream of one peer: the clip looped, sequence numbers and timestamps
    continuous across loops and keyframe jumps."""

    def __init__(self, clip: PacketizedClip, payload_type: int, ssrc: int, step: int,
                 extensions: dict[str, int] | None = None, mid: str | None = None,
                 rng: random.Random | None = None) -> None:
        rng = rng or random.Random()
        self.clip = clip
        self.payload_type = payload_type
        self.ssrc = ssrc
        self.step = step  # RTP ticks per clip frame
        self.seq = rng.randrange(1 << 15)  # below 2^15, as libwebrtc (an early SRTP rollover breaks)
        self.timestamp = rng.randrange(1 << 32)
        self.index = 0  # the clip frame sent next
        self.frames = 0  # frames sent
        self.packets = 0
        self.octets = 0
        self.keyframe_wanted = False
        extensions = extensions or {}
        static = b""
        if mid is not None and URI_MID in extensions:
            static += _element(extensions[URI_MID], mid.encode())
        if clip.kind == "audio" and URI_AUDIO_LEVEL in extensions:
            static += _element(extensions[URI_AUDIO_LEVEL], bytes([AUDIO_LEVEL]))
        self._abs_id = extensions.get(URI_ABS_SEND_TIME)
        variable = 4 if self._abs_id is not None else 0
        body = variable + len(static)
        if body:
            pad = -body % 4
            self._ext_head = b"\xbe\xde" + ((body + pad) // 4).to_bytes(2, "big")
            if self._abs_id is not None:
                self._ext_head += bytes([(self._abs_id << 4) | 2])
            self._ext_tail = static + b"\x00" * pad
            self._first_byte = 0x90  # V=2, X=1
        else:
            self._ext_head = self._ext_tail = b""
            self._first_byte = 0x80

    def request_keyframe(self) -> None:
        """Send the next keyframe of the clip early (an answer to PLI/FIR, RFC 4585 / 5104)."""
        self.keyframe_wanted = True

    def next_frame(self, abs_time: bytes = b"\x00\x00\x00") -> tuple[int, int, list[bytes]]:
        """``(clip index, RTP timestamp, packets)`` of the next frame, and advance."""
        if self.keyframe_wanted:
            self.keyframe_wanted = False
            self.index = self.clip.next_keyframe(self.index)
        index = self.index
        frame = self.clip.frames[index]
        ts = self.timestamp
        first, pt, ssrc = self._first_byte, self.payload_type, self.ssrc
        head, tail = self._ext_head, self._ext_tail
        if self._abs_id is None:
            abs_time = b""
        seq = self.seq
        last = len(frame.payloads) - 1
        pack = _HEADER.pack
        packets = []
        for i, payload in enumerate(frame.payloads):
            marker = 0x80 if i == last and self.clip.kind == "video" else 0
            packets.append(b"".join((pack(first, marker | pt, seq, ts, ssrc), head, abs_time, tail, payload)))
            seq = (seq + 1) & 0xFFFF
        self.seq = seq
        self.timestamp = (ts + self.step) & 0xFFFFFFFF
        self.index = (index + 1) % len(self.clip)
        self.frames += 1
        self.packets += len(packets)
        self.octets += frame.octets
        return index, ts, packets
