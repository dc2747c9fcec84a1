"""The node's admission limit: each limit refuses a new room on its own, with its reason."""

from __future__ import annotations

import pytest

from media.clock import VirtualClock
from sfu import Admission, AdmissionLimit, AdmissionRefused, Refusal, SfuNode
from sfu.close_reason import CloseReason


def node_with(limit: AdmissionLimit, cpu: list[float] | None = None) -> tuple[SfuNode, Admission, VirtualClock]:
    clock = VirtualClock()
    readings = cpu if cpu is not None else [0.0]
    admission = Admission(limit, clock, cpu_seconds=lambda: readings[0])
    return SfuNode(admission=admission), admission, clock


def test_max_calls_refuses_a_new_room_but_not_an_open_one():
    node, admission, _ = node_with(AdmissionLimit(max_calls=1, max_loop_lag_ms=0, max_cpu_pct=0))
    node.open_room("c_1")
    assert admission.refusal() is Refusal.CALLS
    assert node.admits("c_1") and not node.admits("c_2")
    assert node.open_room("c_1") is node.rooms["c_1"]
    with pytest.raises(AdmissionRefused) as refused:
        node.open_room("c_2")
    assert refused.value.refusal is Refusal.CALLS


def test_pending_rooms_count_against_the_limit():
    node, admission, _ = node_with(AdmissionLimit(max_calls=2, max_loop_lag_ms=0, max_cpu_pct=0))
    assert node.admits("c_1", pending=1) and not node.admits("c_1", pending=2)


def test_zero_means_no_limit_and_draining_refuses_everything_new():
    node, admission, _ = node_with(AdmissionLimit(0, 0, 0, 0))
    for n in range(30):
        node.open_room(f"c_{n}")
    assert admission.refusal() is None
    admission.draining = True
    assert admission.refusal() is Refusal.DRAINING and not node.admits("c_new") and node.admits("c_1")


async def test_loop_lag_is_the_mean_of_the_last_samples():
    _, admission, _ = node_with(AdmissionLimit(max_calls=0, max_tracks=0, max_loop_lag_ms=50, max_cpu_pct=0))
    for _ in range(7):
        admission.observe(0.010)
    admission.observe(0.200)  # one spike: mean (7×10 + 200) / 8 = 33.75 ms
    assert admission.loop_lag_ms == pytest.approx(33.75) and admission.refusal() is None
    for _ in range(8):
        admission.observe(0.060)
    assert admission.refusal() is Refusal.LOOP_LAG


async def test_cpu_is_process_time_over_the_clock_window():
    cpu = [0.0]
    _, admission, clock = node_with(AdmissionLimit(max_calls=0, max_tracks=0, max_loop_lag_ms=0,
                                                   max_cpu_pct=85), cpu)
    for _ in range(10):  # 50 % of a core for 2.5 s
        admission.observe(0.0)
        await clock.advance(0.25)
        cpu[0] += 0.125
    assert admission.cpu_pct == pytest.approx(50.0) and admission.refusal() is None
    for _ in range(40):  # then 95 % for 10 s: the window forgets the quiet start
        admission.observe(0.0)
        await clock.advance(0.25)
        cpu[0] += 0.2375
    admission.observe(0.0)
    assert admission.cpu_pct == pytest.approx(95.0, abs=1.0)
    assert admission.refusal() is Refusal.CPU
    assert admission.load().as_dict()["cpu_pct"] == pytest.approx(95.0, abs=1.0)


async def test_a_room_closed_here_for_a_move_reopens_past_the_load_limits_but_not_a_drain():
    """A move within one node replaces a room it carried: a busy loop must not end the call
    (it did on a loaded CI machine), though a new call is refused and a drain refuses both."""
    node, admission, _ = node_with(AdmissionLimit(max_calls=0, max_tracks=0, max_loop_lag_ms=50, max_cpu_pct=0))
    node.open_room("c_1")
    for _ in range(8):
        admission.observe(0.200)
    await node.close_room("c_1", CloseReason.MIGRATED)
    assert node.open_room("c_1") is node.rooms["c_1"]
    with pytest.raises(AdmissionRefused):
        node.open_room("c_2")
    await node.close_room("c_1", CloseReason.HANG_UP)  # closed for good: a new room is a new call
    with pytest.raises(AdmissionRefused):
        node.open_room("c_1")
    for _ in range(8):
        admission.observe(0.0)
    node.open_room("c_3")
    admission.draining = True
    await node.close_room("c_3", CloseReason.MIGRATED)
    with pytest.raises(AdmissionRefused) as refused:
        node.open_room("c_3")
    assert refused.value.refusal is Refusal.DRAINING


async def test_a_room_moved_out_long_ago_is_a_new_room():
    node, admission, clock = node_with(AdmissionLimit(max_calls=0, max_tracks=0, max_loop_lag_ms=50, max_cpu_pct=0))
    node.open_room("c_1")
    await node.close_room("c_1", CloseReason.MIGRATED)
    await clock.advance(31.0)
    for _ in range(8):
        admission.observe(0.200)
    with pytest.raises(AdmissionRefused) as refused:
        node.open_room("c_1")
    assert refused.value.refusal is Refusal.LOOP_LAG
