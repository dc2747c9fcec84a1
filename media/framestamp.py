"""A frame counter drawn into the picture, readable after lossy VP8/H.264 coding.

Two rows of 32 blocks at the top of the frame: the counter's bits, then their complement,
so a reader can tell a damaged or missing stamp from a real value.
"""

from __future__ import annotations

import numpy as np

BITS = 32
ROWS = 2


def _block_size(width: int) -> int:
    return max(4, width // BITS)


def stamp(image: np.ndarray, counter: int) -> None:
    """Draw ``counter`` (mod 2**32) into the top rows of an HxWx3 uint8 image, in place."""
    size = _block_size(image.shape[1])
    value = counter & 0xFFFFFFFF
    for bit in range(BITS):
        on = (value >> (BITS - 1 - bit)) & 1
        x = bit * size
        image[0:size, x : x + size] = 255 if on else 0
        image[size : 2 * size, x : x + size] = 0 if on else 255


def read(image: np.ndarray) -> int | None:
    """Return the stamped counter, or None when the stamp is unreadable."""
    size = _block_size(image.shape[1])
    if image.shape[0] < ROWS * size or image.shape[1] < BITS * size:
        return None
    gray = image.mean(axis=2) if image.ndim == 3 else image
    margin = size // 4
    value = 0
    for bit in range(BITS):
        x = bit * size
        top = gray[margin : size - margin, x + margin : x + size - margin].mean()
        bottom = gray[size + margin : 2 * size - margin, x + margin : x + size - margin].mean()
        top_on, bottom_on = top > 128, bottom > 128
        if top_on == bottom_on:
            return None
        value = (value << 1) | int(top_on)
    return value
