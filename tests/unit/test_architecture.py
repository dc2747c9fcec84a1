"""The dependency direction is checked, not hoped for (DESIGN.md): signaling → sfu → media,
recorder → media; sfu and media never import signaling; the server never imports load_tests;
the public client (client/) imports none of the server's packages."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

FORBIDDEN = {
    "sfu": {"signaling", "silkline", "recorder", "load_tests", "tests", "client"},
    "media": {"signaling", "sfu", "silkline", "recorder", "load_tests", "tests", "client"},
    "recorder": {"signaling", "sfu", "silkline", "load_tests", "tests", "client"},
    "signaling": {"silkline", "load_tests", "tests", "recorder", "client"},
    "silkline": {"load_tests", "tests", "client"},
    # the public client speaks the wire protocol only: it shares no code with the server
    "client": {"signaling", "sfu", "silkline", "recorder", "load_tests", "tests"},
    # the load tool drives a server from outside: media and the client only (sfu/ leaves
    # load_tests/peer.py with the media hooks module)
    "load_tests": {"signaling", "silkline", "recorder", "tests"},
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_dependencies_point_one_way():
    problems = []
    for package, forbidden in FORBIDDEN.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            bad = imported_packages(path) & forbidden
            if bad:
                problems.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert problems == []


def test_live_path_never_uses_a_transcoding_relay():
    # aiortc's decode/re-encode MediaRelay lives only in the comparison switch, off by default
    for path in list((ROOT / "sfu").rglob("*.py")) + list((ROOT / "signaling").rglob("*.py")):
        if path.name == "transcode.py":
            continue
        text = path.read_text()
        assert "MediaRelay" not in text, f"{path} uses aiortc's decode/re-encode relay"
    from silkline.config import Config

    assert Config().forwarding == "encoded"
