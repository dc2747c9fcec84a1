"""The report's cluster and fault sections (report.json keys ``cluster`` and ``faults``, their
lines in report.md, and the per-call kill timeline ``kills.png``)."""

from __future__ import annotations

import statistics
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from load_tests.faults import KillPlan, call_outcomes, summary

if TYPE_CHECKING:
    from load_tests.cluster import SpawnedCluster
    from load_tests.cluster_watch import ClusterWatch
    from load_tests.runner import RunOptions


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 1) if values else None


def per_node(samples: list[dict[str, Any]], window: tuple[float, float]) -> list[dict[str, Any]]:
    """Per node id: its pid(s), CPU (steady-window mean and max, 100 % = one core), rooms it
    carried (steady-window mean and max) and its last state."""
    w0, w1 = window
    steady = [s for s in samples if w0 <= s["t"] <= w1] or samples
    out: dict[str, dict[str, Any]] = {}
    for sample in samples:
        for node in sample["nodes"]:
            entry = out.setdefault(node["node_id"], {"node_id": node["node_id"], "pids": [], "cpu": [],
                                                     "cpu_all": [], "rooms": [], "rss": []})
            if node["pid"] not in entry["pids"]:
                entry["pids"].append(node["pid"])
            entry["state"] = node["state"]
            if node["cpu_pct"] is not None:
                entry["cpu_all"].append(node["cpu_pct"])
            if node["rss_mb"] is not None:
                entry["rss"].append(node["rss_mb"])
            if sample in steady:
                entry["rooms"].append(node["rooms"])
                if node["cpu_pct"] is not None:
                    entry["cpu"].append(node["cpu_pct"])
    return [{"node_id": e["node_id"], "pids": e["pids"], "state": e["state"], "cpu_pct": _mean(e["cpu"]),
             "cpu_pct_max": max(e["cpu_all"], default=None), "rss_mb_max": max(e["rss"], default=None),
             "rooms_mean": _mean(e["rooms"]), "rooms_max": max(e["rooms"], default=None)}
            for e in sorted(out.values(), key=lambda e: str(e["node_id"]))]


def cluster_section(cluster: SpawnedCluster, watch: ClusterWatch, rep: dict[str, Any],
                    opts: RunOptions) -> dict[str, Any]:
    w0, w1 = rep["steady_window_s"]
    steady = [s for s in watch.samples if w0 <= s["t"] <= w1]
    others: dict[str, list[float]] = {}
    for s in steady:
        for name, cpu in s["others"].items():
            if cpu is not None:
                others.setdefault(name, []).append(cpu)
    return {"mode": cluster.mode, "nodes": cluster.size, "urls": cluster.urls, "spread": opts.spread,
            "per_node": per_node(watch.samples, (w0, w1)),
            "other_cpu_pct": {name: _mean(v) for name, v in others.items()},
            "killed_pids": list(cluster.killed), "watch_errors": watch.errors[:5], "timeline": watch.samples}


def fault_section(plan: KillPlan, events: list[dict[str, Any]], calls: list[dict[str, Any]],
                  records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    kills = [e for e in events if e.get("pid")]
    outcomes = call_outcomes(calls, kills, records)
    return {"plan": asdict(plan), "events": events, "per_call": outcomes, "summary": summary(outcomes, events),
            "records_before_hangup": records}


def markdown_lines(rep: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    cluster = rep.get("cluster")
    if cluster:
        lines += [f"## Cluster: {cluster['nodes']} node(s), {cluster['mode']} mode, calls spread by "
                  f"{cluster['spread']}", "",
                  "| node | pid(s) | CPU % steady (max) | rooms steady mean (max) | RSS MB max | last state |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for n in cluster["per_node"]:
            lines.append(f"| {n['node_id']} | {', '.join(map(str, n['pids']))} | {n['cpu_pct']} ({n['cpu_pct_max']}) | "
                         f"{n['rooms_mean']} ({n['rooms_max']}) | {n['rss_mb_max']} | {n['state']} |")
        other = ", ".join(f"{k} {v} %" for k, v in cluster["other_cpu_pct"].items())
        lines += ["", f"Other cluster processes (steady CPU): {other or '–'}. `server_cpu_pct` above is the "
                      "alive nodes' CPU summed.", ""]
    faults = rep.get("faults")
    if faults:
        s = faults["summary"]
        r = s["resume_s"]
        lines += ["## Node kills", "",
                  f"{s['kills']} kill(s) ({s['kills_refused']} refused); calls on a killed node: "
                  f"{s['calls_affected']}, survived (did not end) {s['calls_survived']}/{s['calls_affected']}, "
                  f"media back after every kill {s['calls_resumed']}/{s['calls_affected']} "
                  f"(all calls ok at the end: {s['calls_survived_all']}/{s['calls']}); time from kill to "
                  f"media back on both sides p50 / p95 / max: {r['p50']} / {r['p95']} / {r['max']} s over "
                  f"{r['n']} resumed interruption(s) of {s['interruptions']}; {s['not_resumed']} never resumed.", "",
                  "| kill | at s | node | pid | calls it carried | pid gone | refused |", "| --- | --- | --- | --- | --- | --- | --- |"]
        for e in faults["events"]:
            lines.append(f"| {e['index']} | {e.get('at_s')} | {e.get('node_id', '–')} | {e.get('pid', '–')} | "
                         f"{len(e.get('rooms') or [])} | {e.get('pid_gone', '–')} | {e.get('refused') or ''} |")
        lines += ["", "| call | survived | media back | resume s per kill | loss % | renegotiations | reconnects | error |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for c in faults["per_call"]:
            resumes = ", ".join(f"#{k['kill']}: {k['resume_s']}" for k in c["kills"]) or "not on a killed node"
            lines.append(f"| {c['index']} | {c['survived']} | {c['resumed'] if c['affected'] else '–'} | {resumes} | {c['loss_pct']} | "
                         f"{sum(c['renegotiations'].values())} | {sum(c['reconnects'].values())} | {c['error'] or ''} |")
        lines += ["", "Plot: `kills.png` (each call side's received video, with the gaps, and the kills).", ""]
    return lines
