"""Fuzzing the WebSocket protocol and the SDP offer with hypothesis, against a real server,
while a real 1:1 call (aiortc peers through the SFU) goes on beside it.

Every error the server answers must carry a code docs/protocol.md lists, every close a close
code it lists, and the concurrent call's video must keep being decoded on both sides throughout.
Bounded: a fixed number of examples, each waited for with a timeout, well under a minute.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from client import SignalingClient
from signaling.api.protocol import TYPES
from silkline.config import Config
from tests.conftest import Running, answered_call, close_sides, make_config, start_call
from tests.support.peers import ClientPeer

DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()
DOCUMENTED_CODES = set(re.findall(r"^\| `([a-z_]+)` \| \d{3} \|", DOC, re.MULTILINE))
DOCUMENTED_CLOSES = {int(c) for c in re.findall(r"^\| (\d{4}) \|", DOC.split("## WebSocket close codes", 1)[1],
                                                 re.MULTILINE)}
PROTOCOL_EXAMPLES = 80
SDP_EXAMPLES = 30
ANSWER_TIMEOUT_S = 10.0
RUN_LIMIT_S = 15.0  # each of the two runs; on an idle machine both take a few seconds
MAX_MEDIA_GAP_S = 5.0  # video decoded on both sides at least this often (30 frames/s sent)

FIELDS = ["v", "type", "id", "token", "context", "call_id", "sdp", "candidate", "state", "text", "to_agent",
          "to_queue", "disposition", "notes", "audio", "video", "name", "contact", "question", "mode", "granted",
          "target", "shape", "color", "points", "pinned", "fade_s", "annotation_id", "candidate"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2 ** 70), max_value=2 ** 70)
    | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=8)


def _message(kind: str, v: Any, fields: dict[str, Any]) -> str:
    return json.dumps({"v": v, "type": kind, **fields})


def protocol_frames(live_call_id: str) -> st.SearchStrategy[str | bytes]:
    """Known types with wrong, missing and extra fields; any JSON; any text; a binary frame."""
    call_ids = st.sampled_from([live_call_id, "c_none", ""]) | st.text(max_size=20) | st.integers()
    field_values = st.one_of(json_values, call_ids)
    typed = st.builds(
        _message,
        st.sampled_from(sorted(TYPES)),
        st.sampled_from([1, 1, 1, 1, 0, 2, "1", None, 1.0, True]),
        st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), field_values, max_size=6))
    anything = json_values.map(json.dumps)
    return st.one_of(typed, typed, anything, st.text(max_size=200), st.binary(max_size=64))


def sdp_mutations(offer: str) -> st.SearchStrategy[str]:
    """A real aiortc offer with lines dropped, repeated, swapped, rewritten or cut short."""
    lines = offer.rstrip("\r\n").split("\r\n")
    index = st.integers(min_value=0, max_value=len(lines) - 1)
    edit = st.one_of(
        st.tuples(st.just("drop"), index, st.just("")),
        st.tuples(st.just("repeat"), index, st.just("")),
        st.tuples(st.just("swap"), index, index.map(str)),
        st.tuples(st.just("rewrite"), index, st.text(max_size=30)),
        st.tuples(st.just("value"), index, st.text(alphabet="0123456789abcdefXYZ:/ -.", max_size=20)),
        st.tuples(st.just("cut"), index, st.just("")),
        st.tuples(st.just("section"), index, st.just("")),
    )

    def apply(edits: list[tuple[str, int, str]]) -> str:
        out = list(lines)
        for op, i, arg in edits:
            i %= max(1, len(out))
            if not out:
                break
            if op == "drop":
                del out[i]
            elif op == "repeat":
                out.insert(i, out[i])
            elif op == "swap":
                j = int(arg) % len(out)
                out[i], out[j] = out[j], out[i]
            elif op == "rewrite":
                out[i] = arg
            elif op == "value":
                key, sep, _ = out[i].partition(":") if out[i].startswith("a=") else out[i].partition("=")
                out[i] = key + (sep or "=") + arg
            elif op == "cut":
                out = out[:i]
            elif op == "section":  # repeat the m-section the line is in
                starts = [k for k, line in enumerate(out) if line.startswith("m=")]
                begin = max([k for k in starts if k <= i], default=None)
                if begin is not None:
                    end = min([k for k in starts if k > begin], default=len(out))
                    out.extend(out[begin:end])
        return "\r\n".join(out) + "\r\n"

    return st.lists(edit, min_size=1, max_size=4).map(apply)


class Fuzzer:
    """Sends each example on a socket of a given role and collects what comes back, up to the
    answer to a probe sent right after it (so every example's answers are attributed to it)."""

    def __init__(self, server: Running, loop: asyncio.AbstractEventLoop) -> None:
        self.server, self.loop = server, loop
        self.probes = itertools.count()
        self.seen_codes: set[str] = set()
        self.problems: list[str] = []
        self.sent = 0
        self.budget_ends = 0.0

    def start_run(self) -> None:
        self.budget_ends = time.monotonic() + RUN_LIMIT_S

    def in_budget(self) -> bool:
        """Past a run's time budget the remaining examples are generated but not sent."""
        return time.monotonic() < self.budget_ends

    def run(self, coro: Any) -> Any:
        """From hypothesis's thread: run ``coro`` on the server's loop, bounded."""
        return asyncio.run_coroutine_threadsafe(asyncio.wait_for(coro, ANSWER_TIMEOUT_S + 5), self.loop).result()

    async def exchange(self, ws: SignalingClient, frame: str | bytes, probe: dict[str, Any]) -> bool:
        """True while the socket is still open afterwards."""
        ref = f"probe-{next(self.probes)}-zq"
        self.sent += 1
        if len(ws.inbox) > 500:  # the inbox is bounded: keep its indices stable for this example
            ws.inbox.clear()
        start = len(ws.inbox)
        await ws.send_raw(frame)
        if not ws.closed.is_set():
            try:
                await ws.send_raw(json.dumps({"v": 1, **probe, "id": ref}))
                await ws.expect("error", ref=ref, timeout=ANSWER_TIMEOUT_S)
            except Exception:  # noqa: BLE001 - a closed socket is judged by its close code below
                if not ws.closed.is_set():
                    self.problems.append(f"no answer to the probe after {frame!r:.200}")
        for message in list(ws.inbox)[start:]:
            if message.get("type") == "error":
                code = message.get("code")
                self.seen_codes.add(str(code))
                if code not in DOCUMENTED_CODES:
                    self.problems.append(f"undocumented code {code!r} for {frame!r:.200}")
                elif code == "internal_error":  # documented, but a bug of ours
                    self.problems.append(f"internal_error ({message.get('message')}) for {frame!r:.200}")
        if ws.closed.is_set():
            await asyncio.wait_for(ws.closed.wait(), 5)
            if ws.close_code not in DOCUMENTED_CLOSES:
                self.problems.append(f"undocumented close {ws.close_code} after {frame!r:.200}")
            return False
        return True


class MediaWatch:
    """Samples the call's decoded video on both sides; the longest stretch without progress."""

    def __init__(self, *peers: ClientPeer) -> None:
        self.peers = peers
        self.longest_gap = 0.0
        self._task: asyncio.Task | None = None

    async def _watch(self) -> None:
        last = [p.video_frames_decoded for p in self.peers]
        since = [time.monotonic()] * len(self.peers)
        while True:
            await asyncio.sleep(0.2)
            now = time.monotonic()
            for i, peer in enumerate(self.peers):
                if peer.video_frames_decoded > last[i]:
                    last[i], since[i] = peer.video_frames_decoded, now
                self.longest_gap = max(self.longest_gap, now - since[i])

    def __enter__(self) -> MediaWatch:
        self._task = asyncio.get_running_loop().create_task(self._watch())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def agent_socket(server: Running) -> SignalingClient:
    ws = await server.client()
    await ws.send("join", token=(await server.token("agent", name="Fuzz"))["token"])
    await ws.expect("joined")
    return ws


async def connecting_shopper(server: Running) -> tuple[str, SignalingClient, SignalingClient]:
    """A second call, accepted but without media: its shopper's offers are fuzzed."""
    call = await answered_call(server, agent_name="Fuzz")
    return call.call_id, call.shopper_ws, call.agent_ws


@pytest.fixture
def server_config(tmp_path: Path) -> Config:
    """The node of this file: the per-token and per-address budgets for messages and joins are
    off too (the fuzzer's one agent token sends thousands of frames and re-joins after `leave`)."""
    return make_config(tmp_path, rate_limits={"messages.token": "off", "messages.ip": "off",
                                              "joins.token": "off", "joins.ip": "off"})


@pytest.fixture
def generous_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    # the fuzzer sends two frames per example, as fast as it can: the flood limit is tested in
    # test_bad_input.py; here every frame must reach the parser
    monkeypatch.setattr("signaling.api.ws.RATE_PER_SECOND", 10_000.0)
    monkeypatch.setattr("signaling.api.ws.RATE_BURST", 10_000.0)


async def test_fuzzed_messages_and_offers_get_documented_codes_and_the_call_goes_on(server, generous_rate):
    started = time.monotonic()
    call_id, shopper, agent = await start_call(server)
    await asyncio.gather(shopper.peer.wait_decoded(5), agent.peer.wait_decoded(5))
    fuzzer = Fuzzer(server, asyncio.get_running_loop())
    other_call, other_shopper, other_agent = await connecting_shopper(server)
    sockets: dict[str, SignalingClient] = {"agent": await agent_socket(server)}
    probe_offer = ClientPeer("probe")
    offer = await probe_offer.offer()
    await probe_offer.close()

    async def protocol_example(frame: str | bytes) -> None:
        if not fuzzer.in_budget():
            return
        if not await fuzzer.exchange(sockets["agent"], frame, {"type": "decline", "call_id": "c_probe"}):
            sockets["agent"] = await agent_socket(server)  # e.g. after `leave`: a fresh one

    async def sdp_example(sdp: str) -> None:
        if not fuzzer.in_budget():
            return
        frame = json.dumps({"v": 1, "type": "offer", "call_id": other_call, "sdp": sdp})
        alive = await fuzzer.exchange(other_shopper, frame, {"type": "accept", "call_id": other_call})
        assert alive, "an offer must never close the shopper's socket"

    # generation only: no example database, no shrinking (a failure names its example as it is)
    @settings(max_examples=PROTOCOL_EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(protocol_frames(call_id))
    def fuzz_protocol(frame: str | bytes) -> None:
        fuzzer.run(protocol_example(frame))

    @settings(max_examples=SDP_EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(sdp_mutations(offer))
    def fuzz_sdp(sdp: str) -> None:
        fuzzer.run(sdp_example(sdp))

    with MediaWatch(shopper.peer, agent.peer) as watch:
        before = (shopper.peer.video_frames_decoded, agent.peer.video_frames_decoded)
        for run in (fuzz_protocol, fuzz_sdp):
            thread_error: list[BaseException] = []

            def in_thread(run: Any = run, thread_error: list[BaseException] = thread_error) -> None:
                try:
                    run()
                except BaseException as exc:  # noqa: BLE001 - re-raised on the test's side
                    thread_error.append(exc)

            fuzzer.start_run()
            thread = threading.Thread(target=in_thread, name="hypothesis")
            thread.start()
            await asyncio.to_thread(thread.join, RUN_LIMIT_S + ANSWER_TIMEOUT_S)
            assert not thread.is_alive(), "the fuzz run did not finish in time"
            if thread_error:
                raise thread_error[0]
        await agent.peer.wait_decoded(before[1] + 30)
        await shopper.peer.wait_decoded(before[0] + 30)
    assert fuzzer.problems == []
    assert fuzzer.sent >= 30, f"only {fuzzer.sent} examples sent within the time budget"
    assert watch.longest_gap < MAX_MEDIA_GAP_S, f"the call's video stalled for {watch.longest_gap:.1f} s"
    assert server.calls.calls[call_id].state.value == "connected"
    assert {"invalid_message", "bad_sdp"} <= fuzzer.seen_codes, fuzzer.seen_codes
    for ws in (*sockets.values(), other_shopper, other_agent):
        await ws.close()
    await close_sides(shopper, agent)
    assert time.monotonic() - started < 60


def test_the_doc_lists_codes_to_check_against():
    assert {"bad_json", "invalid_message", "bad_sdp", "service_unavailable"} <= DOCUMENTED_CODES
    assert {1000, 1008, 1009, 4401} <= DOCUMENTED_CLOSES

