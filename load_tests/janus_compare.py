"""``janus-compare``: the same 1:1 calls through Silkline and through Janus's VideoRoom, at the
same loads, interleaved (a noisy minute on this shared machine hits both alike), with the
server CPU per call and per forwarded packet, and their ratio.

Per call = (server CPU at N calls − the server's idle CPU) / N; per packet = the same CPU
over the packets per second the receivers got (every packet a receiver gets was forwarded
once by the server); per extra call = the slope of server CPU over the loads (least squares).
Janus runs in a network namespace made for the run (load_tests/netns.py), removed at the end.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from load_tests import janus as janus_mod
from load_tests import netns
from load_tests.netns import NetworkError, TestNetwork
from load_tests.runner import RunOptions, Server, run
from load_tests.server import SpawnedServer

SERVERS = ("silkline", "janus")
LOSS_LIMIT_PCT = 0.5  # a run that lost more did less work than asked: its CPU is not comparable
IDLE_SETTLE_S = 2.0
IDLE_SAMPLE_S = 5.0


# ---------------------------------------------------------------------------------- maths
def per_call(cpu_pct: float | None, idle_pct: float | None, calls: int) -> float | None:
    """Server CPU (% of a core) one call costs above the idle server."""
    if cpu_pct is None or not calls:
        return None
    return round((cpu_pct - (idle_pct or 0.0)) / calls, 2)


def per_packet_us(cpu_pct: float | None, idle_pct: float | None, packets_per_s: float | None) -> float | None:
    """µs of server CPU per forwarded packet, above the idle server."""
    if cpu_pct is None or not packets_per_s:
        return None
    return round((cpu_pct - (idle_pct or 0.0)) / 100 * 1e6 / packets_per_s, 1)


def slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of CPU over calls: what each extra call costs."""
    points = [(x, y) for x, y in points if y is not None]
    if len({x for x, _ in points}) < 2:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    return round(sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points), 2)


def comparable(calls: int, calls_ok: int, loss_pct: float | None) -> bool:
    """Whether a run carried the whole load: every call up and (almost) no media lost."""
    return calls_ok == calls and loss_pct is not None and loss_pct < LOSS_LIMIT_PCT


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def packet_rate(workers: list[dict[str, Any]], configs: list[dict[str, Any]], end_s: float) -> float | None:
    """Packets per second the receivers got (main SSRC + RTX, audio + video) with every call
    up: for each side of each good call, its packets over the time from its first remote
    frame (call start offset + accept + first frame) to the hang-up at ``end_s`` after t0."""
    offsets: dict[int, float] = {}
    for cfg in configs:
        offsets.update(dict(zip(cfg["indices"], cfg["offsets"], strict=False)))
    total = 0.0
    sides = 0
    for worker in workers:
        for call in worker.get("calls", []):
            if not call.get("ok"):
                continue
            accepted = call["marks_ms"].get("accepted")
            for side in call["sides"].values():
                rtp, first = side.get("rtp"), side.get("first_frame_ms")
                if accepted is None or first is None or not isinstance(rtp, dict) or "video" not in rtp:
                    continue
                seconds = end_s - (offsets.get(call["index"], 0.0) + (accepted + first) / 1000)
                packets = sum(rtp[k]["packets_received"] + rtp[k]["rtx_packets_received"]
                              for k in ("video", "audio") if k in rtp)
                if seconds > 0.5:
                    total += packets / seconds
                    sides += 1
    return round(total, 1) if sides else None


# ---------------------------------------------------------------------------------- runs
def idle_cpu(server: Server, settle: float = IDLE_SETTLE_S, seconds: float = IDLE_SAMPLE_S) -> float:
    """CPU (% of a core) of the server with no call, after it has settled; stopped after."""
    try:
        server.start()
        time.sleep(settle)
        proc = psutil.Process(server.pid)
        before, t0 = proc.cpu_times(), time.monotonic()
        time.sleep(seconds)
        after, t1 = proc.cpu_times(), time.monotonic()
        used = (after.user - before.user) + (after.system - before.system)
        return round(100 * used / (t1 - t0), 2)
    finally:
        server.stop()


def _load_worker_files(sub: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    workers, configs = [], []
    for cfg_path in sorted((sub / "workers").glob("worker-*.config.json")):
        cfg = json.loads(cfg_path.read_text())
        configs.append(cfg)
        out = Path(cfg["out_path"])
        if out.exists():
            workers.append(json.loads(out.read_text()))
    return workers, configs


def figures(rep: dict[str, Any], sub: Path, idle: float | None) -> dict[str, Any]:
    params = rep["params"]
    workers, configs = _load_worker_files(sub)
    rate = packet_rate(workers, configs, params["ramp"] + params["duration"])
    cpu = rep["server_cpu_pct"]
    return {"calls": rep["calls"], "calls_ok": rep["calls_ok"],
            "comparable": comparable(rep["calls"], rep["calls_ok"], rep["loss_pct"]),
            "server_cpu_pct": cpu, "idle_cpu_pct": idle,
            "cpu_pct_per_call": per_call(cpu, idle, rep["calls_ok"]), "packets_per_s": rate,
            "cpu_us_per_packet": per_packet_us(cpu, idle, rate), "server_rss_mb": rep["server_rss_mb"],
            "loss_pct": rep["loss_pct"], "join_p95_ms": rep["join_ms"]["p95"],
            "latency_p99_ms": rep["added_latency_ms"]["p99"], "generator_cpu_pct": rep["generator"]["cpu_pct"],
            "system_cpu_pct": rep["system_cpu_pct"], "other_cpu_pct": rep["other_cpu_pct"],
            "frames_altered": rep["frames_altered"], "picture_checks": rep["picture_checks"],
            "saturation": rep["saturation"], "failures": rep["failures"]}


def command(args: argparse.Namespace, base: RunOptions) -> int:
    """``python -m load_tests janus-compare``: check (or install) what the Janus side needs, run."""
    if not 1 <= args.repeat <= 10:
        raise SystemExit("need 1 ≤ --repeat ≤ 10")
    if "janus" in args.servers:
        reason = netns.available()
        if reason:
            raise SystemExit(f"janus-compare: the Janus side {reason}")
        if janus_mod.missing() and not args.no_install:
            print("janus-compare: installing Debian's janus (apt-get install -y janus)", file=sys.stderr)
            janus_mod.install()
        reason = janus_mod.missing()
        if reason:
            raise SystemExit(f"janus-compare: {reason}")
    result = janus_compare(base, args.calls, args.repeat, args.servers)
    print(markdown(result))
    print(f"report: {base.out / 'janus-compare.json'}", file=sys.stderr)
    return 0 if all(r["calls_ok"] > 0 for r in result["runs"]) else 1


def janus_compare(base: RunOptions, loads: list[int], repeat: int = 1,
                  servers: tuple[str, ...] = SERVERS) -> dict[str, Any]:
    out = base.out
    out.mkdir(parents=True, exist_ok=True)
    started = datetime.datetime.now(datetime.UTC)
    load_before = os.getloadavg()
    net = TestNetwork() if "janus" in servers else None
    runs: list[dict[str, Any]] = []
    idle: dict[str, float] = {}
    try:
        if net is not None:
            net.create()
            print(f"janus-compare: test network {net.client_name} {net.client_address} ↔ "
                  f"{net.name} {net.server_address}",
                  file=sys.stderr, flush=True)

        def server_for(kind: str, log: Path) -> Server:
            if kind == "janus":
                assert net is not None
                return janus_mod.JanusServer(net, log, nice=base.nice)
            return SpawnedServer(log, "encoded", nice=base.nice)

        for kind in servers:
            idle[kind] = idle_cpu(server_for(kind, out / f"idle-{kind}.log"))
            print(f"janus-compare: {kind} idle CPU {idle[kind]} %", file=sys.stderr, flush=True)
        pair = 0
        for calls in loads:
            for attempt in range(repeat):
                order = servers if pair % 2 == 0 else tuple(reversed(servers))  # alternate who goes first
                pair += 1
                for kind in order:
                    sub = out / f"{kind}-{calls:03d}-r{attempt + 1}"
                    print(f"janus-compare: {kind}, {calls} calls, repetition {attempt + 1}/{repeat}",
                          file=sys.stderr, flush=True)
                    opts = dataclasses.replace(base, calls=calls, out=sub, spawn_server=True, url=None,
                                               forwarding="encoded")
                    if kind == "janus":
                        assert net is not None
                        sub.mkdir(parents=True, exist_ok=True)
                        rep = run(opts, server=server_for(kind, sub / "janus.log"),
                                  worker_extra={"target": "janus", "netns": net.client_name,
                                                "client_address": net.client_address})
                    else:
                        rep = run(opts)
                    runs.append({"server": kind, "calls": calls, "repetition": attempt + 1, "dir": sub.name,
                                 **figures(rep, sub, idle.get(kind))})
    finally:
        if net is not None:
            try:
                net.destroy()
            except NetworkError as exc:  # do not hide what ended the run
                print(f"janus-compare: could not remove the test network: {exc}", file=sys.stderr)
    result = {"date": started.isoformat(timespec="seconds"), "loads": loads, "repeat": repeat,
              "servers": list(servers), "ramp": base.ramp, "duration": base.duration, "workers": base.workers,
              "janus_version": janus_mod.version(), "cores": psutil.cpu_count(),
              "load_average_before": [round(x, 2) for x in load_before],
              "load_average_after": [round(x, 2) for x in os.getloadavg()],
              "idle_cpu_pct": idle, "table": summarise(runs, loads, servers), "runs": runs,
              "command": "python -m load_tests " + " ".join(sys.argv[1:])}
    result["per_extra_call"] = {k: slope([(r["calls"], r["server_cpu_pct"]) for r in runs
                                          if r["server"] == k and r["comparable"]])
                                for k in servers}
    result["per_extra_call"]["ratio"] = ratio(result["per_extra_call"].get("silkline"),
                                              result["per_extra_call"].get("janus"))
    (out / "janus-compare.json").write_text(json.dumps(result, indent=1))
    (out / "janus-compare.md").write_text(markdown(result))
    return result


def summarise(runs: list[dict[str, Any]], loads: list[int], servers: tuple[str, ...]) -> list[dict[str, Any]]:
    """One row per load: each server's figures (mean over repetitions) and the ratios."""
    table = []
    keys = ("server_cpu_pct", "cpu_pct_per_call", "cpu_us_per_packet", "packets_per_s", "loss_pct",
            "join_p95_ms", "calls_ok", "other_cpu_pct")
    for calls in loads:
        row: dict[str, Any] = {"calls": calls}
        for kind in servers:
            mine = [r for r in runs if r["server"] == kind and r["calls"] == calls]
            row[kind] = {k: _mean([r[k] for r in mine]) for k in keys}
            row[kind]["comparable"] = bool(mine) and all(r["comparable"] for r in mine)
        if "silkline" in row and "janus" in row and row["silkline"]["comparable"] and row["janus"]["comparable"]:
            row["ratio_per_call"] = ratio(row["silkline"]["cpu_pct_per_call"], row["janus"]["cpu_pct_per_call"])
            row["ratio_per_packet"] = ratio(row["silkline"]["cpu_us_per_packet"], row["janus"]["cpu_us_per_packet"])
        table.append(row)
    return table


def _mean(values: list[Any]) -> float | None:
    values = [v for v in values if v is not None]
    return round(sum(values) / len(values), 2) if values else None


def markdown(result: dict[str, Any]) -> str:
    servers = result["servers"]
    lines = [
        "# Silkline against Janus VideoRoom, the same calls",
        "",
        (f"{result['date']}, Janus {result['janus_version']}, {result['cores']} cores; ramp {result['ramp']:g} s, "
         f"hold {result['duration']:g} s, {result['repeat']} repetition(s) per load, servers interleaved; "
         f"load average before {result['load_average_before']}, after {result['load_average_after']}."),
        "",
        f"Command: `{result['command']}`",
        "",
        "Idle server CPU (subtracted below): "
        + ", ".join(f"{k} {v} %" for k, v in result["idle_cpu_pct"].items()) + ".",
        "",
        "| calls | server | CPU % (1 core = 100) | per call % | µs per packet | packets/s | loss % | join p95 ms | ok calls | other CPU % |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in result["table"]:
        for kind in servers:
            m = row[kind]
            name = kind if m["comparable"] else f"{kind} (lost media or calls: not comparable)"
            lines.append(f"| {row['calls']} | {name} | {m['server_cpu_pct']} | {m['cpu_pct_per_call']} | "
                         f"{m['cpu_us_per_packet']} | {m['packets_per_s']} | {m['loss_pct']} | {m['join_p95_ms']} | "
                         f"{m['calls_ok']} | {m['other_cpu_pct']} |")
        if "ratio_per_call" in row:
            lines.append(f"| {row['calls']} | **Silkline / Janus** | | **{row['ratio_per_call']}×** | "
                         f"**{row['ratio_per_packet']}×** | | | | | |")
    caveats = [f"- {r['server']} at {r['calls']} calls: {'; '.join(r['saturation'])}"
               for r in result["runs"] if r["saturation"]]
    if caveats:
        lines += ["", ("**Caveats** (the machine is shared; a run whose media was lost is left out of the "
                       "ratios and the slope):"), "", *caveats]
    extra = result["per_extra_call"]
    lines += ["", "Per extra call (slope of server CPU over the loads): "
              + ", ".join(f"{k} {extra.get(k)} %" for k in servers)
              + (f"; Silkline / Janus {extra['ratio']}×." if extra.get("ratio") else "."), "",
              "Every run's report is in its own folder (`SERVER-NNN-rK/report.json`, the keys of `run`).", ""]
    return "\n".join(lines)
