"""A short real run of ``janus-compare``'s Janus side: one call through Janus VideoRoom in the
test network the command makes (and removes). Janus is never required by the suite: the test
skips, saying why, when it is not installed or when this is not root (namespaces need it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from load_tests import janus, netns

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(150)
def test_one_call_through_janus_reports_real_figures_and_cleans_up(tmp_path: Path) -> None:
    reason = janus.missing() or netns.available()
    if reason:
        pytest.skip(f"Janus comparison not possible here: {reason}")
    out = tmp_path / "jc"
    proc = subprocess.Popen(
        [sys.executable, "-m", "load_tests", "janus-compare", "--calls", "1", "--ramp", "0", "--duration", "5",
         "--servers", "janus", "--no-install", "--verify-interval", "2", "--out", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()  # this PID only
            proc.wait(10)
    assert proc.returncode == 0, stderr[-3000:]
    assert "Silkline against Janus" in stdout
    rep = json.loads((out / "janus-001-r1" / "report.json").read_text())
    assert rep["calls_ok"] == 1 and rep["calls_failed"] == 0, rep["failure_examples"]
    # media went both ways through Janus, unaltered, and decoded to the stamped frames
    assert rep["video"]["frames_received_total"] > 2 * 30
    assert rep["frames_altered"] == 0
    assert rep["picture_checks"]["verified"] >= 2 and rep["picture_checks"]["mismatched"] == 0
    # Janus's own CPU was sampled by PID
    assert rep["server_cpu_pct"] is not None and rep["server_cpu_pct"] > 0
    result = json.loads((out / "janus-compare.json").read_text())
    run = result["runs"][0]
    assert run["server"] == "janus" and run["packets_per_s"] > 100 and run["cpu_us_per_packet"] is not None
    assert result["idle_cpu_pct"]["janus"] is not None
    # the namespaces of that run are gone
    for name in (f"{netns.PREFIX}{proc.pid}", f"{netns.PREFIX}{proc.pid}-clients"):
        assert not (netns.NETNS_DIR / name).exists()
