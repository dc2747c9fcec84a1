"""A Subscriber is one outgoing track of a participant, fed by the Publisher it is bound to.

On the RTP path (``rtp=True``) the Subscriber is the routing end of an :class:`RtpLeg`, which
rewrites and sends the publisher's packets itself; the track only keeps aiortc's sender idle
(its ``recv`` waits until the track stops) while the leg does the work.

On the frame path it is an aiortc ``MediaStreamTrack`` that yields ``av.Packet`` objects, so the
``RTCRtpSender`` only repacketizes them (``Encoder.pack``): no decoding, no re-encoding.
Its queue is bounded: on overflow it drops everything up to the next keyframe and asks the
publisher for one, rather than growing (as LiveKit's down-tracks and mediasoup's consumers do).
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import time
from typing import TYPE_CHECKING, Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media.encoded import EncodedFrame

if TYPE_CHECKING:
    from sfu.publisher import Publisher
    from sfu.rtp_leg import RtpLeg

logger = logging.getLogger(__name__)

# One frame interval in RTP units, used to keep timestamps continuous across a rebind.
_FRAME_STEP = {"audio": 960, "video": 3000}
_QUEUE_SIZE = {"audio": 50, "video": 60}


class Subscriber(MediaStreamTrack):
    def __init__(self, kind: str, participant_id: str, rtp: bool = False) -> None:
        super().__init__()
        self.kind = kind
        self.participant_id = participant_id
        self.publisher: Publisher | None = None
        self.rtp = rtp
        self.leg: RtpLeg | None = None  # the RTP path's leg, attached by the Peer once negotiated
        self._stopped = asyncio.Event()
        self.codec: str | None = None  # negotiated on this leg; set by the Peer
        self._queue: asyncio.Queue[EncodedFrame | None] = asyncio.Queue(_QUEUE_SIZE[kind])
        self._need_keyframe = kind == "video"
        self._rebase = True
        self._offset = 0
        self._last_pts: int | None = None
        self._time_bases: dict[int, fractions.Fraction] = {}
        self.frames_sent = 0
        self.frames_dropped = 0
        self.codec_mismatches = 0
        self.last_queue_delay = 0.0

    # binding ---------------------------------------------------------------------
    def bind(self, publisher: Publisher | None) -> None:
        """Switch to another publisher (or none); the next frame out will be a keyframe."""
        if publisher is self.publisher:
            return
        if self.publisher is not None:
            self.publisher.remove_subscriber(self)
        self.publisher = publisher
        self._rebase = True
        self._need_keyframe = self.kind == "video"
        self._drain()
        self.rebind_leg()
        if publisher is not None:
            publisher.add_subscriber(self)
            if not self.rtp:  # on the RTP path the leg asks, once it can forward (RtpLeg)
                publisher.request_keyframe()

    def attach_leg(self, leg: RtpLeg) -> None:
        self.leg = leg
        self.rebind_leg()

    def rebind_leg(self) -> None:
        """Point the leg at the current publisher (if that one is on the RTP path yet)."""
        if self.leg is not None:
            publisher = self.publisher
            self.leg.rebind(publisher if publisher is not None and publisher.stream is not None else None)

    def request_keyframe(self) -> None:
        """Called for this leg's PLI/FIR (wired to ``RTCRtpSender._send_keyframe``)."""
        if self.publisher is not None:
            self.publisher.request_keyframe()

    # frames in (event loop, from the publisher's receive path) ------------------
    def push(self, frame: EncodedFrame) -> None:
        if self.readyState != "live":
            return
        if self.codec is not None and frame.codec.lower() != self.codec.lower():
            self.codec_mismatches += 1
            return
        if self._need_keyframe:
            if not frame.keyframe:
                self.frames_dropped += 1
                return
            self._need_keyframe = False
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            dropped = self._drain()
            self.frames_dropped += dropped + 1
            if self.kind == "video":
                self._need_keyframe = not frame.keyframe
                if frame.keyframe:
                    self._queue.put_nowait(frame)
                else:
                    self.request_keyframe()
            else:
                self._queue.put_nowait(frame)
            logger.debug("subscriber %s %s overflow, dropped %d", self.participant_id, self.kind, dropped)

    def _drain(self) -> int:
        dropped = 0
        while not self._queue.empty():
            if self._queue.get_nowait() is not None:
                dropped += 1
        return dropped

    # frames out (the RTCRtpSender's task) ---------------------------------------
    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        if self.rtp:  # the leg sends the packets; aiortc's sender just waits here
            await self._stopped.wait()
            raise MediaStreamError
        frame = await self._queue.get()
        if frame is None or self.readyState != "live":
            raise MediaStreamError
        if self._rebase:
            self._rebase = False
            step = _FRAME_STEP[self.kind]
            target = 0 if self._last_pts is None else self._last_pts + step
            self._offset = target - frame.timestamp
        pts = frame.timestamp + self._offset
        self._last_pts = pts
        packet = av.Packet(frame.data)
        packet.pts = pts
        time_base = self._time_bases.get(frame.clock_rate)
        if time_base is None:
            time_base = self._time_bases.setdefault(
                frame.clock_rate, fractions.Fraction(1, frame.clock_rate)
            )
        packet.time_base = time_base
        self.frames_sent += 1
        self.last_queue_delay = time.monotonic() - frame.received_at
        return packet

    def stop(self) -> None:
        if self.readyState == "live":
            super().stop()
            self.bind(None)
            self._stopped.set()
            if self.leg is not None:
                self.leg.close()
            self._drain()
            try:
                self._queue.put_nowait(None)
            except asyncio.QueueFull:
                pass

    def stats(self) -> dict:
        stats: dict[str, Any] = {
            "participant_id": self.participant_id,
            "kind": self.kind,
            "source": self.publisher.participant_id if self.publisher else None,
            "frames_sent": self.frames_sent,
            "frames_dropped": self.frames_dropped,
            "queued": self._queue.qsize(),
        }
        if self.leg is not None:
            stats["rtp"] = self.leg.stats()
            stats["frames_sent"] = self.leg.frames_sent
        return stats
