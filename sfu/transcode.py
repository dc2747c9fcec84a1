"""A decode/re-encode relay (aiortc's ``MediaRelay``) — for comparison in load tests ONLY.

``silkline serve --forwarding transcode`` swaps the encoded forwarding path for this one so a
load test can measure, behind the same signaling, what forwarding encoded frames saves. It
is never the default and nothing else uses it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av.frame import Frame
from av.packet import Packet

if TYPE_CHECKING:
    from sfu.publisher import Publisher


class CountingTrack(MediaStreamTrack):
    """Reads a remote (decoded) track and notes when frames arrive, for the media watchdog."""

    def __init__(self, source: MediaStreamTrack, on_frame: Callable[[float], None]) -> None:
        super().__init__()
        self.kind = source.kind
        self._source = source
        self._on_frame = on_frame

    async def recv(self) -> Frame | Packet:
        frame = await self._source.recv()
        self._on_frame(time.monotonic())
        return frame


class TranscodingSubscriber(MediaStreamTrack):
    """An outgoing track fed decoded frames by a MediaRelay proxy; the sender re-encodes."""

    transcodes = True

    def __init__(self, kind: str, participant_id: str) -> None:
        super().__init__()
        self.kind = kind
        self.participant_id = participant_id
        self.publisher: Publisher | None = None
        self.codec: str | None = None
        self._proxy: MediaStreamTrack | None = None
        self._bound = asyncio.Event()
        self.frames_sent = 0

    def bind(self, publisher: Publisher | None) -> None:
        if publisher is self.publisher:
            return
        if self._proxy is not None:
            self._proxy.stop()
            self._proxy = None
        self.publisher = publisher
        if publisher is not None and publisher.relay is not None and publisher.relay_source is not None:
            self._proxy = publisher.relay.subscribe(publisher.relay_source)
            self._bound.set()
        else:
            self._bound.clear()

    def request_keyframe(self) -> None:
        pass  # the sender's own encoder makes the keyframe

    async def recv(self) -> Frame | Packet:
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            await self._bound.wait()
            proxy = self._proxy
            if proxy is None:
                continue
            try:
                frame = await proxy.recv()
            except MediaStreamError:
                if proxy is self._proxy:
                    self._bound.clear()
                continue
            self.frames_sent += 1
            return frame

    def stop(self) -> None:
        if self.readyState == "live":
            super().stop()
            self.bind(None)
            self._bound.set()

    def stats(self) -> dict:
        return {"participant_id": self.participant_id, "kind": self.kind,
                "source": self.publisher.participant_id if self.publisher else None,
                "frames_sent": self.frames_sent, "frames_dropped": 0, "queued": 0}


def new_relay() -> MediaRelay:
    return MediaRelay()
