"""Counting received RTP without aiortc: header fields, loss per SSRC, jitter, VP8 frames.

Everything here runs once per received packet in the generator's datagram callback, so it
parses only what it counts (RFC 3550 5.1 fixed header, CSRCs and the extension's length) and
allocates little: one slice per VP8 payload, one join per completed frame.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

_FIELDS = struct.Struct("!HII").unpack_from  # sequence number, timestamp, SSRC at offset 2


def payload_bounds(data: bytes) -> tuple[int, int]:
    """``(start, end)`` of the payload: after CSRCs and the header extension, before padding."""
    first = data[0]
    start = 12 + 4 * (first & 0x0F)
    if first & 0x10:  # extension: 4-byte header + length in 32-bit words (RFC 3550 5.3.1)
        start += 4 + 4 * ((data[start + 2] << 8) | data[start + 3])
    end = len(data) - (data[-1] if first & 0x20 else 0)
    return start, end


def fields(data: bytes) -> tuple[int, int, int]:
    """``(sequence number, timestamp, ssrc)``."""
    return _FIELDS(data, 2)


@dataclass
class StreamCounter:
    """One received SSRC (RFC 3550 A.1 and A.8): packets, bytes, loss from the extended
    sequence numbers (wraparound counted as a cycle), interarrival jitter in RTP units."""

    clock_rate: int
    packets: int = 0
    bytes: int = 0
    base: int = -1  # extended sequence number of the first packet
    highest: int = -1  # highest extended sequence number seen
    jitter: float = 0.0
    _transit: float | None = None

    def add(self, seq: int, timestamp: int, arrival: float, size: int) -> None:
        self.packets += 1
        self.bytes += size
        if self.base < 0:
            self.base = self.highest = seq
        else:
            delta = (seq - self.highest) & 0xFFFF
            if 0 < delta < 0x8000:  # ahead (maybe across a wrap): the stream moved on
                self.highest += delta
            # else a duplicate or a late (reordered) packet: counted, the range stays
        transit = arrival * self.clock_rate - timestamp
        if self._transit is not None:
            d = abs(transit - self._transit)
            if d < 0x80000000:  # not a timestamp jump (a new source after a rebind)
                self.jitter += (d - self.jitter) / 16
        self._transit = transit

    @property
    def expected(self) -> int:
        return 0 if self.base < 0 else self.highest - self.base + 1

    @property
    def lost(self) -> int:
        return max(0, self.expected - self.packets)

    def jitter_ms(self) -> float:
        return self.jitter * 1000 / self.clock_rate


def vp8_descriptor_length(data: bytes, start: int) -> int:
    """Bytes of the VP8 payload descriptor at ``start`` (RFC 7741 4.2)."""
    first = data[start]
    if not first & 0x80:
        return 1
    ext = data[start + 1]
    length = 2
    if ext & 0x80:  # I: picture id, 7 or 15 bits (M)
        length += 2 if data[start + length] & 0x80 else 1
    if ext & 0x40:  # L: TL0PICIDX
        length += 1
    if ext & 0x30:  # T or K: TID/Y/KEYIDX
        length += 1
    return length


class Vp8FrameAssembler:
    """Joins the payloads of one VP8 frame: it starts at a packet with S=1 and PID=0 and ends at
    the marker bit; a frame with a gap in its sequence numbers, or whose start was not seen, is
    dropped (counted in ``incomplete``), never handed on."""

    def __init__(self) -> None:
        self._timestamp: int | None = None
        self._parts: list[bytes] = []
        self._next_seq = 0
        self._whole = False
        self.incomplete = 0

    def add(self, data: bytes, seq: int, timestamp: int, marker: bool, start: int, end: int) -> bytes | None:
        """The whole frame when this packet completes one, else None."""
        offset = start + vp8_descriptor_length(data, start)
        if timestamp != self._timestamp:
            if self._timestamp is not None:
                self.incomplete += 1  # the previous frame never saw its marker
            self._timestamp = timestamp
            self._parts = []
            self._whole = (data[start] & 0x17) == 0x10  # S=1, PID=0
        elif seq != self._next_seq:
            self._whole = False
        self._next_seq = (seq + 1) & 0xFFFF
        self._parts.append(data[offset:end])
        if not marker:
            return None
        self._timestamp = None
        if not self._whole:
            self.incomplete += 1
            return None
        return b"".join(self._parts)
