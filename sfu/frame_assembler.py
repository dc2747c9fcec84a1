"""FrameAssembler: encoded frames from a publisher's RTP packets, only for who needs frames.

The RTP forwarding path never reassembles frames. A recorder (``EncodedSink``) or a snapshot
does need them, so while one is attached the publisher also feeds its packets here. A video
frame is the packets of one timestamp from the one that starts it (VP8: S bit with partition
index 0, RFC 7741; H.264: a single NAL unit or an FU-A start, RFC 6184) to the marker bit, with
no sequence number missing; a frame still incomplete when a later one completes is dropped,
never handed on. An audio packet is a frame.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiortc import RTCRtpCodecParameters
from aiortc.codecs import depayload

from media.encoded import EncodedFrame, is_keyframe
from sfu.rtp_header import RtpHeader, starts_frame, vp8_descriptor

MAX_PENDING = 4  # timestamps being assembled at once (reordering across frames)


class FrameAssembler:
    def __init__(self, kind: str, codec: RTCRtpCodecParameters, on_frame: Callable[[EncodedFrame], None]) -> None:
        self.kind = kind
        self.codec = codec
        self.name = codec.name  # "VP8", "H264", "opus", as the frame path names them
        self._upper = self.name.upper()
        self.clock_rate = codec.clockRate
        self.on_frame = on_frame
        self._origin: int | None = None
        self._last_emitted: int | None = None  # timestamp of the last frame handed on
        self._pending: dict[int, dict[int, tuple[bytes, bool, int]]] = {}
        self.frames = 0
        self.incomplete = 0

    def add(self, header: RtpHeader, data: bytes) -> None:
        end = len(data) - (data[-1] if header.first_byte & 0x20 else 0)
        payload = data[header.payload_start:end]
        if not payload:
            return
        if self._origin is None:
            self._origin = header.timestamp
        if self.kind == "audio":
            self._emit(header.timestamp, payload)
            return
        ts = header.timestamp
        if self._last_emitted is not None and ((ts - self._last_emitted) & 0xFFFFFFFF) >= 0x80000000:
            return  # a packet of a frame already handed on or given up (late, retransmitted)
        packets = self._pending.get(ts)
        if packets is None:
            if len(self._pending) >= MAX_PENDING:
                self._pending.pop(next(iter(self._pending)))
                self.incomplete += 1
            packets = self._pending[ts] = {}
        packets[header.sequence_number] = (payload, starts_frame(self._upper, payload), header.marker)
        self._try_complete(ts, packets)

    def _try_complete(self, ts: int, packets: dict[int, tuple[bytes, bool, int]]) -> None:
        start = next((s for s, p in packets.items() if p[1]), None)
        last = next((s for s, p in packets.items() if p[2]), None)
        if start is None or last is None:
            return
        count = ((last - start) & 0xFFFF) + 1
        if count > len(packets) or count > 2048:
            return
        parts = []
        for i in range(count):
            item = packets.get((start + i) & 0xFFFF)
            if item is None:
                return
            parts.append(item[0])
        for older in [t for t in self._pending if ((t - ts) & 0xFFFFFFFF) >= 0x80000000]:
            del self._pending[older]  # never completed: dropped, not forwarded
            self.incomplete += 1
        del self._pending[ts]
        if self._upper == "VP8":
            data = b"".join(p[vp8_descriptor(p)[1]:] for p in parts)
        else:
            data = b"".join(depayload(self.codec, p) for p in parts)
        self._emit(ts, data)

    def _emit(self, ts: int, data: bytes) -> None:
        self._last_emitted = ts
        self.frames += 1
        self.on_frame(EncodedFrame(
            kind=self.kind, codec=self.name, data=data,
            timestamp=(ts - (self._origin or 0)) & 0xFFFFFFFF, clock_rate=self.clock_rate,
            keyframe=is_keyframe(self.name, data), received_at=time.monotonic()))
