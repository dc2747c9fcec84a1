"""Path safety: ids are checked against a strict pattern, and a stored or requested relative
path resolves only inside the recordings directory (no absolute paths, no ``..``, no symlink
that leads out). Every file the recorder serves or deletes goes through here."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


class UnsafePath(ValueError):
    """A path or id that would leave the recordings directory (or is malformed)."""


def check_id(value: Any, what: str = "id") -> str:
    """Return ``value`` if it is a safe id (letters, digits, ``_``, ``-``; ≤ 128), else raise."""
    if not isinstance(value, str) or not _ID.match(value):
        raise UnsafePath(f"invalid {what}: {value!r}")
    return value


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


def resolve_inside(root: str | os.PathLike[str], relative: str | os.PathLike[str]) -> Path:
    """Resolve ``relative`` (a path stored in a record, or taken from a request) strictly
    inside ``root``. Rejects empty, absolute, drive-letter, backslash, NUL and ``..`` paths,
    and any path whose real location (symlinks followed) is not below ``root``'s real
    location. The file need not exist."""
    text = os.fspath(relative)
    if not isinstance(text, str) or not text or "\x00" in text or "\\" in text:
        raise UnsafePath(f"unsafe path: {text!r}")
    pure = PurePosixPath(text)
    if pure.is_absolute() or PureWindowsPath(text).drive or text.startswith("~"):
        raise UnsafePath(f"absolute path not allowed: {text!r}")
    if any(part in ("..", ".") for part in text.split("/")) or "" in text.split("/")[:-1]:
        raise UnsafePath(f"path traversal not allowed: {text!r}")
    real_root = os.path.realpath(root)
    candidate = os.path.realpath(os.path.join(real_root, *pure.parts))
    if candidate == real_root or os.path.commonpath([real_root, candidate]) != real_root:
        raise UnsafePath(f"path leaves the recordings directory: {text!r}")
    return Path(candidate)
