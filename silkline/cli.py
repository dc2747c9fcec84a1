"""``silkline serve``: run a node on its embedded defaults (no Redis, no config file)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from aiohttp import web

from sfu.admission import AdmissionLimit
from silkline import admin_cli, log_format
from silkline.config import ENV, Config, from_env, parse_port_range, parse_role_map, parse_value
from silkline.listeners import bind_internal
from silkline.workers import Supervisor, node_processes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="silkline", description="Silkline video customer-service media server")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run a Silkline node",
                           description="Every option can also be set by the environment variable shown.")
    serve.add_argument("--host", help=f"address to listen on (default 127.0.0.1; {ENV['host']})")
    serve.add_argument("--port", type=int, help=f"port (default 8080; {ENV['port']})")
    serve.add_argument("--redis", dest="redis_url", metavar="URL",
                       help=("redis://…, rediss://… or redis+sentinel://h:26379,…/service to share state between nodes "
                             f"(default: embedded; {ENV['redis_url']}; see docs/redis.md)"))
    serve.add_argument("--data-dir", type=Path, help=f"durable call records (default ./silkline-data; {ENV['data_dir']})")
    serve.add_argument("--recordings-dir", type=Path,
                       help=f"recordings (default ./recordings; {ENV['recordings_dir']})")
    serve.add_argument("--secret", help=f"token signing secret, ≥16 chars ({ENV['secret']}; default: random per process)")
    serve.add_argument("--no-demo", dest="demo", action="store_false", default=None,
                       help=f"disable demo tokens ({ENV['demo']}=0)")
    serve.add_argument("--demo", dest="demo_forced", action="store_true", default=None,
                       help=f"serve demo shopper tokens even when --host is not loopback ({ENV['demo']}=1); "
                            "never for production")
    serve.add_argument("--media-address", dest="media_addresses", action="append",
                       help=f"address offered for media (repeatable; {ENV['media_addresses']}, comma-separated)")
    serve.add_argument("--media-public-address", metavar="IP",
                       help=f"behind 1:1 NAT (cloud VM, Docker with the range published): announce this "
                            f"address in place of the bound one, same ports ({ENV['media_public_address']})")
    serve.add_argument("--media-ports", metavar="LO-HI", type=parse_port_range,
                       help=f"UDP port range for media, e.g. 40000-40999: publish or open it in the firewall "
                            f"(default: ephemeral ports; {ENV['media_ports']})")
    serve.add_argument("--tls-cert", type=Path, metavar="PEM",
                       help=f"certificate chain: serve HTTPS and WSS (with --tls-key; {ENV['tls_cert']})")
    serve.add_argument("--tls-key", type=Path, metavar="PEM",
                       help=f"the certificate's private key ({ENV['tls_key']})")
    serve.add_argument("--turn-url", dest="turn_urls", action="append", metavar="URL",
                       help=f"turn:/turns: URL handed to clients with a short-lived credential "
                            f"(repeatable; {ENV['turn_urls']}, comma-separated)")
    serve.add_argument("--turn-secret", help=f"coturn's static-auth-secret, to mint TURN credentials "
                                            f"({ENV['turn_secret']}; prefer the variable: flags show in ps)")
    serve.add_argument("--turn-ttl", type=float,
                       help=f"seconds a TURN credential stays valid (default 3600; {ENV['turn_ttl']})")
    serve.add_argument("--allowed-origins", dest="allowed_origins", action="append", metavar="ORIGINS",
                       help=f"web origins (https://shop.example) whose pages may embed the widget: the "
                            f"WebSocket and CORS accept them besides our own (comma-separated, repeatable; "
                            f"* = any; {ENV['allowed_origins']})")
    serve.add_argument("--metrics-token",
                       help=f"require Authorization: Bearer <token> on /metrics (default: none; "
                            f"{ENV['metrics_token']})")
    serve.add_argument("--max-image-pixels", type=int,
                       help=f"largest uploaded picture, in declared pixels (default 40000000; "
                            f"{ENV['max_image_pixels']})")
    serve.add_argument("--max-image-side", type=int,
                       help=f"largest uploaded picture side, in pixels (default 8000; {ENV['max_image_side']})")
    serve.add_argument("--grace-period", type=float, help=f"seconds a vanished participant may come back (default 15; {ENV['grace_period']})")
    serve.add_argument("--ring-timeout", type=float, help=f"seconds an offered call rings (default 30; {ENV['ring_timeout']})")
    serve.add_argument("--wrap-up-seconds", dest="wrap_up_s", type=float,
                       help=f"after-call work before the agent takes calls again (default 60; {ENV['wrap_up_s']})")
    serve.add_argument("--retention-days", type=float,
                       help=f"delete recordings older than this (default 90; {ENV['retention_days']})")
    serve.add_argument("--forwarding", choices=["encoded", "rtp", "frames", "transcode"],
                       help="encoded (default): the node's encoded path; rtp forwards RTP packets, "
                            "frames forwards reassembled frames; transcode decodes and "
                            "re-encodes with aiortc's MediaRelay — for load-test comparison only")
    serve.add_argument("--frame-ancestors", metavar="SOURCES",
                       help="CSP frame-ancestors of the shopper's pages, e.g. \"'self' https://shop.example\" "
                            f"(default 'self'; {ENV['frame_ancestors']})")
    serve.add_argument("--max-calls", type=int,
                       help=f"open no new room above this many calls; they wait in the queue "
                            f"(default {AdmissionLimit.max_calls}, the rated capacity; 0 = no limit; {ENV['max_calls']})")
    serve.add_argument("--max-tracks", type=int,
                       help=f"open no new room above this many published tracks "
                            f"(default {AdmissionLimit.max_tracks}; {ENV['max_tracks']})")
    serve.add_argument("--max-loop-lag-ms", type=float,
                       help=f"open no new room while the event loop's mean lag is above this "
                            f"(default {AdmissionLimit.max_loop_lag_ms:g}; {ENV['max_loop_lag_ms']})")
    serve.add_argument("--max-cpu-pct", type=float,
                       help=f"open no new room while the process uses more than this %% of a core "
                            f"(default {AdmissionLimit.max_cpu_pct:g}; {ENV['max_cpu_pct']})")
    serve.add_argument("--node-id", help=f"this node's name in the node registry (default <hostname>-<pid>; "
                                        f"with --workers the base of theirs, default <hostname>; {ENV['node_id']})")
    serve.add_argument("--drain-timeout", type=float,
                       help=f"on SIGTERM, seconds live calls may go on before they end node_drain "
                            f"(default 60; {ENV['drain_timeout']})")
    cluster = serve.add_argument_group("cluster (with --redis; docs/deploy.md, \"Workers and more machines\")")
    cluster.add_argument("--workers", type=int, metavar="N",
                         help=f"node processes on this machine sharing --port (default with --redis: one per "
                              f"core; 1 = this process is the node; without --redis only 1; {ENV['workers']})")
    cluster.add_argument("--internal-host", metavar="ADDRESS",
                         help=f"the private address other nodes reach this one at (default 127.0.0.1; "
                              f"{ENV['internal_host']})")
    cluster.add_argument("--internal-port", type=int, metavar="PORT",
                         help=f"its port (default 0: any free port; with --workers N, worker i takes PORT+i-1; "
                              f"{ENV['internal_port']})")
    cluster.add_argument("--advertise-url", metavar="URL",
                         help=f"the internal URL other machines use, e.g. http://10.0.0.5:{{port}} ({{port}}: "
                              f"the bound internal port; default http://<internal host>:<port>; "
                              f"{ENV['advertise_url']})")
    cluster.add_argument("--heartbeat", dest="heartbeat_s", type=float, metavar="SECONDS",
                         help=f"seconds between node registry heartbeats (default 1; {ENV['heartbeat_s']})")
    cluster.add_argument("--heartbeat-ttl", dest="heartbeat_ttl_s", type=float, metavar="SECONDS",
                         help=f"seconds without a heartbeat before a node is dead (default 5; "
                              f"{ENV['heartbeat_ttl_s']})")
    cluster.add_argument("--lease-ttl", dest="lease_ttl_s", type=float, metavar="SECONDS",
                         help=f"seconds the centre lease outlives its holder's last renewal: how soon another "
                              f"node decides after the holder dies (default 4; {ENV['lease_ttl_s']})")
    serve.add_argument("--conversion-window", dest="conversion_window_days", type=float, metavar="DAYS",
                       help=f"an order this many days after a call counts as its conversion "
                            f"(default 7; {ENV['conversion_window_days']})")
    serve.add_argument("--oidc-issuer", metavar="URL",
                       help=f"staff single sign-on: the OIDC provider's issuer URL (its discovery document "
                            f"is at URL/.well-known/openid-configuration; {ENV['oidc_issuer']}); the client "
                            f"secret only by {ENV['oidc_client_secret']}")
    serve.add_argument("--oidc-client-id", help=f"this server's client id at the provider ({ENV['oidc_client_id']})")
    serve.add_argument("--oidc-role-claim", metavar="CLAIM",
                       help=f"ID token claim naming the person's roles, dotted for nested "
                            f"(default roles; {ENV['oidc_role_claim']})")
    serve.add_argument("--oidc-roles", type=parse_role_map, metavar="VALUE=ROLE,…",
                       help=f"claim value → agent|supervisor|qa|admin, e.g. shop-agents=agent "
                            f"(default: the claim names the roles; {ENV['oidc_roles']})")
    serve.add_argument("--oidc-redirect-url", metavar="URL",
                       help=f"the callback URL registered at the provider, https://…/api/oidc/callback "
                            f"(default: from the request; {ENV['oidc_redirect_url']})")
    limits = serve.add_argument_group("limits per client (docs/deploy.md, \"Limits\")")
    limits.add_argument("--rate-limit", dest="rate_limits", action="append", metavar="NAME=SPEC",
                        help=f"a budget over its default, e.g. calls.ip=20/min or messages.token=40/s:120 or "
                             f"joins.ip=off; NAME is mint|calls|joins|messages|uploads . ip|token "
                             f"(repeatable, comma-separated; {ENV['rate_limits']})")
    limits.add_argument("--trusted-proxies", metavar="ADDRESSES",
                        help=f"proxies (IPs or networks, comma-separated) whose X-Forwarded-For names the "
                             f"client; set it behind nginx/Caddy (default: none; {ENV['trusted_proxies']})")
    limits.add_argument("--rate-limit-exempt", metavar="ADDRESSES",
                        help=f"client addresses that skip the per-address limits and caps (default "
                             f"127.0.0.0/8,::1; none = nobody; {ENV['rate_limit_exempt']})")
    limits.add_argument("--max-sockets-per-ip", type=int,
                        help=f"open WebSockets per client address; more are closed with 4429 (default 50; "
                             f"0 = no cap; {ENV['max_sockets_per_ip']})")
    limits.add_argument("--max-waiting-per-ip", type=int,
                        help=f"calls waiting for an agent per client address; more are refused "
                             f"too_many_waiting (default 5; 0 = no cap; {ENV['max_waiting_per_ip']})")
    limits.add_argument("--max-waiting-per-customer", type=int,
                        help=f"calls waiting per customer_id in the shopper token (default 2; 0 = no cap; "
                             f"{ENV['max_waiting_per_customer']})")
    limits.add_argument("--join-deadline", type=float,
                        help=f"seconds a WebSocket may stay without a join, answering pings or not "
                             f"(default 10; {ENV['join_deadline']})")
    limits.add_argument("--http-idle-timeout", type=float,
                        help=f"seconds a connection may go without a complete request: bounds slow headers "
                             f"(slowloris) and idle keep-alive (default 20; {ENV['http_idle_timeout']})")
    serve.add_argument("--log-level", help=f"DEBUG, INFO, WARNING (default INFO; {ENV['log_level']})")
    serve.add_argument("--log-format", choices=log_format.LOG_FORMATS,
                       help=f"text (default) or json: one JSON object per line for log shippers "
                            f"({ENV['log_format']})")
    admin_cli.add_parsers(sub)
    return parser


def config_from_args(args: argparse.Namespace) -> Config:
    config = from_env()
    for name in ("host", "port", "redis_url", "data_dir", "recordings_dir", "secret", "demo",
                 "media_addresses", "grace_period", "ring_timeout", "wrap_up_s", "log_level", "forwarding",
                 "retention_days", "turn_urls", "turn_secret", "turn_ttl",
                 "metrics_token", "max_image_pixels", "max_image_side", "frame_ancestors", "demo_forced",
                 "max_calls", "max_tracks", "max_loop_lag_ms", "max_cpu_pct", "node_id", "drain_timeout",
                 "tls_cert", "tls_key", "media_ports", "log_format",
                 "media_public_address", "conversion_window_days", "oidc_issuer", "oidc_client_id",
                 "oidc_role_claim", "oidc_roles", "oidc_redirect_url", "max_sockets_per_ip",
                 "max_waiting_per_ip", "max_waiting_per_customer", "join_deadline", "http_idle_timeout",
                 "workers", "internal_host", "internal_port", "advertise_url", "heartbeat_s", "heartbeat_ttl_s",
                 "lease_ttl_s"):
        value = getattr(args, name, None)
        if value is not None:
            setattr(config, name, value)
    if config.redis_url and config.demo and "SILKLINE_DEMO" not in __import__("os").environ and args.demo is None:
        config.demo = False  # demo tokens are on by default only in embedded mode
    if getattr(args, "allowed_origins", None):
        config.allowed_origins = [o.strip() for flag in args.allowed_origins for o in flag.split(",") if o.strip()]
    for name in ("trusted_proxies", "rate_limit_exempt"):
        if getattr(args, name, None) is not None:
            setattr(config, name, parse_value(name, getattr(args, name)))
    if getattr(args, "rate_limits", None):
        for flag in args.rate_limits:
            config.rate_limits = {**config.rate_limits, **parse_value("rate_limits", flag)}  # type: ignore[dict-item]
    if getattr(args, "demo_forced", None) and getattr(args, "demo", None) is not False:
        config.demo = True  # --demo asks for it; --no-demo beside it still wins
    return config


async def serve(config: Config) -> None:
    from silkline.app import create_app, runner_options
    from silkline.drain import drain

    # before anything listens: a signal during start-up is kept, and the node drains once up
    stop, hurry = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stop.is_set() and not hurry.is_set():
            print("Silkline: a second signal: the drain is cut short", flush=True)
        (hurry if stop.is_set() else stop).set()  # the second signal cuts the drain short

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    ssl_context = config.ssl_context()  # a bad certificate stops us before anything listens
    # cluster mode: the internal address is bound first, so the first heartbeat carries its URL
    internal = bind_internal(config) if config.redis_url else None
    try:
        app = create_app(config)
    except BaseException:
        if internal is not None:
            internal.close()
        raise
    runner = web.AppRunner(app, handle_signals=False, access_log=None, **runner_options(config))
    await runner.setup()
    # SO_REUSEPORT in cluster mode: the workers of one supervisor share the public port
    site = web.TCPSite(runner, config.host, config.port, ssl_context=ssl_context,
                       reuse_port=True if config.redis_url else None)
    await site.start()
    port = runner.addresses[0][1] if runner.addresses else config.port
    base = f"{'https' if ssl_context else 'http'}://{config.host}:{port}"
    print(f"Silkline listening on {base}", flush=True)
    if internal is not None:
        await web.SockSite(runner, internal).start()
        print(f"Silkline internal address {config.internal_url} (node {config.resolved_node_id()})", flush=True)
    if config.demo_active and not config.bound_to_loopback:
        print("WARNING: demo tokens are ON on a non-loopback address: anyone who reaches this port can "
              "start calls as a shopper. Never run a shop like this; drop --demo / SILKLINE_DEMO.",
              file=sys.stderr, flush=True)
    if config.demo_active:
        print(f"  shopper demo page: {base}/demo/shop", flush=True)
        print(f"  agent console:     {base}/agent", flush=True)
        print(f"  supervisor view:   {base}/supervisor", flush=True)
        print(f"  QA replay:         {base}/qa", flush=True)
    await stop.wait()
    print(f"Silkline draining: no new calls; live calls may go on for {config.drain_timeout:g} s…", flush=True)
    await drain(app, config.drain_timeout, hurry)
    await runner.cleanup()
    print("Silkline stopped", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command != "serve":
        return admin_cli.run(args)
    config = config_from_args(args)
    try:
        log_format.configure(config.log_level, config.log_format)
    except ValueError as exc:  # SILKLINE_LOG_FORMAT / SILKLINE_LOG_LEVEL that means nothing
        print(f"silkline: {exc}", file=sys.stderr)
        return 2
    try:
        nodes = node_processes(config)
    except ValueError as exc:  # --workers 3 without --redis, --workers -1
        print(f"silkline: {exc}", file=sys.stderr)
        return 2
    if nodes > 1:
        return Supervisor(config, list(sys.argv[1:] if argv is None else argv), nodes).run()
    if args.command == "serve":
        try:
            asyncio.run(serve(config))
        except OSError as exc:
            print(f"silkline: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
            return 2
        except ValueError as exc:  # a configuration that cannot work (e.g. TURN URLs, no secret)
            print(f"silkline: {exc}", file=sys.stderr)
            return 2
    return 0
