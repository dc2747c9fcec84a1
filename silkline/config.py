"""Configuration: embedded defaults, overridden by SILKLINE_* environment variables, then flags."""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import secrets
import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from sfu.admission import AdmissionLimit

logger = logging.getLogger(__name__)


@dataclass
class Config:
    host: str = "127.0.0.1"
    port: int = 8080
    redis_url: str | None = None
    data_dir: Path = Path("silkline-data")
    recordings_dir: Path = Path("recordings")
    secret: str = ""
    demo: bool = True
    demo_forced: bool = False  # --demo / SILKLINE_DEMO=1: demo tokens even off loopback (shopper only)
    ice_servers: list[dict] = field(default_factory=list)
    media_addresses: list[str] | None = None  # None: 127.0.0.1 when serving on loopback
    media_public_address: str = ""  # 1:1 NAT: host candidates announce this address instead
    media_ports: tuple[int, int] | None = None  # ICE host candidates bind in lo-hi; None: ephemeral
    tls_cert: Path | None = None  # PEM certificate chain: serve HTTPS and WSS ourselves
    tls_key: Path | None = None  # its PEM private key
    grace_period: float = 15.0
    ring_timeout: float = 30.0
    wrap_up_s: float = 60.0  # after-call work (a queue's own wrap_up_s wins)
    media_timeout: float = 3.0
    ws_heartbeat: float = 5.0
    token_ttl: float = 3600.0
    log_level: str = "INFO"
    log_format: str = "text"  # text | json (silkline/log_format.py)
    retention_days: float = 90.0
    layout: str = "side_by_side"  # QA playback: side_by_side | pip
    queues: list | None = None  # QueueConfig list; None = the default demo queues
    forwarding: str = "encoded"  # "transcode" = aiortc MediaRelay, for load-test comparison only
    turn_urls: list[str] = field(default_factory=list)  # turn:/turns: URLs handed to clients
    turn_secret: str = ""  # coturn's static-auth-secret: credentials are minted per participant
    turn_ttl: float = 3600.0  # seconds a minted TURN credential stays valid
    metrics_token: str = ""  # when set, GET /metrics needs Authorization: Bearer <it>
    max_image_pixels: int = 40_000_000  # uploaded pictures: declared pixels, checked before decoding
    max_image_side: int = 8000  # uploaded pictures: declared width or height
    frame_ancestors: str = "'self'"  # CSP frame-ancestors of the shopper's pages (who may frame them)
    allowed_origins: list[str] = field(default_factory=list)  # pages besides our own; "*" = any
    webhook_attempts: int = 5  # tries per webhook delivery, the first included
    webhook_backoff: float = 1.0  # seconds before the second try; doubles each time
    webhook_timeout: float = 5.0  # seconds a receiver has to answer
    conversion_window_days: float = 7.0  # an order this long after a call is that call's conversion
    # single sign-on for staff (OIDC authorization code flow with PKCE; signaling/api/oidc.py)
    oidc_issuer: str = ""  # https://idp.example/realms/shop: its discovery document is under it
    oidc_client_id: str = ""
    oidc_client_secret: str = ""  # empty: a public client (PKCE only)
    oidc_role_claim: str = "roles"  # the ID token claim (dotted path) that names the person's roles
    oidc_roles: dict[str, str] = field(default_factory=dict)  # claim value → agent|supervisor|qa|admin
    oidc_redirect_url: str = ""  # https://silkline.example/api/oidc/callback; empty: from the request
    oidc_label: str = "Sign in with single sign-on"

    @property
    def bound_to_loopback(self) -> bool:
        return is_loopback(self.host)

    @property
    def demo_active(self) -> bool:
        """Demo tokens are served: on loopback unless --no-demo; elsewhere only when forced."""
        return self.demo and (self.bound_to_loopback or self.demo_forced)
    # admission: above any of these the node opens no new room (calls wait); 0 = no limit.
    # Defaults: the node's measured capacity (sfu/admission.py, docs/performance.md)
    max_calls: int = AdmissionLimit.max_calls
    max_tracks: int = AdmissionLimit.max_tracks
    max_loop_lag_ms: float = AdmissionLimit.max_loop_lag_ms
    max_cpu_pct: float = AdmissionLimit.max_cpu_pct
    node_id: str = ""  # "" = <hostname>-<pid>
    heartbeat_s: float = 1.0  # the node registry's heartbeat; an entry lives heartbeat_ttl_s
    heartbeat_ttl_s: float = 5.0
    lease_ttl_s: float = 4.0  # cluster: the centre lease lives this long unless its holder renews it
    drain_timeout: float = 60.0  # SIGTERM: live calls may go on this long, then end node_drain
    # cluster mode (--redis): node processes and the address other nodes reach this one at
    workers: int = 0  # 0 = one node process per core with --redis; 1 = this process is the node
    internal_host: str = "127.0.0.1"  # the private listener every node has in cluster mode
    internal_port: int = 0  # 0 = any free port
    advertise_url: str = ""  # what other nodes use to reach us; "" = http://<internal_host>:<port>
    internal_url: str = ""  # resolved once the internal address is bound (silkline/cli.py)
    # abuse: budgets and caps per client (docs/deploy.md, "Limits"; signaling/api/limits.py, caps.py)
    rate_limits: dict[str, str] = field(default_factory=dict)  # "<action>.<ip|token>" -> "30/min"; over the defaults
    trusted_proxies: list[str] = field(default_factory=list)  # peers whose X-Forwarded-For is believed
    rate_limit_exempt: list[str] = field(default_factory=lambda: ["127.0.0.0/8", "::1/128"])  # skip per-address limits
    max_sockets_per_ip: int = 50  # open WebSockets per client address; 0 = no cap
    max_waiting_per_ip: int = 5  # calls waiting (or ringing) per client address; 0 = no cap
    max_waiting_per_customer: int = 2  # calls waiting per customer_id the shop signed; 0 = no cap
    join_deadline: float = 10.0  # seconds a socket may stay without joining, pings or not
    http_idle_timeout: float = 20.0  # seconds a connection may go without a complete request (slowloris)

    @property
    def embedded(self) -> bool:
        return self.redis_url is None

    def resolved_node_id(self) -> str:
        if not self.node_id:
            self.node_id = f"{socket.gethostname()}-{os.getpid()}"
        return self.node_id

    def resolved_media_addresses(self) -> list[str] | None:
        if self.media_addresses:
            return self.media_addresses
        if self.host in ("127.0.0.1", "localhost", "::1"):
            return ["127.0.0.1"]
        return None  # every interface but loopback (aioice's default)

    def ssl_context(self) -> ssl.SSLContext | None:
        """The server's TLS context when a certificate is configured; both files or neither."""
        if not self.tls_cert and not self.tls_key:
            return None
        if not (self.tls_cert and self.tls_key):
            raise ValueError("--tls-cert and --tls-key go together (SILKLINE_TLS_CERT / SILKLINE_TLS_KEY)")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(str(self.tls_cert), str(self.tls_key))
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"cannot load the TLS certificate {self.tls_cert} / key {self.tls_key}: {exc}") from exc
        return context

    def resolved_secret(self) -> str:
        if self.secret:
            return self.secret
        logger.warning("no SILKLINE_SECRET set: using a random secret; tokens die with this process")
        self.secret = secrets.token_urlsafe(32)
        return self.secret


ENV = {
    "host": "SILKLINE_HOST",
    "port": "SILKLINE_PORT",
    "redis_url": "SILKLINE_REDIS",
    "data_dir": "SILKLINE_DATA_DIR",
    "recordings_dir": "SILKLINE_RECORDINGS_DIR",
    "secret": "SILKLINE_SECRET",
    "demo": "SILKLINE_DEMO",
    "ice_servers": "SILKLINE_ICE_SERVERS",
    "media_addresses": "SILKLINE_MEDIA_ADDRESSES",
    "media_ports": "SILKLINE_MEDIA_PORTS",
    "media_public_address": "SILKLINE_MEDIA_PUBLIC_ADDRESS",
    "tls_cert": "SILKLINE_TLS_CERT",
    "tls_key": "SILKLINE_TLS_KEY",
    "grace_period": "SILKLINE_GRACE_PERIOD",
    "ring_timeout": "SILKLINE_RING_TIMEOUT",
    "wrap_up_s": "SILKLINE_WRAP_UP_SECONDS",
    "log_level": "SILKLINE_LOG_LEVEL",
    "log_format": "SILKLINE_LOG_FORMAT",
    "forwarding": "SILKLINE_FORWARDING",
    "retention_days": "SILKLINE_RETENTION_DAYS",
    "layout": "SILKLINE_QA_LAYOUT",
    "turn_urls": "SILKLINE_TURN_URLS",
    "turn_secret": "SILKLINE_TURN_SECRET",
    "turn_ttl": "SILKLINE_TURN_TTL",
    "metrics_token": "SILKLINE_METRICS_TOKEN",
    "max_image_pixels": "SILKLINE_MAX_IMAGE_PIXELS",
    "max_image_side": "SILKLINE_MAX_IMAGE_SIDE",
    "frame_ancestors": "SILKLINE_FRAME_ANCESTORS",
    "allowed_origins": "SILKLINE_ALLOWED_ORIGINS",
    "max_calls": "SILKLINE_MAX_CALLS",
    "max_tracks": "SILKLINE_MAX_TRACKS",
    "max_loop_lag_ms": "SILKLINE_MAX_LOOP_LAG_MS",
    "max_cpu_pct": "SILKLINE_MAX_CPU_PCT",
    "node_id": "SILKLINE_NODE_ID",
    "drain_timeout": "SILKLINE_DRAIN_TIMEOUT",
    "heartbeat_s": "SILKLINE_HEARTBEAT",
    "heartbeat_ttl_s": "SILKLINE_HEARTBEAT_TTL",
    "lease_ttl_s": "SILKLINE_LEASE_TTL",
    "workers": "SILKLINE_WORKERS",
    "internal_host": "SILKLINE_INTERNAL_HOST",
    "internal_port": "SILKLINE_INTERNAL_PORT",
    "advertise_url": "SILKLINE_ADVERTISE_URL",
    "conversion_window_days": "SILKLINE_CONVERSION_WINDOW_DAYS",
    "oidc_issuer": "SILKLINE_OIDC_ISSUER",
    "oidc_client_id": "SILKLINE_OIDC_CLIENT_ID",
    "oidc_client_secret": "SILKLINE_OIDC_CLIENT_SECRET",
    "oidc_role_claim": "SILKLINE_OIDC_ROLE_CLAIM",
    "oidc_roles": "SILKLINE_OIDC_ROLES",
    "oidc_redirect_url": "SILKLINE_OIDC_REDIRECT_URL",
    "oidc_label": "SILKLINE_OIDC_LABEL",
    "rate_limits": "SILKLINE_RATE_LIMITS",
    "trusted_proxies": "SILKLINE_TRUSTED_PROXIES",
    "rate_limit_exempt": "SILKLINE_RATE_LIMIT_EXEMPT",
    "max_sockets_per_ip": "SILKLINE_MAX_SOCKETS_PER_IP",
    "max_waiting_per_ip": "SILKLINE_MAX_WAITING_PER_IP",
    "max_waiting_per_customer": "SILKLINE_MAX_WAITING_PER_CUSTOMER",
    "join_deadline": "SILKLINE_JOIN_DEADLINE",
    "http_idle_timeout": "SILKLINE_HTTP_IDLE_TIMEOUT",
}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def from_env(environ: dict[str, str] | None = None) -> Config:
    env = os.environ if environ is None else environ
    config = Config()
    for name, var in ENV.items():
        raw = env.get(var)
        if raw is None or raw == "":
            continue
        setattr(config, name, parse_value(name, raw))
    if env.get(ENV["demo"]) and config.demo:
        config.demo_forced = True  # asked for in so many words
    return config


def parse_value(name: str, raw: str) -> object:
    if name in ("port", "max_image_pixels", "max_image_side", "max_calls", "max_tracks", "max_sockets_per_ip",
                "max_waiting_per_ip", "max_waiting_per_customer", "workers", "internal_port"):
        return int(raw)
    if name in ("grace_period", "ring_timeout", "wrap_up_s", "retention_days", "turn_ttl", "max_loop_lag_ms",
                "max_cpu_pct", "drain_timeout", "conversion_window_days", "join_deadline", "http_idle_timeout",
                "heartbeat_s", "heartbeat_ttl_s", "lease_ttl_s"):
        return float(raw)
    if name == "rate_limits":
        return parse_rate_limits(raw)
    if name == "media_ports":
        return parse_port_range(raw)
    if name == "demo":
        return raw.strip().lower() not in ("0", "false", "no", "off")
    if name in ("data_dir", "recordings_dir", "tls_cert", "tls_key"):
        return Path(raw)
    if name == "ice_servers":
        servers = json.loads(raw)
        if not isinstance(servers, list):
            raise ValueError("SILKLINE_ICE_SERVERS must be a JSON list of {urls, username?, credential?}")
        return servers
    if name == "oidc_roles":
        return parse_role_map(raw)
    if name == "rate_limit_exempt" and raw.strip().lower() in ("none", "off"):
        return []
    if name in ("media_addresses", "turn_urls", "allowed_origins", "trusted_proxies", "rate_limit_exempt"):
        return [a.strip() for a in raw.split(",") if a.strip()]
    return raw


def parse_rate_limits(raw: str) -> dict[str, str]:
    """``"calls.ip=20/min,joins.token=off"`` → ``{"calls.ip": "20/min", "joins.token": "off"}``
    (each spec is checked when the app is built: signaling/api/limits.py)."""
    out: dict[str, str] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        name, sep, spec = item.partition("=")
        if not sep or not name.strip() or not spec.strip():
            raise ValueError(f"a rate limit is NAME=SPEC, e.g. calls.ip=20/min, not {item.strip()!r}")
        out[name.strip()] = spec.strip()
    return out


def parse_port_range(raw: str) -> tuple[int, int]:
    """``"40000-40999"`` → ``(40000, 40999)``, inclusive; a ValueError in words otherwise."""
    lo_text, sep, hi_text = raw.strip().partition("-")
    try:
        lo, hi = int(lo_text), int(hi_text if sep else lo_text)
    except ValueError:
        raise ValueError(f"a media port range is LO-HI, e.g. 40000-40999, not {raw!r}") from None
    if not 1024 <= lo <= hi <= 65535:
        raise ValueError(f"a media port range lies within 1024-65535 with LO ≤ HI, not {raw!r}")
    return lo, hi


def parse_role_map(raw: str) -> dict[str, str]:
    """``"shop-agents=agent,shop-admins=admin"`` → the OIDC claim value each role comes from."""
    roles: dict[str, str] = {}
    for pair in (p.strip() for p in raw.split(",")):
        if not pair:
            continue
        value, sep, role = pair.rpartition("=")
        if not sep or not value.strip() or role.strip() not in ("agent", "supervisor", "qa", "admin"):
            raise ValueError(f"an OIDC role mapping is CLAIM_VALUE=agent|supervisor|qa|admin, not {pair!r}")
        roles[value.strip()] = role.strip()
    return roles
