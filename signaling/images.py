"""ImageGuard: an uploaded picture is judged by its declared size before it is decoded.

A 100-byte PNG or JPEG can declare 30000x30000 pixels, and a decoder would try to allocate
gigabytes for it. Pillow's ``Image.open`` reads only the header (PNG IHDR, JPEG SOFn, WebP
VP8/VP8L/VP8X, GIF screen descriptor), so the width and height are checked against the caps
first; only then is the picture decoded, at most ``max_concurrent`` at a time per node, so
the memory decoding may take is bounded by caps x decoders. Whatever the library raises on a
malformed file is ``not_an_image``, never an internal error.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
_BYTES_PER_PIXEL = 4  # the widest mode a photo is decoded to (RGBA) before becoming BGR


class ImageRejected(ValueError):
    """A stable error code (``not_an_image``, ``image_too_large``) and a sentence for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ImageLimits:
    max_pixels: int = 40_000_000
    max_side: int = 8000

    def __post_init__(self) -> None:
        if self.max_pixels <= 0 or self.max_side <= 0:
            raise ValueError("image limits must be positive")


@dataclass(frozen=True)
class ImageHeader:
    format: str
    width: int
    height: int


class ImageGuard:
    def __init__(self, limits: ImageLimits | None = None, max_concurrent: int = 2) -> None:
        if max_concurrent < 1:
            raise ValueError("at least one decoder is needed")
        self.limits = limits or ImageLimits()
        self.max_concurrent = max_concurrent
        self._decoders = threading.BoundedSemaphore(max_concurrent)

    @property
    def memory_bound(self) -> int:
        """About the most the decoders hold at once: a capped picture in its widest mode and
        its BGR copy, per decoder."""
        return self.limits.max_pixels * (_BYTES_PER_PIXEL + 3) * self.max_concurrent

    def inspect(self, data: bytes) -> ImageHeader:
        """The declared format and size, from the header alone; raises ImageRejected."""
        with self._open(data) as image:
            return self._check(image)

    def decode(self, data: bytes) -> np.ndarray:
        """The picture as a BGR array (EXIF orientation applied), once its header passes.
        Blocking: run it off the event loop."""
        with self._open(data) as image:
            self._check(image)
            with self._decoders:
                try:
                    image.load()
                    upright = ImageOps.exif_transpose(image)
                    rgb = upright.convert("RGB")
                except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
                    raise ImageRejected("not_an_image", "the file is not a readable image") from exc
                return np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1])

    def _open(self, data: bytes) -> Image.Image:
        try:
            # raises DecompressionBombError far above our caps; below that, _check judges
            return Image.open(io.BytesIO(data), formats=FORMATS)
        except Image.DecompressionBombError as exc:
            raise ImageRejected("image_too_large", self._limits_text("far too many")) from exc
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
            raise ImageRejected("not_an_image", "only JPEG, PNG, WebP and GIF pictures are accepted") from exc

    def _check(self, image: Image.Image) -> ImageHeader:
        width, height = image.size
        if width <= 0 or height <= 0:
            raise ImageRejected("not_an_image", "the picture declares no pixels")
        limits = self.limits
        if width > limits.max_side or height > limits.max_side or width * height > limits.max_pixels:
            raise ImageRejected("image_too_large", self._limits_text(f"{width}x{height}"))
        return ImageHeader(str(image.format), width, height)

    def _limits_text(self, declared: str) -> str:
        return (f"pictures are limited to {self.limits.max_side} px a side and "
                f"{self.limits.max_pixels / 1e6:g} megapixels (this one declares {declared} pixels)")
