"""Snapshots: the current picture of a video publisher as JPEG bytes, on demand.

Decoding never happens on the live path: only when somebody asks for a still, from the
encoded frames since the last keyframe, on a worker thread so the event loop keeps forwarding.
"""

from __future__ import annotations

import asyncio

from media.encoded import EncodedFrame
from media.snapshot import decode_picture, to_jpeg


def encode_snapshot(frames: list[EncodedFrame], quality: int = 90) -> bytes | None:
    """Decode ``frames`` (a keyframe and what follows) and JPEG-encode the last picture."""
    image = decode_picture(frames)
    if image is None:
        return None
    return to_jpeg(image, quality)


async def snapshot_jpeg(frames: list[EncodedFrame]) -> bytes | None:
    if not frames:
        return None
    return await asyncio.get_running_loop().run_in_executor(None, encode_snapshot, frames)
