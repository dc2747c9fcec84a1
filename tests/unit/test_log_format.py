"""``--log-format``: the JSON formatter (one object per line, the call id as a field) and the
text default (unchanged, `` call_id=…`` appended only when a record names a call)."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from silkline import log_format
from silkline.cli import build_parser, config_from_args
from silkline.config import from_env


def record(message: str, *args: object, call_id: str | None = None, exc: BaseException | None = None,
           ) -> logging.LogRecord:
    rec = logging.LogRecord("signaling.centre.ending", logging.INFO, __file__, 1, message, args,
                            (type(exc), exc, exc.__traceback__) if exc else None)
    rec.created = 1764590400.25  # 2025-12-01T12:00:00.250Z
    if call_id is not None:
        rec.call_id = call_id
    return rec


def test_json_is_one_object_per_line_with_the_call_id():
    line = log_format.JsonFormatter().format(record("call %s ended: %s", "c-1", "hangup", call_id="c-1"))
    assert "\n" not in line
    assert json.loads(line) == {"time": "2025-12-01T12:00:00.250Z", "level": "INFO",
                                "logger": "signaling.centre.ending", "message": "call c-1 ended: hangup",
                                "call_id": "c-1"}


def test_json_without_a_call_and_with_a_traceback_stays_one_line():
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        caught = exc
    line = log_format.JsonFormatter().format(record("two\nlines", exc=caught))
    assert "\n" not in line
    entry = json.loads(line)
    assert "call_id" not in entry
    assert entry["message"] == "two\nlines"
    assert entry["exception"].startswith("Traceback") and "RuntimeError: boom" in entry["exception"]


def test_text_stays_the_classic_line_and_appends_the_call_id():
    text = log_format.TextFormatter()
    plain = text.format(record("node up"))
    assert re.fullmatch(r"\S+ \S+ INFO signaling\.centre\.ending: node up", plain)
    assert text.format(record("call %s back", "c-9", call_id="c-9")).endswith(": call c-9 back call_id=c-9")


def test_configure_routes_the_extra_convention_through_the_root_logger():
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        log_format.configure("info", "json", stream)
        logging.getLogger("signaling.centre.reconnect").info("call %s: agent back", "c-3",
                                                             extra={"call_id": "c-3"})
        logging.getLogger("aioice.ice").info("not shown: aioice is kept at WARNING")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["call_id"] == "c-3"


def test_log_format_from_flag_and_environment():
    assert from_env({}).log_format == "text"
    assert from_env({"SILKLINE_LOG_FORMAT": "json"}).log_format == "json"
    assert config_from_args(build_parser().parse_args(["serve", "--log-format", "json"])).log_format == "json"
    with pytest.raises(ValueError, match="--log-format is one of text, json"):
        log_format.formatter("xml")
