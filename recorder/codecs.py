"""What the recorder needs to know about the codecs it stores without decoding.

Each encoded track goes into its own Matroska file: WebM (a Matroska subset browsers play)
for VP8 / VP9 / Opus, plain Matroska for H.264. The container needs a few facts that only the
bitstream knows (a VP8 keyframe's picture size, an Opus packet's duration); they are read here
from the bytes, cheaply, without a decoder.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ContainerChoice:
    format: str  # FFmpeg muxer name
    extension: str
    codec: str  # FFmpeg codec name given to the muxer
    needs_encoder_header: bool = False  # Opus: let libopus write the OpusHead CodecPrivate


_CHOICES = {
    "VP8": ContainerChoice("webm", "webm", "vp8"),
    "VP9": ContainerChoice("webm", "webm", "vp9"),
    "OPUS": ContainerChoice("webm", "webm", "libopus", needs_encoder_header=True),
    "H264": ContainerChoice("matroska", "mkv", "h264"),
}


def container_for(codec: str) -> ContainerChoice:
    """The container, file extension and muxer codec for an RTP codec name ("VP8", "opus"…)."""
    choice = _CHOICES.get(codec.upper())
    if choice is None:
        raise ValueError(f"cannot record codec {codec!r} without transcoding")
    return choice


def vp8_dimensions(data: bytes) -> tuple[int, int] | None:
    """Width and height from a VP8 keyframe header (RFC 6386 section 9.1), else None."""
    if len(data) < 10 or data[0] & 0x01:  # inter frame: no size
        return None
    if data[3:6] != b"\x9d\x01\x2a":
        return None
    width = int.from_bytes(data[6:8], "little") & 0x3FFF
    height = int.from_bytes(data[8:10], "little") & 0x3FFF
    if not width or not height:
        return None
    return width, height


# RFC 6716 section 3.1: frame size of each of the 32 TOC configurations, in 48 kHz samples.
_OPUS_FRAME_SAMPLES = (
    [480, 960, 1920, 2880] * 3  # SILK NB, MB, WB: 10/20/40/60 ms
    + [480, 960] * 2  # hybrid SWB, FB: 10/20 ms
    + [120, 240, 480, 960] * 4  # CELT NB, WB, SWB, FB: 2.5/5/10/20 ms
)


def opus_samples(data: bytes) -> int | None:
    """Duration of an Opus packet in 48 kHz samples (RFC 6716 section 3.1), else None."""
    if not data:
        return None
    toc = data[0]
    per_frame = _OPUS_FRAME_SAMPLES[toc >> 3]
    code = toc & 0x03
    if code == 0:
        count = 1
    elif code in (1, 2):
        count = 2
    else:
        if len(data) < 2:
            return None
        count = data[1] & 0x3F
    total = per_frame * count
    return total if 0 < total <= 5760 else None  # at most 120 ms per packet
