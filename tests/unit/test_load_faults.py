"""The load tool's fault mode, its pure parts: which node it kills (from a /api/nodes body), a
call's time to resume (from the received-video timelines), the summary, and the refusals."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from load_tests.cluster import ClusterError, SpawnedCluster, mint_admin_token
from load_tests.cluster_watch import ClusterWatch, pid_gone
from load_tests.faults import KillPlan, KillRefused, call_outcomes, choose_victim, resume_after, summary
from load_tests.peer import Received


def node(node_id: str, rooms: list[str], state: str = "active", host: str = "here", pid: int = 4242) -> dict:
    return {"node_id": node_id, "pid": pid, "host": host, "state": state, "heartbeat_age_s": 0.2,
            "load": {"rooms": len(rooms)}, "rooms": rooms}


def test_the_victim_is_the_alive_node_carrying_the_most_calls() -> None:
    body = [node("n1", ["c1"], pid=11), node("n2", ["c2", "c3"], pid=12),
            node("n3", ["c4", "c5", "c6"], state="dead", pid=13)]
    assert choose_victim(body, "here")["pid"] == 12  # n3 carries more but is dead already
    # a tie goes to the smaller node id, so a run is repeatable
    assert choose_victim([node("n2", ["a"], pid=22), node("n1", ["b"], pid=21)], "here")["node_id"] == "n1"
    # a node this run killed already is dead, even while its heartbeat has not expired yet
    assert choose_victim([*body, node("n4", [], pid=14)], "here", killed={12})["pid"] == 11
    # draining is still alive
    assert choose_victim([node("n1", [], pid=21), node("n2", ["a"], state="draining", pid=22)], "here")["pid"] == 22


def test_the_tool_refuses_a_node_of_another_machine_a_bad_pid_the_last_node_or_none() -> None:
    spare = node("n9", [], pid=99)
    with pytest.raises(KillRefused, match="not on this machine"):
        choose_victim([node("n1", ["c1"], host="elsewhere"), spare], "here")
    with pytest.raises(KillRefused, match="no usable pid"):
        choose_victim([node("n1", ["c1"], pid=1), spare], "here")
    # the last alive node: its calls would have nowhere to go
    with pytest.raises(KillRefused, match="only one alive node"):
        choose_victim([node("n1", ["c1"]), node("n2", ["c2"], state="dead")], "here")
    with pytest.raises(KillRefused, match="no alive node"):
        choose_victim([node("n1", ["c1"], state="dead")], "here")
    with pytest.raises(KillRefused, match="no alive node"):
        choose_victim([], "here")


def test_a_cluster_refuses_to_kill_a_pid_it_did_not_start(tmp_path: Path) -> None:
    cluster = SpawnedCluster(2, "separate", tmp_path)  # not started: it owns no process
    with pytest.raises(ClusterError, match=f"refusing to kill pid {os.getpid()}"):
        cluster.kill_node(os.getpid())
    assert cluster.killed == [] and not pid_gone(os.getpid())
    with pytest.raises(ValueError, match="cluster-mode"):
        SpawnedCluster(2, "threads", tmp_path)


def test_the_admin_token_carries_the_claims_a_node_checks() -> None:
    import jwt

    claims = jwt.decode(mint_admin_token("s" * 32), "s" * 32, algorithms=["HS256"], issuer="silkline")
    assert claims["role"] == "admin" and claims["sub"] and claims["exp"] > claims["iat"] and claims["jti"]


def timeline(first: float | None, last: float | None, *gaps: tuple[float, float]) -> dict:
    return {"first_s": first, "last_s": last, "gaps_s": [list(g) for g in gaps]}


def test_time_to_resume_is_the_end_of_the_gap_the_kill_caused() -> None:
    # video stopped 20 ms after the kill at 10 s (frames in flight) and came back at 13.5 s
    assert resume_after(timeline(1.0, 30.0, (4.0, 4.15), (10.02, 13.5)), 10.0) == 3.5
    # the kill did not touch this side: no gap began near it
    assert resume_after(timeline(1.0, 30.0, (4.0, 4.15)), 10.0) == 0.0
    # a gap that had begun before the kill (a freeze) and lasted past it counts too
    assert resume_after(timeline(1.0, 30.0, (9.9, 12.0)), 10.0) == 2.0
    # nothing after the kill: never resumed
    assert resume_after(timeline(1.0, 9.99), 10.0) is None
    assert resume_after(timeline(None, None), 10.0) is None
    # the call came up only after the kill
    assert resume_after(timeline(11.25, 20.0), 10.0) == 1.25


def test_the_received_timeline_keeps_only_silences_worth_seeing() -> None:
    got = Received()
    got.note_gap(1.0, 1.033)  # one frame interval: not kept
    got.note_gap(2.0, 2.5)
    assert got.gaps == [(2.0, 2.5)]
    got.timestamps = {0, 960, 1920}  # three audio packets of one peer connection
    got.close_epoch(960)
    got.timestamps = {10_000, 10_960 + 960}  # the next one starts elsewhere, one packet missing
    assert got.timestamp_count(960) == (3 + 3, 3 + 2)


def call(index: int, ok: bool, shopper: dict, agent: dict) -> dict:
    def side(line: dict) -> dict:
        return {"timeline": line, "video": {"expected": 100, "lost": 10}, "audio": {"expected": 100, "lost": 0},
                "renegotiations": 1, "reconnects": 0}

    return {"index": index, "call_id": f"c{index}", "ok": ok, "error": None if ok else "ended early",
            "sides": {"shopper": side(shopper), "agent": side(agent)}}


def test_per_call_outcome_and_the_summary() -> None:
    kills = [{"index": 0, "at_s": 10.0, "node_id": "n1", "pid": 11, "rooms": ["c0", "c1"]},
             {"index": 1, "at_s": 20.0, "node_id": "n2", "pid": 12, "rooms": ["c0"]}]
    calls = [
        # on both killed nodes: back after 2 s (the later side) and after 4 s
        call(0, True, timeline(1, 30, (10.0, 11.0), (20.0, 24.0)), timeline(1, 30, (10.01, 12.0), (20.0, 23.0))),
        # its agent side never got video back, and the call ended
        call(1, False, timeline(1, 30, (10.0, 11.0)), timeline(1, 10.0)),
        # not on a killed node
        call(2, True, timeline(1, 30), timeline(1, 30)),
        # on the first killed node, media back on both sides, but its record says it ended
        call(3, True, timeline(1, 30, (10.0, 10.5)), timeline(1, 30, (10.0, 10.6))),
        # no call-ended reached it and nothing failed, but its agent never got video back
        call(4, True, timeline(1, 30, (10.0, 11.0)), timeline(1, 10.0)),
    ]
    kills[0]["rooms"] += ["c3", "c4"]
    records = {"c0": {"state": "connected", "migrated": 2}, "c3": {"state": "ended", "migrated": 1}}
    outcomes = call_outcomes(calls, kills, records)
    assert [o["affected"] for o in outcomes] == [True, True, False, True, True]
    assert [o["resumed"] for o in outcomes] == [True, False, False, True, False]
    # survived: did not end, the record is not ended, and media came back after every kill
    assert [o["survived"] for o in outcomes] == [True, False, True, False, False]
    assert outcomes[0]["record"] == {"state": "connected", "migrated": 2} and outcomes[1]["record"] is None
    assert [k["resume_s"] for k in outcomes[0]["kills"]] == [2.0, 4.0]
    assert outcomes[1]["kills"][0]["sides"] == {"shopper": 1.0, "agent": None}
    assert outcomes[0]["loss_pct"] == 5.0  # 20 lost of 400 expected over both sides and kinds
    figures = summary(outcomes, kills + [{"index": 2, "at_s": 25.0, "refused": "no alive node"}])
    assert (figures["kills"], figures["kills_refused"]) == (2, 1)
    assert (figures["calls_affected"], figures["calls_survived"], figures["calls_resumed"]) == (4, 1, 2)
    assert figures["calls_survived_all"] == 2
    assert (figures["interruptions"], figures["not_resumed"]) == (5, 2)
    # resumes: call 0 after 2.0 and 4.0 s, call 3 after 0.6 s
    assert figures["resume_s"]["n"] == 3 and figures["resume_s"]["p50"] == 2.0
    assert figures["resume_s"]["p95"] == 4.0 and figures["resume_s"]["max"] == 4.0


def test_p50_and_p95_of_many_resumes_are_nearest_rank() -> None:
    kills = [{"index": k, "at_s": 10.0 * (k + 1), "pid": 100 + k, "rooms": ["c0"]} for k in range(20)]
    gaps = [(10.0 * (k + 1), 10.0 * (k + 1) + 0.1 * (k + 1)) for k in range(20)]  # 0.1 s … 2.0 s
    outcomes = call_outcomes([call(0, True, timeline(1, 300, *gaps), timeline(1, 300, *gaps))], kills)
    figures = summary(outcomes, kills)["resume_s"]
    assert (figures["n"], figures["p50"], figures["p95"], figures["max"]) == (20, 1.0, 1.9, 2.0)


def test_a_kill_plan_is_bounded_and_says_what_is_wrong() -> None:
    assert KillPlan(4.0).times() == [4.0]
    assert KillPlan(5.0, kills=3, every=10.0).times() == [5.0, 15.0, 25.0]
    with pytest.raises(ValueError, match="--kill-every"):
        KillPlan(5.0, kills=3)
    with pytest.raises(ValueError, match="--kills"):
        KillPlan(5.0, kills=500, every=1.0)
    with pytest.raises(ValueError, match="≥ 0"):
        KillPlan(-1.0)


def test_cpu_and_memory_of_a_pid_and_whether_it_is_gone() -> None:
    watch = ClusterWatch(None, 0.0)  # type: ignore[arg-type] - _cpu needs no cluster
    cpu, rss = watch._cpu(os.getpid())
    assert cpu is None and rss is not None and rss > 10  # the first look has no CPU yet
    busy_until = time.process_time() + 0.2
    while time.process_time() < busy_until:
        pass
    cpu, rss = watch._cpu(os.getpid())
    assert cpu is not None and cpu > 0 and rss is not None and rss > 10
    assert not pid_gone(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: a zombie
    assert pid_gone(child.pid)
    child.wait()
    assert pid_gone(child.pid) and watch._cpu(child.pid) == (None, None)


@pytest.fixture
def signal_handlers():  # type: ignore[no-untyped-def]
    """The command installs SIGTERM/SIGINT handlers; give the test process its own back."""
    import signal

    kept = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for number, handler in kept.items():
        signal.signal(number, handler)


def test_the_command_line_refuses_kills_outside_a_cluster_it_started(tmp_path: Path, signal_handlers) -> None:
    from load_tests.cli import main

    with pytest.raises(SystemExit, match="--spawn-cluster"):
        main(["run", "--calls", "1", "--spawn-server", "--kill-node-at", "3", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="--spawn-cluster"):
        main(["run", "--calls", "1", "--url", "http://127.0.0.1:1", "--kill-node-at", "3", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="one size"):
        main(["run", "--calls", "1", "--spawn-cluster", "1,2", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="--kill-every"):
        main(["run", "--calls", "1", "--spawn-cluster", "2", "--kill-node-at", "3", "--kills", "2",
              "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="loopback"):
        main(["run", "--calls", "1", "--url", "http://127.0.0.1:1,http://10.0.0.1:2", "--out", str(tmp_path)])


def test_a_generator_takes_the_run_clock_from_its_parent_once_ready(capsys: pytest.CaptureFixture[str]) -> None:
    from load_tests.start_line import await_start

    read, write = os.pipe()
    with os.fdopen(read) as stdin, os.fdopen(write, "w") as parent:
        parent.write('{"t0": 12.5, "stop_at": 40.0}\n')
        parent.flush()
        cfg: dict = {"worker": 0}
        await_start(cfg, stdin=stdin, wait_s=5)
    assert cfg == {"worker": 0, "t0": 12.5, "stop_at": 40.0}
    assert capsys.readouterr().out.strip() == '{"ready": true}'
    read, write = os.pipe()
    with os.fdopen(read) as stdin, os.fdopen(write, "w"):
        with pytest.raises(SystemExit, match="no start line"):
            await_start({}, stdin=stdin, wait_s=0.1)  # the parent never answered


async def test_the_load_tools_sockets_ping_reconnect_over_the_cluster_and_let_an_error_pass_once_following() -> None:
    import aiohttp

    from load_tests.migration import HEARTBEAT_S, follow_media, open_socket

    class Peer:
        async def offer(self) -> str:
            return "v=0"

        async def accept_answer(self, sdp: str) -> None:
            pass

        async def renew(self) -> None:
            pass

    urls = ["http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3"]
    async with aiohttp.ClientSession() as http:
        ws = open_socket(http, urls[1], urls, on_message=None, fail_on=("error", "call-ended"))
        # a dropped socket comes back on its own URL first, then the others in turn; it pings
        assert ws.reconnect and ws.base_urls == [urls[1], urls[0], urls[2]] and ws.heartbeat == HEARTBEAT_S
        assert ws.fail_on == {"error", "call-ended"}  # a set-up stops at the first error
        follower = follow_media(ws, Peer(), "c1")
        # following: a refused offer must not fail the renegotiation after the next `migrated`
        assert ws.fail_on == {"call-ended"} and follower.call_id == "c1"
        await ws.close()
