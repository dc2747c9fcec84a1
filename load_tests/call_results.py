"""One call's raw results as a generator process writes them: join times, media accounting
(loss by payload hash or RTP timestamps), latency samples, and the received-video timeline the
fault mode reads."""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING, Any

from load_tests.peer import AUDIO_STEP, VIDEO_STEP, LoadPeer, Received

if TYPE_CHECKING:
    from load_tests.worker import CallRun


def call_result(call: CallRun, stop_at: float, t0: float) -> dict[str, Any]:
    """One call's raw figures, per side (the report's input; README: report.json)."""
    marks = {k: round((v - call.marks.get("start", v)) * 1000, 1) for k, v in call.marks.items()}
    out: dict[str, Any] = {
        "index": call.index, "call_id": call.call_id, "ok": call.state == "up" and not call.ended_early,
        "state": call.state, "error": call.error or (f"ended early: {call.ended_early}" if call.ended_early else None),
        "marks_ms": marks, "sides": {}, "urls": call.urls,
    }
    reconnects, errors = call.recovery()
    out["recovery_errors"] = errors[:10]
    accepted = call.marks.get("accepted")
    window_end = stop_at - 1.0
    for role, peer in (("shopper", call.shopper), ("agent", call.agent)):
        if peer is None or peer.remote is None:
            continue
        side: dict[str, Any] = {"errors": peer.errors[:5], **received_media(peer, accepted, window_end)}
        if accepted is not None:
            side["first_keyframe_ms"] = _ms(getattr(peer, "first_keyframe_at", None), accepted)
        side["rtp"] = call.stats.get(role)
        side["keyframe_requests_received"] = peer.keyframe_requests
        side["startup_plis"] = getattr(peer, "startup_plis", None)  # rtp generator: no keyframe yet
        side["timeline"] = _timeline(peer.video_in, t0)
        side["renegotiations"] = peer.renegotiations
        side["reconnects"] = reconnects[role]
        out["sides"][role] = side
    return out


def received_media(peer: LoadPeer, accepted: float | None, window_end: float) -> dict[str, Any]:
    """What one receiving peer saw — set-up times since the accept, video and audio accounting,
    picture checks, latency samples: the same figures for a Silkline call and a Janus one, so
    the comparison reads one shape."""
    seen: dict[str, Any] = {}
    if accepted is not None:
        seen["join_ms"] = _ms(peer.first_decoded_at, accepted)
        seen["first_frame_ms"] = _ms(peer.video_in.first_at, accepted)
    seen["video"] = video_accounting(peer, window_end)
    seen["audio"] = audio_accounting(peer)
    seen["picture_checks"] = {"decoded": peer.samples_decoded, "verified": peer.samples_verified,
                              "mismatched": peer.samples_mismatched, "unreadable": peer.samples_unreadable,
                              "reencoded_readable": peer.samples_reencoded}
    seen["video_latency_ms"] = [round(x, 2) for x in peer.video_in.latency_ms]
    seen["audio_latency_ms"] = [round(x, 2) for x in peer.audio_in.latency_ms]
    return seen


def _timeline(got: Received, t0: float) -> dict[str, Any]:
    """This side's received video in seconds since the run's t0: first and last frame, and the
    silences of at least TIMELINE_GAP (load_tests.faults.resume_after reads it)."""
    def rel(t: float | None) -> float | None:
        return None if t is None else round(t - t0, 3)

    return {"first_s": rel(got.first_at), "last_s": rel(got.last_at),
            "gaps_s": [[rel(a), rel(b)] for a, b in got.gaps]}


def _ms(t: float | None, since: float) -> float | None:
    return None if t is None else round((t - since) * 1000, 1)


def video_accounting(peer: LoadPeer, window_end: float) -> dict[str, Any]:
    """Frames the other side sent from the first one that arrived until ``window_end``,
    and how many of exactly those frames arrived (matched by payload hash)."""
    got = peer.video_in
    assert peer.remote is not None
    sent = peer.remote.sent_video
    base = {"frames_received": got.frames, "frames_sent": len(sent.times), "unmatched": got.unmatched,
            "freezes": got.freezes, "freeze_ms": round(got.freeze_ms, 1), "max_gap_ms": round(got.max_gap_ms, 1),
            "bytes_received": got.bytes}
    if got.unmatched > got.frames / 2 and (got.timestamps or got.epochs):
        # the bytes were changed on the way (a transcoding relay): count by RTP timestamps,
        # as for audio; frames a re-encoder skipped count as lost
        span, count = got.timestamp_count(VIDEO_STEP)
        base.update(expected=span, matched=count, lost=max(0, span - count), method="rtp_timestamps")
        return base
    if not got.seqs:
        base.update(expected=len(sent.times), matched=0, lost=len(sent.times), method="payload_hash")
        return base
    base["method"] = "payload_hash"
    lo = min(got.seqs)
    hi = bisect.bisect_right(sent.times, window_end)
    expected = max(0, hi - lo)
    matched = sum(1 for s in got.seqs if lo <= s < hi)
    base.update(expected=expected, matched=matched, lost=expected - matched)
    return base


def audio_accounting(peer: LoadPeer) -> dict[str, Any]:
    """Audio: the RTP timestamps span tells how many 20 ms packets should have arrived."""
    got = peer.audio_in
    assert peer.remote is not None
    base = {"frames_received": got.frames, "frames_sent": len(peer.remote.sent_audio.times)}
    span, count = got.timestamp_count(AUDIO_STEP)
    if not count:
        base.update(expected=base["frames_sent"], matched=0, lost=base["frames_sent"])
        return base
    # over every peer connection of the side (a migration starts new RTP timestamps)
    base.update(expected=span, matched=count, lost=max(0, span - count))
    return base
