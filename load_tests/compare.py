"""``compare``: encoded forwarding against the comparison-only transcoding relay, at the same
loads, repeated (the machine is noisy), with medians and the CPU-per-call ratio."""

from __future__ import annotations

import dataclasses
import json
import statistics
import sys
from typing import Any

from load_tests.runner import RunOptions, run

MODES = ("encoded", "transcode")
FIGURES = ("server_cpu_pct", "server_cpu_pct_per_call", "server_rss_mb", "loss_pct", "join_p95_ms",
           "latency_p99_ms", "generator_cpu_pct", "other_cpu_pct", "calls_ok")


def _figures(rep: dict[str, Any]) -> dict[str, Any]:
    return {"server_cpu_pct": rep["server_cpu_pct"], "server_cpu_pct_per_call": rep["server_cpu_pct_per_call"],
            "server_rss_mb": rep["server_rss_mb"], "loss_pct": rep["loss_pct"],
            "join_p95_ms": rep["join_ms"]["p95"], "latency_p99_ms": rep["added_latency_ms"]["p99"],
            "generator_cpu_pct": rep["generator"]["cpu_pct"], "other_cpu_pct": rep["other_cpu_pct"],
            "calls_ok": rep["calls_ok"], "saturation": rep["saturation"]}


def _median(values: list[Any]) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 2) if values else None


def compare(base: RunOptions, loads: list[int], repeat: int) -> dict[str, Any]:
    out = base.out
    out.mkdir(parents=True, exist_ok=True)
    runs: list[dict[str, Any]] = []
    for calls in loads:
        for attempt in range(repeat):
            for mode in MODES:  # interleaved, so a noisy minute hits both modes alike
                sub = out / f"{mode}-{calls:03d}-r{attempt + 1}"
                print(f"compare: {mode} {calls} calls, repetition {attempt + 1}/{repeat}", file=sys.stderr, flush=True)
                rep = run(dataclasses.replace(base, calls=calls, forwarding=mode, out=sub, spawn_server=True, url=None))
                runs.append({"mode": mode, "calls": calls, "repetition": attempt + 1, "dir": sub.name, **_figures(rep)})
    table = []
    for calls in loads:
        row: dict[str, Any] = {"calls": calls}
        for mode in MODES:
            mine = [r for r in runs if r["mode"] == mode and r["calls"] == calls]
            row[mode] = {f: _median([r[f] for r in mine]) for f in FIGURES}
            row[mode]["runs"] = len(mine)
        enc, tra = row["encoded"]["server_cpu_pct_per_call"], row["transcode"]["server_cpu_pct_per_call"]
        row["cpu_per_call_ratio"] = round(tra / enc, 1) if enc and tra else None
        table.append(row)
    result = {"loads": loads, "repeat": repeat, "workers": base.workers, "ramp": base.ramp,
              "duration": base.duration, "medians": table, "runs": runs}
    (out / "compare.json").write_text(json.dumps(result, indent=1))
    (out / "compare.md").write_text(markdown(result))
    return result


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Encoded forwarding against decode/re-encode (MediaRelay)",
        "",
        f"Medians of {result['repeat']} repetitions per cell (modes interleaved), ramp {result['ramp']:g} s, "
        f"hold {result['duration']:g} s, {result['workers']} generator process(es).",
        "",
        "| calls | mode | server CPU % | per call % | RSS MB | loss % | join p95 ms | latency p99 ms | generator CPU % | other CPU % | ok calls |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in result["medians"]:
        for mode in MODES:
            m = row[mode]
            lines.append(f"| {row['calls']} | {mode} | {m['server_cpu_pct']} | {m['server_cpu_pct_per_call']} | "
                         f"{m['server_rss_mb']} | {m['loss_pct']} | {m['join_p95_ms']} | {m['latency_p99_ms']} | "
                         f"{m['generator_cpu_pct']} | {m['other_cpu_pct']} | {m['calls_ok']} |")
        lines.append(f"| {row['calls']} | **transcode / encoded CPU per call** | **{row['cpu_per_call_ratio']}×** | | | | | | | | |")
    lines += ["", "Every run's report is in its own folder (`MODE-NNN-rK/`).", ""]
    return "\n".join(lines)
