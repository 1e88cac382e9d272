"""Several crops in one model input: a grid of tiles, each a crop fitted into its cell, and the way back.

A busy scene at 1080p has motion all over; crops cost one invoke each, and the whole frame shrinks a person to
a few pixels. A 2x2 mosaic shows four crops at half the model's resolution for the price of one invoke.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from camapp.detect import Mosaic, Region
from camapp.detect.decode import Decoded
from camapp.types import Image

GREY = 114  # what empty cells and letterbox bars are filled with


@dataclass(frozen=True)
class Placement:
    """Where a crop sits in the frame and how it was fitted into the model input: model_px = crop_px * scale + pad.

    `cell` is the part of the model input (x1, y1, x2, y2 in model pixels) the crop occupies; only detections
    centred in it belong to this crop.
    """

    region: Region
    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float
    cell: tuple[float, float, float, float] = (0.0, 0.0, float("inf"), float("inf"))


Fit = Callable[[Image, Region, tuple[int, int]], tuple[Image, Placement]]


def compose(image: Image, mosaic: Mosaic, size: tuple[int, int], fit: Fit) -> tuple[Image, list[Placement]]:
    """The model-sized canvas (BGR) with each tile's crop fitted into its cell, and each tile's placement."""
    width, height = size
    cw, ch = width // mosaic.grid, height // mosaic.grid
    canvas = np.full((height, width, 3), GREY, np.uint8)
    placements = []
    for i, region in enumerate(mosaic.tiles):
        row, col = divmod(i, mosaic.grid)
        x0, y0 = col * cw, row * ch
        x1, y1, x2, y2 = region
        fitted, p = fit(image[y1:y2, x1:x2], region, (cw, ch))
        canvas[y0 : y0 + ch, x0 : x0 + cw] = fitted
        cell = (float(x0), float(y0), float(x0 + cw), float(y0 + ch))
        placements.append(Placement(region, p.scale_x, p.scale_y, p.pad_x + x0, p.pad_y + y0, cell))
    return canvas, placements


def split(decoded: Decoded, placements: list[Placement], size: tuple[int, int]) -> list[tuple[Decoded, Placement]]:
    """Each placement with the detections centred in its cell, boxes clipped to the cell (a box the model drew
    across two tiles would otherwise map to a bogus stretch of frame)."""
    if len(placements) == 1 and placements[0].cell[2] == float("inf"):
        return [(decoded, placements[0])]
    scale = np.array([size[0], size[1], size[0], size[1]], np.float32)
    px = decoded.boxes * scale
    cx, cy = (px[:, 0] + px[:, 2]) / 2, (px[:, 1] + px[:, 3]) / 2
    out = []
    for p in placements:
        x1, y1, x2, y2 = p.cell
        inside = (cx >= x1) & (cx < x2) & (cy >= y1) & (cy < y2)
        lo, hi = np.array([x1, y1, x1, y1], np.float32), np.array([x2, y2, x2, y2], np.float32)
        boxes = np.clip(px[inside], lo, hi) / scale
        out.append((Decoded(boxes.astype(np.float32), decoded.scores[inside], decoded.class_ids[inside]), p))
    return out
