"""A cheap appearance signature for a detected box: colour histograms of its upper and lower half.

Two people walking side by side, or crossing, have boxes that overlap and motion that agrees; what tells them apart
is that one wears a red jacket and the other a grey coat (DeepSORT's lesson, without its neural network: a
hue/saturation histogram costs well under a millisecond per box on a Pi). Pure numpy plus OpenCV's colour
conversion.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from camapp.geometry import Box
from camapp.types import Image

Signature = npt.NDArray[np.float32]

HUE_BINS, SAT_BINS = 8, 4
INNER = 0.6  # central share of the box width used: the edges are mostly background
MIN_SIDE = 4  # pixels; smaller crops give no signature


def signature(image: Image, box: Box) -> Signature | None:
    """Normalised hue/saturation histograms of the box's upper and lower half (torso, legs), or None if too small."""
    x1, y1, x2, y2 = box
    margin = (x2 - x1) * (1 - INNER) / 2
    h, w = image.shape[:2]
    ix1, ix2 = max(int(x1 + margin), 0), min(int(x2 - margin), w)
    iy1, iy2 = max(int(y1), 0), min(int(y2), h)
    if ix2 - ix1 < MIN_SIDE or iy2 - iy1 < 2 * MIN_SIDE:
        return None
    hsv = np.asarray(cv2.cvtColor(np.ascontiguousarray(image[iy1:iy2, ix1:ix2]), cv2.COLOR_BGR2HSV), np.uint8)
    mid = (iy2 - iy1) // 2
    parts = [_histogram(hsv[:mid]), _histogram(hsv[mid:])]
    return np.concatenate(parts).astype(np.float32)


def _histogram(hsv: npt.NDArray[np.uint8]) -> npt.NDArray[np.float64]:
    # Grey pixels (the lowest saturation bin) have no meaningful hue: they all count in the first hue bin.
    hsv[..., 0][hsv[..., 1] < 256 // SAT_BINS] = 0
    counts = cv2.calcHist([hsv], [0, 1], None, [HUE_BINS, SAT_BINS], [0, 180, 0, 256]).ravel().astype(np.float64)
    total = max(float(counts.sum()), 1.0)
    return np.asarray(counts / total, dtype=np.float64)


def distance(a: Signature, b: Signature) -> float:
    """0 for identical colour distributions, 1 for disjoint ones (Hellinger distance, averaged over the halves)."""
    bc = float(np.sum(np.sqrt(a * b))) / 2.0  # each half sums to 1, so the coefficient sums to at most 2
    return float(np.sqrt(max(1.0 - bc, 0.0)))
