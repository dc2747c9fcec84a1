"""The composer's renderer: one output picture per instant of the call (OpenCV).

Layouts: ``side_by_side`` (the roles in equal columns) or ``pip`` (``pip_main`` full frame, the
others inset bottom right). A tile shows the role's latest frame, held across short gaps; else
"no video". A recording pause shows as a "recording paused" card. Burnt in: the role on each
tile, the call id and agent name, and the wall-clock time with the elapsed time.

Annotation marks (:mod:`media.annotation`) are drawn on the picture of the party they were
drawn on: their points are normalized to the picture as that party sent it, so they map onto
the picture area of its tile (inside any letterbox bars), whatever the layout or inset. Line
widths and sizes scale with the picture, so a mark reads the same in a PiP inset as full frame;
a fading mark is blended in at its opacity. Nothing is drawn, nor copied, while no mark shows.
"""

from __future__ import annotations

import datetime
import math
import unicodedata
from collections.abc import Callable, Sequence

import cv2
import numpy as np

from media.annotation import Annotation, AnnotationLayer, VisibleMark

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
                 pip_main: str = "shopper", header: str = "", burn_in: bool = True,
                 annotations: AnnotationLayer | None = None) -> None:
        self.layout = layout
        self.width, self.height = width, height
        self.rects = layout_rects(layout, width, height, roles, pip_main)
        self.header = header
        self.burn_in = burn_in
        self.canvas = np.zeros((height, width, 3), np.uint8)
        self.annotations = annotations if annotations is not None and len(annotations) else None

    def draw(self, t: float, wall: float, paused: bool,
             tile: Callable[[str, int, int], np.ndarray | None],
             picture: Callable[[str], Rect | None] | None = None) -> bool:
        """Render call time ``t`` (``wall``: the same instant, epoch seconds); ``tile(role, w,
        h)`` gives a role's picture or None; ``picture(role)`` where in that tile the picture
        sits (default: all of it). True if every role had a picture."""
        canvas = self.canvas
        canvas.fill(0)
        all_live = True
        shown = self.annotations.targets_at(t) if self.annotations is not None else {}
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
                if role in shown:
                    px, py, pw, ph = (picture(role) if picture is not None else None) or (0, 0, w, h)
                    draw_marks(canvas, (x + px, y + py, pw, ph), shown[role])
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


# --- annotation marks ----------------------------------------------------------------------------
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def draw_marks(canvas: np.ndarray, picture: Rect, marks: Sequence[VisibleMark]) -> None:
    """Draw ``marks`` (oldest first) onto the ``picture`` area (canvas pixels) of ``canvas``."""
    x, y, w, h = picture
    if w < 2 or h < 2 or not marks:
        return
    area = canvas[y : y + h, x : x + w]  # a view: drawing on it draws on the canvas
    thickness = max(2, round(min(w, h) / 120))
    for mark in marks:
        if mark.opacity >= 0.999:
            _mark(area, mark.annotation, thickness)
        else:
            layer = area.copy()
            _mark(layer, mark.annotation, thickness)
            area[:] = cv2.addWeighted(layer, mark.opacity, area, 1.0 - mark.opacity, 0.0)


def _px(area: np.ndarray, point: tuple[float, float]) -> tuple[int, int]:
    h, w = area.shape[:2]
    return min(w - 1, round(point[0] * (w - 1))), min(h - 1, round(point[1] * (h - 1)))


def _mark(area: np.ndarray, mark: Annotation, thickness: int) -> None:
    color = mark.bgr
    points = [_px(area, p) for p in mark.points]
    if mark.shape == "pointer":
        centre = points[0]
        cv2.circle(area, centre, thickness * 5, color, thickness, cv2.LINE_AA)
        cv2.circle(area, centre, round(thickness * 2.5), color, -1, cv2.LINE_AA)
    elif mark.shape == "arrow":
        tail, head = points
        length = math.dist(tail, head)
        if length < 1:
            cv2.circle(area, head, thickness, color, -1, cv2.LINE_AA)
            return
        tip = min(0.5, thickness * 6 / length)
        cv2.arrowedLine(area, tail, head, color, thickness, cv2.LINE_AA, tipLength=tip)
    elif mark.shape == "circle":
        centre, rim = points
        radius = max(thickness, round(math.dist(centre, rim)))
        cv2.circle(area, centre, radius, color, thickness, cv2.LINE_AA)
    elif mark.shape == "pen":
        line = np.array(points, np.int32).reshape(-1, 1, 2)
        cv2.polylines(area, [line], False, color, thickness, cv2.LINE_AA)
    elif mark.shape == "text":
        _label(area, points[0], ascii_text(mark.text or ""), color, thickness)


def _label(area: np.ndarray, anchor: tuple[int, int], text: str, color: tuple[int, int, int],
           thickness: int) -> None:
    """The text in its colour on a dark box whose top-left is the anchor, kept on the picture."""
    h, w = area.shape[:2]
    scale = max(0.4, min(w, h) / 400)
    weight = max(1, thickness // 2)
    (tw, th), base = cv2.getTextSize(text, _FONT, scale, weight)
    pad = max(3, th // 3)
    bw, bh = tw + 2 * pad, th + base + 2 * pad
    x = max(0, min(anchor[0], w - bw))
    y = max(0, min(anchor[1], h - bh))
    cv2.rectangle(area, (x, y), (x + bw, y + bh), (20, 20, 20), -1)
    cv2.putText(area, text, (x + pad, y + pad + th), _FONT, scale, color, weight, cv2.LINE_AA)
