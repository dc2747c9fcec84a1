"""IncomingStream: what the node knows about one publisher's RTP stream as its receiver.

Reception statistics for the receiver reports (RFC 3550 6.4.2 and appendix A.3, A.8), the
publisher's last sender report (for LSR/DLSR and for the subscriber legs' NTP/RTP mapping), and
the sequence numbers to NACK (RFC 4585 6.2.1) for loss on the publisher's leg: asked at once
when a gap appears, asked again while it stays open, given up after ``NACK_GIVE_UP``.
All of it is updated synchronously from the datagram callback; no timers.
"""

from __future__ import annotations

from aiortc.rtp import RtcpReceiverInfo

MAX_DROPOUT = 3000  # a larger forward jump is a restarted stream, not loss (RFC 3550 A.1)
MAX_NACK_GAP = 200
NACK_RETRY = 0.08  # seconds between NACKs for a packet still missing
NACK_TRIES = 4
NACK_GIVE_UP = 1.0


class IncomingStream:
    __slots__ = (
        "_expected_prior",
        "_last_scan",
        "_received_prior",
        "_transit",
        "base_seq",
        "clock_rate",
        "cycles",
        "jitter",
        "max_seq",
        "missing",
        "nack_enabled",
        "nacks_sent",
        "received",
        "recovered",
        "sr_at",
        "sr_ntp",
        "sr_rtp",
        "ssrc",
    )

    def __init__(self, ssrc: int, clock_rate: int, nack_enabled: bool) -> None:
        self.ssrc = ssrc
        self.clock_rate = clock_rate
        self.nack_enabled = nack_enabled
        self.received = 0
        self.max_seq = -1
        self.cycles = 0
        self.base_seq = 0
        self.jitter = 0.0
        self._transit: float | None = None
        self._expected_prior = 0
        self._received_prior = 0
        self.missing: dict[int, list[float]] = {}  # seq -> [first seen missing, last NACK, tries]
        self._last_scan = 0.0
        self.sr_ntp: int | None = None
        self.sr_rtp = 0
        self.sr_at = 0.0
        self.nacks_sent = 0
        self.recovered = 0

    def add(self, seq: int, timestamp: int, now: float) -> list[int] | None:
        """Count one packet (media, or a retransmission's original number); return the
        sequence numbers to NACK now, if any."""
        self.received += 1
        transit = now * self.clock_rate - timestamp
        if self._transit is not None:
            d = abs(transit - self._transit)
            if d < self.clock_rate:  # ignore timestamp jumps (a new source, a pause)
                self.jitter += (d - self.jitter) / 16
        self._transit = transit
        if self.max_seq < 0:
            self.base_seq = self.max_seq = seq
            return None
        delta = (seq - self.max_seq) & 0xFFFF
        lost: list[int] | None = None
        if delta == 0:
            return None
        if delta < 0x8000:
            if delta > MAX_DROPOUT:
                self.missing.clear()
                self.base_seq = seq
                self.cycles = 0
                self._expected_prior = self._received_prior = 0
                self.received = 1
            elif delta > 1 and self.nack_enabled:
                if delta <= MAX_NACK_GAP:
                    lost = [(self.max_seq + i) & 0xFFFF for i in range(1, delta)]
                    for s in lost:
                        self.missing[s] = [now, now, 1.0]
                    self.nacks_sent += 1
            if seq < self.max_seq:
                self.cycles += 1 << 16
            self.max_seq = seq
        elif self.missing.pop(seq, None) is not None:  # late or retransmitted
            self.recovered += 1
        if self.missing and now - self._last_scan >= NACK_RETRY / 2:
            lost = (lost or []) + self._retry(now)
        return lost

    def _retry(self, now: float) -> list[int]:
        self._last_scan = now
        again: list[int] = []
        for seq, entry in list(self.missing.items()):
            first, last, tries = entry
            if now - first > NACK_GIVE_UP or tries >= NACK_TRIES:
                del self.missing[seq]
            elif now - last >= NACK_RETRY:
                entry[1] = now
                entry[2] = tries + 1
                again.append(seq)
        if again:
            self.nacks_sent += 1
        return again

    def on_sender_report(self, ntp: int, rtp_timestamp: int, now: float) -> None:
        self.sr_ntp = ntp
        self.sr_rtp = rtp_timestamp
        self.sr_at = now

    def report(self, now: float) -> RtcpReceiverInfo | None:
        """One report block for the receiver report (RFC 3550 6.4.1, A.3)."""
        if self.max_seq < 0:
            return None
        extended = self.cycles + self.max_seq
        expected = extended - self.base_seq + 1
        lost = max(0, expected - self.received)
        expected_interval = expected - self._expected_prior
        received_interval = self.received - self._received_prior
        self._expected_prior = expected
        self._received_prior = self.received
        lost_interval = expected_interval - received_interval
        fraction = 0 if expected_interval <= 0 or lost_interval <= 0 else \
            min(255, (lost_interval << 8) // expected_interval)
        lsr = dlsr = 0
        if self.sr_ntp is not None:
            lsr = (self.sr_ntp >> 16) & 0xFFFFFFFF
            dlsr = int((now - self.sr_at) * 65536) & 0xFFFFFFFF
        return RtcpReceiverInfo(ssrc=self.ssrc, fraction_lost=fraction, packets_lost=min(lost, 0x7FFFFF),
                                highest_sequence=extended & 0xFFFFFFFF, jitter=int(self.jitter),
                                lsr=lsr, dlsr=dlsr)
