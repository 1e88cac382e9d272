"""Bounded-size JPEG thumbnails of an event's object, only published when mqtt.snapshots is true."""

from __future__ import annotations

import numpy as np

from camapp.types import Image

_QUALITIES = (80, 65, 50, 35, 20)


def crop(image: Image, box: tuple[float, float, float, float], margin: float = 0.25) -> Image:
    """The object's box grown by `margin` on each side, clipped to the frame; a copy, so the frame can be reused."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = box
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    left, top = max(0, int(x1 - mx)), max(0, int(y1 - my))
    right, bottom = min(w, int(np.ceil(x2 + mx))), min(h, int(np.ceil(y2 + my)))
    if right - left < 2 or bottom - top < 2:
        return image.copy()
    return image[top:bottom, left:right].copy()


def encode(image: Image, max_side: int, max_bytes: int) -> bytes | None:
    """JPEG no larger than max_side pixels and max_bytes bytes (lowering quality, then size); None if impossible."""
    import cv2

    scale = min(1.0, max_side / max(image.shape[:2]))
    while True:
        small: Image = image
        if scale < 1.0:
            size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
            small = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
        for quality in _QUALITIES:
            ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if ok and buf.size <= max_bytes:
                return bytes(buf.tobytes())
        if max(small.shape[:2]) <= 16:
            return None
        scale *= 0.5
