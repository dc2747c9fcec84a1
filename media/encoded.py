"""Encoded media frames as they travel through Silkline, and the sink interface.

The SFU hands every reassembled encoded frame (never a decoded picture) to its
subscribers and to any :class:`EncodedSink` (the recorder, a quality probe).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(slots=True)
class EncodedFrame:
    """One encoded audio or video frame, exactly as the publisher's encoder produced it."""

    kind: str  # "audio" | "video"
    codec: str  # "VP8", "H264", "opus", ...
    data: bytes
    timestamp: int  # RTP timestamp, in units of ``clock_rate``, from 0 for the stream
    clock_rate: int
    keyframe: bool
    received_at: float = field(default_factory=time.monotonic)


class EncodedSink(Protocol):
    """Receives encoded frames from a publisher; must return quickly (no I/O)."""

    def on_frame(self, frame: EncodedFrame) -> None: ...


def is_keyframe(codec: str, data: bytes) -> bool:
    """Tell whether ``data`` can be decoded without earlier frames.

    VP8: RFC 6386 section 9.1, the inverted key-frame bit is the first bit of the frame tag.
    H.264: an IDR slice (NAL type 5) or SPS (7) in the Annex-B stream.
    Audio frames always count as keyframes.
    """
    if not data:
        return False
    name = codec.upper()
    if name == "VP8":
        return (data[0] & 0x01) == 0
    if name == "H264":
        return _h264_has_idr(data)
    return True


def _h264_has_idr(data: bytes) -> bool:
    i = data.find(b"\x00\x00\x01")
    while i != -1 and i + 3 < len(data):
        nal_type = data[i + 3] & 0x1F
        if nal_type in (5, 7):
            return True
        i = data.find(b"\x00\x00\x01", i + 3)
    return False
