"""``python -m load_tests run|sweep …`` (see load_tests/README.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _common(p: argparse.ArgumentParser, target: bool = True) -> None:
    if target:
        group = p.add_mutually_exclusive_group(required=True)
        group.add_argument("--url", help="a running node, http://127.0.0.1:PORT (loopback only); several "
                                         "nodes of one cluster comma-separated (calls spread over them)")
        group.add_argument("--spawn-server", action="store_true",
                           help="start `python -m silkline serve` on a free loopback port for the run, stop it after")
        group.add_argument("--spawn-cluster", type=_sizes, metavar="N",
                           help="start redis-server and a cluster of N node processes for each run, stop them "
                                "after (sweep: a list, e.g. 1,2,4: one sweep per size)")
        p.add_argument("--cluster-mode", choices=["workers", "separate"], default="workers",
                       help="with --spawn-cluster: one `silkline serve --redis … --workers N` (default), or N "
                            "separate `silkline serve --redis … --node-id nI --port P_I --workers 1` (a killed one "
                            "is replaced by a fresh node nI-2 on its port; in workers mode the supervisor respawns it)")
        p.add_argument("--spread", choices=["parties", "calls"], default="parties",
                       help="several URLs (--url A,B or --cluster-mode separate): a call's agent and shopper on different nodes "
                            "(parties, default: every call crosses nodes), or both on the same one (calls)")
        p.add_argument("--kill-node-at", type=float, metavar="SECONDS",
                       help="fault mode (with --spawn-cluster): SECONDS after the first call starts, kill -9 the "
                            "alive node carrying the most calls (rooms), by its pid in /api/nodes; never the last "
                            "alive node, a node of another machine or a pid this tool did not start. Reports per "
                            "call whether it survived, its time to media resumed per side, and its loss")
        p.add_argument("--kills", type=int, default=1,
                       help="with --kill-node-at: how many kills (default 1, at most 50)")
        p.add_argument("--kill-every", type=float, default=0.0, metavar="SECONDS",
                       help="with --kills K > 1 (required then): seconds between kills; leave each kill ≥ 15 s "
                            "(the heartbeat's 5 s TTL, the move, the renegotiation, a replacement node's start)")
        p.add_argument("--server-pid", type=int, help="with --url: the node's PID, to sample its CPU and memory")
        p.add_argument("--forwarding", choices=["encoded", "transcode"], default="encoded",
                       help="with --spawn-server: the node's forwarding mode (transcode = comparison only)")
    else:  # the command starts its own servers
        p.set_defaults(url=None, spawn_server=True, server_pid=None, forwarding="encoded", spawn_cluster=None,
                       cluster_mode="workers", spread="parties", kill_node_at=None, kills=1, kill_every=0.0)
    p.add_argument("--ramp", type=float, default=10.0, help="seconds over which calls start, evenly (default 10)")
    p.add_argument("--duration", type=float, default=30.0,
                   help="seconds every call is held after the ramp (default 30)")
    p.add_argument("--out", type=Path, required=True, help="directory for the report")
    p.add_argument("--workers", type=int, default=1,
                   help="generator processes sharing the calls (default 1); more keep the generator "
                        "from being the bottleneck, as long as cores are free")
    p.add_argument("--loop", choices=["auto", "asyncio", "uvloop"], default="auto",
                   help="the generators' event loop (auto: uvloop when installed)")
    p.add_argument("--video-bitrate", type=int, default=1_000_000, help="bit/s of the looped VP8 clip")
    p.add_argument("--verify-interval", type=float, default=5.0,
                   help="seconds between decoded picture checks per receiver (default 5)")
    p.add_argument("--setup-timeout", type=float, default=30.0, help="seconds a call may take to come up")
    p.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                   help="the machine is shared: first wait up to SECONDS until other processes use "
                        "less than --idle-pct CPU (default: do not wait)")
    p.add_argument("--idle-pct", type=float, default=30.0, help="see --wait-idle (100 = one core)")
    p.add_argument("--nice", type=int, default=0,
                   help="nice value for the spawned node and generators (e.g. -5 on a machine shared "
                        "with other work; negative values need root)")
    p.add_argument("--generator", choices=["rtp", "aiortc"], default="rtp",
                   help="rtp (default): synthetic clients send pre-packetized RTP and count packets after "
                        "SRTP unprotect, cheaper than the node; aiortc: aiortc's whole media path, for comparison")
    p.add_argument("--record", action="store_true",
                   help="every shopper consents when the node asks to record: the calls are recorded "
                        "(the frame assembler and the recorder run), to measure what recording costs")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m load_tests",
                                     description="Drive concurrent synthetic video calls against a Silkline node")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="one load test with N calls")
    run.add_argument("--calls", type=int, required=True, help="concurrent 1:1 calls")
    _common(run)
    sweep = sub.add_parser("sweep", help="raise the load step by step until a threshold breaks")
    sweep.add_argument("--start", type=int, default=2)
    sweep.add_argument("--step", type=int, default=2)
    sweep.add_argument("--max", type=int, default=40)
    sweep.add_argument("--join-p95-ms", type=float, default=600.0, help="threshold (default 600)")
    sweep.add_argument("--loss-pct", type=float, default=0.5, help="threshold (default 0.5)")
    sweep.add_argument("--latency-p99-ms", type=float, help="optional threshold on video latency p99")
    sweep.add_argument("--freezes", type=float, help="optional threshold: most freezes (> 200 ms) in a step")
    sweep.add_argument("--retries", type=int, default=1, help="re-runs of a broken step before it counts")
    _common(sweep)
    compare = sub.add_parser("compare", help="encoded forwarding against the transcoding relay, repeated")
    compare.add_argument("--calls", type=int, nargs="+", default=[4, 8], help="loads to compare (default 4 8)")
    compare.add_argument("--repeat", type=int, default=3, help="repetitions per load and mode (default 3)")
    _common(compare)
    janus = sub.add_parser("janus-compare", help="the same calls through Silkline and Janus VideoRoom, interleaved")
    janus.add_argument("--calls", type=_loads, default=[2, 4, 8, 16], help="loads, e.g. 2,4,8,16 (the default)")
    janus.add_argument("--repeat", type=int, default=1, help="repetitions per load and server (default 1)")
    janus.add_argument("--servers", type=_servers, default=("silkline", "janus"),
                       help="silkline,janus (default), or one of them")
    janus.add_argument("--no-install", action="store_true",
                       help="do not `apt-get install janus` when it is missing (installing needs root)")
    _common(janus, target=False)
    worker = sub.add_parser("_worker", help=argparse.SUPPRESS)
    worker.add_argument("config")
    return parser


def _counts(text: str, what: str, high: int, example: str) -> list[int]:
    """A comma- or space-separated list of counts, each from 1 to ``high``."""
    try:
        counts = [int(x) for x in text.replace(" ", ",").split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of {what}: {text!r}") from None
    if not counts or not all(1 <= n <= high for n in counts):
        raise argparse.ArgumentTypeError(f"{what} between 1 and {high}, e.g. {example}")
    return counts


def _loads(text: str) -> list[int]:
    return _counts(text, "call counts", 500, "2,4,8,16")


def _sizes(text: str) -> list[int]:
    return _counts(text, "node counts", 16, "2 or (sweep) 1,2,4")


def _servers(text: str) -> tuple[str, ...]:
    names = tuple(x for x in text.split(",") if x)
    if not names or any(n not in ("silkline", "janus") for n in names) or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError("silkline,janus or one of them")
    return names


def _options(args: argparse.Namespace, calls: int, nodes: int = 0):  # type: ignore[no-untyped-def]
    from load_tests.faults import KillPlan
    from load_tests.runner import RunOptions

    if args.forwarding != "encoded" and not args.spawn_server:
        raise SystemExit("--forwarding applies to --spawn-server only (a running node has its own mode)")
    urls = [u.strip().rstrip("/") for u in (args.url or "").split(",") if u.strip()]
    if any(not u.startswith(("http://127.0.0.1", "http://localhost")) for u in urls):
        raise SystemExit("--url must be nodes on loopback (http://127.0.0.1:PORT[,http://127.0.0.1:PORT2…])")
    kill = None
    if args.kill_node_at is not None:
        if not args.spawn_cluster:
            raise SystemExit("--kill-node-at kills only a node of a cluster this tool started: use --spawn-cluster N")
        try:
            kill = KillPlan(args.kill_node_at, args.kills, args.kill_every)
        except ValueError as exc:
            raise SystemExit(str(exc)) from None
    if args.spawn_cluster and not nodes:
        if len(args.spawn_cluster) != 1:
            raise SystemExit("--spawn-cluster takes one size here (a list only with sweep)")
        nodes = args.spawn_cluster[0]
    if nodes and not 1 <= nodes <= 16:
        raise SystemExit("--spawn-cluster takes 1 to 16 nodes")
    for name in ("ramp", "duration"):
        if getattr(args, name) < 0 or getattr(args, name) > 600:
            raise SystemExit(f"--{name} must be between 0 and 600 seconds")
    if args.duration < 1:
        raise SystemExit("--duration must be at least 1 second")
    return RunOptions(calls=calls, ramp=args.ramp, duration=args.duration, out=args.out,
                      url=urls[0] if urls else None, urls=urls or None, spawn_server=args.spawn_server,
                      spawn_cluster=nodes, cluster_mode=args.cluster_mode, spread=args.spread, kill=kill,
                      forwarding=args.forwarding, server_pid=args.server_pid, workers=args.workers,
                      loop=args.loop, video_bitrate=args.video_bitrate,
                      verify_interval=args.verify_interval, setup_timeout=args.setup_timeout,
                      nice=max(-20, min(19, args.nice)), wait_idle=min(max(0.0, args.wait_idle), 600.0), idle_pct=args.idle_pct,
                      quiet=args.quiet, generator=args.generator, record=args.record)


def _stop_on_signals() -> None:
    """SIGTERM/SIGINT end a run cleanly: the finally blocks stop the generators and the node
    (a shell's background job ignores SIGINT otherwise)."""
    import signal

    def stop(signum, frame):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def main(argv: list[str] | None = None) -> int:
    from load_tests.cluster import ClusterError

    try:
        return _main(argv)
    except ClusterError as exc:  # a cluster that did not start, or a refusal: in words, no traceback
        print(f"load_tests: {exc}", file=sys.stderr)
        return 2


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.command != "_worker":
        _stop_on_signals()
    if args.command == "_worker":
        import json

        if json.loads(Path(args.config).read_text()).get("target") == "janus":
            from load_tests.janus_worker import main as janus_worker_main

            return janus_worker_main(args.config)
        from load_tests.worker import main as worker_main

        return worker_main(args.config)
    if args.command == "janus-compare":
        from load_tests.janus_compare import command

        return command(args, _options(args, args.calls[0]))
    if args.command == "run":
        from load_tests.report import markdown
        from load_tests.runner import run

        if not 1 <= args.calls <= 500:
            raise SystemExit("--calls must be between 1 and 500")
        rep = run(_options(args, args.calls))
        print(markdown(rep))
        print(f"report: {args.out / 'report.json'}", file=sys.stderr)
        return 0 if rep["calls_ok"] > 0 else 1
    if args.command == "compare":
        from load_tests.compare import compare
        from load_tests.compare import markdown as compare_md

        if not args.spawn_server:
            raise SystemExit("compare starts its own nodes: use --spawn-server")
        if not (1 <= args.repeat <= 10 and all(1 <= n <= 500 for n in args.calls)):
            raise SystemExit("need 1 ≤ --repeat ≤ 10 and 1 ≤ calls ≤ 500")
        args.forwarding = "encoded"
        result = compare(_options(args, args.calls[0]), args.calls, args.repeat)
        print(compare_md(result))
        return 0
    if args.command == "sweep":
        from load_tests.sweep import cluster_sweeps, markdown, sweep

        if not (1 <= args.start <= args.max <= 500 and args.step >= 1):
            raise SystemExit("need 1 ≤ --start ≤ --max ≤ 500 and --step ≥ 1")
        thresholds = {"join_p95_ms": args.join_p95_ms, "loss_pct": args.loss_pct,
                      "latency_p99_ms": args.latency_p99_ms, "freezes": args.freezes}
        if args.spawn_cluster:  # one sweep per cluster size, side by side
            sizes = args.spawn_cluster
            text = cluster_sweeps(_options(args, args.start, nodes=sizes[0]), sizes, args.start, args.step,
                                  args.max, thresholds, args.retries)
            print(text)
            return 0
        result = sweep(_options(args, args.start), args.start, args.step, args.max, thresholds, args.retries)
        print(markdown(result))
        return 0
    return 2

