"""Annotations in the recorder: they travel in the compose job's spec (old specs still read),
and the renderer draws them on the picture area of the target's tile, letterbox and PiP inset
included, blended while they fade."""

from __future__ import annotations

import json

import numpy as np

from media.annotation import AnnotationLayer
from recorder.lanes import fit_rect
from recorder.render import Renderer
from recorder.timeline import CallTimeline, Segment, annotations_of

T0 = 1_700_000_000.0
RED = (0x30, 0x3B, 0xFF)  # #ff3b30 as BGR


def mark(shape="circle", at=1.0, target="shopper", **over):
    points = {"circle": [[0.5, 0.5], [0.75, 0.5]], "pointer": [[0.25, 0.25]],
              "arrow": [[0.1, 0.9], [0.9, 0.1]], "pen": [[0.1, 0.5], [0.5, 0.6], [0.9, 0.5]],
              "text": [[0.05, 0.05]]}[shape]
    e = {"type": "annotation", "at": T0 + at, "by": "agent", "annotation_id": f"an_{shape}{at}".replace(".", "_"),
         "target": target, "shape": shape, "color": "#ff3b30", "points": points, "fade_s": 4.0}
    if shape == "text":
        e["text"] = "wipe here"
    return {**e, **over}


def test_the_timeline_carries_annotations_through_its_spec_and_reads_old_specs():
    events = [mark(), {"type": "chat", "at": T0 + 2, "text": "hi"},
              mark("pen", 2.0, points=[[0.1, 2.0], [0.2, 0.2]])]  # the last one is out of range
    timeline = CallTimeline("c_annot0000001", T0, T0 + 10, "Ann",
                            [Segment("r_1", "shopper", "p1", "video", "c/x.webm", 0.0, 10.0)],
                            annotations=annotations_of(events))
    assert [a.annotation_id for a in timeline.annotations] == ["an_circle1_0"]
    spec = json.loads(json.dumps(timeline.to_dict()))
    assert spec["annotations"] == [timeline.annotations[0].to_event()]
    assert CallTimeline.from_dict(spec) == timeline
    old = {k: v for k, v in spec.items() if k != "annotations"}  # written before annotations
    assert CallTimeline.from_dict(old).annotations == []


def render(marks, t, *, layout="side_by_side", source=(320, 240), size=(640, 240)):
    """One canvas at call time t with a grey picture per role, letterboxed from ``source``."""
    roles = ["shopper", "agent"]
    layer = AnnotationLayer(marks, T0)
    renderer = Renderer(layout, size[0], size[1], roles, burn_in=False, annotations=layer)
    pictures = {}

    def tile(role, w, h):
        pictures[role] = fit_rect(source[0], source[1], w, h)
        x, y, pw, ph = pictures[role]
        image = np.zeros((h, w, 3), np.uint8)
        image[y : y + ph, x : x + pw] = 90
        return image

    renderer.draw(t, T0 + t, False, tile, pictures.get)
    return renderer.canvas, renderer.rects


def is_red(pixel) -> bool:
    b, g, r = (int(v) for v in pixel)
    return r > 200 and g < 110 and b < 110


def test_a_circle_lands_on_the_letterboxed_picture_of_its_target():
    # side by side 640×240: each tile is 320×240 (4:3), so a 16:9 source gets bars
    canvas, rects = render([mark()], 1.5, source=(640, 360))
    x, y, w, h = rects["shopper"]
    px, py, pw, ph = fit_rect(640, 360, w, h)
    assert ph < h  # letterboxed: bars above and below
    cx, cy = x + px + round(0.5 * (pw - 1)), y + py + round(0.5 * (ph - 1))
    radius = round(0.25 * (pw - 1))
    assert is_red(canvas[cy, cx + radius]) and is_red(canvas[cy, cx - radius])
    assert not is_red(canvas[cy, cx])  # a ring, not a disc
    agent = canvas[:, rects["agent"][0]:]
    assert not any(is_red(p) for p in agent.reshape(-1, 3)[::97])  # only on the shopper's tile


def test_marks_in_a_pip_inset_and_nothing_drawn_when_none_show():
    marks = [mark("pointer", 1.0, target="agent"), mark("arrow", 1.0), mark("pen", 1.0),
             mark("text", 1.0)]
    canvas, rects = render(marks, 2.0, layout="pip", size=(640, 480), source=(320, 240))
    x, y, w, h = rects["agent"]  # the inset, bottom right
    assert w < 640
    px, py, pw, ph = fit_rect(320, 240, w, h)
    dot = canvas[y + py + round(0.25 * (ph - 1)), x + px + round(0.25 * (pw - 1))]
    assert is_red(dot)
    assert is_red(canvas[round(0.5 * 479), round(0.5 * 639)])  # the arrow crosses the middle
    before, _ = render(marks, 0.5, layout="pip", size=(640, 480))
    plain, _ = render([], 0.5, layout="pip", size=(640, 480))
    assert np.array_equal(before, plain)


def test_a_fading_mark_is_blended():
    full, rects = render([mark()], 1.5)
    half, _ = render([mark()], 4.75)  # fade_s 4: half way through the last half second
    gone, _ = render([mark()], 5.0)
    x, y, w, h = rects["shopper"]
    px, py, pw, ph = fit_rect(320, 240, w, h)
    rim = (y + py + round(0.5 * (ph - 1)), x + px + round(0.5 * (pw - 1)) + round(0.25 * (pw - 1)))
    assert is_red(full[rim])
    r_half = int(half[rim][2])
    assert 90 + 40 < r_half < 0xFF - 40  # between the picture's grey and the mark's red
    assert int(gone[rim][2]) == 90
