"""``sweep``: raise the number of calls step by step until a threshold breaks; the highest load
that held is the node's rated capacity (on this machine, with this generator)."""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any

from load_tests import plots
from load_tests.runner import RunOptions, run

DISTURBED_OTHER_CPU = 25.0  # % CPU (100 = one core) used by other processes: a disturbed attempt


def summarise(rep: dict[str, Any]) -> dict[str, Any]:
    return {
        "calls": rep["calls"], "calls_ok": rep["calls_ok"], "calls_failed": rep["calls_failed"],
        "join_p50_ms": rep["join_ms"]["p50"], "join_p95_ms": rep["join_ms"]["p95"],
        "join_p99_ms": rep["join_ms"]["p99"], "loss_pct": rep["loss_pct"],
        "video_loss_pct": rep["video"]["loss_pct"], "audio_loss_pct": rep["audio"]["loss_pct"],
        "latency_p50_ms": rep["added_latency_ms"]["p50"], "latency_p99_ms": rep["added_latency_ms"]["p99"],
        "freezes": rep["freezes"]["count"], "server_cpu_pct": rep["server_cpu_pct"],
        "server_cpu_pct_per_call": rep["server_cpu_pct_per_call"], "server_rss_mb": rep["server_rss_mb"],
        "generator_cpu_pct": rep["generator"]["cpu_pct"], "system_cpu_pct": rep["system_cpu_pct"],
        "other_cpu_pct": rep["other_cpu_pct"], "saturation": rep["saturation"],
        # a cluster: each node's steady CPU and how many calls (rooms) it carried
        "nodes": [{k: n[k] for k in ("node_id", "cpu_pct", "rooms_mean", "rooms_max")}
                  for n in (rep.get("cluster") or {}).get("per_node", [])],
    }


def verdict(step: dict[str, Any], thresholds: dict[str, float]) -> list[str]:
    """Why a step did not hold (empty: it held)."""
    broken = []
    if step["calls_failed"]:
        broken.append(f"{step['calls_failed']} call(s) failed")
    if step["join_p95_ms"] is None or step["join_p95_ms"] >= thresholds["join_p95_ms"]:
        broken.append(f"join p95 {step['join_p95_ms']} ms ≥ {thresholds['join_p95_ms']:g} ms")
    if step["loss_pct"] is None or step["loss_pct"] >= thresholds["loss_pct"]:
        broken.append(f"loss {step['loss_pct']} % ≥ {thresholds['loss_pct']:g} %")
    # optional, stricter: what shoppers feel beyond join time and loss
    limit = thresholds.get("latency_p99_ms")
    if limit is not None and (step["latency_p99_ms"] is None or step["latency_p99_ms"] >= limit):
        broken.append(f"latency p99 {step['latency_p99_ms']} ms ≥ {limit:g} ms")
    limit = thresholds.get("freezes")
    if limit is not None and step["freezes"] > limit:
        broken.append(f"{step['freezes']} freezes > {limit:g}")
    return broken


def sweep(base: RunOptions, start: int, step: int, maximum: int, thresholds: dict[str, float],
          retries: int = 1) -> dict[str, Any]:
    out = base.out
    out.mkdir(parents=True, exist_ok=True)
    steps: list[dict[str, Any]] = []
    rated: int | None = None
    broke: dict[str, Any] | None = None
    calls = start
    while calls <= maximum:
        attempt = 0
        while True:
            sub = out / (f"calls-{calls:03d}" + ("" if attempt == 0 else f"-retry{attempt}"))
            print(f"sweep: {calls} calls (attempt {attempt + 1})", file=sys.stderr, flush=True)
            rep = run(dataclasses.replace(base, calls=calls, out=sub))
            summary = summarise(rep) | {"dir": sub.name, "attempt": attempt + 1}
            summary["broken"] = verdict(summary, thresholds)
            steps.append(summary)
            print(f"sweep: {calls} calls → join p95 {summary['join_p95_ms']} ms, loss {summary['loss_pct']} %, "
                  f"server cpu {summary['server_cpu_pct']} % → {'held' if not summary['broken'] else 'BROKE: ' + '; '.join(summary['broken'])}",
                  file=sys.stderr, flush=True)
            if not summary["broken"] or attempt >= retries:
                break
            other = summary.get("other_cpu_pct") or 0.0
            if other < DISTURBED_OTHER_CPU:
                summary["broken"].append(f"not retried: the machine was quiet (others {other:.0f}% CPU)")
                break  # a failure on a quiet machine is the load's own doing
            attempt += 1  # other work disturbed this attempt: one more try before calling it
        if summary["broken"]:
            broke = summary
            break
        rated = calls
        calls += step
    result = {
        "thresholds": thresholds, "start": start, "step": step, "max": maximum, "retries": retries,
        "rated_capacity_calls": rated, "broke_at": broke, "reached_max_without_breaking": broke is None,
        "forwarding": base.forwarding, "workers": base.workers, "ramp": base.ramp, "duration": base.duration,
        "cluster_nodes": base.spawn_cluster or None, "cluster_mode": base.cluster_mode if base.spawn_cluster else None,
        "steps": steps,
    }
    (out / "sweep.json").write_text(json.dumps(result, indent=1))
    (out / "sweep.md").write_text(markdown(result))
    best = {}
    for s in steps:  # one point per load for the plots: the attempt that counted (the last)
        best[s["calls"]] = s
    plots.sweep(list(best.values()), out, thresholds)
    return result


def markdown(result: dict[str, Any]) -> str:
    t = result["thresholds"]
    rated = result["rated_capacity_calls"]
    nodes = result.get("cluster_nodes")
    lines = [
        "# Capacity sweep" + (f": a cluster of {nodes} node process(es) ({result['cluster_mode']})" if nodes else ""),
        "",
        f"Calls from {result['start']} in steps of {result['step']} (max {result['max']}), ramp "
        f"{result['ramp']:g} s, hold {result['duration']:g} s each, {result['forwarding']} forwarding, "
        f"{result['workers']} generator process(es). A load holds when no call fails, join p95 < "
        f"{t['join_p95_ms']:g} ms and media loss < {t['loss_pct']:g} %"
        + (f", video latency p99 < {t['latency_p99_ms']:g} ms" if t.get("latency_p99_ms") is not None else "")
        + (f", at most {t['freezes']:g} freezes" if t.get("freezes") is not None else "")
        + f" (a step that broke while other processes used ≥ {DISTURBED_OTHER_CPU:g} % CPU is retried up to "
        f"{result['retries']} time(s)).",
        "",
        (f"**Rated capacity: {rated} concurrent calls**" if rated is not None
         else "**Rated capacity: none (the first step broke)**")
        + (" (the sweep reached its maximum without breaking: capacity is at least this)"
           if result["reached_max_without_breaking"] else ""),
        "",
        "| calls | ok | join p50 / p95 ms | loss % | latency p50 / p99 ms | freezes | server CPU % | per call % | generator CPU % | machine CPU % (others) | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in result["steps"]:
        lines.append(
            f"| {s['calls']} | {s['calls_ok']} | {s['join_p50_ms']} / {s['join_p95_ms']} | {s['loss_pct']} | "
            f"{s['latency_p50_ms']} / {s['latency_p99_ms']} | {s['freezes']} | {s['server_cpu_pct']} | "
            f"{s['server_cpu_pct_per_call']} | {s['generator_cpu_pct']} | {s['system_cpu_pct']} ({s.get('other_cpu_pct')}) | "
            f"{'held' if not s['broken'] else '; '.join(s['broken'])} |")
    if nodes:
        lines += ["", "Per node, each step: CPU % (steady mean) and calls carried (rooms, steady mean):", ""]
        lines += [f"- {s['calls']} calls: " + "; ".join(f"{n['node_id']} {n['cpu_pct']} % / {n['rooms_mean']} rooms"
                                                    for n in s.get("nodes", [])) for s in result["steps"]]
    lines += ["", "Plots: `cpu_vs_calls.png`, `loss_vs_calls.png`; each step's full report is in its "
              "`calls-NNN/` folder.", ""]
    return "\n".join(lines)


def cluster_sweeps(base: RunOptions, sizes: list[int], start: int, step: int, maximum: int,
                   thresholds: dict[str, float], retries: int = 1) -> str:
    """One sweep per cluster size (``--spawn-cluster 1,2,4``), each in ``DIR/nodes-N/``; the rated
    capacity of each side by side in ``DIR/cluster-sweep.json`` / ``.md``. Returns the markdown."""
    rows = []
    for nodes in sizes:
        print(f"sweep: a cluster of {nodes} node process(es)", file=sys.stderr, flush=True)
        result = sweep(dataclasses.replace(base, spawn_cluster=nodes, out=base.out / f"nodes-{nodes}"),
                       start, step, maximum, thresholds, retries)
        held = [s for s in result["steps"] if s["calls"] == result["rated_capacity_calls"]]
        rows.append({"nodes": nodes, "dir": f"nodes-{nodes}", "rated_capacity_calls": result["rated_capacity_calls"],
                     "reached_max_without_breaking": result["reached_max_without_breaking"],
                     "broke_at": (result["broke_at"] or {}).get("calls"),
                     "at_rated": held[-1] if held else None})
    summary = {"cluster_mode": base.cluster_mode, "sizes": sizes, "thresholds": thresholds, "by_size": rows}
    base.out.mkdir(parents=True, exist_ok=True)
    (base.out / "cluster-sweep.json").write_text(json.dumps(summary, indent=1))
    lines = [f"# Rated capacity by cluster size ({base.cluster_mode} mode)", "",
             "| node processes | rated calls | broke at | node CPU % at the rated load | calls per node |",
             "| --- | --- | --- | --- | --- |"]
    for row in rows:
        nodes_at = (row["at_rated"] or {}).get("nodes", [])
        lines.append(f"| {row['nodes']} | {row['rated_capacity_calls']}"
                     f"{' (max reached)' if row['reached_max_without_breaking'] else ''} | {row['broke_at']} | "
                     + ", ".join(f"{n['node_id']} {n['cpu_pct']}" for n in nodes_at) + " | "
                     + ", ".join(f"{n['node_id']} {n['rooms_mean']}" for n in nodes_at) + " |")
    lines += ["", "Each size's steps are in `nodes-N/sweep.md`.", ""]
    text = "\n".join(lines)
    (base.out / "cluster-sweep.md").write_text(text)
    return text
