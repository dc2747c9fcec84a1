"""The annotation event contract (media/annotation.py): what the edge accepts and refuses, and
which marks the layer shows when (fade, pinned, undo, clear, per target)."""

from __future__ import annotations

import math

import pytest

from media.annotation import FADE_TAIL, MAX_POINTS, AnnotationLayer, parse_annotation

T0 = 1_700_000_000.0


def event(shape: str = "circle", at: float = 1.0, /, **over):
    points = {"pointer": [[0.5, 0.5]], "arrow": [[0.1, 0.1], [0.4, 0.4]],
              "circle": [[0.5, 0.5], [0.6, 0.5]], "pen": [[0.1, 0.1], [0.2, 0.3], [0.3, 0.2]],
              "text": [[0.2, 0.2]], "undo": [], "clear": []}[shape]
    e = {"type": "annotation", "at": T0 + at, "by": "agent", "by_name": "Ann",
         "annotation_id": f"an_{shape}{int(at * 1000)}", "target": "shopper", "shape": shape,
         "color": "#FF3B30", "points": points, "pinned": False, "fade_s": 4.0}
    if shape == "text":
        e["text"] = "the mark at the edge"
    if shape in ("undo", "clear"):
        for key in ("color", "points", "pinned", "fade_s"):
            e.pop(key)
    e.update(over)
    return e


@pytest.mark.parametrize("shape", ["pointer", "arrow", "circle", "pen", "text", "undo", "clear"])
def test_every_shape_round_trips(shape):
    a = parse_annotation(event(shape))
    assert a.shape == shape and a.target == "shopper" and a.by == "agent" and a.by_name == "Ann"
    assert parse_annotation(a.to_event()) == a
    if a.draws:
        assert a.color == "#ff3b30" and a.bgr == (0x30, 0x3B, 0xFF)
        assert a.to_event()["points"] == [list(p) for p in event(shape)["points"]]


def test_defaults_for_optional_fields():
    e = event("pointer")
    for key in ("color", "pinned", "fade_s", "by_name"):
        e.pop(key)
    a = parse_annotation(e)
    assert (a.color, a.pinned, a.fade_s, a.by_name) == ("#ff3b30", False, 4.0, None)


@pytest.mark.parametrize(("over", "says"), [
    ({"points": [[0.5, 1.2], [0.6, 0.5]]}, "in [0, 1]"),
    ({"points": [[-0.01, 0.5], [0.6, 0.5]]}, "in [0, 1]"),
    ({"points": [[math.nan, 0.5], [0.6, 0.5]]}, "finite"),
    ({"points": [[0.5, 0.5]]}, "takes 2 points, not 1"),
    ({"points": [[0.5, 0.5, 0.1], [0.6, 0.5]]}, "pair"),
    ({"points": "0.5,0.5"}, "list"),
    ({"color": "red"}, "#rrggbb"),
    ({"color": "#ff3b3"}, "#rrggbb"),
    ({"shape": "square"}, "shape must be one of"),
    ({"target": "supervisor"}, "target must be one of"),
    ({"by": None}, "by must be one of"),
    ({"annotation_id": "x1"}, "annotation_id"),
    ({"at": "soon"}, "at must be"),
    ({"at": True}, "at must be"),
    ({"fade_s": 0}, "fade_s"),
    ({"fade_s": 600}, "fade_s"),
    ({"pinned": "yes"}, "pinned"),
    ({"text": "hello"}, "only a text mark"),
    ({"type": "chat"}, "type"),
    ({"by_name": "x" * 81}, "by_name"),
])
def test_bad_input_is_refused_with_a_sentence(over, says):
    e = {**event("circle"), **over}
    with pytest.raises(ValueError, match=says.replace("[", r"\[").replace("]", r"\]")):
        parse_annotation(e)


def test_limits_on_pen_points_and_text():
    pen = [[i / MAX_POINTS, 0.5] for i in range(MAX_POINTS)]
    assert len(parse_annotation(event("pen", points=pen)).points) == MAX_POINTS
    with pytest.raises(ValueError, match="2 to 256 points, not 257"):
        parse_annotation(event("pen", points=[*pen, [1.0, 1.0]]))
    with pytest.raises(ValueError, match="2 to 256"):
        parse_annotation(event("pen", points=[[0.1, 0.1]]))
    assert parse_annotation(event("text", text="x" * 80)).text == "x" * 80
    with pytest.raises(ValueError, match="at most 80"):
        parse_annotation(event("text", text="x" * 81))
    with pytest.raises(ValueError, match="non-empty text"):
        parse_annotation(event("text", text="  "))
    with pytest.raises(ValueError, match="takes 0 points"):
        parse_annotation(event("clear", points=[[0.1, 0.1]]))
    with pytest.raises(ValueError, match="object"):
        parse_annotation(["annotation"])  # type: ignore[arg-type]


def shown(layer: AnnotationLayer, t: float, target: str | None = None) -> dict[str, float]:
    return {m.annotation.annotation_id: round(m.opacity, 3) for m in layer.visible(t, target)}


def test_a_mark_shows_from_its_moment_and_fades_over_the_last_half_second():
    layer = AnnotationLayer([event("circle", 1.0, annotation_id="an_c")], origin=T0)
    assert shown(layer, 0.99) == {}
    assert shown(layer, 1.0) == {"an_c": 1.0}
    assert shown(layer, 5.0 - FADE_TAIL) == {"an_c": 1.0}
    assert shown(layer, 4.75) == {"an_c": 0.5}  # fade_s 4 → gone at 5.0, fading from 4.5
    assert shown(layer, 5.0) == {} and shown(layer, 60.0) == {}


def test_pinned_marks_stay_until_undone_or_cleared():
    layer = AnnotationLayer([
        event("circle", 1.0, annotation_id="an_pin", pinned=True),
        event("arrow", 2.0, annotation_id="an_arrow"),
        event("clear", 30.0),
    ], origin=T0)
    assert shown(layer, 10.0) == {"an_pin": 1.0}
    assert shown(layer, 29.9) == {"an_pin": 1.0} and shown(layer, 30.0) == {}


def test_undo_removes_the_authors_latest_shown_mark_on_that_target():
    layer = AnnotationLayer([
        event("circle", 1.0, annotation_id="an_a1", pinned=True),
        event("arrow", 1.5, annotation_id="an_a2", pinned=True),
        event("pen", 1.7, annotation_id="an_s1", by="shopper", pinned=True),  # not the agent's
        event("pointer", 1.8, annotation_id="an_other", target="agent", pinned=True),
        event("undo", 2.0),
        event("undo", 3.0),
        event("undo", 4.0),  # nothing of the agent's left on the shopper's video: no effect
    ], origin=T0)
    assert set(shown(layer, 1.9)) == {"an_a1", "an_a2", "an_s1", "an_other"}
    assert set(shown(layer, 2.0)) == {"an_a1", "an_s1", "an_other"}
    assert set(shown(layer, 3.0)) == {"an_s1", "an_other"}
    assert set(shown(layer, 4.0)) == {"an_s1", "an_other"}


def test_undo_skips_a_mark_that_has_already_faded():
    layer = AnnotationLayer([
        event("circle", 1.0, annotation_id="an_kept", pinned=True),
        event("arrow", 2.0, annotation_id="an_faded", fade_s=1.0),
        event("undo", 5.0),
    ], origin=T0)
    assert set(shown(layer, 4.0)) == {"an_kept"}
    assert shown(layer, 5.0) == {}


def test_clear_is_per_target_and_for_every_author():
    layer = AnnotationLayer([
        event("circle", 1.0, annotation_id="an_1", pinned=True),
        event("pen", 1.1, annotation_id="an_2", by="shopper", pinned=True),
        event("text", 1.2, annotation_id="an_3", target="agent", by="shopper", pinned=True),
        event("clear", 2.0, target="shopper", by="shopper"),
        event("pointer", 2.5, annotation_id="an_4"),
    ], origin=T0)
    assert set(shown(layer, 1.5, "shopper")) == {"an_1", "an_2"}
    assert set(shown(layer, 1.5, "agent")) == {"an_3"}
    assert set(shown(layer, 2.0)) == {"an_3"}
    assert set(shown(layer, 3.0, "shopper")) == {"an_4"}  # a mark after the clear shows
    assert {k: [m.annotation.annotation_id for m in v] for k, v in layer.targets_at(3.0).items()} == {
        "shopper": ["an_4"], "agent": ["an_3"]}


def test_events_are_taken_in_time_order_and_bad_ones_skipped():
    layer = AnnotationLayer([
        {"type": "chat", "at": T0 + 1, "text": "hi"},  # not an annotation: ignored, not counted
        event("undo", 3.0),
        event("circle", 2.0, annotation_id="an_late_in_record", pinned=True),
        event("circle", 2.5, points=[[2.0, 0.5], [0.5, 0.5]]),  # refused at the edge
    ], origin=T0)
    assert layer.skipped == 1 and len(layer) == 1
    assert set(shown(layer, 2.9)) == {"an_late_in_record"} and shown(layer, 3.0) == {}
    assert [a.annotation_id for a in layer.marks] == ["an_late_in_record"]


def test_a_newer_pointer_moves_the_authors_pointer():
    layer = AnnotationLayer([
        event("pointer", 1.0, annotation_id="an_p1"),
        event("pointer", 1.1, annotation_id="an_p2"),
        event("pointer", 1.2, annotation_id="an_shopper", by="shopper"),  # another author's stays
        event("pointer", 1.3, annotation_id="an_on_agent", target="agent"),  # another video's too
    ], origin=T0)
    assert shown(layer, 1.05) == {"an_p1": 1.0}
    assert set(shown(layer, 1.5)) == {"an_p2", "an_shopper", "an_on_agent"}
