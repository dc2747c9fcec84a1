"""Every use of aiortc's (and aioice's) private internals, in one place.

Pinned to **aiortc 1.16.0** and **aioice 0.13.0** (pyproject.toml). The SFU, the tests' client
peers and the load tool reach aiortc's internals only through this module; each hook below says
what it relies on, and ``tests/integration/test_forwarder.py`` checks every one of them, so an
upgrade that moves them fails loudly there instead of silently in production.

This module imports aiortc, aioice and nothing of ours (it is a leaf under ``media/``).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import random
from collections.abc import Callable, Coroutine
from typing import Any

import aioice
import aioice.ice
import aiortc
import pylibsrtp
from aioice.candidate import candidate_foundation
from aiortc import (
    RTCDtlsTransport,
    RTCRtpCodecParameters,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
)
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtp import RtcpByePacket, RtpPacket

AIORTC_VERSION = "1.16.0"
AIOICE_VERSION = "0.13.0"

# RTCRtpReceiver's name-mangled private attributes (aiortc/rtcrtpreceiver.py, __init__).
_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"
_JITTER_BUFFER = "_RTCRtpReceiver__jitter_buffer"
_RTX_SSRC = "_RTCRtpReceiver__rtx_ssrc"


def pinned_versions_installed() -> bool:
    """True when the installed aiortc/aioice are the versions these hooks were written for."""
    return aiortc.__version__ == AIORTC_VERSION and aioice.__version__ == AIOICE_VERSION


# -- receive path: the decoder queue and the jitter buffer -----------------------------------

def replace_decoder_queue(receiver: RTCRtpReceiver, replacement: Any) -> Any:
    """Swap the queue between the receiver's jitter buffer and its decoder thread; return the
    old one.

    Relies on: ``RTCRtpReceiver.__decoder_queue`` (a ``queue.Queue`` of ``(codec, JitterFrame)``,
    ``None`` on stop), handed to the decoder thread when ``receive()`` starts it — so this must
    run before ``receive()`` (i.e. before the remote description is applied, or in the
    ``track`` event, which aiortc fires before starting the receiver).
    """
    if not hasattr(receiver, _DECODER_QUEUE):
        raise RuntimeError("aiortc internals changed: RTCRtpReceiver has no decoder queue")
    old = getattr(receiver, _DECODER_QUEUE)
    setattr(receiver, _DECODER_QUEUE, replacement)
    return old


def decoder_queue(receiver: RTCRtpReceiver) -> Any:
    return getattr(receiver, _DECODER_QUEUE)


def replace_jitter_buffer(receiver: RTCRtpReceiver, buffer: JitterBuffer) -> None:
    """Relies on: ``RTCRtpReceiver.__jitter_buffer``, read per packet in ``_handle_rtp_packet``."""
    if not hasattr(receiver, _JITTER_BUFFER):
        raise RuntimeError("aiortc internals changed: RTCRtpReceiver has no jitter buffer")
    setattr(receiver, _JITTER_BUFFER, buffer)


def jitter_buffer(receiver: RTCRtpReceiver) -> JitterBuffer:
    return getattr(receiver, _JITTER_BUFFER)


class MarkerJitterBuffer(JitterBuffer):
    """aiortc's jitter buffer, but a video frame is complete at its marker-bit packet (RFC 7741,
    as libwebrtc does) and an audio packet is a frame by itself. aiortc's own buffer waits for
    the next frame's first packet (+33 ms for video) and holds audio for prefetch=4 (80 ms).

    Relies on: ``JitterBuffer._remove_frame``, ``_packets``, ``_origin``, ``_is_video``,
    ``capacity``, ``remove(count)`` and ``RtpPacket._data`` (the depayloaded payload).
    """

    def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
        packets: list[Any] = []
        timestamp = None
        origin = self._origin
        if origin is None:
            return None
        for count in range(self.capacity):
            packet = self._packets[(origin + count) % self.capacity]
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


def marker_jitter_buffer(kind: str) -> MarkerJitterBuffer:
    """The buffer sizes aiortc uses per kind (512 video packets, 16 audio)."""
    return MarkerJitterBuffer(capacity=512 if kind == "video" else 16, is_video=kind == "video")


def depayloaded(packet: RtpPacket, data: bytes) -> RtpPacket:
    """Set the depayloaded payload a jitter buffer joins into frames (``RtpPacket._data``)."""
    packet._data = data  # type: ignore[attr-defined]
    return packet


def intercept_rtp(
    receiver: RTCRtpReceiver, keep: Callable[[RtpPacket], bool]
) -> Callable[[], None]:
    """Let ``keep(packet)`` drop incoming RTP before the receiver sees it (an impaired link in
    a test); returns a function that removes the interception.

    Relies on: ``RTCRtpReceiver._handle_rtp_packet(packet, arrival_time_ms)``, looked up on
    the instance by ``RTCDtlsTransport._handle_rtp_data`` for each packet.
    """
    original = receiver._handle_rtp_packet

    async def filtered(packet: RtpPacket, arrival_time_ms: int) -> None:
        if keep(packet):
            await original(packet, arrival_time_ms=arrival_time_ms)

    receiver._handle_rtp_packet = filtered  # type: ignore[method-assign]

    def restore() -> None:
        receiver._handle_rtp_packet = original  # type: ignore[method-assign]

    return restore


def rtx_ssrc_map(receiver: RTCRtpReceiver) -> dict[int, int]:
    """RTX SSRC → media SSRC, from the remote description's FID groups (RFC 4588).

    Relies on: ``RTCRtpReceiver.__rtx_ssrc``, filled by ``receive()``.
    """
    return dict(getattr(receiver, _RTX_SSRC, {}) or {})


def send_pli(receiver: RTCRtpReceiver, media_ssrc: int) -> Coroutine[Any, Any, None]:
    """A coroutine sending one PLI (RFC 4585 6.3.1) for ``media_ssrc`` on the receiver's transport.

    Relies on: ``RTCRtpReceiver._send_rtcp_pli(media_ssrc)``.
    """
    return receiver._send_rtcp_pli(media_ssrc)


# -- negotiation: the transceiver's codecs and the offer's direction ----------------------------

def negotiated_codecs(transceiver: RTCRtpTransceiver) -> list[RTCRtpCodecParameters]:
    """Relies on: ``RTCRtpTransceiver._codecs``, set by ``setRemoteDescription`` and used by
    ``createAnswer`` and by the sender/receiver parameters (``setCodecPreferences`` no longer
    changes it once negotiated)."""
    return list(transceiver._codecs)


def narrow_codecs(transceiver: RTCRtpTransceiver, codecs: list[RTCRtpCodecParameters]) -> None:
    transceiver._codecs = list(codecs)


def offer_direction(transceiver: RTCRtpTransceiver) -> str | None:
    """The remote offer's direction as seen from our side ("sendrecv"/"sendonly" = the client
    wants to receive). Relies on: ``RTCRtpTransceiver._offerDirection``."""
    return transceiver._offerDirection


# -- send path: keyframe requests from the remote receiver ------------------------------------

def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call ``callback`` for each PLI/FIR the remote side sends for this sender's stream.

    Relies on: ``RTCRtpSender._send_keyframe()``, called from ``_handle_rtcp_packet`` on PLI
    (RFC 4585) and FIR (RFC 5104); by default it asks the sender's encoder for a keyframe.
    """
    sender._send_keyframe = callback  # type: ignore[method-assign]


# -- RTP path: SRTP and the nominated candidate pair of a DTLS transport --------------------

def _ice_connection(dtls: RTCDtlsTransport) -> Any:
    connection = getattr(dtls.transport, "_connection", None)
    if connection is None or not hasattr(connection, "_protocols") or not hasattr(connection, "_nominated"):
        raise RuntimeError("aiortc/aioice internals changed: no ICE connection behind the DTLS transport")
    return connection


def intercept_srtp(
    dtls: RTCDtlsTransport,
    on_rtp: Callable[[bytes], None],
    on_rtcp: Callable[[bytes], None],
    on_error: Callable[[Exception], None] | None = None,
) -> Callable[[], None]:
    """Take SRTP and SRTCP off aiortc's receive path: each datagram is unprotected and handed to
    ``on_rtp``/``on_rtcp`` synchronously, in the datagram callback (no queue, no task hop, no
    STUN parse attempt). STUN and DTLS still reach aioice and aiortc as before. Must be called
    after ICE gathering (``setLocalDescription``); returns a function that undoes it.

    Relies on: ``RTCDtlsTransport.transport._connection`` (the aioice ``Connection``), its
    ``_protocols`` (one ``StunProtocol`` per local candidate, whose ``datagram_received`` asyncio
    looks up on the instance for each datagram), and ``RTCDtlsTransport._rx_srtp`` (the
    pylibsrtp session, None until the DTLS handshake is done). Datagrams that arrive while the
    handshake's last flight is still queued pass to aiortc, which unprotects them once it has
    the keys and hands them to ``_handle_rtp_data`` / ``_handle_rtcp_data``: those are
    replaced too, so even these reach ``on_rtp``/``on_rtcp`` and never aiortc's receivers.
    """
    connection = _ice_connection(dtls)
    restores: list[Callable[[], None]] = []

    async def late_rtp(data: bytes, arrival_time_ms: int) -> None:
        on_rtp(data)

    async def late_rtcp(data: bytes) -> None:
        on_rtcp(data)

    original_rtp, original_rtcp = dtls._handle_rtp_data, dtls._handle_rtcp_data
    dtls._handle_rtp_data = late_rtp  # type: ignore[method-assign]
    dtls._handle_rtcp_data = late_rtcp  # type: ignore[method-assign]

    def restore_dtls() -> None:
        dtls._handle_rtp_data = original_rtp  # type: ignore[method-assign]
        dtls._handle_rtcp_data = original_rtcp  # type: ignore[method-assign]

    restores.append(restore_dtls)

    for protocol in list(connection._protocols):
        original = protocol.datagram_received

        def received(data: bytes, addr: Any, _original: Any = original) -> None:
            first = data[0] if data else 0
            srtp = dtls._rx_srtp
            if first < 128 or first > 191 or srtp is None or len(data) < 12:
                _original(data, addr)  # STUN, DTLS, or SRTP before the keys exist
                return
            try:
                if 192 <= data[1] <= 208:  # RTCP packet types 192-208 (RFC 5761 4)
                    on_rtcp(srtp.unprotect_rtcp(data))
                else:
                    on_rtp(srtp.unprotect(data))
            except Exception as exc:  # replayed or unauthenticated (pylibsrtp.Error), or a bug:
                # never let it out, asyncio would close the socket for good
                if on_error is not None:
                    on_error(exc)

        protocol.datagram_received = received

        def restore(_protocol: Any = protocol, _original: Any = original) -> None:
            _protocol.datagram_received = _original

        restores.append(restore)

    def undo() -> None:
        for restore in restores:
            restore()

    return undo


def intercept_datagrams(dtls: RTCDtlsTransport, keep: Callable[[bytes], bool]) -> Callable[[], None]:
    """Let ``keep(datagram)`` drop incoming SRTP/SRTCP datagrams before anything sees them: an
    impaired link in a test. Same reliance as :func:`intercept_srtp`."""
    connection = _ice_connection(dtls)
    restores: list[Callable[[], None]] = []
    for protocol in list(connection._protocols):
        original = protocol.datagram_received

        def received(data: bytes, addr: Any, _original: Any = original) -> None:
            if data and 127 < data[0] < 192 and not keep(data):
                return
            _original(data, addr)

        protocol.datagram_received = received

        def restore(_protocol: Any = protocol, _original: Any = original) -> None:
            _protocol.datagram_received = _original

        restores.append(restore)

    def undo() -> None:
        for restore in restores:
            restore()

    return undo


class SrtpSender:
    """Protects and sends on a DTLS transport's nominated candidate pair, synchronously.

    Relies on: ``RTCDtlsTransport._tx_srtp`` (pylibsrtp session) and the aioice
    ``Connection._nominated[1]`` candidate pair (``protocol.transport`` is the asyncio datagram
    transport, ``remote_addr`` the peer's address); both looked up per send, so an ICE
    re-nomination is followed.
    """

    __slots__ = ("_dtls", "_nominated", "failures", "packets")

    def __init__(self, dtls: RTCDtlsTransport) -> None:
        self._dtls = dtls
        self._nominated: dict[int, Any] = _ice_connection(dtls)._nominated
        self.packets = 0
        self.failures = 0

    def send_rtp(self, packet: bytes) -> bool:
        srtp = self._dtls._tx_srtp
        pair = self._nominated.get(1)
        if srtp is None or pair is None:
            return False
        pair.protocol.transport.sendto(srtp.protect(packet), pair.remote_addr)
        self.packets += 1
        return True

    def send_rtcp(self, packet: bytes) -> bool:
        srtp = self._dtls._tx_srtp
        pair = self._nominated.get(1)
        if srtp is None or pair is None:
            return False
        pair.protocol.transport.sendto(srtp.protect_rtcp(packet), pair.remote_addr)
        return True


def sender_ssrcs(sender: RTCRtpSender) -> tuple[int, int]:
    """(media SSRC, RTX SSRC) that aiortc announced for this sender in the SDP.

    Relies on: ``RTCRtpSender._ssrc`` and ``_rtx_ssrc`` (random at construction).
    """
    return sender._ssrc, sender._rtx_ssrc


def silence_sender_reports(sender: RTCRtpSender) -> None:
    """Stop aiortc's own RTCP for a sender that no longer sends the media itself (its sender
    reports would count nothing and map a clock nobody uses); only its BYE still goes out.

    Relies on: ``RTCRtpSender._send_rtcp(packets)``, the one exit of ``_run_rtcp``'s SR/SDES
    every 0.5-1.5 s and of its final BYE.
    """
    original = sender._send_rtcp

    async def only_bye(packets: list[Any]) -> None:
        byes: list[Any] = [p for p in packets if isinstance(p, RtcpByePacket)]
        if byes:
            await original(byes)

    sender._send_rtcp = only_bye  # type: ignore[method-assign]


def on_sender_started(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call ``callback`` once aiortc starts this sender (DTLS connected, ``send()`` called from
    ``RTCPeerConnection.__connect``): the moment aiortc itself would begin sending media.

    Relies on: ``RTCPeerConnection.__connect`` awaiting ``transceiver.sender.send(parameters)``,
    looked up on the instance.
    """
    original = sender.send

    async def send(parameters: Any) -> None:
        await original(parameters)
        callback()

    sender.send = send  # type: ignore[method-assign]


def header_extensions(transceiver: RTCRtpTransceiver) -> dict[str, int]:
    """URI → id of the RTP header extensions negotiated on this transceiver (RFC 8285).

    Relies on: ``RTCRtpTransceiver._headerExtensions`` (the offer's ids, matched with
    aiortc's supported list by ``setRemoteDescription``).
    """
    return {ext.uri: ext.id for ext in transceiver._headerExtensions}


# -- ICE: which host candidates aioice gathers -----------------------------------------------

_original_host_addresses = aioice.ice.get_host_addresses


def restrict_host_addresses(addresses: list[str] | None) -> None:
    """Offer exactly ``addresses`` as ICE host candidates; None restores aioice's default.

    Relies on: ``aioice.ice.get_host_addresses(use_ipv4, use_ipv6)``, looked up as a module
    global by ``Connection.gather_candidates`` (aioice has no option for it).
    """
    if not addresses:
        aioice.ice.get_host_addresses = _original_host_addresses
        return
    fixed = list(addresses)

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in fixed if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    aioice.ice.get_host_addresses = host_addresses


def host_addresses_restricted() -> bool:
    return aioice.ice.get_host_addresses is not _original_host_addresses


# -- ICE: which UDP ports the host candidates bind to --------------------------------------------

_logger = logging.getLogger(__name__)
_PORT_TAKEN = (errno.EADDRINUSE, errno.EACCES)


class MediaPortsExhausted(OSError):
    """Every port of the media range is taken on an address. An ``OSError``, so aioice treats
    it as it treats an address it cannot bind: it skips that host candidate (we log why)."""


class _PortRangeLoop:
    """The running loop, except that a UDP endpoint asked for on port 0 gets a free port of the
    range instead (tried from a random start, each port at most once)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, lo: int, hi: int) -> None:
        self._loop = loop
        self._lo, self._hi = lo, hi

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loop, name)

    async def create_datagram_endpoint(self, factory: Any, local_addr: Any = None, **kwargs: Any) -> Any:
        if local_addr is None or local_addr[1] != 0:
            return await self._loop.create_datagram_endpoint(factory, local_addr=local_addr, **kwargs)
        address = local_addr[0]
        size = self._hi - self._lo + 1
        start = random.randrange(size)
        for step in range(size):
            port = self._lo + (start + step) % size
            try:
                return await self._loop.create_datagram_endpoint(factory, local_addr=(address, port), **kwargs)
            except OSError as exc:
                if exc.errno not in _PORT_TAKEN:
                    raise  # e.g. the address is not on this host: aioice skips it
        message = (f"no free UDP port for media on {address} in {self._lo}-{self._hi} "
                   f"({size} tried): widen --media-ports")
        _logger.error(message)
        raise MediaPortsExhausted(errno.EADDRINUSE, message)


class _PortRangeAsyncio:
    """``asyncio`` as aioice.ice sees it: the same module, but ``get_running_loop()`` returns
    the loop wrapped in :class:`_PortRangeLoop`."""

    def __init__(self, lo: int, hi: int) -> None:
        self.lo, self.hi = lo, hi

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    def get_running_loop(self) -> _PortRangeLoop:
        return _PortRangeLoop(asyncio.get_running_loop(), self.lo, self.hi)


def restrict_port_range(ports: tuple[int, int] | None) -> None:
    """Bind every ICE host candidate (of every ``aioice.Connection`` in this process) to a UDP
    port in ``ports = (lo, hi)``, inclusive; None restores aioice's ephemeral ports.

    Relies on: ``aioice.ice.Connection.get_component_candidates`` taking its loop from
    ``asyncio.get_running_loop()`` through the module global ``asyncio`` of ``aioice.ice``
    and binding each host socket with ``loop.create_datagram_endpoint(factory,
    local_addr=(address, 0))``, catching ``OSError`` (aioice has no option for a port range).
    The other uses of that loop in ``aioice.ice`` (futures, executors) pass through unchanged;
    TURN allocations (``aioice.turn``) keep their ephemeral local ports.
    """
    current = getattr(aioice.ice, "asyncio", None)
    if current is not asyncio and not isinstance(current, _PortRangeAsyncio):
        raise RuntimeError("aioice internals changed: aioice.ice.asyncio is not the asyncio module")
    if ports is None:
        setattr(aioice.ice, "asyncio", asyncio)  # noqa: B010 (a module global, replaced on purpose)
        return
    lo, hi = ports
    if not 1 <= lo <= hi <= 65535:
        raise ValueError(f"a media port range is lo-hi within 1-65535, not {lo}-{hi}")
    setattr(aioice.ice, "asyncio", _PortRangeAsyncio(lo, hi))  # noqa: B010


_original_component_candidates = aioice.ice.Connection.get_component_candidates


def announce_host_address(public: str | None) -> None:
    """Offer ``public`` in place of the bound address in every host candidate (1:1 NAT: a
    cloud VM's public IP, or a Docker host's, forwarding the same UDP ports to this host — pair
    it with :func:`restrict_port_range` and a range published 1:1); None offers the bound
    address again. The sockets stay bound where they were; only what we announce changes.

    Relies on: ``aioice.ice.Connection.get_component_candidates(component, addresses,
    timeout)`` returning the host ``Candidate`` objects it also keeps as each socket's
    ``StunProtocol.local_candidate`` (so the SDP and the connectivity checks both see the new
    ``host``), looked up on the class by ``Connection.gather_candidates``; and
    ``aioice.candidate.candidate_foundation``.
    """
    if public is None:
        aioice.ice.Connection.get_component_candidates = _original_component_candidates  # type: ignore[method-assign]
        return

    async def announced(self: Any, component: int, addresses: list[str], timeout: int = 5) -> Any:
        candidates = await _original_component_candidates(self, component, addresses, timeout)
        for candidate in candidates:
            if candidate.type == "host" and (":" in candidate.host) == (":" in public):
                candidate.host = public
                candidate.foundation = candidate_foundation("host", "udp", public)
        return candidates

    aioice.ice.Connection.get_component_candidates = announced  # type: ignore[method-assign]


def announced_host_address_set() -> bool:
    return aioice.ice.Connection.get_component_candidates is not _original_component_candidates


def media_port_range() -> tuple[int, int] | None:
    """The range :func:`restrict_port_range` set, or None (aioice's ephemeral ports)."""
    current = getattr(aioice.ice, "asyncio", None)
    return (current.lo, current.hi) if isinstance(current, _PortRangeAsyncio) else None


__all__ = [
    "AIOICE_VERSION",
    "AIORTC_VERSION",
    "MarkerJitterBuffer",
    "MediaPortsExhausted",
    "announce_host_address",
    "announced_host_address_set",
    "SrtpSender",
    "decoder_queue",
    "depayloaded",
    "header_extensions",
    "host_addresses_restricted",
    "intercept_datagrams",
    "intercept_rtp",
    "intercept_srtp",
    "jitter_buffer",
    "marker_jitter_buffer",
    "media_port_range",
    "narrow_codecs",
    "negotiated_codecs",
    "offer_direction",
    "on_keyframe_request",
    "on_sender_started",
    "pinned_versions_installed",
    "replace_decoder_queue",
    "replace_jitter_buffer",
    "restrict_host_addresses",
    "restrict_port_range",
    "rtx_ssrc_map",
    "send_pli",
    "sender_ssrcs",
    "silence_sender_reports",
]


# --- raw RTP on a client's transport (load generator) ----------------------------------------
# Send and receive RTP on a peer connection's DTLS transport without aiortc's per-packet path
# (RtpPacket parse/serialize, the receiver's jitter buffer and estimator, one coroutine per
# packet): SRTP unprotect in the datagram callback, SRTP protect + ``sendto`` synchronously.
# aiortc keeps ICE, DTLS, SDP and RTCP. Written for the load generator; nothing in it knows a
# caller, so a forwarding SFU can use the same functions on its legs.


_RTCP_PT = range(192, 209)  # second byte of an RTCP packet: aiortc's is_rtcp (RFC 5761 4)


def on_decrypted_rtp(dtls: RTCDtlsTransport, callback: Callable[[bytes], None]) -> Callable[[], None]:
    """Hand every incoming SRTP packet of ``dtls``, unprotected, to ``callback(rtp_bytes)`` —
    synchronously, in the datagram callback — instead of to aiortc's receivers. RTCP, DTLS and
    STUN go on as before (so PLI/FIR still reach the senders, SRs the receivers). Packets that
    arrive before the DTLS handshake set up SRTP, or fail authentication, are dropped. Returns
    a function that removes the interception.

    Relies on: aioice ``StunProtocol.datagram_received(data, addr)`` of each of the
    connection's sockets (``Connection._protocols``, looked up on the instance per datagram by
    asyncio and uvloop alike): RTP is taken there, before aioice tries to parse it as STUN;
    ``Connection.data_received(data, component)`` (called by the protocols for every non-STUN
    datagram) catches sockets added later; ``RTCDtlsTransport._rx_srtp`` (a
    ``pylibsrtp.Session``, set when the handshake completes). Install it after the remote
    description is applied: with BUNDLE aiortc moves every transceiver onto the first one's
    transport then.
    """
    connection = _ice_connection(dtls)

    def take(data: bytes) -> bool:
        """True when ``data`` was SRTP (handed on or dropped), False for anything else."""
        if not (127 < data[0] < 192 and len(data) > 12 and data[1] not in _RTCP_PT):
            return False
        session = dtls._rx_srtp
        if session is not None:
            try:
                plain = session.unprotect(data)
            except pylibsrtp.Error:
                return True
            callback(plain)
        return True

    original_data = connection.data_received

    def data_received(data: bytes, component: int) -> None:
        if not take(data):
            original_data(data, component)

    connection.data_received = data_received
    originals: list[tuple[Any, Any]] = []
    for protocol in list(connection._protocols):
        inner = protocol.datagram_received

        def datagram_received(data: bytes, addr: Any, inner: Any = inner) -> None:
            if not take(data):
                inner(data, addr)

        originals.append((protocol, inner))
        protocol.datagram_received = datagram_received

    def restore() -> None:
        connection.data_received = original_data
        for protocol, inner in originals:
            protocol.datagram_received = inner

    return restore


def _nominated(dtls: RTCDtlsTransport) -> tuple[Any, Any] | None:
    """``(datagram transport, remote address)`` of the selected candidate pair, or None.

    Relies on: aioice ``Connection._nominated[1]`` (the selected ``CandidatePair``, component
    1 with rtcp-mux), its ``protocol.transport`` (an asyncio ``DatagramTransport``) and
    ``remote_addr``."""
    pair = _ice_connection(dtls)._nominated.get(1)
    if pair is None:
        return None
    return pair.protocol.transport, pair.remote_addr


def send_rtp_batch(dtls: RTCDtlsTransport, packets: list[bytes]) -> int:
    """SRTP-protect RTP packets with the transport's keys and ``sendto`` each on the nominated
    candidate pair, synchronously; returns how many were sent: 0 until the transport is
    connected or after it closed. (One look-up of the pair per batch, e.g. per video frame.)

    Relies on: ``RTCDtlsTransport._tx_srtp`` (a ``pylibsrtp.Session``) and the nominated pair
    (see ``_nominated``).
    """
    if dtls.state != "connected":
        return 0
    route = _nominated(dtls)
    if route is None:
        return 0
    transport, addr = route
    protect = dtls._tx_srtp.protect
    for packet in packets:
        transport.sendto(protect(packet), addr)
    return len(packets)


def send_rtp_now(dtls: RTCDtlsTransport, packet: bytes) -> bool:
    """One packet of :func:`send_rtp_batch`: True if it was sent."""
    return send_rtp_batch(dtls, [packet]) == 1


def send_rtcp_now(dtls: RTCDtlsTransport, packet: bytes) -> bool:
    """The same for one (compound) RTCP packet: ``_tx_srtp.protect_rtcp`` then ``sendto``."""
    if dtls.state != "connected":
        return False
    route = _nominated(dtls)
    if route is None:
        return False
    transport, addr = route
    transport.sendto(dtls._tx_srtp.protect_rtcp(packet), addr)
    return True


def local_ssrc(sender: RTCRtpSender) -> int:
    """The media SSRC aiortc put in our SDP for this sender (``a=ssrc``).

    Relies on: ``RTCRtpSender._ssrc`` (random, set in ``__init__``)."""
    return int(sender._ssrc)


def negotiated_header_extensions(transceiver: RTCRtpTransceiver) -> dict[str, int]:
    """Header-extension URI → id as negotiated for this transceiver (RFC 8285).

    Relies on: ``RTCRtpTransceiver._headerExtensions``, set by ``setRemoteDescription`` to the
    extensions both sides offered (aiortc sends with exactly these)."""
    return {ext.uri: ext.id for ext in transceiver._headerExtensions}


_SENDER_NTP = "_RTCRtpSender__ntp_timestamp"
_SENDER_RTP_TS = "_RTCRtpSender__rtp_timestamp"
_SENDER_PACKETS = "_RTCRtpSender__packet_count"
_SENDER_OCTETS = "_RTCRtpSender__octet_count"


def note_rtp_sent(sender: RTCRtpSender, ntp_timestamp: int, rtp_timestamp: int, packets: int,
                  octets: int) -> None:
    """Tell an ``RTCRtpSender`` whose media we send ourselves what went out, so its own RTCP
    loop sends correct sender reports (RFC 3550 6.4.1: the NTP/RTP pair of the last packet,
    packet and payload-octet counts) and ``getStats()`` counts ``packetsSent``.

    Relies on: the name-mangled ``RTCRtpSender.__ntp_timestamp``, ``__rtp_timestamp``,
    ``__packet_count``, ``__octet_count``, read by ``_run_rtcp`` and ``getStats``.
    """
    if not hasattr(sender, _SENDER_PACKETS):
        raise RuntimeError("aiortc internals changed: RTCRtpSender has no packet count")
    setattr(sender, _SENDER_NTP, ntp_timestamp)
    setattr(sender, _SENDER_RTP_TS, rtp_timestamp)
    setattr(sender, _SENDER_PACKETS, packets)
    setattr(sender, _SENDER_OCTETS, octets)


class SilentTrack(MediaStreamTrack):
    """A track whose ``recv()`` never yields a frame: the ``RTCRtpSender`` that carries it keeps
    its transceiver sendrecv, its SSRC in the SDP and its RTCP loop, but its media loop never
    sends (the caller sends with ``send_rtp_now``). A sender without a track would instead
    poll every 20 ms.

    Relies on: ``RTCRtpSender._run_rtp`` awaiting ``track.recv()`` for each frame, and
    cancelling that task on ``stop()``.
    """

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._never: asyncio.Future[None] | None = None

    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        self._never = asyncio.get_running_loop().create_future()
        await self._never  # resolved only by stop()
        raise MediaStreamError

    def stop(self) -> None:
        super().stop()
        if self._never is not None and not self._never.done():
            self._never.set_result(None)


__all__ += [
    "SilentTrack",
    "local_ssrc",
    "negotiated_header_extensions",
    "note_rtp_sent",
    "on_decrypted_rtp",
    "send_rtcp_now",
    "send_rtp_batch",
    "send_rtp_now",
]
