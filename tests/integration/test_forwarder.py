"""The aiortc hooks (``media.aiortc_hooks``), the frame tap and the subscriber queue.

Each hook is checked against the installed aiortc, most of them on two real peers talking over
loopback: an aiortc upgrade that moves an internal fails here, loudly, by name.
"""

from __future__ import annotations

import asyncio
import queue

import aiortc
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.rtp import RtpPacket

from media import aiortc_hooks as hooks
from media.encoded import EncodedFrame, is_keyframe
from media.synthetic import EncodedVideoTrack, encode_vp8_clip
from sfu.forwarder import FrameTap, install_tap
from sfu.subscriber import Subscriber
from tests.support.eventually import eventually


def test_aiortc_is_the_pinned_version_with_the_hooked_internals():
    assert hooks.pinned_versions_installed(), (
        f"media/aiortc_hooks.py hooks aiortc {hooks.AIORTC_VERSION} / aioice {hooks.AIOICE_VERSION}"
        f" internals; installed: aiortc {aiortc.__version__}")


async def test_tap_replaces_the_decoder_queue():
    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver("video", "recvonly")
    frames: list[EncodedFrame] = []
    tap = install_tap(transceiver.receiver, frames.append, "video")
    assert hooks.decoder_queue(transceiver.receiver) is tap
    assert isinstance(hooks.jitter_buffer(transceiver.receiver), hooks.MarkerJitterBuffer)
    await pc.close()


class _Counting(queue.Queue):
    """A decoder queue that counts what the jitter buffer hands to the decoder thread."""

    def __init__(self) -> None:
        super().__init__()
        self.frames = 0

    def put(self, item, block=True, timeout=None) -> None:  # type: ignore[no-untyped-def]
        if item is not None:
            self.frames += 1
        super().put(item, block, timeout)


async def test_every_hook_on_two_real_peers():
    """Negotiation hooks on the answering side, receive-path hooks on its receiver, the
    keyframe hook on the offering side's sender, the host-address hook on both."""
    hooks.restrict_host_addresses(["127.0.0.1"])
    assert hooks.host_addresses_restricted()
    config = RTCConfiguration(iceServers=[])
    offerer, answerer = RTCPeerConnection(config), RTCPeerConnection(config)
    keyframe_requests: list[int] = []
    try:
        track = EncodedVideoTrack(encode_vp8_clip(frames=30, keyframe_interval=30))
        sender = offerer.addTransceiver(track, "sendonly").sender
        hooks.on_keyframe_request(sender, lambda: keyframe_requests.append(1))
        await offerer.setLocalDescription(await offerer.createOffer())
        assert "127.0.0.1" in offerer.localDescription.sdp

        counting = _Counting()
        kept: list[int] = []

        def tap(track: object) -> None:  # the "track" event comes before receive()
            receiver = answerer.getTransceivers()[0].receiver
            hooks.replace_decoder_queue(receiver, counting)
            hooks.replace_jitter_buffer(receiver, hooks.marker_jitter_buffer("video"))
            hooks.intercept_rtp(receiver, lambda p: kept.append(p.sequence_number) is None)

        answerer.on("track", tap)
        await answerer.setRemoteDescription(offerer.localDescription)
        transceiver = answerer.getTransceivers()[0]
        assert hooks.offer_direction(transceiver) == "recvonly"  # "sendonly" seen from our side
        codecs = hooks.negotiated_codecs(transceiver)
        vp8 = next(c for c in codecs if c.mimeType == "video/VP8")
        rtx_codec = next(c for c in codecs if c.mimeType == "video/rtx"
                         and c.parameters.get("apt") == vp8.payloadType)
        hooks.narrow_codecs(transceiver, [vp8, rtx_codec])
        await answerer.setLocalDescription(await answerer.createAnswer())
        assert "H264" not in answerer.localDescription.sdp  # the answer follows the narrowed list
        await offerer.setRemoteDescription(
            RTCSessionDescription(answerer.localDescription.sdp, "answer"))

        receiver = transceiver.receiver
        await eventually(lambda: counting.frames >= 5, timeout=15)  # jitter buffer → our queue
        assert len(kept) >= 5  # every packet went through the interception first
        assert isinstance(hooks.jitter_buffer(receiver), hooks.MarkerJitterBuffer)
        rtx = hooks.rtx_ssrc_map(receiver)  # from the offer's FID group: rtx → media SSRC
        assert len(rtx) == 1, rtx
        media_ssrc = next(iter(rtx.values()))
        assert media_ssrc in [s.source for s in receiver.getSynchronizationSources()]
        await hooks.send_pli(receiver, media_ssrc)
        await eventually(lambda: keyframe_requests, timeout=5)  # RTCP PLI → _send_keyframe
    finally:
        await offerer.close()
        await answerer.close()
        hooks.restrict_host_addresses(None)
    assert not hooks.host_addresses_restricted()


def test_tap_turns_jitter_frames_into_encoded_frames():
    class Codec:
        name, clockRate = "VP8", 90000

    class Jitter:
        def __init__(self, data: bytes) -> None:
            self.data, self.timestamp = data, 3000

    clip = encode_vp8_clip(frames=3, keyframe_interval=30)
    frames: list[EncodedFrame] = []
    tap = FrameTap("video", frames.append)
    tap.put((Codec, Jitter(clip[0])))
    tap.put((Codec, Jitter(clip[1])))
    assert [f.keyframe for f in frames] == [True, False]
    assert frames[0].data == clip[0] and frames[0].timestamp == 3000
    tap.put(None)
    assert tap.get() is None  # the parked decoder thread is released on stop


def test_keyframe_detection():
    clip = encode_vp8_clip(frames=4, keyframe_interval=2)
    assert [is_keyframe("VP8", f) for f in clip] == [True, False, True, False]
    assert is_keyframe("H264", b"\x00\x00\x00\x01\x67abc\x00\x00\x01\x65xyz")
    assert not is_keyframe("H264", b"\x00\x00\x00\x01\x41abc")
    assert is_keyframe("opus", b"\x01")


class FakePublisher:
    participant_id = "pub"

    def __init__(self) -> None:
        self.subscribers: list = []
        self.keyframe_requests = 0

    def add_subscriber(self, s) -> None:
        self.subscribers.append(s)

    def remove_subscriber(self, s) -> None:
        self.subscribers.remove(s)

    def request_keyframe(self) -> None:
        self.keyframe_requests += 1


def frame(ts: int, key: bool) -> EncodedFrame:
    return EncodedFrame("video", "VP8", b"\x00" if key else b"\x01", ts, 90000, key)


async def test_subscriber_starts_on_a_keyframe_and_keeps_timestamps_continuous():
    sub = Subscriber("video", "me")
    first, second = FakePublisher(), FakePublisher()
    sub.bind(first)
    assert first.keyframe_requests == 1
    sub.push(frame(1000, False))  # dropped: cannot be decoded without a keyframe
    sub.push(frame(4000, True))
    sub.push(frame(7000, False))
    assert (await sub.recv()).pts == 0
    assert (await sub.recv()).pts == 3000
    # switch publisher (the other side reconnected): timestamps continue, keyframe first
    sub.bind(second)
    assert second.keyframe_requests == 1 and first.subscribers == []
    sub.push(frame(500_000, False))
    sub.push(frame(503_000, True))
    assert (await sub.recv()).pts == 6000
    assert sub.frames_dropped == 2
    sub.stop()
    with pytest.raises(aiortc.mediastreams.MediaStreamError):
        await sub.recv()


async def test_subscriber_overflow_drops_to_next_keyframe_and_asks_for_one():
    sub = Subscriber("video", "me")
    pub = FakePublisher()
    sub.bind(pub)
    sub.push(frame(0, True))
    for i in range(1, 100):  # nobody reads: the queue (60) overflows
        sub.push(frame(i * 3000, False))
    assert sub._queue.qsize() <= 60
    assert pub.keyframe_requests >= 2
    assert sub.frames_dropped > 0
    sub.push(frame(999_000, True))
    packet = await asyncio.wait_for(sub.recv(), 1)
    assert bytes(packet) == b"\x00"  # the first frame out after overflow is the keyframe
    sub.stop()


def test_marker_jitter_buffer_completes_a_frame_at_its_marker_bit():
    MarkerJitterBuffer = hooks.MarkerJitterBuffer

    def packet(seq: int, ts: int, data: bytes, marker: bool) -> RtpPacket:
        p = RtpPacket(payload_type=96, sequence_number=seq, timestamp=ts, marker=int(marker))
        return hooks.depayloaded(p, data)

    video = MarkerJitterBuffer(capacity=64, is_video=True)
    assert video.add(packet(100, 3000, b"a", False))[1] is None
    frame = video.add(packet(101, 3000, b"b", True))[1]  # no need to wait for the next frame
    assert frame is not None and frame.data == b"ab" and frame.timestamp == 3000
    # a lost marker: the next frame's first packet completes the previous one
    assert video.add(packet(102, 6000, b"c", False))[1] is None
    frame = video.add(packet(103, 9000, b"d", False))[1]
    assert frame is not None and frame.data == b"c"
    # a hole: nothing until it is filled (e.g. by RTX)
    hole = MarkerJitterBuffer(capacity=64, is_video=True)
    assert hole.add(packet(10, 1, b"x", False))[1] is None
    assert hole.add(packet(12, 1, b"z", True))[1] is None
    assert hole.add(packet(11, 1, b"y", False))[1].data == b"xyz"
    audio = MarkerJitterBuffer(capacity=16, is_video=False)
    assert audio.add(packet(5, 960, b"opus", False))[1].data == b"opus"  # no prefetch wait


async def test_tap_installs_the_marker_jitter_buffer():
    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver("video", "recvonly")
    install_tap(transceiver.receiver, lambda f: None, "video")
    assert isinstance(hooks.jitter_buffer(transceiver.receiver), hooks.MarkerJitterBuffer)
    await pc.close()


def test_tap_logs_a_failing_dispatch_once_not_per_frame(caplog):
    class Codec:
        name, clockRate = "VP8", 90000

    class Jitter:
        data, timestamp = b"\x00", 0

    def broken(frame: EncodedFrame) -> None:
        raise RuntimeError("bug")

    tap = FrameTap("video", broken)
    for _ in range(100):
        tap.put((Codec, Jitter))
    records = [r for r in caplog.records if "dispatch failed" in r.getMessage()]
    assert len(records) == 1 and records[0].exc_info is not None
    assert tap._errors.count == 100  # counted, logged once


def test_aiortc_internals_are_reached_only_through_the_hooks_module():
    """No name-mangled aiortc attribute, private aiortc method or aioice module patch outside
    media/aiortc_hooks.py; and the load tool never imports the SFU."""
    import ast
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    private = re.compile(r"_RTCRtp\w+__|_RTCDtls\w+__|\._(codecs|offerDirection|send_keyframe|"
                         r"send_rtcp_pli|handle_rtp_packet|handle_rtp_data|rx_srtp|tx_srtp|data)\b"
                         r"|aioice\.ice\.get_host_addresses\s*=")
    pending: set[str] = set()
    files = [p for folder in ("sfu", "media", "load_tests", "tests/support")
             for p in (root / folder).rglob("*.py") if p.name != "aiortc_hooks.py"
             and str(p.relative_to(root)) not in pending]
    offenders = []
    for path in files:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if private.search(code) and "``" not in code:
                offenders.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    assert offenders == []
    for path in (root / "load_tests").rglob("*.py"):
        tree = ast.parse(path.read_text())
        modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        modules |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not {m for m in modules if m.split(".")[0] == "sfu"}, f"{path} imports the SFU"


async def test_the_rtp_path_hooks_on_two_real_peers():
    """SRTP taken off aiortc's path in the datagram callback, synchronous protect-and-send on
    the nominated pair, the sender's SSRCs, its started moment, its silenced reports, and the
    negotiated header-extension ids."""
    from aiortc.rtp import RtcpPacket, RtcpSrPacket

    from sfu import rtcp
    from sfu.rtp_header import MID_URI, parse_header

    hooks.restrict_host_addresses(["127.0.0.1"])
    config = RTCConfiguration(iceServers=[])
    offerer, answerer = RTCPeerConnection(config), RTCPeerConnection(config)
    keyframe_requests: list[int] = []
    started: list[int] = []
    rtp: list[int] = []
    reports: list[object] = []
    datagrams: list[int] = []
    try:
        track = EncodedVideoTrack(encode_vp8_clip(frames=30, keyframe_interval=30))
        sender = offerer.addTransceiver(track, "sendonly").sender
        hooks.on_keyframe_request(sender, lambda: keyframe_requests.append(1))
        hooks.on_sender_started(sender, lambda: started.append(1))
        hooks.silence_sender_reports(sender)
        await offerer.setLocalDescription(await offerer.createOffer())
        await answerer.setRemoteDescription(offerer.localDescription)
        await answerer.setLocalDescription(await answerer.createAnswer())
        transceiver = answerer.getTransceivers()[0]
        assert MID_URI in hooks.header_extensions(transceiver)
        ssrc, rtx_ssrc = hooks.sender_ssrcs(sender)
        assert f"a=ssrc:{ssrc} " in offerer.localDescription.sdp
        assert f"a=ssrc:{rtx_ssrc} " in offerer.localDescription.sdp
        dtls = transceiver.receiver.transport
        undo = hooks.intercept_srtp(dtls, lambda d: rtp.append(parse_header(d).ssrc),
                                    lambda d: reports.extend(RtcpPacket.parse(d)))
        hooks.intercept_datagrams(offerer.getTransceivers()[0].sender.transport,
                                  lambda d: datagrams.append(len(d)) is None)
        await offerer.setRemoteDescription(RTCSessionDescription(answerer.localDescription.sdp, "answer"))
        await eventually(lambda: len(rtp) >= 20, timeout=15, message="RTP in the datagram callback")
        assert set(rtp) == {ssrc} and started == [1]
        # nothing of it reached aiortc's receiver: no synchronization source was ever noted
        assert transceiver.receiver.getSynchronizationSources() == []
        wire = hooks.SrtpSender(dtls)
        assert wire.send_rtcp(rtcp.pli(1, ssrc))  # protected and sent on the nominated pair
        await eventually(lambda: keyframe_requests, timeout=5, message="PLI at the offerer")
        assert datagrams  # our PLI passed the offerer's datagram interception
        await asyncio.sleep(1.6)  # aiortc would have sent a sender report by now
        assert not [r for r in reports if isinstance(r, RtcpSrPacket)]
        undo()
    finally:
        await offerer.close()
        await answerer.close()
        hooks.restrict_host_addresses(None)


async def test_raw_rtp_hooks_on_two_real_peers():
    """The load generator's hooks: an offerer whose sender carries a SilentTrack sends one
    hand-built RTP packet with send_rtp_now; the answerer's on_decrypted_rtp gets exactly those
    bytes, unprotected, while RTCP still takes aiortc's path both ways (a PLI sent with
    send_rtcp_now reaches on_keyframe_request; the SR carries what note_rtp_sent told the sender)."""
    import struct

    from aiortc.rtp import RtcpPsfbPacket

    hooks.restrict_host_addresses(["127.0.0.1"])
    config = RTCConfiguration(iceServers=[])
    offerer, answerer = RTCPeerConnection(config), RTCPeerConnection(config)
    keyframe_requests: list[int] = []
    received: list[bytes] = []
    try:
        track = hooks.SilentTrack("video")
        transceiver = offerer.addTransceiver(track, "sendonly")
        sender = transceiver.sender
        hooks.on_keyframe_request(sender, lambda: keyframe_requests.append(1))
        assert not hooks.send_rtp_now(sender.transport, b"\x80" * 20)  # not connected yet: refused
        await offerer.setLocalDescription(await offerer.createOffer())
        ssrc = hooks.local_ssrc(sender)
        assert f"a=ssrc:{ssrc} " in offerer.localDescription.sdp
        await answerer.setRemoteDescription(offerer.localDescription)
        await answerer.setLocalDescription(await answerer.createAnswer())
        await offerer.setRemoteDescription(RTCSessionDescription(answerer.localDescription.sdp, "answer"))
        extensions = hooks.negotiated_header_extensions(transceiver)
        assert "urn:ietf:params:rtp-hdrext:sdes:mid" in extensions, extensions
        vp8 = next(c for c in hooks.negotiated_codecs(transceiver) if c.mimeType == "video/VP8")
        remote_receiver = answerer.getTransceivers()[0].receiver
        rx_dtls = remote_receiver.transport
        unhook = hooks.on_decrypted_rtp(rx_dtls, received.append)
        tx_dtls = sender.transport
        await eventually(lambda: tx_dtls.state == "connected" and rx_dtls.state == "connected", timeout=15)

        packet = struct.pack("!BBHII", 0x80, 0x80 | vp8.payloadType, 4242, 90000, ssrc) + b"\x10payload"
        assert hooks.send_rtp_now(tx_dtls, packet)
        await eventually(lambda: received, timeout=5)
        assert received == [packet]  # unprotected, byte for byte, and nothing from aiortc's media loop
        batch = [struct.pack("!BBHII", 0x80, vp8.payloadType, seq, 93000, ssrc) + b"\x10x" for seq in (4243, 4244)]
        assert hooks.send_rtp_batch(tx_dtls, batch) == 2
        await eventually(lambda: len(received) == 3, timeout=5)
        assert received == [packet, *batch]
        received[:] = [packet]

        hooks.note_rtp_sent(sender, ntp_timestamp=0x1234_5678_0000_0000, rtp_timestamp=90000,
                            packets=1, octets=len(packet) - 12)
        assert [s.packetsSent for s in (await sender.getStats()).values() if s.type == "outbound-rtp"] == [1]

        async def remote_saw_sender_report() -> bool:
            stats = (await remote_receiver.getStats()).values()
            return any(s.type == "remote-outbound-rtp" and s.packetsSent == 1 for s in stats)

        # aiortc sends an SR every 0.5–1.5 s: RTCP still takes aiortc's path past the hook
        await eventually(remote_saw_sender_report, timeout=5, message="the sender report")
        assert received == [packet]  # the silent track sent nothing meanwhile

        pli = RtcpPsfbPacket(fmt=1, ssrc=12345, media_ssrc=ssrc)
        assert hooks.send_rtcp_now(rx_dtls, bytes(pli))
        await eventually(lambda: keyframe_requests, timeout=5)

        unhook()  # aiortc's receiver gets RTP again
        seen: list[int] = []
        hooks.intercept_rtp(remote_receiver, lambda p: seen.append(p.sequence_number) is None)
        assert hooks.send_rtp_now(tx_dtls, packet[:2] + struct.pack("!H", 4245) + packet[4:])
        await eventually(lambda: seen == [4245], timeout=5)
        assert received == [packet]
    finally:
        await offerer.close()
        await answerer.close()
        hooks.restrict_host_addresses(None)
    assert not hooks.send_rtp_now(tx_dtls, packet)  # closed: refused, no exception
    assert hooks.send_rtp_batch(tx_dtls, [packet]) == 0
    assert track.readyState == "ended"


def candidate_ports(sdp: str) -> list[int]:
    """The ports of the ``a=candidate`` lines (RFC 8839: foundation component transport
    priority address port typ type)."""
    return [int(line.split()[5]) for line in sdp.splitlines() if line.startswith("a=candidate:")]


def free_udp_range(size: int) -> tuple[int, int]:
    """``size`` consecutive UDP ports on 127.0.0.1 that are free now (bounded tries)."""
    import random
    import socket

    for _ in range(50):
        lo = random.randrange(42000, 60000 - size)
        socks = []
        try:
            for port in range(lo, lo + size):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return lo, lo + size - 1
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free UDP port range found")


async def test_port_range_hook_on_two_real_peers():
    """Both peers' host candidates, and the pair ICE nominates, are in the range; media flows."""
    lo, hi = free_udp_range(20)
    hooks.restrict_host_addresses(["127.0.0.1"])
    hooks.restrict_port_range((lo, hi))
    assert hooks.media_port_range() == (lo, hi)
    config = RTCConfiguration(iceServers=[])
    offerer, answerer = RTCPeerConnection(config), RTCPeerConnection(config)
    try:
        track = EncodedVideoTrack(encode_vp8_clip(frames=30, keyframe_interval=30))
        offerer.addTransceiver(track, "sendonly")
        await offerer.setLocalDescription(await offerer.createOffer())
        await answerer.setRemoteDescription(offerer.localDescription)
        await answerer.setLocalDescription(await answerer.createAnswer())
        await offerer.setRemoteDescription(RTCSessionDescription(answerer.localDescription.sdp, "answer"))
        for sdp in (offerer.localDescription.sdp, answerer.localDescription.sdp):
            ports = candidate_ports(sdp)
            assert ports and all(lo <= p <= hi for p in ports), (ports, lo, hi)
        await eventually(lambda: answerer.connectionState == "connected", timeout=15)
        dtls = answerer.getTransceivers()[0].receiver.transport
        pair = hooks._ice_connection(dtls)._nominated[1]
        assert lo <= pair.local_candidate.port <= hi
        await eventually(lambda: answerer.getTransceivers()[0].receiver.track is not None, timeout=5)
    finally:
        await offerer.close()
        await answerer.close()
        hooks.restrict_port_range(None)
        hooks.restrict_host_addresses(None)
    assert hooks.media_port_range() is None


async def test_port_range_exhausted_is_said_in_words(caplog):
    """A range whose only port is taken: no host candidate on that address, and the log says why."""
    import socket

    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind(("127.0.0.1", 0))
    port = taken.getsockname()[1]
    hooks.restrict_host_addresses(["127.0.0.1"])
    hooks.restrict_port_range((port, port))
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        pc.addTransceiver("audio", "recvonly")
        with caplog.at_level("ERROR", logger="media.aiortc_hooks"):
            await pc.setLocalDescription(await pc.createOffer())
        assert candidate_ports(pc.localDescription.sdp) == []
        assert f"no free UDP port for media on 127.0.0.1 in {port}-{port} (1 tried)" in caplog.text
    finally:
        await pc.close()
        taken.close()
        hooks.restrict_port_range(None)
        hooks.restrict_host_addresses(None)
    with pytest.raises(ValueError):
        hooks.restrict_port_range((2000, 1999))


class _OneToOneNat:
    """A 1:1 NAT on loopback: each ``public:p`` forwards to ``inside:p`` (same port), one flow
    socket per outside sender, and the inside host's replies come back from ``public:p``."""

    def __init__(self, public: str, inside: str, ports: tuple[int, int]) -> None:
        self.public, self.inside, self.ports = public, inside, ports
        self.fronts: dict[int, asyncio.DatagramTransport] = {}
        self.flows: dict[tuple[int, tuple[str, int]], asyncio.DatagramTransport] = {}
        self.forwarded = 0
        self.opening: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for port in range(self.ports[0], self.ports[1] + 1):
            transport, _ = await loop.create_datagram_endpoint(
                lambda port=port: _Receiving(lambda data, addr: self._inbound(port, data, addr)),
                local_addr=(self.public, port))
            self.fronts[port] = transport

    def _inbound(self, port: int, data: bytes, outside: tuple[str, int]) -> None:
        flow = self.flows.get((port, outside))
        if flow is None:
            task = asyncio.get_running_loop().create_task(self._open_flow(port, outside, data))
            self.opening.add(task)
            task.add_done_callback(self.opening.discard)
            return
        flow.sendto(data, (self.inside, port))
        self.forwarded += 1

    async def _open_flow(self, port: int, outside: tuple[str, int], first: bytes) -> None:
        front = self.fronts[port]
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: _Receiving(lambda data, addr: front.sendto(data, outside)), local_addr=("127.0.0.1", 0))
        self.flows[(port, outside)] = transport
        transport.sendto(first, (self.inside, port))

    async def close(self) -> None:
        for task in list(self.opening):
            task.cancel()
        await asyncio.gather(*self.opening, return_exceptions=True)
        for transport in [*self.fronts.values(), *self.flows.values()]:
            transport.close()


class _Receiving(asyncio.DatagramProtocol):
    def __init__(self, on_datagram) -> None:  # type: ignore[no-untyped-def]
        self.on_datagram = on_datagram

    def datagram_received(self, data: bytes, addr) -> None:  # type: ignore[no-untyped-def]
        self.on_datagram(data, addr)


async def test_announced_address_behind_a_one_to_one_nat():
    """The answerer binds 127.0.0.2 (its "private" address, which the offerer cannot reach)
    and announces 127.0.0.3 (the "public" one): ICE connects through the NAT, and media flows."""
    lo, hi = free_udp_range(10)
    config = RTCConfiguration(iceServers=[])
    offerer, answerer = RTCPeerConnection(config), RTCPeerConnection(config)
    nat = _OneToOneNat("127.0.0.3", "127.0.0.2", (lo, hi))
    await nat.start()
    try:
        hooks.restrict_host_addresses(["127.0.0.1"])
        offerer.addTransceiver(EncodedVideoTrack(encode_vp8_clip(frames=30, keyframe_interval=30)), "sendonly")
        await offerer.setLocalDescription(await offerer.createOffer())
        for protocol in hooks._ice_connection(offerer.getTransceivers()[0].sender.transport)._protocols:
            inner = protocol.datagram_received  # the private network is unreachable from outside

            def outside_only(data: bytes, addr, inner=inner) -> None:  # type: ignore[no-untyped-def]
                if addr[0] != "127.0.0.2":
                    inner(data, addr)

            protocol.datagram_received = outside_only
        hooks.restrict_host_addresses(["127.0.0.2"])
        hooks.restrict_port_range((lo, hi))
        hooks.announce_host_address("127.0.0.3")
        assert hooks.announced_host_address_set()
        await answerer.setRemoteDescription(offerer.localDescription)
        await answerer.setLocalDescription(await answerer.createAnswer())
        answer = answerer.localDescription.sdp
        hosts = [line.split()[4] for line in answer.splitlines() if line.startswith("a=candidate:")]
        assert hosts == ["127.0.0.3"], answer
        assert all(lo <= p <= hi for p in candidate_ports(answer))
        await offerer.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        await eventually(lambda: answerer.connectionState == "connected", timeout=20)
        await eventually(lambda: nat.forwarded > 20, timeout=10)  # media through the NAT
    finally:
        await offerer.close()
        await answerer.close()
        await nat.close()
        hooks.announce_host_address(None)
        hooks.restrict_port_range(None)
        hooks.restrict_host_addresses(None)
    assert not hooks.announced_host_address_set()
