"""Turn the generators' raw per-call results and the CPU samples into report.json / report.md
and plots. The schema is documented in load_tests/README.md (keep them in step)."""

from __future__ import annotations

import collections
import json
import math
import statistics
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


def pct(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return round(ordered[rank - 1], 2)


def dist(values: list[float]) -> dict[str, Any]:
    return {"n": len(values), "p50": pct(values, 50), "p95": pct(values, 95), "p99": pct(values, 99),
            "max": round(max(values), 2) if values else None,
            "mean": round(statistics.fmean(values), 2) if values else None}


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 1) if values else None


def steady_window(t0: float, ramp: float, duration: float) -> tuple[float, float]:
    """Seconds after t0 during which every call should be up: after the ramp plus a settle
    time, until just before the hang-up."""
    settle = min(3.0, duration / 3)
    return ramp + settle, ramp + duration - 0.5


def build(params: dict[str, Any], workers: list[dict[str, Any]], samples: list[dict[str, Any]],
          t0: float, stop_at: float, server_pid: int | None = None,
          progress: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    calls = [c for w in workers for c in w.get("calls", [])]
    calls.sort(key=lambda c: c["index"])
    ok = [c for c in calls if c["ok"]]
    failed = [c for c in calls if not c["ok"]]
    sides = [(c, role, s) for c in calls for role, s in c.get("sides", {}).items()]
    ok_sides = [(c, role, s) for c, role, s in sides if c["ok"]]

    join = [s["join_ms"] for _, _, s in sides if s.get("join_ms") is not None]
    join_shopper = [s["join_ms"] for _, r, s in sides if r == "shopper" and s.get("join_ms") is not None]
    first_frame = [s["first_frame_ms"] for _, _, s in sides if s.get("first_frame_ms") is not None]
    join_missing = sum(1 for c in calls if c["state"] != "pending") * 2 - len(join)

    def acct(kind: str) -> dict[str, Any]:
        expected = sum(s[kind]["expected"] for _, _, s in ok_sides)
        lost = sum(s[kind]["lost"] for _, _, s in ok_sides)
        return {"expected": expected, "received": expected - lost, "lost": lost,
                "loss_pct": round(100 * lost / expected, 3) if expected else None,
                "frames_sent_total": sum(s[kind]["frames_sent"] for _, _, s in ok_sides),
                "frames_received_total": sum(s[kind]["frames_received"] for _, _, s in ok_sides)}

    video, audio = acct("video"), acct("audio")
    expected_all = video["expected"] + audio["expected"]
    loss_pct = round(100 * (video["lost"] + audio["lost"]) / expected_all, 3) if expected_all else None

    rtp: dict[str, Any] = {}
    for kind in ("video", "audio"):
        stats = [s["rtp"][kind] for _, _, s in ok_sides if isinstance(s.get("rtp"), dict) and kind in s["rtp"]]
        received = sum(x["packets_received"] for x in stats)
        lost = sum(x["packets_lost"] for x in stats)
        jitter = [x["jitter_ms"] for x in stats if x["jitter_ms"] is not None]
        rtp[kind] = {"packets_sent": sum(x["packets_sent"] for x in stats), "packets_received": received,
                     "packets_lost": lost, "rtx_packets_received": sum(x["rtx_packets_received"] for x in stats),
                     "packet_loss_pct": round(100 * lost / (received + lost), 3) if received + lost else None,
                     "jitter_ms": dist(jitter)}

    video_latency = [x for _, _, s in ok_sides for x in s.get("video_latency_ms", [])]
    audio_latency = [x for _, _, s in ok_sides for x in s.get("audio_latency_ms", [])]
    freezes = sum(s["video"]["freezes"] for _, _, s in ok_sides)
    freeze_ms = sum(s["video"]["freeze_ms"] for _, _, s in ok_sides)
    checks = collections.Counter()
    for _, _, s in sides:
        checks.update(s.get("picture_checks", {}))
    unmatched = sum(s["video"]["unmatched"] for _, _, s in sides)

    ramp, duration = params["ramp"], params["duration"]
    w0, w1 = steady_window(t0, ramp, duration)
    steady = [x for x in samples if w0 <= x["t"] <= w1]
    if len(steady) < 2:
        steady = [x for x in samples if ramp <= x["t"] <= ramp + duration] or samples
    server_cpu = _mean([x["server_cpu"] for x in steady if x["server_cpu"] is not None])
    server_rss = [x["server_rss_mb"] for x in samples if x["server_rss_mb"] is not None]
    generator_cpu = _mean([x["generator_cpu"] for x in steady])
    system_cpu = _mean([x["system_cpu"] for x in steady])
    other_cpu = None
    if system_cpu is not None and generator_cpu is not None:
        other_cpu = round(max(0.0, system_cpu - generator_cpu - (server_cpu or 0.0)), 1)
    cores = params.get("cores") or _cores()
    gen_cpu_s = sum(w.get("cpu", {}).get("user_s", 0) + w.get("cpu", {}).get("system_s", 0) for w in workers)
    lag_p99 = [w["loop_lag_ms"]["p99"] for w in workers if w.get("loop_lag_ms", {}).get("p99") is not None]
    per_worker_cpu = [w.get("cpu", {}).get("pct") for w in workers]

    saturation = []
    if system_cpu is not None and system_cpu > 0.9 * 100 * cores:
        saturation.append(f"the machine was saturated: {system_cpu:.0f}% of {100 * cores}% CPU in use")
    if other_cpu is not None and other_cpu > 25:
        saturation.append(f"other processes used {other_cpu:.0f}% CPU during the run: the machine was shared")
    if any(c is not None and c > 90 for c in per_worker_cpu):
        saturation.append("a generator process used more than 90% of a core: the generator may limit the result")
    if lag_p99 and max(lag_p99) > 50:
        saturation.append(f"generator event-loop lag p99 {max(lag_p99):.0f} ms: the generator is overloaded")
    if server_cpu is not None and server_cpu > 90:
        saturation.append(f"the server's event loop is near one core ({server_cpu:.0f}%): Python runs it on one core")

    n_ok = len(ok)
    report = {
        "schema": SCHEMA_VERSION,
        "params": params,
        "calls": params["calls"],
        "calls_ok": n_ok,
        "calls_failed": len(failed),
        "failures": dict(collections.Counter((c.get("error") or "unknown").split(":")[0] for c in failed)),
        "failure_examples": [f"#{c['index']}: {c.get('error')}" for c in failed[:5]],
        "join_ms": dist(join),
        "join_ms_shopper": dist(join_shopper),
        "first_frame_ms": dist(first_frame),
        "join_not_measured": max(0, join_missing),
        "loss_pct": loss_pct,
        "video": video,
        "audio": audio,
        "rtp": rtp,
        "added_latency_ms": dist(video_latency),
        "audio_latency_ms": dist(audio_latency),
        "freezes": {"count": freezes, "total_ms": round(freeze_ms, 1),
                    "calls_with_freeze": sum(1 for c in ok if any(s["video"]["freezes"] for s in c["sides"].values())),
                    "per_call_minute": round(freezes / max(1e-9, n_ok * duration / 60), 3) if n_ok else None},
        "picture_checks": dict(checks),
        "video_accounting": sorted({s["video"].get("method", "?") for _, _, s in ok_sides}),
        "frames_altered": unmatched,
        "server_pid": server_pid,
        "server_cpu_pct": server_cpu,
        "server_cpu_pct_max": max((x["server_cpu"] for x in samples if x["server_cpu"] is not None), default=None),
        "server_cpu_pct_per_call": round(server_cpu / n_ok, 2) if server_cpu is not None and n_ok else None,
        "server_cpu_pct_per_video_stream": round(server_cpu / (2 * n_ok), 2) if server_cpu is not None and n_ok else None,
        "server_rss_mb": max(server_rss) if server_rss else None,
        "server_rss_mb_start": server_rss[0] if server_rss else None,
        "generator": {"cpu_pct": generator_cpu, "cpu_s": round(gen_cpu_s, 1), "processes": len(workers),
                      "cpu_pct_per_process": per_worker_cpu, "loop": params.get("loop"),
                      "loop_lag_ms_p99": lag_p99, "cpu_pct_per_call": round(generator_cpu / n_ok, 2)
                      if generator_cpu is not None and n_ok else None,
                      "missing_workers": [w["worker"] for w in workers if w.get("missing")]},
        "generator_cpu_pct": generator_cpu,
        "cpu_per_call": _cpu_per_call(server_cpu, generator_cpu, n_ok, params.get("generator", "aiortc")),
        "system_cpu_pct": system_cpu,
        "other_cpu_pct": other_cpu,
        "cores": cores,
        "saturation": saturation,
        "steady_window_s": [round(w0, 1), round(w1, 1)],
        "timeline": samples,
        "progress": progress or [],
        "per_call": [{k: c.get(k) for k in ("index", "call_id", "ok", "error", "marks_ms")}
                     | {"join_ms": {r: s.get("join_ms") for r, s in c.get("sides", {}).items()},
                        "video_lost": {r: s["video"]["lost"] for r, s in c.get("sides", {}).items()},
                        "freezes": {r: s["video"]["freezes"] for r, s in c.get("sides", {}).items()},
                        "timeline": {r: s.get("timeline") for r, s in c.get("sides", {}).items()}}
                     for c in calls],
    }
    return report


def _cpu_per_call(server_cpu: float | None, generator_cpu: float | None, n_ok: int,
                  generator: str) -> dict[str, Any]:
    """The node's and the generator's CPU per ok call, side by side (steady window, % of a core):
    a generator cheaper than the node lets one machine rate the node."""
    def per(cpu: float | None) -> float | None:
        return round(cpu / n_ok, 2) if cpu is not None and n_ok else None

    server, gen = per(server_cpu), per(generator_cpu)
    return {"generator": generator, "server_pct": server, "generator_pct": gen,
            "generator_to_server": round(gen / server, 2) if server and gen is not None else None}


def _cores() -> int:
    import psutil

    return psutil.cpu_count() or 1


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.2f}{unit}" if abs(value) < 10 else f"{value:.1f}{unit}"
    return f"{value}{unit}"


def markdown(rep: dict[str, Any]) -> str:
    p = rep["params"]
    j, lat, alat = rep["join_ms"], rep["added_latency_ms"], rep["audio_latency_ms"]
    g = rep["generator"]
    lines = [
        f"# Load test: {p['calls']} calls ({p['forwarding']} forwarding)",
        "",
        f"{p['calls']} concurrent 1:1 video calls ({p['clip']['width']}x{p['clip']['height']} VP8 "
        f"~{p['clip']['fps']} fps at {p['clip']['video_kbps']:.0f} kbit/s + Opus, both directions), ramp "
        f"{p['ramp']:g} s, hold {p['duration']:g} s, against {p['url']}; {g['processes']} generator "
        f"process(es) on the same {rep['cores']}-core machine ({g['loop']}).",
        "",
        "| figure | value | target |",
        "| --- | --- | --- |",
        f"| calls ok / failed | {rep['calls_ok']} / {rep['calls_failed']} | all ok |",
        f"| join time p50 / p95 / p99 (accept → first remote frame decoded) | {_fmt(j['p50'])} / {_fmt(j['p95'])} / {_fmt(j['p99'])} ms | p95 < 600 ms |",
        f"| media loss (video frames + audio packets, end to end) | {_fmt(rep['loss_pct'], ' %')} | < 0.5 % |",
        f"| video frame loss / audio packet loss | {_fmt(rep['video']['loss_pct'], ' %')} / {_fmt(rep['audio']['loss_pct'], ' %')} | |",
        f"| RTP packet loss seen by receivers (video / audio) | {_fmt(rep['rtp']['video']['packet_loss_pct'], ' %')} / {_fmt(rep['rtp']['audio']['packet_loss_pct'], ' %')} | |",
        f"| added latency, video p50 / p99 (sender → receiver, through the server) | {_fmt(lat['p50'])} / {_fmt(lat['p99'])} ms | p99 < 10 ms |",
        f"| audio latency p50 / p99 | {_fmt(alat['p50'])} / {_fmt(alat['p99'])} ms | |",
        f"| jitter p95 (video / audio, inbound-rtp) | {_fmt(rep['rtp']['video']['jitter_ms']['p95'])} / {_fmt(rep['rtp']['audio']['jitter_ms']['p95'])} ms | |",
        f"| freezes (> 200 ms gap) | {rep['freezes']['count']} ({_fmt(rep['freezes']['total_ms'])} ms in {rep['freezes']['calls_with_freeze']} calls) | 0 |",
        f"| server CPU (steady state, 100 % = 1 core) | {_fmt(rep['server_cpu_pct'], ' %')} (max {_fmt(rep['server_cpu_pct_max'], ' %')}) | |",
        f"| server CPU per call / per video stream | {_fmt(rep['server_cpu_pct_per_call'], ' %')} / {_fmt(rep['server_cpu_pct_per_video_stream'], ' %')} | |",
        f"| server RSS (max; at start) | {_fmt(rep['server_rss_mb'], ' MB')} ({_fmt(rep['server_rss_mb_start'], ' MB')}) | |",
        f"| generator CPU (all its processes; `{rep['cpu_per_call']['generator']}` generator) | {_fmt(g['cpu_pct'], ' %')} ({_fmt(g['cpu_pct_per_call'], ' %')} per call) | |",
        f"| CPU per call: node / generator (generator ÷ node) | {_fmt(rep['cpu_per_call']['server_pct'], ' %')} / {_fmt(rep['cpu_per_call']['generator_pct'], ' %')} ({_fmt(rep['cpu_per_call']['generator_to_server'])}) | generator below the node |",
        f"| load average (1 / 5 / 15 min, end of the steady window) | {' / '.join(str(x) for x in rep.get('load_average') or []) or '–'} | |",
        f"| machine CPU in use (of which neither server nor generator) | {_fmt(rep['system_cpu_pct'], ' %')} of {100 * rep['cores']} % ({_fmt(rep['other_cpu_pct'], ' %')}) | |",
        f"| pictures checked (decoded samples: verified / mismatched / unreadable / re-encoded but readable) | {rep['picture_checks'].get('verified', 0)} / {rep['picture_checks'].get('mismatched', 0)} / {rep['picture_checks'].get('unreadable', 0)} / {rep['picture_checks'].get('reencoded_readable', 0)} | no mismatch |",
        f"| frames whose bytes the server altered | {rep['frames_altered']} | 0 (encoded forwarding) |",
        "",
    ]
    sfu = rep.get("server_sfu_stats") or {}
    if "video_frames_received" in sfu:
        lines += [f"The node's own count just before hang-up: its publishers received "
                  f"{sfu.get('video_frames_received', 0)} video frames, its subscribers sent "
                  f"{sfu.get('video_frames_sent', 0)} and dropped {sfu.get('video_frames_dropped', 0)} "
                  f"(queue overflow / waiting for a keyframe).", ""]
    if rep["saturation"]:
        lines += ["**Caveats:**", ""] + [f"- {s}" for s in rep["saturation"]] + [""]
    if rep["failure_examples"]:
        lines += ["**Failures:**", ""] + [f"- {s}" for s in rep["failure_examples"]] + [""]
    from load_tests.cluster_report import markdown_lines

    lines += markdown_lines(rep)
    lines += ["Plots: `join_cdf.png`, `timeline.png`. Raw figures: `report.json` (schema in "
              "load_tests/README.md).", ""]
    return "\n".join(lines)


def write(rep: dict[str, Any], out: Path) -> None:
    rep.setdefault("server_sfu_stats", None)
    rep.setdefault("load_average", None)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(rep, indent=1))
    (out / "report.md").write_text(markdown(rep))
    from load_tests import plots

    plots.join_cdf(rep, out / "join_cdf.png")
    plots.timeline(rep, out / "timeline.png")
    if rep.get("faults"):
        plots.kill_timeline(rep, out / "kills.png")
