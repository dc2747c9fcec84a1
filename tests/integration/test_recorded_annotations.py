"""Annotations through the real server: a mark written into the call record's events during a
recorded call (as the signaling for drawing will write it) comes out of the QA detail JSON
unchanged, for the QA timeline's markers, and is drawn on the shopper's tile of the composed
QA video that the server makes when the call ends."""

from __future__ import annotations

import asyncio
import shutil
import time

import av
import pytest

from media.annotation import parse_annotation
from recorder.lanes import fit_rect
from recorder.render import layout_rects
from signaling.auth import Role
from silkline.app import RECORDER
from tests.conftest import close_sides, start_call
from tests.integration.test_recorder_annotations import frame_at, red
from tests.integration.test_recording import wait_composite

pytestmark = pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffmpeg is not installed")


async def test_an_annotation_reaches_the_qa_detail_and_the_composed_video(server):
    call_id, shopper, agent = await start_call(server, context={"category": "rings"})  # always recorded
    await shopper.ws.expect("recording", state="on", timeout=10)
    await asyncio.gather(shopper.peer.wait_decoded(10), agent.peer.wait_decoded(10))
    mark = {"type": "annotation", "at": time.time(), "by": "agent", "by_name": "Ann",
            "annotation_id": "an_server0001", "target": "shopper", "shape": "circle",
            "color": "#ff3b30", "points": [[0.5, 0.5], [0.7, 0.5]], "pinned": False, "fade_s": 2.0}
    parse_annotation(mark)  # what the edge will accept
    await server.store.append_call_event(call_id, mark)
    await asyncio.sleep(3.0)  # past the fade, still in the call
    await agent.ws.send("hangup", call_id=call_id)
    await shopper.ws.expect("call-ended")

    detail = await wait_composite(server, call_id, server.tokens.issue(Role.QA, "quinn"))
    assert [e for e in detail["call"]["events"] if e["type"] == "annotation"] == [mark]
    composite = detail["composite"]
    assert composite["state"] == "complete"
    root = server.app[RECORDER].root
    shopper_video = next(t for t in detail["tracks"] if (t["role"], t["kind"]) == ("shopper", "video"))
    with av.open(str(root / shopper_video["url"].split("?")[0][len("/media/"):])) as container:
        stream = container.streams.video[0]
        source = (stream.codec_context.width, stream.codec_context.height)

    rect = layout_rects(composite["layout"], composite["width"], composite["height"],
                        ["shopper", "agent"])["shopper"]
    x, y, w, h = rect
    px, py, pw, ph = fit_rect(*source, w, h)
    cx, cy, radius = x + px + round(0.5 * (pw - 1)), y + py + round(0.5 * (ph - 1)), round(0.2 * (pw - 1))
    rim = [(cy, cx + radius), (cy, cx - radius), (cy + radius, cx), (cy - radius, cx)]
    at = mark["at"] - detail["timeline_origin"]
    mp4 = root / composite["file"]
    during, after = frame_at(mp4, at + 0.8), frame_at(mp4, at + 2.6)
    assert sum(red(during[p]) for p in rim) >= 3
    assert not any(red(after[p]) for p in rim)
    await close_sides(shopper, agent)
