"""Draw detections, track ids, motion regions and zones onto a copy of a frame."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from camapp.types import FrameResult, Image

_PALETTE = [(255, 56, 56), (56, 56, 255), (56, 200, 56), (255, 157, 151), (0, 194, 255), (255, 112, 31)]


@dataclass(frozen=True)
class Overlay:
    """Which layers to draw."""

    boxes: bool = True
    motion: bool = False  # motion boxes are for tuning; off unless asked for
    zones: bool = True


def score_text(score: float) -> str:
    """A score as every page shows it: a whole percentage."""
    return f"{round(100 * score)}%"


def _colour(key: int) -> tuple[int, int, int]:
    return _PALETTE[key % len(_PALETTE)]


def annotate(
    result: FrameResult,
    overlay: Overlay = Overlay(),
    zones: Sequence[tuple[str, Sequence[tuple[float, float]]]] = (),
) -> Image:
    """Return an annotated copy of the frame (BGR)."""
    img = result.frame.image.copy()
    if overlay.zones:
        for name, poly in zones:
            pts = np.asarray(poly, dtype=np.int32).reshape(-1, 1, 2)
            cv2.polylines(img, [pts], True, (0, 215, 255), 2)
            x, y = pts[0, 0]
            cv2.putText(img, name, (int(x) + 4, int(y) + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 215, 255), 1)
    if overlay.motion:
        for x1, y1, x2, y2 in result.motion.boxes:
            cv2.rectangle(img, (int(x1), int(y1)), (int(x2), int(y2)), (0, 0, 255), 1)
    if overlay.boxes:
        for obj in result.objects:
            x1, y1, x2, y2 = (int(v) for v in obj.box)
            colour = _colour(obj.track_id)
            cv2.rectangle(img, (x1, y1), (x2, y2), colour, 2)
            text = f"{obj.label} {score_text(obj.score)} #{obj.track_id}"  # as the Live page lists it
            (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
            cv2.rectangle(img, (x1, max(0, y1 - th - 6)), (x1 + tw + 4, y1), colour, -1)
            cv2.putText(img, text, (x1 + 2, max(th, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
    if not result.detection_enabled:
        _banner(img, "DETECTION OFF")
    return img


def _banner(img: Image, text: str) -> None:
    """A label in the top-left corner that no overlay setting hides (a state the viewer must know about)."""
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.7, 2)
    cv2.rectangle(img, (0, 0), (tw + 12, th + 14), (0, 0, 160), -1)
    cv2.putText(img, text, (6, th + 6), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2)


def draw_detections(image: Image, dets_boxes: np.ndarray, labels: Sequence[str], scores: np.ndarray) -> Image:
    """Annotate a still image with raw detections (used by `camapp detect --out`)."""
    img = image.copy()
    for i, (box, label, score) in enumerate(zip(dets_boxes, labels, scores, strict=True)):
        x1, y1, x2, y2 = (int(v) for v in box)
        cv2.rectangle(img, (x1, y1), (x2, y2), _colour(i), 2)
        cv2.putText(img, f"{label} {score:.2f}", (x1 + 2, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    _colour(i), 1)
    return img
