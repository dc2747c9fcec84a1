"""Photos in a call (a shopper's picture of the damaged item, an agent's snapshot).

Uploads are size-limited, judged by their declared dimensions and decoded by the
ImageGuard (signaling/images.py) to prove they are really images, and re-encoded as JPEG,
which also strips metadata such as GPS positions. Files live under
``data_dir/photos/<call_id>/<photo_id>.jpg``; ids are generated here, never taken from a request.
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from pathlib import Path

import numpy as np

from media.snapshot import to_jpeg
from signaling.errors import ErrorCode, SignalingError
from signaling.images import ImageGuard, ImageRejected

MAX_PHOTO_BYTES = 5 * 1024 * 1024
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _decode(guard: ImageGuard, data: bytes) -> np.ndarray:
    if len(data) > MAX_PHOTO_BYTES:
        raise SignalingError(ErrorCode.TOO_LARGE, f"photos are limited to {MAX_PHOTO_BYTES // (1024 * 1024)} MB")
    try:
        return guard.decode(data)
    except ImageRejected as exc:
        raise SignalingError(ErrorCode.from_code(exc.code), exc.message) from exc


class PhotoStore:
    def __init__(self, root: Path, guard: ImageGuard | None = None) -> None:
        self.root = Path(root)
        self.guard = guard or ImageGuard()

    def _path(self, call_id: str, photo_id: str) -> Path:
        if not _ID.match(call_id) or not _ID.match(photo_id):
            raise SignalingError(ErrorCode.NOT_FOUND, "no such photo")
        return self.root / call_id / f"{photo_id}.jpg"

    async def save_upload(self, call_id: str, data: bytes) -> tuple[str, int, int]:
        """Validate and store an uploaded photo; returns (photo_id, width, height)."""
        loop = asyncio.get_running_loop()
        image = await loop.run_in_executor(None, _decode, self.guard, data)
        return await self.save_image(call_id, image)

    async def save_image(self, call_id: str, image: np.ndarray) -> tuple[str, int, int]:
        photo_id = "p_" + uuid.uuid4().hex[:12]
        path = self._path(call_id, photo_id)
        loop = asyncio.get_running_loop()
        jpeg = await loop.run_in_executor(None, to_jpeg, image)
        await loop.run_in_executor(None, _write_atomic, path, jpeg)
        return photo_id, int(image.shape[1]), int(image.shape[0])

    def open(self, call_id: str, photo_id: str) -> Path:
        path = self._path(call_id, photo_id)
        if not path.is_file():
            raise SignalingError(ErrorCode.NOT_FOUND, "no such photo")
        return path

    def delete_call(self, call_id: str) -> int:
        folder = self.root / call_id
        if not _ID.match(call_id) or not folder.is_dir():
            return 0
        count = 0
        for file in folder.glob("*.jpg"):
            file.unlink()
            count += 1
        folder.rmdir()
        return count


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
