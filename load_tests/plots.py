"""PNG plots (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from load_tests.faults import resume_after  # noqa: E402


def _cdf(ax: Any, values: list[float], label: str) -> None:
    if not values:
        return
    xs = sorted(values)
    ys = [(i + 1) / len(xs) for i in range(len(xs))]
    ax.step(xs, ys, where="post", label=f"{label} (n={len(xs)})")


def join_cdf(rep: dict[str, Any], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    by_role: dict[str, list[float]] = {"shopper": [], "agent": []}
    for call in rep["per_call"]:
        for role, value in (call.get("join_ms") or {}).items():
            if value is not None:
                by_role.setdefault(role, []).append(value)
    _cdf(ax, by_role["shopper"] + by_role["agent"], "all sides")
    _cdf(ax, by_role["shopper"], "shopper sees agent")
    _cdf(ax, by_role["agent"], "agent sees shopper")
    ax.axvline(600, color="red", linestyle="--", linewidth=1, label="target p95 600 ms")
    ax.axhline(0.95, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("join time: accept sent → first remote video frame decoded (ms)")
    ax.set_ylabel("fraction of call sides")
    ax.set_title(f"Join time CDF, {rep['calls']} calls ({rep['params']['forwarding']})")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def timeline(rep: dict[str, Any], path: Path) -> None:
    """A single run: CPU, calls up and loss over time."""
    samples = rep["timeline"]
    progress = rep.get("progress") or []
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    t = [s["t"] for s in samples]
    ax1.plot(t, [s["server_cpu"] for s in samples], label="server CPU %")
    ax1.plot(t, [s["generator_cpu"] for s in samples], label="generator CPU %")
    ax1.plot(t, [s["system_cpu"] for s in samples], label="machine CPU %", alpha=0.5)
    ax1.axhline(100 * rep["cores"], color="red", linestyle="--", linewidth=1, label="all cores")
    w0, w1 = rep["steady_window_s"]
    ax1.axvspan(w0, w1, color="green", alpha=0.07, label="steady window")
    ax1.set_ylabel("CPU % (100 = one core)")
    ax1.grid(alpha=0.3)
    ax1.legend(fontsize=7, loc="upper left")
    ax1.set_title(f"{rep['calls']} calls ({rep['params']['forwarding']}): CPU, calls and loss over time")
    pt = [p["t"] for p in progress]
    ax2.plot(pt, [p["up"] for p in progress], color="tab:blue", label="calls up")
    ax2.set_ylabel("calls up")
    ax2.set_xlabel("seconds since the first call started")
    ax2.grid(alpha=0.3)
    ax3 = ax2.twinx()
    ax3.plot(pt, [p["video_loss_pct"] if p["video_loss_pct"] is not None else float("nan") for p in progress],
             color="tab:red", label="video frame loss % (last second)")
    ax3.set_ylabel("loss %")
    lines = ax2.get_lines() + ax3.get_lines()
    ax2.legend(lines, [line.get_label() for line in lines], fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def kill_timeline(rep: dict[str, Any], path: Path) -> None:
    """Fault mode: per call side, a bar where video arrived, broken by its gaps, and the kills."""
    rows = []
    for call in rep["per_call"]:
        for role, line in sorted((call.get("timeline") or {}).items()):
            if line and line.get("first_s") is not None and line.get("last_s") is not None:
                rows.append((f"#{call['index']} {role}", line, call.get("call_id")))
    fig, ax = plt.subplots(figsize=(8, 1.5 + 0.3 * max(1, len(rows))))
    for y, (_, line, _) in enumerate(rows):
        start, spans = line["first_s"], []
        for before, after in line.get("gaps_s") or []:
            spans.append((start, max(0.0, before - start)))
            start = after
        spans.append((start, max(0.0, line["last_s"] - start)))
        ax.broken_barh(spans, (y - 0.35, 0.7), color="tab:green")
    kills = [k for k in rep["faults"]["events"] if k.get("pid")]
    for n, kill in enumerate(kills):
        ax.axvline(kill["at_s"], color="red", linewidth=1, label="kill -9 of a node" if n == 0 else None)
        for y, (_, line, call_id) in enumerate(rows):  # how long a side of a call it carried waited
            waited = resume_after(line, kill["at_s"]) if call_id in (kill.get("rooms") or []) else None
            if waited:
                ax.text(kill["at_s"] + waited, y, f" {waited:.1f} s", fontsize=6, va="center")
    ax.set_yticks(range(len(rows)), [label for label, _, _ in rows], fontsize=7)
    ax.invert_yaxis()  # the first call on top
    ax.set_xlabel("seconds since the first call started (green: video arriving; gaps ≥ 0.1 s are blank)")
    s = rep["faults"]["summary"]
    ax.set_title(f"Node kills: of {s['calls_affected']} calls on a killed node {s['calls_survived']} survived, "
                 f"{s['calls_resumed']} got media back, "
                 f"media back p95 {s['resume_s']['p95'] if s['resume_s']['p95'] is not None else '–'} s", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    if rep["faults"]["events"]:
        ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def sweep(steps: list[dict[str, Any]], out: Path, thresholds: dict[str, float]) -> None:
    """CPU, loss and join time against the number of calls."""
    steps = sorted(steps, key=lambda s: s["calls"])
    n = [s["calls"] for s in steps]

    def series(key: str) -> list[float]:
        return [s[key] if s.get(key) is not None else float("nan") for s in steps]

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(n, series("server_cpu_pct"), marker="o", label="server CPU %")
    ax.plot(n, series("generator_cpu_pct"), marker="s", label="generator CPU %")
    ax.plot(n, series("system_cpu_pct"), marker=".", alpha=0.6, label="machine CPU %")
    ax.set_xlabel("concurrent calls")
    ax.set_ylabel("CPU % (100 = one core)")
    ax.set_title("CPU against load")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "cpu_vs_calls.png", dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(n, series("loss_pct"), marker="o", color="tab:red", label="media loss %")
    ax.axhline(thresholds["loss_pct"], color="red", linestyle="--", linewidth=1, label="threshold")
    ax.set_xlabel("concurrent calls")
    ax.set_ylabel("loss %")
    ax2 = ax.twinx()
    ax2.plot(n, series("join_p95_ms"), marker="s", color="tab:blue", label="join p95 ms")
    ax2.axhline(thresholds["join_p95_ms"], color="blue", linestyle=":", linewidth=1, label="join threshold")
    ax2.set_ylabel("join time p95 (ms)")
    lines = ax.get_lines() + ax2.get_lines()
    ax.legend(lines, [line.get_label() for line in lines], fontsize=8, loc="upper left")
    ax.set_title("Loss and join time against load")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "loss_vs_calls.png", dpi=100)
    plt.close(fig)
