"""Where to run the detector: square crops around clusters of motion and around tracked objects.

A crop of about the model's input size shows a small, distant person at native resolution, where a
downscaled whole frame would shrink them below what the model can see.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from camapp.detect import Region  # x1, y1, x2, y2 in full-frame pixels

__all__ = ["FULL_FRAME_COVER", "MARGIN", "Region", "plan_regions", "union_area"]

Boxes = npt.NDArray[np.float64]
BoxesLike = npt.ArrayLike | Sequence[Sequence[float]]

MARGIN = 1.35  # region side relative to its cluster's longer side, so the whole object fits with context
FULL_FRAME_COVER = 0.75  # regions covering this much of the frame cost more than one whole-frame pass


def plan_regions(  # noqa: PLR0913 - the pipeline's agreed signature; sizes are keyword-only
    motion_boxes: BoxesLike,
    object_boxes: BoxesLike,
    frame_w: int,
    frame_h: int,
    *,
    model_size: int,
    min_region: int = 0,
    max_regions: int = 4,
) -> list[Region]:
    """Square crops (at least min_region, or model_size when 0) around motion and tracked objects, inside the frame.

    Crops overlapping so much that one crop of both costs no more pixels than the two are merged; then the
    closest are joined until at most max_regions remain; the whole frame is returned instead when the crops
    would cover most of it. No boxes means no regions.
    """
    _check_sizes(frame_w, frame_h, model_size, min_region, max_regions)
    boxes = np.concatenate(
        [_clean(motion_boxes, "motion_boxes", frame_w, frame_h), _clean(object_boxes, "object_boxes", frame_w, frame_h)]
    )
    if not len(boxes):
        return []
    side = min_region or model_size
    clusters = _cluster(boxes, side / MARGIN)
    regions = [_square(c, side, MARGIN, frame_w, frame_h) for c in clusters]
    regions = _merge(regions, frame_w, frame_h, max_regions)
    enough = FULL_FRAME_COVER * frame_w * frame_h
    if sum(map(_area, regions)) >= enough and union_area(regions) >= enough:
        return [(0, 0, frame_w, frame_h)]
    return sorted(regions)


def prefer_whole_frame(
    regions: list[Region], boxes: BoxesLike, frame_w: int, frame_h: int, *, model_size: int, min_object_px: int
) -> list[Region]:
    """One whole-frame pass instead of several crops when every moving box would still be at least
    `min_object_px` tall at model resolution: on a busy scene with big objects, N crops cost N invokes for nothing.
    """
    if len(regions) < 2 or min_object_px <= 0:
        return regions
    arr = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if not len(arr):  # the caller dropped every box as too small to hold a detectable object
        return [(0, 0, frame_w, frame_h)]
    scale = max(frame_w, frame_h) / model_size
    smallest = float(np.min(arr[:, 3] - arr[:, 1]))
    return [(0, 0, frame_w, frame_h)] if smallest / scale >= min_object_px else regions


def union_area(regions: Sequence[Region]) -> int:
    """Exact area covered by the union of the regions (coordinate compression, so it is cheap for a few)."""
    if not regions:
        return 0
    r = np.asarray(regions, dtype=np.int64)
    xs = np.unique(r[:, [0, 2]])
    ys = np.unique(r[:, [1, 3]])
    covered = np.zeros((len(ys) - 1, len(xs) - 1), dtype=bool)
    for x1, y1, x2, y2 in r:
        rows = slice(np.searchsorted(ys, y1), np.searchsorted(ys, y2))
        covered[rows, np.searchsorted(xs, x1) : np.searchsorted(xs, x2)] = True
    cell_areas = np.outer(np.diff(ys), np.diff(xs))
    return int(cell_areas[covered].sum())


def _check_sizes(frame_w: int, frame_h: int, model_size: int, min_region: int, max_regions: int) -> None:
    if frame_w < 1 or frame_h < 1:
        raise ValueError(f"plan_regions: frame size must be positive, got {frame_w}x{frame_h}")
    if model_size < 1 or min_region < 0:
        raise ValueError(f"plan_regions: model_size must be >= 1 and min_region >= 0, got {model_size}, {min_region}")
    if max_regions < 1:
        raise ValueError(f"plan_regions: max_regions must be >= 1, got {max_regions}")


def _clean(boxes: BoxesLike, name: str, frame_w: int, frame_h: int) -> Boxes:
    """Boxes as an (N, 4) float array clipped to the frame; boxes wholly outside it are dropped."""
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, 4), np.float64)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"plan_regions: {name} must have shape (N, 4) as x1, y1, x2, y2; got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"plan_regions: {name} contains NaN or infinite coordinates")
    lo = np.minimum(arr[:, :2], arr[:, 2:])
    hi = np.maximum(arr[:, :2], arr[:, 2:])
    inside = (hi[:, 0] > 0) & (lo[:, 0] < frame_w) & (hi[:, 1] > 0) & (lo[:, 1] < frame_h)
    limits = np.array([frame_w, frame_h], dtype=np.float64)
    return np.concatenate([np.clip(lo, 0, limits), np.clip(hi, 0, limits)], axis=1)[inside]


def _longer_side(box: Sequence[float] | Boxes) -> float:
    return float(max(box[2] - box[0], box[3] - box[1]))


def _union(a: Sequence[float], b: Sequence[float]) -> list[float]:
    return [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]


def _cluster(boxes: Boxes, max_side: float) -> list[list[float]]:
    """Greedy clusters, biggest boxes first: a box joins a cluster if their union still fits one small region."""
    order = np.argsort(-(boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), kind="stable")
    clusters: list[list[float]] = []
    for box in boxes[order].tolist():
        best, best_side = -1, float("inf")
        for i, cluster in enumerate(clusters):
            grown = _longer_side(_union(cluster, box))
            if grown <= max(max_side, _longer_side(cluster)) and grown < best_side:
                best, best_side = i, grown
        if best < 0:
            clusters.append(box)
        else:
            clusters[best] = _union(clusters[best], box)
    return clusters


def _square(box: Sequence[float], min_side: float, margin: float, frame_w: int, frame_h: int) -> Region:
    """A square centred on box, side max(min_side, margin * longer side), shifted (and cut) to fit the frame."""
    side = max(min_side, margin * _longer_side(box))
    width, height = min(round(side), frame_w), min(round(side), frame_h)
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    x1 = int(min(max(round(cx - width / 2), 0), frame_w - width))
    y1 = int(min(max(round(cy - height / 2), 0), frame_h - height))
    return x1, y1, x1 + width, y1 + height


def _area(region: Region) -> int:
    return (region[2] - region[0]) * (region[3] - region[1])


def _pair_to_merge(regions: list[Region], frame_w: int, frame_h: int, max_regions: int) -> tuple[int, int] | None:
    """A pair whose joint crop costs no more pixels than the two apart (so resolution drops <= 1.4x); else,
    while there are too many regions, the pair whose joint crop is smallest."""
    costs = []  # (extra pixels when joined, joined pixels, pair)
    for i in range(len(regions)):
        for j in range(i + 1, len(regions)):
            joined = _area(_square(_union(regions[i], regions[j]), 0, 1.0, frame_w, frame_h))
            costs.append((joined - _area(regions[i]) - _area(regions[j]), joined, (i, j)))
    if not costs:
        return None
    extra, _, pair = min(costs)
    if extra <= 0:
        return pair
    if len(regions) > max_regions:
        return min(costs, key=lambda c: c[1])[2]
    return None


def _merge(regions: list[Region], frame_w: int, frame_h: int, max_regions: int) -> list[Region]:
    """Join regions that overlap enough to be cheaper together, then the closest until at most max_regions remain."""
    while (pair := _pair_to_merge(regions, frame_w, frame_h, max_regions)) is not None:
        i, j = pair
        joined = _square(_union(regions[i], regions[j]), 0, 1.0, frame_w, frame_h)
        regions = [r for k, r in enumerate(regions) if k not in (i, j)] + [joined]
    return regions
