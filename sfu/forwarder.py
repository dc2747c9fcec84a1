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

from media.encoded import EncodedFrame, is_keyframe

logger = logging.getLogger(__name__)

_QUEUE_ATTR = "_RTCRtpReceiver__decoder_queue"


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
    return tap
