"""One generator process for the Janus side of ``janus-compare``: the same 1:1 calls as
load_tests/worker.py drives through Silkline, through Janus's VideoRoom instead.

Started by :mod:`load_tests.runner` as ``python -m load_tests _worker CONFIG.json`` with
``"target": "janus"`` in the config; it first moves into the test network's namespace (see
load_tests/netns.py) and offers ICE host candidates on the client test address only.

Per call: both callers open a Janus session; the agent's handle creates a room; both join it
as publishers — **"accepted"** (join time counts from here) — and each publishes with a
:class:`~load_tests.peer.LoadPeer` (one audio + one video transceiver, the same looped clips)
through ``configure`` with its offer. Then each subscribes to the other's feed with a second
LoadPeer answering Janus's offer: Janus's VideoRoom keeps publishing and subscribing on two
PeerConnections, but the media is the same as through Silkline: each side sends A+V once and
receives the other's A+V once. The results have the shape of load_tests/worker.py's, so
load_tests/report.py turns them into the same report.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import os
import pickle
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import psutil
from aiortc import RTCSessionDescription

from load_tests.call_results import received_media
from load_tests.janus_api import JanusHandle, JanusSession
from load_tests.netns import enter
from load_tests.peer import Clips, LoadPeer
from load_tests.start_line import await_start
from load_tests.worker import print_progress, watch_loop_lag
from media.aiortc_hooks import restrict_host_addresses

ROLES = ("agent", "shopper")
ROOM_BASE = 1000


@dataclass
class Side:
    """One caller: a Janus session, a publisher handle and peer, a subscriber handle and peer."""

    role: str
    session: JanusSession | None = None
    publisher: JanusHandle | None = None
    subscriber: JanusHandle | None = None
    feed: int | None = None
    sending: LoadPeer | None = None
    receiving: LoadPeer | None = None


@dataclass
class JanusCall:
    index: int
    start_at: float
    state: str = "pending"  # pending → setup → up → ended | failed
    error: str | None = None
    sides: dict[str, Side] = field(default_factory=lambda: {r: Side(r) for r in ROLES})
    marks: dict[str, float] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def room(self) -> int:
        return ROOM_BASE + self.index


class JanusWorker:
    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.url: str = cfg["url"]
        self.stop_at: float = cfg["stop_at"]
        self.setup_timeout: float = cfg.get("setup_timeout", 30.0)
        self.client_address: str = cfg["client_address"]
        with open(cfg["clip_path"], "rb") as f:
            video, audio = pickle.load(f)
        self.clips = Clips(video, audio)
        self.calls = [JanusCall(i, cfg["t0"] + cfg["offsets"][n]) for n, i in enumerate(cfg["indices"])]
        self.peers: list[LoadPeer] = []
        self.sessions: list[JanusSession] = []
        self.lags: list[float] = []
        self.http: aiohttp.ClientSession | None = None

    # ------------------------------------------------------------------ one call
    async def run_call(self, call: JanusCall) -> None:
        await asyncio.sleep(max(0.0, call.start_at - time.monotonic()))
        if time.monotonic() >= self.stop_at:
            call.state, call.error = "failed", "not started before the end of the run"
            return
        call.state = "setup"
        call.marks["start"] = time.monotonic()
        try:
            await asyncio.wait_for(self._setup(call), self.setup_timeout)
            call.state = "up"
            call.marks["up"] = time.monotonic()
        except Exception as exc:  # noqa: BLE001  # any failure fails this call, not the run
            call.state = "failed"
            call.error = f"{type(exc).__name__}: {exc}"[:300] if str(exc) else type(exc).__name__

    async def _setup(self, call: JanusCall) -> None:
        assert self.http is not None
        sides = call.sides
        for side in sides.values():
            side.session = JanusSession(self.http, self.url, timeout=self.setup_timeout)
            self.sessions.append(side.session)
        await asyncio.gather(*(s.session.create() for s in sides.values() if s.session))
        for side in sides.values():
            assert side.session is not None
            side.publisher = await side.session.attach()
        agent, shopper = sides["agent"], sides["shopper"]
        assert agent.publisher is not None and shopper.publisher is not None
        await agent.publisher.create_room(call.room)
        agent.feed = await agent.publisher.join_publisher(call.room, f"agent {call.index}")
        shopper.feed = await shopper.publisher.join_publisher(call.room, f"shopper {call.index}")
        call.marks["joined"] = call.marks["accepted"] = time.monotonic()
        interval = self.cfg.get("verify_interval", 5.0)
        for side in sides.values():
            side.sending = LoadPeer(side.role, self.clips, verify_interval=interval)
            side.receiving = LoadPeer(side.role, self.clips, verify_interval=interval)
            self.peers += [side.sending, side.receiving]
        agent.receiving.remote, shopper.receiving.remote = shopper.sending, agent.sending  # type: ignore[union-attr]
        await asyncio.gather(*(self._publish(call, s) for s in sides.values()))
        await asyncio.gather(self._subscribe(call, agent, shopper), self._subscribe(call, shopper, agent))
        await asyncio.gather(*(s.receiving.decoded.wait() for s in sides.values() if s.receiving))

    async def _publish(self, call: JanusCall, side: Side) -> None:
        assert side.sending is not None and side.publisher is not None
        offer = await side.sending.offer()
        if f" {self.client_address} " not in offer:
            raise RuntimeError(f"aiortc gathered no host candidate on {self.client_address}")
        answer = await side.publisher.publish(offer)
        call.marks[f"answer_{side.role}"] = time.monotonic()
        await side.sending.accept_answer(answer)
        await side.publisher.up()  # Janus offers a feed to subscribers once it is up

    async def _subscribe(self, call: JanusCall, side: Side, other: Side) -> None:
        assert side.session is not None and side.receiving is not None and other.feed is not None
        side.subscriber = await side.session.attach()
        offer = await side.subscriber.subscribe(call.room, other.feed)
        pc = side.receiving.pc
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        await side.subscriber.start(pc.localDescription.sdp)
        call.marks[f"subscribed_{side.role}"] = time.monotonic()

    async def _collect(self, call: JanusCall) -> None:
        """inbound-rtp from the receiving peer, packets sent from the sending one."""
        for role, side in call.sides.items():
            if side.receiving is None or side.sending is None:
                continue
            try:
                got = await asyncio.wait_for(side.receiving.rtp_stats(), 5)
                sent = await asyncio.wait_for(side.sending.rtp_stats(), 5)
                for kind in got:
                    got[kind]["packets_sent"] = sent[kind]["packets_sent"]
                call.stats[role] = got
            except Exception as exc:  # noqa: BLE001  # the figures are optional
                call.stats[role] = {"error": repr(exc)}

    async def _teardown(self, call: JanusCall) -> None:
        agent = call.sides["agent"]
        if agent.publisher is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(agent.publisher.destroy_room(call.room), 5)
        for side in call.sides.values():
            for peer in (side.sending, side.receiving):
                if peer is not None:
                    await peer.close()
            for handle in (side.subscriber, side.publisher):
                if handle is not None:
                    await handle.detach()
            if side.session is not None:
                await side.session.close()

    def _hung_up_early(self, call: JanusCall) -> str | None:
        for side in call.sides.values():
            if side.session is None:
                continue
            for event in side.session.events:
                if event.get("janus") == "hangup" and event.get("_at", 0) < self.stop_at - 0.05:
                    return f"hangup by Janus ({event.get('reason')}) on the {side.role}'s session"
        return None

    # ------------------------------------------------------------------ progress
    def progress(self, now: float) -> dict[str, Any]:
        sent = lost = 0
        for call in self.calls:
            if call.state != "up":
                continue
            for side in call.sides.values():
                peer = side.receiving
                if peer is None or peer.remote is None or peer.video_in.first_at is None:
                    continue
                start = max(now - 2.0, peer.video_in.first_at + 0.5)
                times = peer.remote.sent_video.times
                lo, hi = bisect.bisect_left(times, start), bisect.bisect_left(times, now - 1.0)
                sent += max(0, hi - lo)
                lost += sum(1 for s in range(lo, hi) if s not in peer.video_in.seqs)
        states = [c.state for c in self.calls]
        errors = sum(1 for s in self.sessions for e in s.events if e.get("janus") in ("hangup", "poll-error"))
        return {"t": now, "worker": self.cfg["worker"], "up": states.count("up"), "setup": states.count("setup"),
                "failed": states.count("failed"), "pending": states.count("pending"), "server_errors": errors,
                "frames_window": sent, "frames_lost_window": lost,
                "lag_ms": round(max(self.lags[-10:], default=0.0), 1)}

    # ------------------------------------------------------------------ the run
    async def run(self) -> dict[str, Any]:
        me = psutil.Process()
        cpu0, wall0 = me.cpu_times(), time.monotonic()
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        background = [asyncio.ensure_future(print_progress(self.progress)),
                      asyncio.ensure_future(watch_loop_lag(self.lags))]
        tasks = [asyncio.ensure_future(self.run_call(c)) for c in self.calls]
        try:
            await asyncio.sleep(max(0.0, self.stop_at - time.monotonic()))
            for call in self.calls:
                if call.state in ("pending", "setup"):
                    call.state, call.error = "failed", call.error or "set-up not finished before the end of the run"
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            stopped_at = time.monotonic()
            up = [c for c in self.calls if c.state == "up"]
            await asyncio.gather(*(self._collect(c) for c in up))
            results = [self._result(c, stopped_at) for c in self.calls]
            cpu1, wall1 = me.cpu_times(), time.monotonic()
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            # every call, failed ones too: their peers own aiortc threads, their sessions a poll
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.gather(*(self._teardown(c) for c in self.calls),
                                                      return_exceptions=True), 30)
            for session in self.sessions:
                await session.close()
            await self.http.close()
        lags = sorted(self.lags)
        return {"worker": self.cfg["worker"], "pid": os.getpid(), "calls": results, "target": "janus",
                "cpu": {"user_s": cpu1.user - cpu0.user, "system_s": cpu1.system - cpu0.system,
                        "wall_s": wall1 - wall0,
                        "pct": 100 * (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / max(1e-6, wall1 - wall0)},
                "loop_lag_ms": {"p50": _pct(lags, 50), "p99": _pct(lags, 99), "max": lags[-1] if lags else None,
                                "samples": len(lags)},
                "declined_foreign": 0, "loop": type(asyncio.get_running_loop()).__module__.split(".")[0]}

    def _result(self, call: JanusCall, stopped_at: float) -> dict[str, Any]:
        marks = {k: round((v - call.marks.get("start", v)) * 1000, 1) for k, v in call.marks.items()}
        early = self._hung_up_early(call) if call.state == "up" else None
        out: dict[str, Any] = {"index": call.index, "call_id": f"janus-room-{call.room}",
                               "ok": call.state == "up" and early is None, "state": call.state,
                               "error": call.error or (f"ended early: {early}" if early else None),
                               "marks_ms": marks, "sides": {}}
        accepted = call.marks.get("accepted")
        window_end = self.stop_at - 1.0
        for role, side in call.sides.items():
            peer = side.receiving
            if peer is None or peer.remote is None or side.sending is None:
                continue
            info: dict[str, Any] = {"errors": (side.sending.errors + peer.errors)[:5],
                                    **received_media(peer, accepted, window_end)}
            info["rtp"] = call.stats.get(role)
            info["keyframe_requests_received"] = side.sending.keyframe_requests
            out["sides"][role] = info
        return out


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return round(values[k], 2)


def offer_only(address: str) -> None:
    """Offer ``address`` only as ICE host candidate (aioice would gather on every interface)."""
    restrict_host_addresses([address])


def main(config_path: str) -> int:
    with open(config_path) as f:
        cfg = json.load(f)
    await_start(cfg)  # ready: the parent answers with the run's t0 and stop_at
    enter(cfg["netns"])  # before any socket: the namespace is per thread
    offer_only(cfg["client_address"])
    import logging

    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    if cfg.get("loop") == "uvloop":
        import uvloop

        result = uvloop.run(JanusWorker(cfg).run())
    else:
        result = asyncio.run(JanusWorker(cfg).run())
    tmp = cfg["out_path"] + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f)
    os.replace(tmp, cfg["out_path"])
    return 0
