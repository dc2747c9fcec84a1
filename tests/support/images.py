"""Pictures for the upload tests: real ones made with Pillow, and tiny files whose headers
declare a huge size (PNG IHDR, JPEG SOF0/SOF2, WebP VP8 frame header, GIF screen)."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

RED = (200, 10, 10)


def picture(fmt: str, size: tuple[int, int] = (16, 12), **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, RED).save(buffer, fmt, **options)
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def jpeg_claiming(width: int, height: int, progressive: bool = False) -> bytes:
    data = bytearray(picture("JPEG", progressive=progressive))
    sof = data.index(b"\xff\xc2" if progressive else b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)  # after length and precision
    return bytes(data)


def webp_claiming(width: int, height: int) -> bytes:
    data = bytearray(picture("WEBP"))
    start = data.index(b"\x9d\x01\x2a")  # the VP8 key frame start code
    data[start + 3:start + 7] = struct.pack("<HH", width, height)
    return bytes(data)


def gif_claiming(width: int, height: int) -> bytes:
    data = bytearray(picture("GIF"))
    data[6:10] = struct.pack("<HH", width, height)  # the logical screen descriptor
    return bytes(data)
