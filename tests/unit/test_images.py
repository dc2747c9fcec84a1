"""ImageGuard: declared dimensions are judged from the header before anything is decoded;
every malformed file is not_an_image; good pictures decode to BGR the right way up."""

from __future__ import annotations

import numpy as np
import pytest

from signaling.images import ImageGuard, ImageLimits, ImageRejected
from tests.support.images import (
    gif_claiming,
    jpeg_claiming,
    picture,
    png_claiming,
    webp_claiming,
)


@pytest.mark.parametrize("data", [
    png_claiming(30000, 30000),
    jpeg_claiming(30000, 30000),
    jpeg_claiming(30000, 30000, progressive=True),
    webp_claiming(16000, 16000),
    gif_claiming(30000, 30000),
    png_claiming(7000, 7000),  # 49 MP: over the pixel cap, under Pillow's own bomb limit
    png_claiming(9000, 2),  # over the side cap
    webp_claiming(9000, 10),
], ids=["png", "jpeg", "jpeg-progressive", "webp", "gif", "png-49mp", "png-wide", "webp-wide"])
def test_oversize_declarations_are_refused_from_the_header(data):
    assert len(data) < 2000
    with pytest.raises(ImageRejected) as caught:
        ImageGuard().decode(data)
    assert caught.value.code == "image_too_large"
    assert "8000 px" in caught.value.message


@pytest.mark.parametrize("data", [
    picture("PNG", (300, 200))[:200],
    picture("JPEG", (300, 200))[:300],
    bytes(np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8)),
    b"",
    b"GIF89a....",
    png_claiming(100, 100),  # its IDAT holds far fewer pixels than declared
    picture("BMP"),  # a real picture, but not one of ours
], ids=["png-truncated", "jpeg-truncated", "random", "empty", "gif-stub", "png-short", "bmp"])
def test_malformed_files_are_not_an_image(data):
    with pytest.raises(ImageRejected) as caught:
        ImageGuard().decode(data)
    assert caught.value.code == "not_an_image"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF"])
def test_good_pictures_decode_to_bgr(fmt):
    image = ImageGuard().decode(picture(fmt, (16, 12)))
    assert image.shape == (12, 16, 3)
    blue, green, red = (int(v) for v in image[6, 8])
    assert red > 180 and blue < 40 and green < 40


def test_limits_are_configurable_and_inspect_reads_only_the_header():
    guard = ImageGuard(ImageLimits(max_pixels=100, max_side=20))
    assert guard.inspect(picture("PNG", (10, 10))).width == 10
    with pytest.raises(ImageRejected):
        guard.inspect(picture("PNG", (11, 10)))
    with pytest.raises(ImageRejected):
        guard.inspect(picture("PNG", (21, 1)))
    header = ImageGuard().inspect(png_claiming(4000, 3000))  # declared, never decoded
    assert (header.format, header.width, header.height) == ("PNG", 4000, 3000)
    assert ImageGuard().memory_bound < 1 << 30
