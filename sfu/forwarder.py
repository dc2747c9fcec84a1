"""The hook that takes encoded frames out of aiortc's receive path, before any decoder.

aiortc's ``RTCRtpReceiver`` reassembles RTP packets into encoded frames in its jitter
buffer and puts ``(codec, JitterFrame)`` on a private queue read by a decoder thread. We swap
that queue for a :class:`FrameTap` which hands each frame to a callback on the event loop and
never decodes. The decoder thread stays parked on :meth:`FrameTap.get` until the receiver
stops. This relies on aiortc internals (pinned to aiortc 1.16.x); ``tests/test_forwarder.py``
fails loudly if an upgrade moves them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from aiortc import RTCRtpReceiver
from aiortc.jitterbuffer import JitterBuffer, JitterFrame

from media.encoded import EncodedFrame, is_keyframe

logger = logging.getLogger(__name__)

_QUEUE_ATTR = "_RTCRtpReceiver__decoder_queue"
_JITTER_ATTR = "_RTCRtpReceiver__jitter_buffer"


class MarkerJitterBuffer(JitterBuffer):
    """aiortc's jitter buffer, but a video frame is complete at its marker-bit packet (RFC 7741,
    as libwebrtc does) and an audio packet is a frame by itself. aiortc's own buffer waits for
    the next frame's first packet (+33 ms for video) and holds audio for prefetch=4 (80 ms)."""

    def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
        packets: list[Any] = []
        timestamp = None
        for count in range(self.capacity):
            packet = self._packets[(self._origin + count) % self.capacity]
            if packet is None:
                return None
            if timestamp is None:
                timestamp = packet.timestamp
            elif packet.timestamp != timestamp:  # marker lost: the next frame began
                frame = JitterFrame(b"".join(p._data for p in packets), timestamp)
                self.remove(count)
                return frame
            packets.append(packet)
            if packet.marker or not self._is_video:
                frame = JitterFrame(b"".join(p._data for p in packets), timestamp)
                self.remove(count + 1)
                return frame
        return None


class FrameTap:
    """Stands in for the receiver's decoder queue (``put`` from the loop, ``get`` from the thread)."""

    def __init__(self, kind: str, on_frame: Callable[[EncodedFrame], None]) -> None:
        self.kind = kind
        self.on_frame = on_frame
        self._stopped = threading.Event()

    def put(self, item: Any) -> None:
        if item is None:
            self._stopped.set()
            return
        codec, jitter_frame = item
        data = jitter_frame.data
        try:
            self.on_frame(
                EncodedFrame(
                    kind=self.kind,
                    codec=codec.name,
                    data=data,
                    timestamp=jitter_frame.timestamp,
                    clock_rate=codec.clockRate,
                    keyframe=is_keyframe(codec.name, data),
                )
            )
        except Exception:  # a forwarding bug must not kill aiortc's receive loop
            logger.exception("frame dispatch failed")

    def get(self, *args: Any, **kwargs: Any) -> None:
        self._stopped.wait()
        return None


def install_tap(
    receiver: RTCRtpReceiver, on_frame: Callable[[EncodedFrame], None], kind: str
) -> FrameTap:
    """Replace the receiver's decoder queue; must run before ``receiver.receive()``."""
    if not hasattr(receiver, _QUEUE_ATTR):
        raise RuntimeError("aiortc internals changed: RTCRtpReceiver has no decoder queue")
    tap = FrameTap(kind, on_frame)
    setattr(receiver, _QUEUE_ATTR, tap)
    setattr(receiver, _JITTER_ATTR, MarkerJitterBuffer(capacity=512 if kind == "video" else 16,
                                                        is_video=kind == "video"))
    return tap
