"""The composer's renderer: one output picture per instant of the call (OpenCV).

Layouts: ``side_by_side`` (the roles in equal columns) or ``pip`` (``pip_main`` full frame, the
others inset bottom right). A tile shows the role's latest frame, held across short gaps; else
"no video". A recording pause shows as a "recording paused" card. Burnt in: the role on each
tile, the call id and agent name, and the wall-clock time with the elapsed time.
"""

from __future__ import annotations

import datetime
import unicodedata
from collections.abc import Callable

import cv2
import numpy as np

LAYOUTS = ("side_by_side", "pip")
Rect = tuple[int, int, int, int]  # x, y, w, h


def ascii_text(text: str) -> str:
    """What OpenCV's Hershey fonts can draw (accents dropped)."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode() or "?"


def _text(image: np.ndarray, text: str, org: tuple[int, int], scale: float = 0.5) -> None:
    cv2.putText(image, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(image, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)


def _centered(image: np.ndarray, rect: Rect, text: str) -> None:
    x, y, w, h = rect
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.6, 1)
    _text(image, text, (x + max(4, (w - tw) // 2), y + (h + th) // 2), 0.6)


def layout_rects(layout: str, width: int, height: int, roles: list[str],
                 pip_main: str = "shopper") -> dict[str, Rect]:
    """Tile rectangles (x, y, w, h) per role."""
    W, H = width, height
    if not roles:
        return {}
    if layout == "side_by_side" or len(roles) == 1:
        n = len(roles)
        tw = (W // n) & ~1
        return {role: (i * tw, 0, tw, H) for i, role in enumerate(roles)}
    main = pip_main if pip_main in roles else roles[0]
    rects = {main: (0, 0, W, H)}
    iw, ih = (W // 4) & ~1, (H // 4) & ~1
    margin = 16
    others = [r for r in roles if r != main]
    for i, role in enumerate(others):
        rects[role] = (W - margin - (i + 1) * (iw + margin) + margin, H - margin - ih, iw, ih)
    return rects


class Renderer:
    """Draws the call's output pictures onto one reused canvas."""

    def __init__(self, layout: str, width: int, height: int, roles: list[str], *,
                 pip_main: str = "shopper", header: str = "", burn_in: bool = True) -> None:
        self.layout = layout
        self.width, self.height = width, height
        self.rects = layout_rects(layout, width, height, roles, pip_main)
        self.header = header
        self.burn_in = burn_in
        self.canvas = np.zeros((height, width, 3), np.uint8)

    def draw(self, t: float, wall: float, paused: bool,
             tile: Callable[[str, int, int], np.ndarray | None]) -> bool:
        """Render call time ``t`` (``wall``: the same instant, epoch seconds); ``tile(role, w,
        h)`` gives a role's picture or None. True if every role had a picture."""
        canvas = self.canvas
        canvas.fill(0)
        all_live = True
        for role, rect in self.rects.items():
            x, y, w, h = rect
            image = tile(role, w, h)
            if image is None or paused:
                all_live = False
                if w < self.width:  # inset/side tile: mark its place
                    cv2.rectangle(canvas, (x, y), (x + w - 1, y + h - 1), (60, 60, 60), 1)
                if not paused:
                    _centered(canvas, rect, "no video")
            else:
                canvas[y : y + h, x : x + w] = image
                if w < self.width and self.layout == "pip":
                    cv2.rectangle(canvas, (x, y), (x + w - 1, y + h - 1), (255, 255, 255), 1)
            if self.burn_in:
                _text(canvas, role, (x + 8, y + h - 10))
        if paused:
            _centered(canvas, (0, 0, self.width, self.height), "recording paused")
        if self.burn_in:
            now = datetime.datetime.fromtimestamp(wall, datetime.UTC)
            elapsed = f"{int(t // 3600):d}:{int(t // 60) % 60:02d}:{t % 60:04.1f}"
            _text(canvas, self.header, (8, 20))
            stamp = now.strftime("%Y-%m-%d %H:%M:%S UTC") + "  +" + elapsed
            (tw, _), _ = cv2.getTextSize(stamp, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
            _text(canvas, stamp, (self.width - tw - 8, 20))
        return all_live
