"""The `annotate` client message at the edge: lengths and shapes bounded by msgspec (before the
contract's ranges are checked by media/annotation.py's parse_annotation)."""

from __future__ import annotations

import json

import pytest

from media.annotation import MAX_POINTS
from signaling.api.protocol import Annotate, parse
from signaling.centre.annotations import message
from signaling.errors import ErrorCode, SignalingError
from signaling.server_messages import as_dict


def annotate(**fields) -> str:
    return json.dumps({"v": 1, "type": "annotate", "call_id": "c_1", "target": "shopper", **fields})


def test_a_mark_is_parsed_with_its_defaults():
    msg = parse(annotate(shape="pointer", points=[[0, 1]]))
    assert isinstance(msg, Annotate)
    assert (msg.shape, msg.points, msg.color, msg.pinned, msg.fade_s, msg.annotation_id) == (
        "pointer", [[0.0, 1.0]], None, False, None, None)


@pytest.mark.parametrize("fields", [
    {"shape": "star"},
    {"shape": "pen", "points": [[0.5, 0.5]] * (MAX_POINTS + 1)},
    {"shape": "pointer", "points": [[0.1, 0.2, 0.3]]},
    {"shape": "pointer", "points": [["a", 0.2]]},
    {"shape": "text", "points": [[0, 0]], "text": "x" * 81},
    {"shape": "circle", "color": "#ff3b30ff"},
    {"shape": "circle", "fade_s": 0},
    {"shape": "circle", "fade_s": 61},
    {"shape": "clear", "target": "supervisor"},
    {"shape": "clear", "annotation_id": "an_" + "x" * 65},
])
def test_out_of_bounds_marks_are_invalid_messages(fields):
    with pytest.raises(SignalingError) as refused:
        parse(annotate(**fields))
    assert refused.value.code is ErrorCode.INVALID_MESSAGE
    assert refused.value.message.startswith("annotate:")


def test_the_relayed_message_is_the_stored_event():
    event = {"type": "annotation", "at": 1.5, "by": "agent", "annotation_id": "an_1", "target": "shopper",
             "shape": "circle", "color": "#ff3b30", "points": [[0.5, 0.5], [0.6, 0.5]],
             "pinned": False, "fade_s": 4.0, "by_name": "Ann"}
    sent = as_dict(message("c_1", event))
    assert sent == {"v": 1, "call_id": "c_1", **event}
    clear = {"type": "annotation", "at": 2.0, "by": "shopper", "annotation_id": "an_2",
             "target": "shopper", "shape": "clear"}
    assert as_dict(message("c_1", clear)) == {"v": 1, "call_id": "c_1", **clear}
