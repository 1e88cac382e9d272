"""Small plane-geometry helpers shared by filters, tracking and zones (pure numpy)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

Box = tuple[float, float, float, float]
Point = tuple[float, float]
FloatArray = npt.NDArray[np.float64]
Points = Sequence[Sequence[float]] | FloatArray
BoolArray = npt.NDArray[np.bool_]


def as_polygon(points: Points) -> FloatArray:
    """Vertices as an (N, 2) float array; raises ValueError for fewer than 3 points."""
    arr = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(arr) < 3:
        raise ValueError(f"a polygon needs at least 3 points, got {len(arr)}")
    return arr


def polygon_area(points: Points) -> float:
    """Unsigned area by the shoelace formula."""
    arr = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    x, y = arr[:, 0], arr[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def _inside(poly: FloatArray, x: float, y: float) -> bool:
    """Even-odd ray casting; points exactly on an edge may go either way (the distance is 0 there anyway)."""
    x1, y1 = poly[:, 0], poly[:, 1]
    x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
    crosses = (y1 > y) != (y2 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
    return bool(np.count_nonzero(crosses & (x < x_at)) % 2 == 1)


def _edge_distance(poly: FloatArray, x: float, y: float, edges: BoolArray | None) -> float:
    """Euclidean distance from the point to the nearest polygon edge (of those selected by `edges`)."""
    a = poly
    b = np.roll(poly, -1, axis=0)
    if edges is not None:
        a, b = a[edges], b[edges]
        if not len(a):
            return float("inf")
    ab = b - a
    p = np.array([x, y], dtype=np.float64)
    length2 = np.einsum("ij,ij->i", ab, ab)
    t = np.where(length2 > 0, np.einsum("ij,ij->i", p - a, ab) / np.where(length2 > 0, length2, 1.0), 0.0)
    nearest = a + np.clip(t, 0.0, 1.0)[:, None] * ab
    return float(np.min(np.hypot(nearest[:, 0] - x, nearest[:, 1] - y)))


def signed_distance(poly: FloatArray, point: Point, edges: BoolArray | None = None) -> float:
    """Distance from the point to the polygon's edge: positive inside, negative outside (like cv2.pointPolygonTest).

    `edges[i]` selects whether edge i (vertex i to i + 1) counts for the distance; None counts every edge.
    """
    x, y = float(point[0]), float(point[1])
    d = _edge_distance(poly, x, y, edges)
    # a point on the boundary counts as inside (feet on the bottom border of a zone drawn to the frame edge)
    inside = _inside(poly, x, y) or (edges is not None and _edge_distance(poly, x, y, None) <= 1e-9)
    return d if inside else -d


def inner_edges(poly: FloatArray, frame_size: tuple[int, int] | None = None) -> BoolArray:
    """Edges that are real boundaries: not lying along (or beyond) the frame border, where nothing can stand outside.

    Without frame_size only the top and left borders (0) are known.
    """
    a, b = poly, np.roll(poly, -1, axis=0)
    on_border = ((a[:, 0] <= 0) & (b[:, 0] <= 0)) | ((a[:, 1] <= 0) & (b[:, 1] <= 0))
    if frame_size is not None:
        w, h = frame_size
        on_border |= ((a[:, 0] >= w) & (b[:, 0] >= w)) | ((a[:, 1] >= h) & (b[:, 1] >= h))
    return np.asarray(~on_border, dtype=np.bool_)


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two x1, y1, x2, y2 boxes; 0 when either is empty."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def box_area(box: Box) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def covered_fraction(box: Box, region: Sequence[float]) -> float:
    """Fraction of the box's area that lies inside the region box (0 for an empty box)."""
    area = box_area(box)
    if area <= 0:
        return 0.0
    iw = min(box[2], region[2]) - max(box[0], region[0])
    ih = min(box[3], region[3]) - max(box[1], region[1])
    return float(max(0.0, iw) * max(0.0, ih) / area)


def centre(box: Box) -> Point:
    return ((box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0)


def bottom_centre(box: Box) -> Point:
    return ((box[0] + box[2]) / 2.0, box[3])


def in_frame(point: Point, frame_size: tuple[int, int]) -> bool:
    """Whether the point lies in the frame (its border included)."""
    return 0.0 <= point[0] <= frame_size[0] and 0.0 <= point[1] <= frame_size[1]


def _first_crossing(poly: FloatArray) -> tuple[int, int] | None:
    """The first pair (i, j), i < j, of non-adjacent edges that properly cross (touching at an end does not count).

    All pairs at once with numpy: a config may hold dozens of 100-point polygons, and a Python double loop over
    each one's ~5,000 edge pairs made validating it take seconds.
    """
    a, b = poly, np.roll(poly, -1, axis=0)

    def orient(p: FloatArray, q: FloatArray, r: FloatArray) -> FloatArray:  # sign of (q - p) x (r - p)
        return np.asarray((q[..., 0] - p[..., 0]) * (r[..., 1] - p[..., 1])
                          - (q[..., 1] - p[..., 1]) * (r[..., 0] - p[..., 0]))

    ai, bi, aj, bj = a[:, None], b[:, None], a[None, :], b[None, :]
    crosses = (orient(aj, bj, ai) * orient(aj, bj, bi) < 0) & (orient(ai, bi, aj) * orient(ai, bi, bj) < 0)
    n = len(poly)
    idx = np.arange(n)
    far = (idx[None, :] - idx[:, None] >= 2) & ~((idx[:, None] == 0) & (idx[None, :] == n - 1))
    hits = np.argwhere(crosses & far)
    return (int(hits[0][0]), int(hits[0][1])) if len(hits) else None


def polygon_problem(points: Points, max_points: int = 100) -> str | None:
    """Why these vertices are not a usable simple polygon, or None when they are (used by config validation)."""
    arr = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    n = len(arr)
    if n < 3:
        return f"a polygon needs at least 3 points, got {n}"
    if n > max_points:
        return f"a polygon may have at most {max_points} points, got {n}"
    if not np.all(np.isfinite(arr)):
        return "polygon coordinates must be finite numbers"
    crossing = _first_crossing(arr)  # neighbouring edges share a vertex, so only pairs two or more apart count
    if crossing is not None:
        i, j = crossing
        return f"polygon edges {i}-{(i + 1) % n} and {j}-{(j + 1) % n} cross each other"
    if polygon_area(arr) <= 0:
        return "polygon has zero area (its points are on one line)"
    return None
