"""One generator process: drives its share of the calls and writes their raw results.

Started by :mod:`load_tests.runner` as ``python -m load_tests _worker CONFIG.json``. Prints a
progress line (JSON) on stdout every second and writes its results to the path in the
config. Every wait has a deadline; the process ends by itself after ``stop_at``.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import fcntl
import json
import os
import pickle
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import psutil

from client import MediaFollower, SignalingClient, SignalingError, demo_token, negotiate
from load_tests.call_results import call_result
from load_tests.migration import follow_media, open_socket
from load_tests.pacer import PacedSender
from load_tests.peer import Clips, LoadPeer
from load_tests.rtp_peer import RtpClips, RtpLoadPeer
from load_tests.start_line import await_start
from media.aiortc_hooks import restrict_host_addresses

PROGRESS_EVERY = 1.0
EXPECT_TIMEOUT = 15.0  # one signaling answer; the whole set-up has its own deadline
LAG_PERIOD = 0.1


async def print_progress(progress: Callable[[float], dict[str, Any]]) -> None:
    """Every PROGRESS_EVERY seconds, one JSON progress line on stdout (the parent reads it)."""
    while True:
        await asyncio.sleep(PROGRESS_EVERY)
        print(json.dumps(progress(time.monotonic())), flush=True)


async def watch_loop_lag(lags: list[float]) -> None:
    """Append how late (ms) each LAG_PERIOD sleep of this event loop woke up."""
    while True:
        before = time.monotonic()
        await asyncio.sleep(LAG_PERIOD)
        lags.append((time.monotonic() - before - LAG_PERIOD) * 1000)


@dataclass
class CallRun:
    index: int
    start_at: float
    call_id: str | None = None
    state: str = "pending"  # pending → setup → up → ended | failed
    error: str | None = None
    shopper_ws: SignalingClient | None = None
    agent_ws: SignalingClient | None = None
    shopper: LoadPeer | RtpLoadPeer | None = None
    agent: LoadPeer | RtpLoadPeer | None = None
    agent_assigned: asyncio.Event = field(default_factory=asyncio.Event)
    marks: dict[str, float] = field(default_factory=dict)  # phase → monotonic time
    stats: dict[str, Any] = field(default_factory=dict)
    ended_early: str | None = None
    urls: dict[str, str] = field(default_factory=dict)  # role → the base URL its socket went to first
    recovery_errors: list[str] = field(default_factory=list)
    followers: dict[str, MediaFollower] = field(default_factory=dict)  # role → its client's follower

    def recovery(self) -> tuple[dict[str, int], list[str]]:
        """Sockets the client opened again per side, and what went wrong following the media."""
        reconnects = {}
        for role in ("shopper", "agent"):
            ws = self.ws(role)
            reconnects[role] = ws.reconnects if ws is not None else 0
        errors = list(self.recovery_errors)
        for role, follower in self.followers.items():
            errors += [f"{role}: {type(exc).__name__}: {exc}"[:300] for exc in follower.errors]
        return reconnects, errors

    def ws(self, role: str) -> SignalingClient | None:
        return self.shopper_ws if role == "shopper" else self.agent_ws

    def peer(self, role: str) -> LoadPeer | RtpLoadPeer | None:
        return self.shopper if role == "shopper" else self.agent


class FileLock:
    """Serialises call set-up across generator processes (see README: routing)."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.fd: int | None = None

    @contextlib.asynccontextmanager
    async def held(self, timeout: float):  # type: ignore[no-untyped-def]
        if self.path is None:
            yield
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise SignalingError("set-up lock not acquired in time") from None
                    await asyncio.sleep(0.005)
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


class Worker:
    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.url: str = cfg["url"]
        # a cluster: shoppers and agents spread over its URLs (see call_urls)
        self.urls: list[str] = list(cfg.get("urls") or [cfg["url"]])
        self.spread: str = cfg.get("spread", "parties")
        self.t0: float = cfg["t0"]
        self.stop_at: float = cfg["stop_at"]
        self.setup_timeout: float = cfg.get("setup_timeout", 30.0)
        with open(cfg["clip_path"], "rb") as f:
            video, audio = pickle.load(f)
        # "rtp": raw RTP from pre-packetized clips (cheap); "aiortc": aiortc's own media path
        self.generator: str = cfg.get("generator", "rtp")
        self.record: bool = bool(cfg.get("record", False))  # consent when the node asks to record
        self.clips = RtpClips(video, audio) if self.generator == "rtp" else Clips(video, audio)
        self.pacer = PacedSender()  # the one sending task of this process (rtp generator)
        self.calls = [CallRun(i, cfg["t0"] + cfg["offsets"][n]) for n, i in enumerate(cfg["indices"])]
        self.registry: dict[str, CallRun] = {}
        self.sockets: list[SignalingClient] = []
        self.agent_calls: dict[SignalingClient, str] = {}  # agent socket → the call it took
        self.lock = FileLock(cfg.get("lock_path"))
        self.lags: list[float] = []
        self.http: aiohttp.ClientSession | None = None
        self.declined_foreign = 0
        self.peers: list[LoadPeer | RtpLoadPeer] = []  # every peer made, closed at the end whatever happened
        self.errors: list[str] = []
        self._bg: set[asyncio.Task] = set()

    # ------------------------------------------------------------------ agents
    def _agent_message(self, ws: SignalingClient, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind == "call-offered":
            call = self.registry.get(msg.get("call_id", ""))
            if call is not None and call.agent_ws is None and ws not in self.agent_calls:
                self.agent_calls[ws] = msg["call_id"]
                call.agent_ws = ws
                call.marks["offered"] = time.monotonic()
                call.agent_assigned.set()
            else:  # another process's call (or this agent is busy): let routing try again
                self.declined_foreign += 1
                self._spawn(ws.send("decline", call_id=msg.get("call_id")))
        elif kind == "call-ended":
            self._ended(msg)
        elif kind == "joined":
            self._rejoined(ws, msg, "agent")

    def _shopper_message(self, ws: SignalingClient, msg: dict[str, Any]) -> None:
        if msg.get("type") == "call-ended":
            self._ended(msg)
        elif msg.get("type") == "joined":
            self._rejoined(ws, msg, "shopper")
        elif msg.get("type") == "recording-consent-request" and self.record:
            self._spawn(ws.send("recording-consent", call_id=msg["call_id"], granted=True))

    def _ended(self, msg: dict[str, Any]) -> None:
        call = self.registry.get(msg.get("call_id", ""))
        if call is not None and call.state in ("setup", "up") and call.ended_early is None:
            if time.monotonic() < self.stop_at - 0.05:
                call.ended_early = f"{msg.get('reason')} by {msg.get('by')}"

    # ------------------------------------------------------------------ a call that moves
    def _rejoined(self, ws: SignalingClient, msg: dict[str, Any], role: str) -> None:
        """A socket the client opened again must be taken back into the same call (``resumed``);
        its follower then renegotiates (load_tests.migration)."""
        call = self.registry.get(msg.get("call_id") or self.agent_calls.get(ws, ""))
        if call is not None and ws.reconnects and not msg.get("resumed") and call.state == "up":
            call.recovery_errors.append(f"{role} joined again but not resumed: {msg}"[:300])

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)

    # ------------------------------------------------------------------ one call
    def call_urls(self, index: int) -> tuple[str, str]:
        """(agent URL, shopper URL) of call ``index``: round-robin over the cluster's URLs, the
        shopper one step after the agent (``parties``: the two sides on different nodes), or both
        on the same node (``calls``: for a cluster whose nodes do not share one contact centre)."""
        n = len(self.urls)
        return self.urls[index % n], self.urls[(index + (1 if self.spread == "parties" else 0)) % n]

    async def _connect(self, on_message: Any, url: str) -> SignalingClient:
        assert self.http is not None
        # a set-up stops at the first server error or end of call instead of waiting it out
        ws = open_socket(self.http, url, self.urls, on_message=on_message, fail_on=("error", "call-ended"))
        self.sockets.append(ws)
        return await ws.connect()

    async def run_call(self, call: CallRun) -> None:
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
            self._follow(call)
        except Exception as exc:
            call.state = "failed"
            call.error = f"{type(exc).__name__}: {exc}"[:300] if str(exc) else type(exc).__name__
            await self._teardown(call)

    def _follow(self, call: CallRun) -> None:
        """From now on each side's client follows the call's media (load_tests.migration)."""
        for role in ("shopper", "agent"):
            ws, peer = call.ws(role), call.peer(role)
            assert ws is not None and peer is not None and call.call_id is not None
            call.followers[role] = follow_media(ws, peer, call.call_id, timeout=EXPECT_TIMEOUT)

    async def _setup(self, call: CallRun) -> None:
        assert self.http is not None
        agent_url, shopper_url = self.call_urls(call.index)
        call.urls = {"agent": agent_url, "shopper": shopper_url}
        agent_token, shopper_token = await asyncio.gather(
            demo_token(self.http, agent_url, "agent", name=f"Load agent {call.index}"),
            demo_token(self.http, shopper_url, "shopper"),
        )
        call.call_id = call_id = shopper_token["call_id"]
        self.registry[call_id] = call
        call.marks["tokens"] = time.monotonic()
        async with self.lock.held(self.setup_timeout):
            # takes whichever call it is offered
            signed_in = await self._connect(self._agent_message, agent_url)
            await signed_in.send("join", token=agent_token["token"])
            await signed_in.expect("joined", timeout=EXPECT_TIMEOUT)
            shopper_ws = await self._connect(self._shopper_message, shopper_url)
            call.shopper_ws = shopper_ws
            await shopper_ws.send("join", token=shopper_token["token"],
                                  context={"product_id": f"load-{call.index}", "title": "Load test"})
            await shopper_ws.expect("joined", call_id=call_id, timeout=EXPECT_TIMEOUT)
            call.marks["joined"] = time.monotonic()
            await call.agent_assigned.wait()  # some agent of this process got call-offered
        agent_ws = call.agent_ws
        assert agent_ws is not None
        # accepted: the moment the agent's accept is sent (join time counts from here)
        call.marks["accepted"] = time.monotonic()
        await agent_ws.send("accept", call_id=call.call_id)
        await asyncio.gather(
            shopper_ws.expect("call-state", call_id=call_id, state="connecting", timeout=EXPECT_TIMEOUT),
            agent_ws.expect("call-state", call_id=call_id, state="connecting", timeout=EXPECT_TIMEOUT))
        call.marks["connecting"] = time.monotonic()
        interval = self.cfg.get("verify_interval", 5.0)
        call.shopper = self._peer("shopper", interval)
        call.agent = self._peer("agent", interval)
        call.shopper.remote, call.agent.remote = call.agent, call.shopper
        self.peers += [call.shopper, call.agent]

        def mark(name: str) -> Callable[[dict[str, Any]], None]:
            def answered(answer: dict[str, Any]) -> None:
                call.marks[name] = time.monotonic()
            return answered

        await asyncio.gather(
            negotiate(shopper_ws, call.shopper, call_id, timeout=EXPECT_TIMEOUT, on_answer=mark("answer_shopper")),
            negotiate(agent_ws, call.agent, call_id, timeout=EXPECT_TIMEOUT, on_answer=mark("answer_agent")))
        await asyncio.gather(call.shopper.decoded.wait(), call.agent.decoded.wait())

    def _peer(self, role: str, interval: float) -> LoadPeer | RtpLoadPeer:
        if isinstance(self.clips, RtpClips):
            return RtpLoadPeer(role, self.clips, self.pacer, verify_interval=interval)
        return LoadPeer(role, self.clips, verify_interval=interval)

    async def _collect(self, call: CallRun) -> None:
        for role, peer in (("shopper", call.shopper), ("agent", call.agent)):
            if peer is None:
                continue
            try:
                call.stats[role] = await asyncio.wait_for(peer.rtp_stats(), 5)
            except Exception as exc:
                call.stats[role] = {"error": repr(exc)}

    async def _teardown(self, call: CallRun) -> None:
        if call.shopper_ws is not None and call.call_id and call.state in ("up", "ended"):
            with contextlib.suppress(Exception):
                await call.shopper_ws.send("hangup", call_id=call.call_id)
        for peer in (call.shopper, call.agent):
            if peer is not None:
                await peer.close()
        for ws in (call.shopper_ws, call.agent_ws):
            if ws is not None:
                with contextlib.suppress(Exception):
                    await ws.leave()  # a goodbye: the client does not reconnect after it
                await ws.close()

    # ------------------------------------------------------------------ progress
    def progress(self, now: float) -> dict[str, Any]:
        sent = lost = 0
        for call in self.calls:
            if call.state != "up":
                continue
            for peer in (call.shopper, call.agent):
                if peer is None or peer.remote is None or peer.video_in.first_at is None:
                    continue
                if peer.video_in.unmatched > peer.video_in.frames / 2:
                    continue  # re-encoded by a transcoding relay: not matchable by bytes
                start = max(now - 2.0, peer.video_in.first_at + 0.5)
                times = peer.remote.sent_video.times
                lo, hi = bisect.bisect_left(times, start), bisect.bisect_left(times, now - 1.0)
                seqs = peer.video_in.seqs
                sent += max(0, hi - lo)
                lost += sum(1 for s in range(lo, hi) if s not in seqs)
        states = [c.state for c in self.calls]
        return {
            "t": now, "worker": self.cfg["worker"],
            "up": states.count("up"), "setup": states.count("setup"),
            "failed": states.count("failed"), "pending": states.count("pending"),
            "server_errors": sum(ws.error_count for ws in self.sockets),
            "frames_window": sent, "frames_lost_window": lost,
            "lag_ms": round(max(self.lags[-10:], default=0.0), 1),
        }

    # ------------------------------------------------------------------ the run
    async def run(self) -> dict[str, Any]:
        me = psutil.Process()
        cpu0, wall0 = me.cpu_times(), time.monotonic()
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        if self.generator == "rtp":
            self.pacer.start()
        ticker = asyncio.ensure_future(print_progress(self.progress))
        lagger = asyncio.ensure_future(watch_loop_lag(self.lags))
        tasks = [asyncio.ensure_future(self.run_call(c)) for c in self.calls]
        try:
            await asyncio.sleep(max(0.0, self.stop_at - time.monotonic()))
            # set-ups still running at the end are failures; bounded wait
            for call in self.calls:
                if call.state in ("pending", "setup"):
                    call.state, call.error = "failed", call.error or "set-up not finished before the end of the run"
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            up = [c for c in self.calls if c.state == "up"]
            await asyncio.gather(*(self._collect(c) for c in up))
            results = [call_result(c, self.stop_at, self.t0) for c in self.calls]
            cpu1, wall1 = me.cpu_times(), time.monotonic()
            main_tid = threading.main_thread().native_id
            threads_s = sum(t.user_time + t.system_time for t in me.threads() if t.id != main_tid)
            for c in up:
                c.state = "ended"
            ticker.cancel()
            await asyncio.wait_for(asyncio.gather(*(self._teardown(c) for c in up),
                                                  return_exceptions=True), 30)
        finally:
            ticker.cancel()
            lagger.cancel()
            # peers of set-ups cut short still own aiortc decoder threads (non-daemon): close
            # them, or the process could not exit
            open_peers = [p for p in self.peers if p.pc.connectionState != "closed"]
            if open_peers:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.gather(*(p.close() for p in open_peers),
                                                          return_exceptions=True), 20)
            await self.pacer.close()
            for ws in self.sockets:
                await ws.close()
            for task in list(self._bg):
                task.cancel()
            await self.http.close()
        lags = sorted(self.lags)
        return {
            "worker": self.cfg["worker"], "pid": os.getpid(), "calls": results,
            "cpu": {"user_s": cpu1.user - cpu0.user, "system_s": cpu1.system - cpu0.system,
                    "wall_s": wall1 - wall0,
                    "pct": 100 * (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / max(1e-6, wall1 - wall0),
                    # threads other than the event loop's: decoders (sampled checks), executors
                    "other_threads_s": round(threads_s, 2)},
            "loop_lag_ms": {"p50": _pct(lags, 50), "p99": _pct(lags, 99), "max": lags[-1] if lags else None,
                            "samples": len(lags)},
            "declined_foreign": self.declined_foreign,
            "generator": self.generator, "pacer_errors": self.pacer.errors,
            "loop": type(asyncio.get_running_loop()).__module__.split(".")[0],
        }


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    k = min(len(values) - 1, max(0, int(round(p / 100 * (len(values) - 1)))))
    return round(values[k], 2)


def main(config_path: str) -> int:
    with open(config_path) as f:
        cfg = json.load(f)
    await_start(cfg)  # ready: the parent answers with the run's t0 and stop_at
    restrict_host_addresses(["127.0.0.1"])  # media never leaves loopback
    import logging

    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    if cfg.get("loop") == "uvloop":
        import uvloop

        runner = uvloop.run
    else:
        runner = asyncio.run
    result = runner(Worker(cfg).run())
    tmp = cfg["out_path"] + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f)
    os.replace(tmp, cfg["out_path"])
    return 0
