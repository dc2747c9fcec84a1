"""docs/protocol.md lists every error code with its HTTP status and every close code."""

from __future__ import annotations

import re
from pathlib import Path

from signaling.errors import CloseCode, ErrorCode

DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()


def test_every_error_code_is_documented_with_its_status():
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| (\d{3}) \|", DOC, re.MULTILINE))
    assert rows == {code.value: str(code.status) for code in ErrorCode}


def test_every_close_code_is_documented():
    section = DOC.split("## WebSocket close codes", 1)[1]
    documented = {int(c) for c in re.findall(r"^\| (\d{4}) \|", section, re.MULTILINE)}
    assert documented == {int(code) for code in CloseCode}
