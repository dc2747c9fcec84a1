"""A Publisher is one incoming track of a participant, fanned out without decoding."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiortc import RTCRtpReceiver

from media.aiortc_hooks import rtx_ssrc_map, send_pli
from media.encoded import EncodedFrame, EncodedSink
from sfu.forwarder import install_tap
from sfu.keyframes import KeyframeRequester
from sfu.snapshot import snapshot_jpeg
from sfu.throttled_log import ThrottledLog

if TYPE_CHECKING:
    from sfu.peer import Peer
    from sfu.subscriber import Subscriber

logger = logging.getLogger(__name__)

GOP_CACHE_FRAMES = 300  # 10 s at 30 fps; past that we wait for the next keyframe


class Publisher:
    def __init__(
        self,
        participant_id: str,
        kind: str,
        receiver: RTCRtpReceiver,
        peer: Peer,
        keyframe_interval: float = 0.5,
        transcode: bool = False,
        on_first_frame: Callable[[], None] | None = None,
    ) -> None:
        self._on_first_frame = on_first_frame
        self.participant_id = participant_id
        self.kind = kind
        self.codec: str | None = None
        self._receiver = receiver
        self._peer = peer
        self._subscribers: list[Subscriber] = []
        self._sinks: list[EncodedSink] = []
        self.keyframes = KeyframeRequester(self._send_pli, keyframe_interval)
        self.frames = 0
        self.bytes = 0
        self.keyframes_received = 0
        self.last_frame_at: float | None = None
        self.closed = False
        self._gop: list[EncodedFrame] = []
        self._sink_errors = ThrottledLog(logger)
        self.relay = None
        self.relay_source = None
        if transcode:  # comparison mode only: let aiortc decode, relay decoded frames
            from sfu.transcode import CountingTrack, new_relay

            self.relay = new_relay()
            self.relay_source = CountingTrack(receiver.track, self._on_decoded)
        else:
            install_tap(receiver, self._on_frame, kind)

    def _on_decoded(self, at: float) -> None:
        self.frames += 1
        if self.frames == 1 and self._on_first_frame is not None:
            self._on_first_frame()
        self.last_frame_at = at

    # fan-out -----------------------------------------------------------------
    def _on_frame(self, frame: EncodedFrame) -> None:
        if self.closed:
            return
        self.codec = frame.codec
        self.frames += 1
        if self.frames == 1 and self._on_first_frame is not None:
            self._on_first_frame()
        self.bytes += len(frame.data)
        self.last_frame_at = frame.received_at
        if frame.kind == "video":
            # frames since the last keyframe: enough to decode the current picture on demand
            if frame.keyframe:
                self.keyframes_received += 1
                self._gop = [frame]
            elif self._gop and len(self._gop) < GOP_CACHE_FRAMES:
                self._gop.append(frame)
            else:
                self._gop = []
        for subscriber in self._subscribers:
            subscriber.push(frame)
        for sink in self._sinks:
            try:
                sink.on_frame(frame)
            except Exception:
                self._sink_errors.exception("sink failed on %s frame of %s", self.kind, self.participant_id)

    def add_subscriber(self, subscriber: Subscriber) -> None:
        if subscriber not in self._subscribers:
            self._subscribers.append(subscriber)

    def remove_subscriber(self, subscriber: Subscriber) -> None:
        if subscriber in self._subscribers:
            self._subscribers.remove(subscriber)

    def add_sink(self, sink: EncodedSink) -> None:
        self._sinks.append(sink)
        self.request_keyframe()

    def remove_sink(self, sink: EncodedSink) -> None:
        if sink in self._sinks:
            self._sinks.remove(sink)

    # keyframes ---------------------------------------------------------------
    def request_keyframe(self) -> None:
        if self.kind == "video" and not self.closed:
            self.keyframes.request()

    def media_ssrc(self) -> int | None:
        """The publisher's media SSRC, never its RTX (RFC 4588) one: a PLI addressed to the
        retransmission stream is ignored (Chrome sends RTX padding before any media)."""
        rtx = rtx_ssrc_map(self._receiver)
        if rtx:
            return next(iter(rtx.values()))  # from the SDP's FID group: rtx ssrc → media ssrc
        media = [s.source for s in self._receiver.getSynchronizationSources() if s.source not in rtx]
        return media[-1] if media else None

    def _send_pli(self) -> None:
        ssrc = self.media_ssrc()
        if ssrc is None:
            return  # nothing received yet; the first frames will carry a keyframe anyway
        self._peer.spawn(send_pli(self._receiver, ssrc))

    def picture_frames(self) -> list[EncodedFrame]:
        """The encoded frames needed to decode the current picture (snapshot on demand)."""
        if not self._gop:
            self.request_keyframe()
        return list(self._gop)

    async def snapshot_jpeg(self) -> bytes | None:
        """The current picture as JPEG bytes, decoded now, off the event loop; None if no
        picture can be decoded yet (a keyframe has been asked for)."""
        return await snapshot_jpeg(self.picture_frames())

    def media_age(self, now: float | None = None) -> float | None:
        """Seconds since the last frame, or None if no frame ever arrived."""
        if self.last_frame_at is None:
            return None
        return (now if now is not None else time.monotonic()) - self.last_frame_at

    def close(self) -> None:
        self.closed = True
        self.keyframes.close()
        for subscriber in list(self._subscribers):
            subscriber.bind(None)
        self._subscribers.clear()
        self._sinks.clear()

    def stats(self) -> dict:
        return {
            "participant_id": self.participant_id,
            "kind": self.kind,
            "codec": self.codec,
            "frames": self.frames,
            "bytes": self.bytes,
            "keyframes": self.keyframes_received,
            "pli_sent": self.keyframes.sent,
            "subscribers": len(self._subscribers),
        }
