"""FrameTap: takes encoded frames out of aiortc's receive path, before any decoder.

aiortc's ``RTCRtpReceiver`` reassembles RTP packets into encoded frames in its jitter
buffer and puts ``(codec, JitterFrame)`` on a queue read by a decoder thread. We swap that
queue for a :class:`FrameTap` which hands each frame to a callback on the event loop and never
decodes; the decoder thread stays parked on :meth:`FrameTap.get` until the receiver stops.
The swap itself is an aiortc internal: it lives in ``media.aiortc_hooks``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from aiortc import RTCRtpReceiver

from media.aiortc_hooks import (
    marker_jitter_buffer,
    replace_decoder_queue,
    replace_jitter_buffer,
)
from media.encoded import EncodedFrame, is_keyframe
from media.throttled_log import ThrottledLog

logger = logging.getLogger(__name__)


class FrameTap:
    """Stands in for the receiver's decoder queue (``put`` from the loop, ``get`` from the thread)."""

    def __init__(self, kind: str, on_frame: Callable[[EncodedFrame], None]) -> None:
        self.kind = kind
        self.on_frame = on_frame
        self._stopped = threading.Event()
        self._errors = ThrottledLog(logger, logging.ERROR)

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
            self._errors.exception("%s frame dispatch failed", self.kind)

    def get(self, *args: Any, **kwargs: Any) -> None:
        self._stopped.wait()


def install_tap(
    receiver: RTCRtpReceiver, on_frame: Callable[[EncodedFrame], None], kind: str
) -> FrameTap:
    """Replace the receiver's decoder queue (and jitter buffer, with the marker-bit one);
    must run before ``receiver.receive()``."""
    tap = FrameTap(kind, on_frame)
    replace_decoder_queue(receiver, tap)
    replace_jitter_buffer(receiver, marker_jitter_buffer(kind))
    return tap
