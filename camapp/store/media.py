"""Media files: atomic writes (temp file + fsync + rename), JPEG snapshots and thumbnails."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from camapp.atomic import fsync_replace, is_temp, temp_path
from camapp.errors import StorageError
from camapp.types import Image

log = logging.getLogger(__name__)

__all__ = ["encode_jpeg", "fsync_replace", "is_temp", "temp_path", "thumbnail", "write_atomic"]


def write_atomic(path: Path, data: bytes) -> int:
    """Write `data` so `path` is either absent/old or complete, never half-written; returns its size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        tmp.write_bytes(data)
        fsync_replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    return len(data)


def _resize(image: Image, size: tuple[int, int]) -> Image:
    return np.ascontiguousarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def encode_jpeg(image: Image, quality: int, width: int = 0) -> bytes:
    """JPEG bytes, optionally resized to `width` (keeping the aspect ratio)."""
    if width and image.shape[1] != width:
        height = max(1, round(image.shape[0] * width / image.shape[1]))
        image = _resize(image, (width, height))
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise StorageError("JPEG encoding failed")
    return bytes(buf.tobytes())


def thumbnail(image: Image, box: tuple[float, float, float, float] | None, size: int) -> Image:
    """A square-ish crop around the object (with a margin), scaled so its longest side is `size`."""
    h, w = image.shape[:2]
    crop = image
    if box is not None:
        x1, y1, x2, y2 = box
        side = max(x2 - x1, y2 - y1) * 1.3 + 16
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        left, top = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
        right, bottom = int(min(w, cx + side / 2)), int(min(h, cy + side / 2))
        if right - left >= 2 and bottom - top >= 2:
            crop = image[top:bottom, left:right]
    scale = size / max(crop.shape[:2])
    out = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    return _resize(crop, out)
