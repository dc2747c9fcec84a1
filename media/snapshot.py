"""Decode the current picture of a video track on demand (never on the live path)."""

from __future__ import annotations

from typing import cast

import av
import cv2
import numpy as np
from av.video.codeccontext import VideoCodecContext

from media.encoded import EncodedFrame

_DECODERS = {"VP8": "libvpx", "H264": "h264"}


def decode_picture(frames: list[EncodedFrame]) -> np.ndarray | None:
    """Decode a keyframe and the frames after it; return the last picture as BGR, or None."""
    if not frames:
        return None
    name = _DECODERS.get(frames[0].codec.upper())
    if name is None:
        return None
    codec = cast(VideoCodecContext, av.CodecContext.create(name, "r"))
    picture = None
    for frame in frames:
        try:
            for decoded in codec.decode(av.Packet(frame.data)):
                picture = decoded
        except av.FFmpegError:
            continue
    if picture is None:
        return None
    return picture.to_ndarray(format="bgr24")


def to_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return data.tobytes()
