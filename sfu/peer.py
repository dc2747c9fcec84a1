"""Peer: the one wrapper around an aiortc ``RTCPeerConnection`` (W3C WebRTC 1.0).

The Peer answers the participant's offer, taps every incoming track into a Publisher,
attaches Subscriber tracks to the transceivers the client offered to receive on, and owns
the small tasks it starts (keyframe requests, the RTP path's RTCP reports), cancelling them on
close. With ``forwarding="rtp"`` it also owns the :class:`RtpTransport` that takes SRTP off
aiortc's path, and gives each Publisher and each Subscriber its negotiated RTP parameters.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceCandidate,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCSessionDescription,
)
from aiortc.sdp import SessionDescription, candidate_from_sdp

from media.aiortc_hooks import (
    header_extensions,
    narrow_codecs,
    negotiated_codecs,
    offer_direction,
    on_keyframe_request,
    on_sender_started,
    sender_ssrcs,
    silence_sender_reports,
)
from sfu.rtp_leg import RtpLeg
from sfu.rtp_transport import RtpTransport
from sfu.tasks import TaskSet

if TYPE_CHECKING:
    from sfu.publisher import Publisher
    from sfu.subscriber import Subscriber

logger = logging.getLogger(__name__)

# Codecs we forward. Every leg of a room must agree, since nothing is transcoded.
VIDEO_CODECS = ("video/VP8", "video/H264")
AUDIO_CODECS = ("audio/opus",)


class BadSdpError(ValueError):
    """The offer does not parse, or offers nothing we can forward."""


class BadCandidateError(ValueError):
    """A trickled ICE candidate does not parse."""


# DTLS fingerprint algorithms aiortc checks (RFC 8122 §5) and their digest sizes in bytes
FINGERPRINT_BYTES = {"sha-256": 32, "sha-384": 48, "sha-512": 64}


def check_offer(sdp: str) -> None:
    """What aiortc would only trip over later (answering, or in its DTLS task, where nobody
    hears of it), refused up front as BadSdpError: a repeated ``a=mid`` (RFC 8843 needs them
    unique; a copied m-section repeats one) and a section without a well-formed fingerprint
    of an algorithm we can check (RFC 8122)."""
    description = SessionDescription.parse(sdp)
    mids: set[str] = set()
    for media in description.media:
        mid = media.rtp.muxId
        if mid is not None and mid in mids:
            raise BadSdpError(f"the offer repeats the media section id (mid) {mid!r}")
        mids.add(mid)
        if media.kind not in ("audio", "video") or media.dtls is None:
            continue
        usable = [f for f in media.dtls.fingerprints if f.algorithm.lower() in FINGERPRINT_BYTES]
        if not usable:
            raise BadSdpError(f"the {media.kind} section has no DTLS fingerprint (sha-256, sha-384 or sha-512)")
        for fingerprint in usable:
            octets = fingerprint.value.split(":")
            if len(octets) != FINGERPRINT_BYTES[fingerprint.algorithm.lower()] or not all(
                    len(o) == 2 and all(c in "0123456789abcdefABCDEF" for c in o) for o in octets):
                raise BadSdpError(f"the {media.kind} section's DTLS fingerprint is not a "
                                  f"{fingerprint.algorithm} digest")


def _restrict_codecs(transceiver: Any) -> str | None:
    """Keep only the one codec we forward (plus its RTX) on a transceiver; return its name.

    aiortc negotiated the offer's codecs in the offer's order when the description was set,
    and ``setCodecPreferences`` no longer changes that, so we narrow the negotiated list
    itself (``media.aiortc_hooks.narrow_codecs``). Every leg of a room must use the same codec,
    since nothing is transcoded: VP8 when offered, else H.264, and Opus for audio.
    """
    negotiated = negotiated_codecs(transceiver)
    wanted = VIDEO_CODECS if transceiver.kind == "video" else AUDIO_CODECS
    for mime in wanted:
        chosen = next((c for c in negotiated if c.mimeType.lower() == mime.lower()), None)
        if chosen is not None:
            rtx = [c for c in negotiated if c.mimeType.lower().endswith("/rtx")
                   and c.parameters.get("apt") == chosen.payloadType]
            narrow_codecs(transceiver, [chosen] + rtx)
            return chosen.mimeType.split("/")[1]
    return None


class Peer:
    def __init__(
        self,
        label: str,
        ice_servers: list[RTCIceServer],
        on_track: Callable[[Peer, str, RTCRtpReceiver], None],
        on_state: Callable[[Peer, str], None],
        forwarding: str = "frames",
    ) -> None:
        self.label = label
        self.forwarding = forwarding
        self.rtp: RtpTransport | None = None
        self._pending_publishers: list[Publisher] = []
        self._legs: list[tuple[Any, Subscriber]] = []
        # max-bundle: one transport for everything. With aiortc's default ("balanced") a second
        # transceiver of a kind is left on a transport that BUNDLE then discards (aiortc 1.16),
        # and it never sends: a supervisor's second video would stay black.
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=list(ice_servers),
                                                     bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
        self._on_track = on_track
        self._on_state = on_state
        self._tasks = TaskSet(f"peer {label}")
        self.closed = False
        self.pc.on("connectionstatechange", self._connection_state_changed)
        self.pc.on("track", self._track_arrived)

    @property
    def connection_state(self) -> str:
        return self.pc.connectionState

    def _connection_state_changed(self) -> None:
        if not self.closed:
            self._on_state(self, self.pc.connectionState)

    def _track_arrived(self, track: Any) -> None:
        for transceiver in self.pc.getTransceivers():
            if transceiver.receiver.track is track:
                self._on_track(self, track.kind, transceiver.receiver)
                return

    async def answer(self, offer_sdp: str, outgoing: Callable[[str], Any]) -> str:
        """Apply the client's offer and return our answer SDP.

        ``outgoing(kind)`` makes the Subscriber track to send back on each transceiver the
        client offered to receive on.
        """
        try:
            check_offer(offer_sdp)
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        except BadSdpError:
            raise
        except Exception as exc:  # aiortc raises ValueError, KeyError, AssertionError...
            raise BadSdpError(f"the offer does not parse: {exc or type(exc).__name__}") from exc
        transceivers = self.pc.getTransceivers()
        if not any(t.kind in ("audio", "video") for t in transceivers):
            raise BadSdpError("the offer has no audio or video section")
        for transceiver in transceivers:
            kind = transceiver.kind
            codec = _restrict_codecs(transceiver)
            if codec is None:
                raise BadSdpError(f"the {kind} section offers no codec we forward ({kind} needs "
                                  + " or ".join(VIDEO_CODECS if kind == "video" else AUDIO_CODECS) + ")")
            # aiortc keeps the offer's direction reversed, i.e. from our side: "sendrecv" or
            # "sendonly" means the client wants to receive on this transceiver.
            direction = offer_direction(transceiver)
            if direction in ("sendrecv", "sendonly"):
                track = outgoing(kind)
                track.codec = codec
                transceiver.sender.replaceTrack(track)
                transceiver.direction = direction
                if not getattr(track, "transcodes", False):
                    on_keyframe_request(transceiver.sender, track.request_keyframe)  # relay PLI/FIR
                    self._legs.append((transceiver, track))
        try:
            answer = await self.pc.createAnswer()
            await self.pc.setLocalDescription(answer)
        except Exception as exc:  # what aiortc finds wrong with the offer only while answering it
            raise BadSdpError(f"the offer cannot be answered: {exc or type(exc).__name__}") from exc
        if self.forwarding == "rtp":
            self._start_rtp()
        return self.pc.localDescription.sdp

    # the RTP path ------------------------------------------------------------------
    def _start_rtp(self) -> None:
        """Take SRTP off aiortc's path (ICE is gathered now) and wire publishers and legs."""
        transceivers = self.pc.getTransceivers()
        self.rtp = RtpTransport(self.label, transceivers[0].receiver.transport)  # max-bundle: one
        cnames = _cnames(self.pc.localDescription.sdp)
        for transceiver, track in self._legs:
            codec, rtx = _codec_and_rtx(transceiver)
            ssrc, rtx_ssrc = sender_ssrcs(transceiver.sender)
            silence_sender_reports(transceiver.sender)  # the leg writes this SSRC's reports
            leg = RtpLeg(transceiver.kind, self.rtp.sender, ssrc, codec.payloadType, codec.clockRate,
                         header_extensions(transceiver), transceiver.mid,
                         rtx_ssrc=rtx_ssrc if rtx else None,
                         rtx_payload_type=rtx.payloadType if rtx else None, cname=cnames.get(ssrc))
            self.rtp.add_leg(leg)
            track.attach_leg(leg)
            # an aiortc client registers its receivers only once its DTLS is up, one after the
            # other: send when aiortc's own sender would, or the client drops the first keyframe
            on_sender_started(transceiver.sender, leg.start)
        self._legs.clear()
        for publisher in self._pending_publishers:
            self._attach(publisher)
        self._pending_publishers.clear()
        self._tasks.spawn(self.rtp.run_reports())

    def publish(self, publisher: Publisher) -> None:
        """Route an incoming track's packets to its Publisher (RTP path; a no-op otherwise)."""
        if self.forwarding != "rtp":
            return
        if self.rtp is None:
            self._pending_publishers.append(publisher)
        else:
            self._attach(publisher)

    def _attach(self, publisher: Publisher) -> None:
        assert self.rtp is not None
        for transceiver in self.pc.getTransceivers():
            if transceiver.receiver is publisher.receiver:
                codec, rtx = _codec_and_rtx(transceiver)
                nack = any(fb.type == "nack" and not fb.parameter for fb in codec.rtcpFeedback)
                by_id = {ext_id: uri for uri, ext_id in header_extensions(transceiver).items()}
                publisher.attach_rtp(self.rtp, codec, rtx.payloadType if rtx else None, by_id,
                                     feedback_ssrc=sender_ssrcs(transceiver.sender)[0],
                                     nack=nack and transceiver.kind == "video")
                return

    async def add_candidate(self, candidate: dict | None) -> None:
        """Add a browser's trickled candidate; None means end-of-candidates."""
        ice = parse_candidate(candidate)
        if ice is None:
            if candidate is None or not candidate.get("candidate"):
                if self.pc.remoteDescription is not None:
                    await self.pc.addIceCandidate(None)
            return
        await self.pc.addIceCandidate(ice)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run a short task owned by this peer; cancelled on close."""
        self._tasks.spawn(coro)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        await self._tasks.cancel()
        if self.rtp is None:
            await self._close_pc()
            return
        # The interception stays until aiortc's transport is closed: media still arriving
        # meanwhile is dropped as unrouted, instead of reaching aiortc's receivers, where its
        # bandwidth estimator, jitter buffer and VP8 decoder thread would work on it.
        self.rtp.close_legs()
        try:
            await self._close_pc()
        finally:
            self.rtp.close()

    async def _close_pc(self) -> None:
        try:
            await self.pc.close()
        except Exception as exc:  # noqa: BLE001 - aiortc half set up from a rejected offer
            logger.warning("peer %s: closing it failed: %s: %s", self.label, type(exc).__name__, exc)


def _codec_and_rtx(transceiver: Any) -> tuple[Any, Any]:
    codecs = negotiated_codecs(transceiver)
    codec = codecs[0]
    rtx = next((c for c in codecs[1:] if c.mimeType.lower().endswith("/rtx")
                and c.parameters.get("apt") == codec.payloadType), None)
    return codec, rtx


def _cnames(sdp: str) -> dict[int, str]:
    """SSRC → CNAME from ``a=ssrc:<ssrc> cname:<name>`` lines (RFC 5576)."""
    out: dict[int, str] = {}
    for line in sdp.splitlines():
        if line.startswith("a=ssrc:") and " cname:" in line:
            ssrc, _, rest = line[len("a=ssrc:"):].partition(" ")
            if ssrc.isdigit():
                out[int(ssrc)] = rest[len("cname:"):].strip()
    return out


def parse_candidate(candidate: dict | None) -> RTCIceCandidate | None:
    """Parse a trickled ``{candidate, sdpMid, sdpMLineIndex}``; None for end-of-candidates
    and for candidates aiortc cannot use (TCP), which are not errors."""
    if candidate is None or not candidate.get("candidate"):
        return None
    text = candidate["candidate"]
    if text.startswith("candidate:"):
        text = text[len("candidate:"):]
    try:
        ice = candidate_from_sdp(text)
    except Exception as exc:
        raise BadCandidateError(f"the ICE candidate does not parse: {exc or type(exc).__name__}") from exc
    ice.sdpMid = candidate.get("sdpMid")
    ice.sdpMLineIndex = candidate.get("sdpMLineIndex")
    if ice.sdpMid is None and ice.sdpMLineIndex is None:
        ice.sdpMLineIndex = 0
    if ice.protocol and ice.protocol.lower() != "udp":
        return None
    return ice



