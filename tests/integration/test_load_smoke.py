"""Smoke test of the load-test tool (load_tests/): a short real run with two calls against a
server it spawns itself, checking that the report's figures come from real measurements."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("generator", ["rtp", "aiortc"])  # the default and the comparison one
def test_two_call_run_reports_real_figures(tmp_path: Path, generator: str) -> None:
    out = tmp_path / "report"
    proc = subprocess.run(
        [sys.executable, "-m", "load_tests", "run", "--calls", "2", "--ramp", "1", "--duration", "5",
         "--spawn-server", "--out", str(out), "--verify-interval", "2", "--generator", generator],
        cwd=ROOT, capture_output=True, text=True, timeout=100, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "calls up" in proc.stderr  # live progress went to stderr
    rep = json.loads((out / "report.json").read_text())

    assert rep["calls_ok"] == 2 and rep["calls_failed"] == 0, rep["failure_examples"]
    # frames really arrived, on both sides of both calls
    video = rep["video"]
    assert video["frames_received_total"] > 2 * 2 * 30  # > 1 s of video per side
    for call in rep["per_call"]:
        assert set(call["join_ms"]) == {"shopper", "agent"}
    # join time: measured for every side, plausible on loopback
    assert rep["join_ms"]["n"] == 4
    assert 0 < rep["join_ms"]["p50"] <= rep["join_ms"]["p95"] < 10_000
    # loss is computed from counts: frames the senders sent against frames that arrived
    assert video["expected"] > 0 and video["received"] <= video["expected"]
    assert rep["loss_pct"] is not None
    expected = video["expected"] + rep["audio"]["expected"]
    lost = video["lost"] + rep["audio"]["lost"]
    assert rep["loss_pct"] == pytest.approx(100 * lost / expected, abs=1e-3)
    assert rep["rtp"]["video"]["packets_received"] > 0 and rep["rtp"]["video"]["packets_sent"] > 0
    assert rep["rtp"]["video"]["jitter_ms"]["n"] == 4
    # latency: one sample per matched frame, measured on the generator's clock
    assert rep["added_latency_ms"]["n"] >= video["received"] * 0.9
    assert 0 < rep["added_latency_ms"]["p50"] < 1000
    # the server forwarded the encoded bytes unchanged, and sampled pictures decode to the
    # frame counter the sender stamped
    assert rep["frames_altered"] == 0
    assert rep["picture_checks"]["verified"] >= 4 and rep["picture_checks"]["mismatched"] == 0
    # the server's CPU and memory were sampled by PID, and the generator's own CPU too
    assert rep["server_pid"] and rep["server_cpu_pct"] is not None and rep["server_cpu_pct"] > 0
    assert rep["server_rss_mb"] > 20
    assert any(s["server_cpu"] for s in rep["timeline"])
    assert rep["generator"]["cpu_pct"] > 0 and rep["generator"]["cpu_s"] > 0
    # the generator's CPU per call beside the node's, from the same window
    assert rep["params"]["generator"] == generator and rep["generator_cpu_pct"] == rep["generator"]["cpu_pct"]
    per_call = rep["cpu_per_call"]
    assert per_call["generator"] == generator
    assert per_call["server_pct"] == rep["server_cpu_pct_per_call"] and per_call["generator_pct"] > 0
    assert len(rep["load_average"]) == 3
    for name in ("report.md", "join_cdf.png", "timeline.png"):
        assert (out / name).stat().st_size > 0
    assert "join time" in (out / "report.md").read_text()


def _packet(seq: int, ts: int, marker: int, data: bytes):  # type: ignore[no-untyped-def]
    from aiortc.rtp import RtpPacket

    packet = RtpPacket(payload_type=96, sequence_number=seq, timestamp=ts)
    packet.marker = marker
    packet._data = data  # type: ignore[attr-defined]  # what aiortc's depayloader sets
    return packet


def test_marker_jitter_buffer_hands_over_a_frame_at_its_last_packet() -> None:
    from load_tests.peer import MarkerJitterBuffer

    buffer = MarkerJitterBuffer(capacity=16, is_video=True)
    assert buffer.add(_packet(100, 3000, 0, b"a"))[1] is None
    frame = buffer.add(_packet(101, 3000, 1, b"b"))[1]
    assert frame is not None and frame.data == b"ab" and frame.timestamp == 3000
    # a hole: the marker packet alone is not a frame until the missing packet arrives
    assert buffer.add(_packet(103, 6000, 1, b"d"))[1] is None
    frame = buffer.add(_packet(102, 6000, 0, b"c"))[1]
    assert frame is not None and frame.data == b"cd"
    # audio: every packet is a whole frame, marker or not
    audio = MarkerJitterBuffer(capacity=16, is_video=False)
    assert audio.add(_packet(7, 960, 0, b"x"))[1].data == b"x"


def test_receive_tap_releases_the_decoder_thread() -> None:
    import threading

    from load_tests.peer import ReceiveTap

    tap = ReceiveTap(peer=None, kind="audio")  # type: ignore[arg-type]
    got: list[object] = []
    thread = threading.Thread(target=lambda: got.append(tap.get()))
    thread.start()
    tap.put(None)  # what aiortc does when it stops the receiver
    thread.join(5)
    assert not thread.is_alive() and got == [None]


def test_percentiles_are_nearest_rank() -> None:
    from load_tests.report import dist, pct

    values = list(range(1, 101))
    assert pct(values, 50) == 50 and pct(values, 95) == 95 and pct(values, 99) == 99
    assert pct([], 50) is None
    assert dist([5.0])["p99"] == 5.0
