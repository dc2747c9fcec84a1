"""``run``: one load test — optional server, K generator processes, sampling, the report."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from load_tests import cluster_report
from load_tests import report as report_mod
from load_tests.cluster import SpawnedCluster
from load_tests.cluster_watch import ClusterWatch, NodeKiller
from load_tests.faults import KillPlan
from load_tests.server import ROOT, Sampler, SpawnedServer, env_with_root, niceness

START_DELAY = 0.5  # seconds between the last generator saying it is ready and the first call
READY_TIMEOUT = 120.0  # seconds the generators may take to start (imports, on a busy machine)
PROGRESS_EVERY = 2.0


@dataclass
class RunOptions:
    calls: int
    ramp: float
    duration: float
    out: Path
    url: str | None = None
    spawn_server: bool = False
    forwarding: str = "encoded"
    server_pid: int | None = None
    workers: int = 1
    loop: str = "auto"
    width: int = 640
    height: int = 480
    fps: int = 30
    video_bitrate: int = 1_000_000
    verify_interval: float = 5.0
    setup_timeout: float = 30.0
    nice: int = 0
    wait_idle: float = 0.0
    idle_pct: float = 30.0
    quiet: bool = False
    generator: str = "rtp"  # "rtp": raw pre-packetized RTP; "aiortc": aiortc's own media path
    record: bool = False  # shoppers consent to recording: what a recorded call costs
    urls: list[str] | None = None  # several nodes of one cluster (``--url A,B``); url is the first
    spawn_cluster: int = 0  # start redis-server and this many nodes (load_tests/cluster.py)
    cluster_mode: str = "workers"  # workers: one `serve --workers N`; separate: N `serve --node-id`
    spread: str = "parties"  # parties: a call's agent and shopper on different URLs; calls: the same
    kill: KillPlan | None = None  # fault mode: kill -9 the node carrying the most calls


def log(opts: RunOptions, text: str) -> None:
    if not opts.quiet:
        print(text, file=sys.stderr, flush=True)


def make_clips(opts: RunOptions, path: Path) -> dict[str, Any]:
    """Encode the clips once per run (≈0.5 s); every generator process loads them."""
    from media.synthetic import encode_opus_clip, encode_vp8_clip

    started = time.monotonic()
    video = encode_vp8_clip(frames=90, width=opts.width, height=opts.height, fps=opts.fps,
                            keyframe_interval=30, bitrate=opts.video_bitrate)
    audio = encode_opus_clip(50)
    with open(path, "wb") as f:
        pickle.dump((video, audio), f)
    seconds = len(video) / opts.fps
    return {"video_frames": len(video), "video_kbps": round(sum(map(len, video)) * 8 / seconds / 1000, 1),
            "audio_packets": len(audio), "width": opts.width, "height": opts.height, "fps": opts.fps,
            "encode_s": round(time.monotonic() - started, 2)}


def wait_idle(opts: RunOptions) -> dict[str, Any]:
    """The machine is shared: wait (at most ``opts.wait_idle`` s) until other processes use
    less than ``opts.idle_pct`` % CPU over 3 s, so they do not skew the figures."""
    import psutil

    started = time.monotonic()
    busy = None
    while True:
        busy = psutil.cpu_percent(3.0) * (psutil.cpu_count() or 1)
        waited = time.monotonic() - started
        if busy < opts.idle_pct or waited >= opts.wait_idle:
            break
        log(opts, f"load_tests: machine busy ({busy:.0f}% CPU used by others); waiting ({waited:.0f}s)")
    return {"waited_s": round(time.monotonic() - started, 1), "cpu_pct_before": round(busy, 1),
            "idle": busy < opts.idle_pct}


def fetch_sfu_stats(url: str) -> dict[str, Any] | None:
    """The node's own account (GET /api/sfu/stats with a demo admin token): frames its
    publishers received and its subscribers sent or dropped, summed per kind. None when the
    node does not offer it (no demo tokens, older node)."""
    import urllib.request

    try:
        request = urllib.request.Request(url + "/api/demo/tokens", data=json.dumps({"role": "admin"}).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=3) as resp:
            token = json.load(resp)["token"]
        request = urllib.request.Request(url + "/api/sfu/stats", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=5) as resp:
            stats = json.load(resp)
    except Exception as exc:  # the figure is optional
        return {"error": repr(exc)[:200]}
    out: dict[str, Any] = {"rooms": len(stats.get("rooms", []))}
    for room in stats.get("rooms", []):
        for participant in room.get("participants", []):
            for pub in participant.get("publishers", []):
                key = f"{pub.get('kind')}_frames_received"
                out[key] = out.get(key, 0) + int(pub.get("frames", 0))
            for sub in participant.get("subscribers", []):
                for field in ("frames_sent", "frames_dropped"):
                    key = f"{sub.get('kind')}_{field}"
                    out[key] = out.get(key, 0) + int(sub.get(field, 0))
    return out


def choose_loop(name: str) -> str:
    if name == "auto":
        try:
            import uvloop  # noqa: F401
            return "uvloop"
        except ImportError:
            return "asyncio"
    return name


class WorkerProc:
    def __init__(self, index: int, cfg_path: Path, out_path: Path, log_path: Path, nice: int = 0) -> None:
        self.index = index
        self.out_path = out_path
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "load_tests", "_worker", str(cfg_path)],
                                     cwd=ROOT, env=env_with_root(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True, bufsize=1, preexec_fn=niceness(nice))
        self.latest: dict[str, Any] = {}
        self.ready = threading.Event()  # it said {"ready": true} (load_tests/start_line.py)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                self.log.write(line)
                continue
            if message == {"ready": True}:
                self.ready.set()
            else:
                self.latest = message

    def start(self, t0: float, stop_at: float) -> None:
        """Tell a ready generator the run's clock (load_tests/start_line.py)."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps({"t0": t0, "stop_at": stop_at}) + "\n")
            self.proc.stdin.close()
        except (BrokenPipeError, ValueError):
            pass  # it died meanwhile: its results are missing, and the report says so

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # this PID only, after its deadline
            self.proc.wait(5)


class Server(Protocol):
    """What a run needs of the server it starts: SpawnedServer, or load_tests.janus.JanusServer."""

    @property
    def pid(self) -> int: ...

    def start(self) -> str: ...

    def stop(self) -> int | None: ...


def run(opts: RunOptions, server: Server | None = None,
        worker_extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run one load test; returns the report (also written to ``opts.out``).

    ``server``: start and stop this server instead of a Silkline node (janus-compare);
    ``worker_extra``: added to every generator's config (which calls it drives, where)."""
    if opts.calls < 1:
        raise ValueError("--calls must be at least 1")
    if opts.workers < 1:
        raise ValueError("--workers must be at least 1")
    if any(not u.startswith(("http://127.0.0.1", "http://localhost")) for u in [*(opts.urls or []), opts.url or ""] if u):
        raise ValueError("load tests only run against nodes on 127.0.0.1")
    if opts.kill is not None and not opts.spawn_cluster:
        raise ValueError("--kill-node-at kills only a node of a cluster the tool started: use --spawn-cluster N")
    out = opts.out
    (out / "workers").mkdir(parents=True, exist_ok=True)
    loop = choose_loop(opts.loop)
    clip_info = make_clips(opts, out / "workers" / "clips.pkl")
    idle = wait_idle(opts) if opts.wait_idle > 0 else None
    silkline = server is None  # only a Silkline node has /api/sfu/stats
    server_pid = opts.server_pid
    url = opts.url
    urls = list(opts.urls or ([opts.url] if opts.url else []))
    cluster: SpawnedCluster | None = None
    if server is None and opts.spawn_cluster:
        silkline = False  # /api/sfu/stats would be one node's: the cluster section has them all
        cluster = SpawnedCluster(opts.spawn_cluster, opts.cluster_mode, out / "cluster", nice=opts.nice)
        urls = cluster.start()
        url = urls[0]
        log(opts, f"load_tests: cluster of {opts.spawn_cluster} node(s) ({opts.cluster_mode}) at {', '.join(urls)}")
    elif server is None and opts.spawn_server:
        server = SpawnedServer(out / "server.log", opts.forwarding, nice=opts.nice)
    if server is not None:
        url = server.start()
        urls = [url]
        server_pid = server.pid
        log(opts, f"load_tests: server pid {server_pid} at {url}"
                  + (f" (forwarding {opts.forwarding})" if silkline else ""))
    assert url is not None
    workers = min(opts.workers, opts.calls)
    procs: list[WorkerProc] = []
    progress: list[dict[str, Any]] = []
    sfu_stats: dict[str, Any] | None = None
    load_average: list[float] | None = None
    sampler: Sampler | None = None
    watch: ClusterWatch | None = None
    killer: NodeKiller | None = None
    records: dict[str, dict[str, Any]] | None = None
    try:
        step = opts.ramp / opts.calls if opts.calls > 1 else 0.0
        for k in range(workers):
            indices = list(range(k, opts.calls, workers))
            cfg = {
                "worker": k, "url": url, "urls": urls, "spread": opts.spread, "indices": indices,
                "offsets": [i * step for i in indices], "clip_path": str(out / "workers" / "clips.pkl"),
                "out_path": str(out / "workers" / f"worker-{k}.json"),
                "lock_path": str(out / "workers" / "setup.lock") if workers > 1 else None,
                "verify_interval": opts.verify_interval, "setup_timeout": opts.setup_timeout, "loop": loop,
                **(worker_extra or {}),
                "generator": opts.generator, "record": opts.record,
            }  # t0 and stop_at follow on stdin, once every generator is ready
            cfg_path = out / "workers" / f"worker-{k}.config.json"
            cfg_path.write_text(json.dumps(cfg))
            procs.append(WorkerProc(k, cfg_path, Path(cfg["out_path"]), out / "workers" / f"worker-{k}.log",
                                    opts.nice))
        ready_by = time.monotonic() + READY_TIMEOUT
        while (not all(p.ready.is_set() or p.proc.poll() is not None for p in procs)
               and time.monotonic() < ready_by):
            time.sleep(0.05)
        t0 = time.monotonic() + START_DELAY
        stop_at = t0 + opts.ramp + opts.duration
        for p in procs:
            p.start(t0, stop_at)
        if cluster is not None:
            watch = ClusterWatch(cluster, t0)
            watch.start()
            if opts.kill is not None:
                killer = NodeKiller(cluster, opts.kill, t0, stop_at, on_event=lambda e: log(opts, _kill_line(e)))
                killer.start()
        sampler = Sampler(server_pid, t0, server_load=watch.server_load if watch is not None else None)
        sampler.start()
        for p in procs:
            sampler.add_generator(p.proc.pid)
        log(opts, f"load_tests: {opts.calls} calls, ramp {opts.ramp:g}s, hold {opts.duration:g}s, "
                  f"{workers} generator process(es) ({loop})")
        deadline = stop_at + 60.0
        last = 0.0
        while any(p.proc.poll() is None for p in procs) and time.monotonic() < deadline:
            time.sleep(0.2)
            if killer is not None and records is None and time.monotonic() >= stop_at - 1.0:
                assert cluster is not None  # what the records say of the calls on killed nodes, before hang-up
                records = cluster.call_states(sorted({c for e in killer.events for c in e.get("rooms") or []}))
            if silkline and sfu_stats is None and time.monotonic() >= stop_at - 0.8:
                load_average = [round(x, 2) for x in os.getloadavg()]  # the end of the steady window
                sfu_stats = fetch_sfu_stats(url)
            if time.monotonic() - last >= PROGRESS_EVERY:
                last = time.monotonic()
                line = _progress_line(procs, sampler, t0, stop_at, progress)
                alive = watch.alive() if watch is not None else None
                log(opts, line + (f" | nodes alive {alive[0]}/{alive[1]}" if alive else ""))
        for p in procs:
            p.stop()
    finally:
        for thread in (killer, watch, sampler):
            if thread is not None:
                thread.stop()
        for p in procs:
            p.stop()
        if cluster is not None:
            codes = cluster.stop()
            log(opts, f"load_tests: cluster stopped (exits {codes})")
        if server is not None:
            code = server.stop()
            log(opts, f"load_tests: server stopped (exit {code})")
    results = []
    for p in procs:
        if p.out_path.exists():
            results.append(json.loads(p.out_path.read_text()))
        else:
            results.append({"worker": p.index, "missing": True, "exit_code": p.proc.returncode,
                            "calls": []})
    params = {**asdict(opts), "out": str(opts.out), "url": url, "urls": urls, "workers": workers, "loop": loop,
              "clip": clip_info, "idle_before": idle}
    rep = report_mod.build(params, results, sampler.as_dicts() if sampler else [], t0, stop_at,
                           server_pid=server_pid, progress=progress)
    rep["server_sfu_stats"] = sfu_stats
    rep["load_average"] = load_average
    if cluster is not None and watch is not None:
        rep["cluster"] = cluster_report.cluster_section(cluster, watch, rep, opts)
        if opts.kill is not None and killer is not None:
            calls = sorted((c for w in results for c in w.get("calls", [])), key=lambda c: c["index"])
            rep["faults"] = cluster_report.fault_section(opts.kill, killer.events, calls, records or {})
    report_mod.write(rep, out)
    return rep


def _progress_line(procs: list[WorkerProc], sampler: Sampler, t0: float, stop_at: float,
                   history: list[dict[str, Any]]) -> str:
    now = time.monotonic()
    latest = [p.latest for p in procs if p.latest]
    up = sum(x.get("up", 0) for x in latest)
    setup = sum(x.get("setup", 0) for x in latest)
    failed = sum(x.get("failed", 0) for x in latest)
    errors = sum(x.get("server_errors", 0) for x in latest)
    window = sum(x.get("frames_window", 0) for x in latest)
    lost = sum(x.get("frames_lost_window", 0) for x in latest)
    lag = max((x.get("lag_ms", 0) for x in latest), default=0)
    sample = sampler.latest()
    cpu = ""
    if sample is not None:
        server = f"{sample.server_cpu:.0f}%" if sample.server_cpu is not None else "?"
        cpu = f" | server cpu {server} rss {sample.server_rss_mb or 0:.0f}MB | generator cpu {sample.generator_cpu:.0f}%"
    history.append({"t": round(now - t0, 1), "up": up, "failed": failed, "errors": errors,
                    "video_loss_pct": round(100 * lost / window, 3) if window else None})
    phase = "starting" if now < t0 else ("running" if now < stop_at else "stopping")
    loss = f"{100 * lost / window:.2f}%" if window else "-"
    return (f"[{now - t0:6.1f}s {phase}] calls up {up} setting-up {setup} failed {failed} errors {errors}"
            f" | video loss (last s) {loss}{cpu} | loop lag {lag:.0f}ms")


def _kill_line(event: dict[str, Any]) -> str:
    if event.get("refused"):
        return f"load_tests: kill #{event['index']} at {event['at_s']:.1f}s refused: {event['refused']}"
    return (f"load_tests: kill #{event['index']} at {event['at_s']:.1f}s: kill -9 node {event['node_id']} "
            f"(pid {event['pid']}, {len(event['rooms'])} call(s)); gone: {event.get('pid_gone')}"
            + (f"; replaced by {event['replacement']}" if event.get("replacement") else ""))
