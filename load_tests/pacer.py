"""One paced sender per generator process: every stream's frames, on one task's ticks.

aiortc runs a coroutine chain per packet (track → encoder.pack → serialize → SRTP → ICE send,
each awaited). Here one task wakes every :data:`TICK` seconds and, for every registered
:class:`Outlet` whose next frame is due, builds its packets from the pre-packetized clip,
SRTP-protects and ``sendto``s them synchronously (``media.aiortc_hooks.send_rtp_batch``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from aiortc import RTCDtlsTransport, RTCRtpSender

from load_tests.rtp_clip import RtpStream, abs_send_time, ntp_timestamp
from media.aiortc_hooks import note_rtp_sent, send_rtp_batch

TICK = 0.005  # seconds; a frame leaves at most this late (the latency clock starts at sendto)
MAX_BURST = 3  # frames one stream may catch up in one tick after a stall; then it resyncs


class Outlet:
    """One stream of one peer: when its frames are due, and where they go."""

    def __init__(self, stream: RtpStream, dtls: RTCDtlsTransport, sender: RTCRtpSender, period: float,
                 on_sent: Callable[[int, float], None]) -> None:
        self.stream = stream
        self.dtls = dtls
        self.sender = sender
        self.period = period
        self.on_sent = on_sent  # (clip index, monotonic send time) per frame
        self.next_due: float | None = None  # starts once the transport is connected
        self.unsent = 0  # packets send_rtp_batch refused (transport not connected or closing)

    def send_due(self, now: float, abs_time: bytes) -> None:
        if self.next_due is None:
            if self.dtls.state != "connected":
                return
            self.next_due = now
        if self.next_due > now:
            return
        stream, dtls = self.stream, self.dtls
        burst = 0
        timestamp = stream.timestamp
        while self.next_due <= now and burst < MAX_BURST:
            index, timestamp, packets = stream.next_frame(abs_time)
            self.unsent += len(packets) - send_rtp_batch(dtls, packets)
            self.on_sent(index, time.monotonic())
            self.next_due += self.period
            burst += 1
        if self.next_due <= now:  # far behind (a stalled loop): skip ahead instead of bursting
            self.next_due = now + self.period
        note_rtp_sent(self.sender, ntp_timestamp(time.time()), timestamp, stream.packets, stream.octets)


class PacedSender:
    """Owns the one sending task of a generator process (``start`` / ``close``)."""

    def __init__(self) -> None:
        self._outlets: list[Outlet] = []
        self._task: asyncio.Task[None] | None = None
        self.errors = 0

    def add(self, outlet: Outlet) -> None:
        self._outlets.append(outlet)

    def remove(self, outlet: Outlet) -> None:
        with contextlib.suppress(ValueError):
            self._outlets.remove(outlet)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            now = time.monotonic()
            abs_time = abs_send_time()
            for outlet in list(self._outlets):
                try:
                    outlet.send_due(now, abs_time)
                except Exception:  # noqa: BLE001  (one broken stream must not stop the others)
                    self.errors += 1
                    self.remove(outlet)
            await asyncio.sleep(TICK)
