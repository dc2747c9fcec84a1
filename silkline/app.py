"""The app factory: wires StateStore, SFU, CallService and the HTTP faces together."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

from aiohttp import web
from aiortc import RTCIceServer

from media.clock import Clock, SystemClock
from recorder import Recorder
from sfu import Admission, AdmissionLimit, CloseReason, SfuNode
from signaling.api.accounts_api import AccountsApi
from signaling.api.availability_api import AvailabilityApi
from signaling.api.caps import EdgeLimits, SocketCounts
from signaling.api.client_address import ClientAddresses
from signaling.api.conversation_api import ConversationApi
from signaling.api.demo import DemoTokens
from signaling.api.health import Health
from signaling.api.limits import RateLimits
from signaling.api.media_urls import MediaSigner
from signaling.api.metrics_api import MetricsApi
from signaling.api.nodes_api import NodesApi
from signaling.api.oidc import OidcSignIn
from signaling.api.oidc_provider import OidcProvider
from signaling.api.openapi_api import OpenApiDocs
from signaling.api.orders_api import OrdersApi
from signaling.api.origins import OriginPolicy
from signaling.api.page_security import PageSecurity
from signaling.api.pages import page_routes
from signaling.api.people_api import PeopleApi
from signaling.api.photos import PhotoApi
from signaling.api.qa_api import QaApi
from signaling.api.quick_replies_api import QuickRepliesApi
from signaling.api.rest import RestApi, error_middleware
from signaling.api.shop_api import ShopApi
from signaling.api.webhooks_api import WebhooksApi
from signaling.api.ws import SignalingEndpoint
from signaling.auth import TokenService
from signaling.centre.accounts import StaffAccounts
from signaling.centre.api_keys import ApiKeys
from signaling.centre.calls import CallService, CallSettings
from signaling.centre.conversation import Conversation
from signaling.centre.orders import Orders
from signaling.centre.queues import Queues
from signaling.centre.quick_replies import QuickReplies
from signaling.centre.recording import RecordingService
from signaling.centre.store_events import ObservedStore
from signaling.centre.webhooks import Webhooks, WebhookSettings
from signaling.cluster.centre_role import CentreRole
from signaling.cluster.cluster_media import ClusterMedia
from signaling.cluster.cluster_node import ClusterNode
from signaling.cluster.forward import Forwarder, HopSigner
from signaling.cluster.lease import CentreLease
from signaling.errors import CloseCode, SignalingError
from signaling.images import ImageGuard, ImageLimits
from signaling.metrics.sampler import CallSampler
from signaling.metrics.series import Metrics
from signaling.state.heartbeat import NodeHeartbeat
from signaling.state.memory import MemoryStateStore
from signaling.state.nodes import MemoryNodeRegistry, NodeEntry, NodeRegistry, NodeState
from signaling.state.photos import PhotoStore
from signaling.state.registry import make_registry
from signaling.state.store import StateStore
from signaling.turn import IceServers, TurnCredentials
from silkline.config import Config

logger = logging.getLogger(__name__)

CONFIG = web.AppKey("config", Config)
CLOCK = web.AppKey("clock", Clock)
STORE = web.AppKey("store", StateStore)
SFU = web.AppKey("sfu", SfuNode)
CALLS = web.AppKey("calls", CallService)
TOKENS = web.AppKey("tokens", TokenService)
SIGNALING = web.AppKey("signaling", SignalingEndpoint)
RECORDER = web.AppKey("recorder", Recorder)
MEDIA_SIGNER = web.AppKey("media_signer", MediaSigner)
METRICS = web.AppKey("metrics", Metrics)
HEALTH = web.AppKey("health", Health)
ACCOUNTS = web.AppKey("accounts", StaffAccounts)
WEBHOOKS = web.AppKey("webhooks", Webhooks)
NODES = web.AppKey("nodes", NodeRegistry)
HEARTBEAT = web.AppKey("heartbeat", NodeHeartbeat)
CLUSTER = web.AppKey("cluster", ClusterNode)


def make_store(config: Config, clock: Clock) -> StateStore:
    if config.redis_url:
        from signaling.state.redis_store import RedisStateStore

        return RedisStateStore(config.redis_url)  # reservations expire in Redis (PX)
    return MemoryStateStore(config.data_dir, clock)


def make_node_registry(config: Config) -> NodeRegistry:
    if config.redis_url:
        from signaling.state.redis_nodes import RedisNodeRegistry

        return RedisNodeRegistry(config.redis_url)
    return MemoryNodeRegistry()


def node_description(config: Config, sfu: SfuNode, clock: Clock) -> Callable[[], NodeEntry]:
    """What this node's heartbeat writes: who it is, whether it takes new rooms, what it carries."""
    node_id, pid, host, started_at = config.resolved_node_id(), os.getpid(), socket.gethostname(), clock.now()

    def describe() -> NodeEntry:
        admission = sfu.admission
        state = NodeState.DRAINING if admission.draining else NodeState.ACTIVE
        return NodeEntry(node_id, pid, host, state, started_at, clock.now(),
                         load=admission.load().as_dict(), rooms=sorted(sfu.rooms), url=config.internal_url,
                         accepting=admission.refusal() is None, drain_until=admission.drain_until)

    return describe


async def live_nodes(nodes: NodeRegistry, clock: Clock) -> list[str]:
    """The ids of the nodes alive now (empty when the registry cannot say)."""
    try:
        return [v["node_id"] for v in await nodes.nodes(clock.now()) if v["state"] != NodeState.DEAD]
    except SignalingError:
        return []


def runner_options(config: Config) -> dict[str, Any]:
    """What the HTTP server itself is told (``AppRunner`` → aiohttp's ``RequestHandler``).

    aiohttp has no separate header timeout: its keep-alive timer starts when a connection opens
    and closes it if no complete request has arrived by then, and again after each response. So
    ``keepalive_timeout`` bounds how long a client may take to send its headers (slowloris) and
    how long an idle connection stays; a WebSocket, once upgraded, is not idle and stays."""
    return {"keepalive_timeout": config.http_idle_timeout}


def edge_limits(config: Config, clock: Clock, hop: HopSigner | None = None) -> EdgeLimits:
    """The per-client budgets and caps, from the configuration (a bad spec: ValueError in words)."""
    addresses = ClientAddresses(config.trusted_proxies, config.rate_limit_exempt,
                                relayed=hop.client_of if hop is not None else None)
    return EdgeLimits(addresses, RateLimits(config.rate_limits, clock, addresses),
                      SocketCounts(config.max_sockets_per_ip), waiting_per_ip=config.max_waiting_per_ip,
                      waiting_per_customer=config.max_waiting_per_customer, join_deadline=config.join_deadline)


def create_app(config: Config, clock: Clock | None = None) -> web.Application:
    """The server, wired. ``clock`` drives every timer and timestamp (a test passes a VirtualClock)."""
    clock = clock or SystemClock()
    app = web.Application(middlewares=[error_middleware], client_max_size=6 * 1024 ** 2)
    app[CONFIG] = config
    PageSecurity(shop_frame_ancestors=config.frame_ancestors).install(app)
    tokens = TokenService(config.resolved_secret(), config.token_ttl, clock)
    app[TOKENS] = tokens
    app[CLOCK] = clock
    registries = {kind: make_registry(kind, config.data_dir, config.redis_url)
                  for kind in ("accounts", "api_keys", "webhooks", "quick_replies")}
    inner_store = make_store(config, clock)
    webhooks = Webhooks(registries["webhooks"], inner_store, clock, WebhookSettings(
        config.webhook_attempts, config.webhook_backoff, timeout=config.webhook_timeout))
    # webhooks hear what the store made durable (signaling/centre/store_events.py says why there)
    store: StateStore = ObservedStore(inner_store, webhooks.notify)
    app[STORE] = store
    app[WEBHOOKS] = webhooks
    ice = [RTCIceServer(**server) for server in config.ice_servers]
    admission = Admission(AdmissionLimit(max_calls=config.max_calls, max_tracks=config.max_tracks,
                                         max_loop_lag_ms=config.max_loop_lag_ms,
                                         max_cpu_pct=config.max_cpu_pct), clock)
    sfu = SfuNode(ice, config.resolved_media_addresses(), config.media_timeout,
                  forwarding=config.forwarding, admission=admission, media_ports=config.media_ports,
                  public_address=config.media_public_address or None)
    app[SFU] = sfu
    nodes = make_node_registry(config)
    app[NODES] = nodes
    # in a cluster each record names the node writing it (one node's recovery spares another's)
    recorder = Recorder(config.recordings_dir, clock=clock,
                        node_id=config.resolved_node_id() if config.redis_url else None)
    app[RECORDER] = recorder
    # cluster mode: the centre reaches rooms on every node through the per-node channels
    media = (ClusterMedia(config.redis_url, config.resolved_node_id(), sfu, recorder, nodes.nodes, admission.limit,
                          clock, views_interval=config.heartbeat_s) if config.redis_url else None)
    calls = CallService(
        # RemoteRooms answers the SfuNode methods the centre uses (tests/integration/test_remote_rooms.py)
        cast(SfuNode, media.rooms) if media is not None else sfu, store,
        CallSettings(grace_period=config.grace_period, ring_timeout=config.ring_timeout,
                     wrap_up_s=config.wrap_up_s),
        queues=Queues.from_config(config.queues),
        ice_servers=config.ice_servers,
        clock=clock,
    )
    app[CALLS] = calls
    recording = RecordingService(media.recorder if media is not None and media.recorder is not None else recorder,
                                 store, clock.now, layout=config.layout)
    calls.recording = recording
    photos = PhotoStore(config.data_dir / "photos", ImageGuard(
        ImageLimits(max_pixels=config.max_image_pixels, max_side=config.max_image_side)))
    conversation = Conversation(calls, photos)
    # clients get short-lived TURN credentials; the server's own peers keep config.ice_servers
    turn = (TurnCredentials(config.turn_urls, config.turn_secret, config.turn_ttl)
            if config.turn_urls or config.turn_secret else None)
    client_ice = IceServers(config.ice_servers, turn) if turn is not None else None
    metrics = Metrics(calls, recorder, node=sfu)
    app[METRICS] = metrics
    sampler = CallSampler(calls, metrics, clock, node=sfu)
    metrics_api = MetricsApi(metrics, config.metrics_token)
    app.middlewares.insert(0, metrics_api.middleware())
    hop = HopSigner(config.resolved_secret(), config.resolved_node_id(), clock) if config.redis_url else None
    app.middlewares.insert(1, OriginPolicy(config.allowed_origins, relayed=(
        (lambda request: hop.client_of(request) is not None) if hop is not None else None)).middleware())
    edge = edge_limits(config, clock, hop)
    app.middlewares.insert(2, edge.limits.middleware())
    signaling = SignalingEndpoint(calls, conversation, tokens, heartbeat=config.ws_heartbeat,
                                  ice=client_ice, rejected=lambda code: metrics.rejected("ws", code), edge=edge)
    app[SIGNALING] = signaling
    health = Health(store, admission=admission, node_id=config.resolved_node_id())
    app[HEALTH] = health
    heartbeat = NodeHeartbeat(nodes, node_description(config, sfu, clock), clock,
                              interval=config.heartbeat_s, ttl=config.heartbeat_ttl_s)
    app[HEARTBEAT] = heartbeat
    cluster = (join_cluster(app, config, clock, calls, media, inner_store, signaling, edge, hop, recorder)
               if media is not None and hop is not None else None)

    app.router.add_get("/ws", signaling.handle)
    app.router.add_routes(health.routes())
    app.router.add_routes(metrics_api.routes())
    app.router.add_routes(RestApi(calls, store, tokens, node=sfu).routes())
    app.router.add_routes(AvailabilityApi(calls).routes())
    app.router.add_routes(NodesApi(nodes, tokens, clock, centre=lambda: (
        cluster.role.current.node_id if cluster is not None and cluster.role.current else
        (config.resolved_node_id() if cluster is None else None))).routes())
    app.router.add_routes(PhotoApi(calls, store, tokens, conversation, photos, edge.limits).routes())
    app.router.add_routes(ConversationApi(store, tokens, photos).routes())
    accounts = StaffAccounts(registries["accounts"], clock)
    app[ACCOUNTS] = accounts
    sso = bool(config.oidc_issuer and config.oidc_client_id)
    app.router.add_routes(AccountsApi(accounts, tokens, edge.limits, demo_staff=config.demo_active and config.bound_to_loopback,
                                      sso_label=config.oidc_label if sso else None).routes())
    provider = (OidcProvider(config.oidc_issuer, config.oidc_client_id, config.oidc_client_secret, clock)
                if sso else None)
    app.router.add_routes(OidcSignIn(provider, accounts, tokens, config.resolved_secret(),
                                     role_claim=config.oidc_role_claim, roles=config.oidc_roles,
                                     redirect_url=config.oidc_redirect_url).routes())
    if provider is not None:
        async def close_provider(app: web.Application) -> None:
            await provider.close()

        app.on_cleanup.append(close_provider)
    app.router.add_routes(PeopleApi(calls, store, tokens, accounts).routes())
    api_keys = ApiKeys(registries["api_keys"], clock)
    app.router.add_routes(ShopApi(api_keys, tokens, edge.limits).routes())
    orders = Orders(store, clock, config.conversion_window_days * 86400.0,
                    converted=calls.dispatch.conversions.converted)
    app.router.add_routes(OrdersApi(orders, api_keys, tokens).routes())
    quick_replies = QuickReplies(registries["quick_replies"], clock, calls.queues.configs)
    app.router.add_routes(QuickRepliesApi(quick_replies, store, tokens).routes())
    app.router.add_routes(WebhooksApi(webhooks, tokens).routes())
    app.router.add_routes(OpenApiDocs().routes())
    signer = MediaSigner(config.resolved_secret(), clock=clock)
    app[MEDIA_SIGNER] = signer
    app.router.add_routes(QaApi(store, tokens, recording, signer, photos, config.data_dir, clock).routes())
    if config.demo_active:
        if not config.bound_to_loopback:
            logger.warning("DEMO TOKENS ARE ON at %s (not loopback, forced): anyone can start calls "
                           "as a shopper; staff demo tokens stay refused", config.host)
        app.router.add_routes(DemoTokens(tokens, staff=config.bound_to_loopback).routes())
    app.router.add_routes(page_routes())

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        await store.open()
        await nodes.open()
        for kept in registries.values():
            await kept.open()
        webhooks.start()
        # recordings left "recording" by a crash become "interrupted" (and stay playable); in a
        # cluster, also those of nodes that are dead now (never a live node's)
        alive = await live_nodes(nodes, clock) if config.redis_url else []
        recovered = await asyncio.to_thread(recorder.recover, live_nodes=alive)
        if recovered:
            logger.warning("recovered %d recordings interrupted by a crash", len(recovered))
        retention = recorder.retention_task(config.retention_days)
        retention.start()
        if cluster is None:
            await calls.start()  # in a cluster, the node that takes the lease starts it
        sampler.start()
        heartbeat.start()
        if cluster is not None and media is not None:
            await heartbeat.beat()
            await media.open()
            await cluster.open()
        yield
        if cluster is not None and media is not None:
            await cluster.close()
            await media.close()
        await heartbeat.close()
        await nodes.close()
        await sampler.close()
        await calls.close()
        await sfu.close(CloseReason.NODE_DRAIN)
        await retention.stop()
        await recorder.close()
        await webhooks.close()
        await store.close()
        for kept in registries.values():
            await kept.close()

    async def on_shutdown(app: web.Application) -> None:
        # Not ready first (the balancer stops sending calls), then end calls so clients get
        # call-ended before their sockets close.
        health.start_draining()
        if cluster is not None:
            await cluster.role.resign()  # another node decides from now on: nothing to end here
            if cluster.forwarder is not None:
                await cluster.forwarder.close()
        await calls.close()
        await signaling.close_all(*((CloseCode.CENTRE_MOVED, "this node is stopping; reconnect")
                                    if cluster is not None else ()))

    app.cleanup_ctx.append(lifetime)
    app.on_shutdown.append(on_shutdown)
    return app


def join_cluster(app: web.Application, config: Config, clock: Clock, calls: CallService, media: ClusterMedia,
                 store: StateStore, signaling: SignalingEndpoint, edge: EdgeLimits, hop: HopSigner,
                 recorder: Recorder) -> ClusterNode:
    """Cluster mode (``--redis``): the centre lease, forwarding to its holder, the watch on the
    other nodes (signaling/cluster/, docs/design.md § Scale-out)."""
    assert config.redis_url is not None
    node_id = config.resolved_node_id()
    lease = CentreLease(config.redis_url, node_id, config.lease_ttl_s)

    def fence(epoch: int | None) -> None:
        if hasattr(store, "fence"):
            store.fence = epoch  # reservations carry the lease's epoch (redis_store.py)

    async def close_sessions() -> None:
        await signaling.close_all(CloseCode.CENTRE_MOVED, "the contact centre moved; reconnect")

    role = CentreRole(lease, clock, interval=min(config.heartbeat_s, config.lease_ttl_s / 4),
                      elected=lambda holding: cluster.elected(holding),
                      deposed=lambda why: cluster.deposed(why),
                      refenced=lambda holding: fence(holding.epoch),
                      handing_over=calls.hand_over)
    async def recover(alive: list[str]) -> object:
        return await asyncio.to_thread(recorder.recover, live_nodes=alive)

    cluster = ClusterNode(node_id, calls, media.views, role, clock, interval=config.heartbeat_s,
                          close_sessions=close_sessions, fence=fence, recover=recover)
    app[CLUSTER] = cluster
    forwarder = Forwarder(hop, cluster.is_centre, cluster.centre_url, lambda request: edge.addresses.of(request).ip,
                          heartbeat=config.ws_heartbeat)
    cluster.forwarder = forwarder
    app.middlewares.insert(2, forwarder.middleware())
    return cluster
