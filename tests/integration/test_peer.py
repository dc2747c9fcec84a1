"""The Peer's answer: one codec per kind, every requested stream really sent."""

from __future__ import annotations

from aiortc import RTCConfiguration, RTCPeerConnection

from media.aiortc_hooks import negotiated_codecs
from sfu import SfuNode


async def _answer(kinds: list[str], munge=None) -> tuple[str, object]:
    node = SfuNode(host_addresses=["127.0.0.1"])
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    for kind in kinds:
        pc.addTransceiver(kind, "recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    offer = pc.localDescription.sdp
    if munge:
        offer = munge(offer)
    participant = node.room("c").add_participant("p", "supervisor")
    answer = await participant.negotiate(offer)
    transceivers = participant.peer.pc.getTransceivers()
    candidates = [len(t.receiver.transport.transport.iceGatherer.getLocalCandidates()) for t in transceivers]
    codecs = [[c.mimeType for c in negotiated_codecs(t)] for t in transceivers]
    await pc.close()
    await node.close()
    return answer, (candidates, codecs)


async def test_every_transceiver_of_a_repeated_kind_is_bundled_and_sent():
    # aiortc's default bundle policy strands the last transceiver of a repeated kind on a
    # discarded transport (a supervisor's second video would never arrive)
    _, (candidates, _) = await _answer(["audio", "audio", "video", "video"])
    assert all(c > 0 for c in candidates), candidates


async def test_answer_keeps_one_codec_per_kind_with_its_rtx():
    answer, (_, codecs) = await _answer(["audio", "video"])
    assert codecs == [["audio/opus"], ["video/VP8", "video/rtx"]]
    assert "PCMU" not in answer and "H264" not in answer


async def test_h264_only_offer_gets_h264():
    def h264_first(sdp: str) -> str:
        lines = sdp.splitlines()
        out = []
        for line in lines:
            if line.startswith("m=video"):
                parts = line.split()
                # keep only the H.264 payload types (99, 100 rtx in aiortc's offer)
                line = " ".join(parts[:3] + ["99", "100"])
            if ("VP8" in line or "apt=97" in line or ":97 " in line or ":98 " in line
                    or line.startswith(("a=rtpmap:101", "a=rtpmap:102", "a=fmtp:101", "a=fmtp:102",
                                        "a=rtcp-fb:101", "a=rtcp-fb:102"))):
                continue
            out.append(line)
        return "\r\n".join(out) + "\r\n"

    _, (_, codecs) = await _answer(["video"], h264_first)
    assert codecs[0][0] == "video/H264"
