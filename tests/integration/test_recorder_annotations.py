"""An annotation in the composed QA video: a real recorded call (VP8 + Opus through the track
writers) is composed the way the server does it (``Recorder.compose``: a child process reading
the job spec) with a red circle drawn on the shopper's video at 1 s. A decoded frame of the MP4
shows the red along the circle on the shopper's picture — letterboxed in its tile — and not on
the agent's; after the mark has faded the same pixels show the video again."""

from __future__ import annotations

import math

import av
import numpy as np

from recorder import ComposeOptions, Recorder
from recorder.lanes import fit_rect
from recorder.render import layout_rects
from tests.integration.test_recorder_compose import CALL, record_small_call

WIDTH, HEIGHT, FPS = 1280, 360, 10  # tiles 640×360: the 320×240 pictures get side bars
CENTRE, RIM = (0.5, 0.5), (0.7, 0.5)


def circle_pixels(rect, source=(320, 240), count=36):
    """Canvas pixels along the circle (centre, rim point normalized) in that tile's picture."""
    x, y, w, h = rect
    px, py, pw, ph = fit_rect(*source, w, h)
    cx, cy = x + px + round(CENTRE[0] * (pw - 1)), y + py + round(CENTRE[1] * (ph - 1))
    radius = round((RIM[0] - CENTRE[0]) * (pw - 1))
    return [(round(cy + radius * math.sin(a)), round(cx + radius * math.cos(a)))
            for a in (2 * math.pi * i / count for i in range(count))]


def red(pixel) -> bool:
    r, g, b = (int(v) for v in pixel)  # rgb24
    return r > 180 and g < 120 and b < 100  # the pattern's blue is 128 everywhere


def frame_at(path, t):
    with av.open(str(path)) as container:
        best = None
        for frame in container.decode(video=0):
            at = float(frame.pts * frame.time_base)
            if best is None or abs(at - t) < abs(best[0] - t):
                best = (at, frame.to_ndarray(format="rgb24"))
            if at > t + 1:
                break
    assert best is not None and abs(best[0] - t) < 0.11
    return best[1]


async def test_a_circle_on_the_shoppers_video_is_in_the_composed_file(tmp_path):
    recorder = Recorder(tmp_path, compose_options=ComposeOptions(width=WIDTH, height=HEIGHT, fps=FPS))
    _, base = await record_small_call(recorder, seconds=3.0)
    t0 = base + recorder.wall_offset
    events = [
        {"type": "accepted", "at": t0, "name": "Ann"},  # other events of the call are ignored
        {"type": "annotation", "at": t0 + 1.0, "by": "agent", "by_name": "Ann",
         "annotation_id": "an_ring0001", "target": "shopper", "shape": "circle",
         "color": "#ff3b30", "points": [list(CENTRE), list(RIM)], "pinned": False, "fade_s": 1.5},
    ]
    job = recorder.compose(CALL, start=t0, end=t0 + 3.5, layout="side_by_side", events=events)
    composite = await job.wait()
    path = recorder.resolve(composite["file"])

    rects = layout_rects("side_by_side", WIDTH, HEIGHT, ["shopper", "agent"])
    shopper, agent = circle_pixels(rects["shopper"]), circle_pixels(rects["agent"])
    during = frame_at(path, 1.5)
    on_circle = sum(red(during[p]) for p in shopper)
    assert on_circle >= 0.9 * len(shopper), f"only {on_circle}/{len(shopper)} red along the circle"
    assert not any(red(during[p]) for p in agent)  # the mark is on the shopper's video only
    px = rects["shopper"][0] + fit_rect(320, 240, 640, 360)[0]
    assert not red(during[HEIGHT // 2, px + 240])  # the centre: a ring, not a disc

    after = frame_at(path, 3.0)  # fade_s 1.5: gone at 2.5 s
    assert sum(red(after[p]) for p in shopper) == 0
    assert np.abs(after.astype(int) - during.astype(int)).max() > 0  # a different picture
