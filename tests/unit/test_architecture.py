"""The dependency direction is checked, not hoped for (docs/design.md). This is an allow-list:
it names every arrow between our top-level packages that may exist, and fails on any other
import, so a new arrow is a decision someone writes down here, not an accident."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# package -> the packages of ours it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "silkline": {"signaling", "sfu", "recorder", "media"},  # the composition root
    "signaling": {"sfu", "media"},
    "sfu": {"media"},
    "recorder": {"media"},
    "media": set(),
    "client": set(),  # the public protocol client stands alone
    "load_tests": {"media", "client"},  # drives the server over its public protocol only
}
OURS = set(ALLOWED) | {"tests", "web_client", "scripts"}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_every_top_level_package_is_on_the_allow_list():
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    assert packages - OURS == set(), "a new top-level package needs its arrows in ALLOWED"


def test_dependencies_follow_the_allow_list():
    problems = []
    for package, allowed in ALLOWED.items():
        if not (ROOT / package).is_dir():
            continue
        for path in sorted((ROOT / package).rglob("*.py")):
            ours = imported_packages(path) & OURS
            bad = ours - allowed - {package}
            if bad:
                problems.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert problems == []


def test_the_allow_list_itself_points_one_way():
    # no cycles among the arrows: signaling -> sfu -> media never comes back
    def reaches(start: str, goal: str, seen: frozenset[str] = frozenset()) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n}))
                   for n in ALLOWED.get(start, set()))

    assert [p for p in ALLOWED if reaches(p, p)] == []


def test_live_path_never_uses_a_transcoding_relay():
    # aiortc's decode/re-encode MediaRelay lives only in the comparison switch, off by default
    for path in list((ROOT / "sfu").rglob("*.py")) + list((ROOT / "signaling").rglob("*.py")):
        if path.name == "transcode.py":
            continue
        text = path.read_text()
        assert "MediaRelay" not in text, f"{path} uses aiortc's decode/re-encode relay"
    from silkline.config import Config

    assert Config().forwarding == "encoded"


# inside signaling/: the faces may ask the centre and the state; the centre never reaches back
# up to a face, and the state knows neither.
SIGNALING_LAYERS: dict[str, set[str]] = {
    "api": {"centre", "state", "metrics", "cluster"},
    "metrics": {"centre", "state"},
    "centre": {"state"},
    "cluster": {"centre", "state"},
    "state": set(),
}


def _signaling_layers_imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    layers: set[str] = set()
    for node in ast.walk(tree):
        module = node.module if isinstance(node, ast.ImportFrom) and node.level == 0 else None
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
        for name in ([module] if module else []) + names:
            parts = name.split(".")
            if parts[0] == "signaling" and len(parts) > 1 and parts[1] in SIGNALING_LAYERS:
                layers.add(parts[1])
    return layers


def test_signaling_layers_point_inwards():
    problems = []
    for layer, allowed in SIGNALING_LAYERS.items():
        for path in sorted((ROOT / "signaling" / layer).rglob("*.py")):
            bad = _signaling_layers_imported(path) - allowed - {layer}
            if bad:
                problems.append(f"{path.relative_to(ROOT)} imports signaling.{sorted(bad)}")
    assert problems == []
