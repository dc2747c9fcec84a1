"""Where a new room goes: the least-loaded active node under its admission limit, another node
before the centre's own, and the cluster at capacity only when every active node is."""

from __future__ import annotations

from typing import Any

from sfu import AdmissionLimit, Refusal
from signaling.cluster.placement import LeastLoaded, refusal_of
from signaling.state.nodes import NodeEntry

LIMIT = AdmissionLimit(max_calls=4, max_tracks=16, max_loop_lag_ms=50.0, max_cpu_pct=85.0)


def view(node_id: str, rooms: int = 0, state: str = "active", alive: bool = True, **load: Any) -> dict[str, Any]:
    entry = NodeEntry(node_id, 1, "host", state, 0.0, 10.0,
                      load={"rooms": rooms, "tracks": 4 * rooms, "loop_lag_ms": 1.0, "cpu_pct": 10.0, **load},
                      rooms=[f"c_{node_id}_{n}" for n in range(rooms)])
    return entry.view(now=11.0, alive=alive)


def placement(views: list[dict[str, Any]], own: str = "centre", placed: dict[str, str] | None = None) -> LeastLoaded:
    return LeastLoaded(lambda: views, LIMIT, own, placed=lambda: placed or {})


def test_the_least_loaded_active_node_is_chosen():
    place = placement([view("a", rooms=3), view("b", rooms=1), view("c", rooms=2)])
    assert place() == "b"


def test_draining_dead_and_full_nodes_are_never_chosen():
    views = [view("drain", state="draining"), view("dead", alive=False), view("full", rooms=4),
             view("laggy", loop_lag_ms=80.0), view("hot", cpu_pct=90.0), view("tracks", tracks=16),
             view("ok", rooms=3)]
    assert placement(views)() == "ok"
    assert placement(views[:-1])() is None


def test_other_nodes_before_the_centres_own_and_the_centre_alone_carries_media():
    assert placement([view("centre"), view("media", rooms=3)], own="centre")() == "media"
    assert placement([view("centre"), view("media", rooms=4)], own="centre")() == "centre"
    assert placement([view("centre")], own="centre")() == "centre"


def test_rooms_placed_since_the_last_heartbeat_count():
    placed = {"c_new1": "a", "c_new2": "a"}
    assert placement([view("a", rooms=1), view("b", rooms=2)], placed=placed)() == "b"
    placed = {f"c_new{n}": "a" for n in range(3)}
    assert refusal_of(view("a", rooms=1), LIMIT, placement([view("a", rooms=1)], placed=placed)
                      .rooms_of(view("a", rooms=1))) is Refusal.CALLS


def test_the_cluster_is_at_capacity_only_when_every_active_node_is():
    views = [view("a", rooms=4), view("b", rooms=3)]
    cluster = placement(views)
    assert cluster.refusal(0) is None
    assert cluster.refusal(1) is Refusal.CALLS  # one free room, one promised already
    assert placement([view("a", rooms=4), view("b", rooms=4)]).refusal(0) is Refusal.CALLS
    assert placement([view("a", state="draining")]).refusal(0) is Refusal.DRAINING
    assert placement([view("a", rooms=2, loop_lag_ms=70.0)]).refusal(0) is Refusal.LOOP_LAG
    assert placement([]).refusal(0) is Refusal.DRAINING  # no node at all takes a room


def test_no_call_limit_means_any_admitting_node_has_room():
    unlimited = LeastLoaded(lambda: [view("a", rooms=400)], AdmissionLimit(max_calls=0, max_tracks=0),
                            "centre")
    assert unlimited.refusal(50) is None and unlimited() == "a"


async def test_node_views_keep_the_last_answer_while_the_registry_is_away():
    from media.clock import VirtualClock
    from signaling.cluster.placement import NodeViews

    answers: list[Any] = [[view("a")], RuntimeError("redis away"), [view("b")]]

    async def read(now: float) -> list[dict[str, Any]]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    clock = VirtualClock()
    views = NodeViews(read, clock, interval=1.0)
    await views.start()
    assert [v["node_id"] for v in views()] == ["a"]
    await clock.advance(1.0)
    assert [v["node_id"] for v in views()] == ["a"]  # the registry failed: what it knew stays
    await clock.advance(1.0)
    assert [v["node_id"] for v in views()] == ["b"]
    await views.close()


def test_a_node_that_just_refused_is_passed_over_whatever_its_view_says():
    views = [view("a"), view("b", rooms=2)]
    place = LeastLoaded(lambda: views, LIMIT, "centre", avoid=lambda: {"a"})
    assert place() == "b"
    assert LeastLoaded(lambda: views[:1], LIMIT, "centre", avoid=lambda: {"a"}).refusal(0) is Refusal.CALLS
