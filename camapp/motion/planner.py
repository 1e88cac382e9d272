"""The invoke budget: cover motion and tracked objects with as few model invokes as possible.

Candidates, cheapest first: one crop, the whole frame, a 2x2 or a 3x3 mosaic of crops (one invoke each), then
2 .. `max_invokes` single crops. The first in which every moving object is still at least `min_object_px` tall at
model resolution wins; when none gets there, the sharpest within the budget does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from camapp.detect import MOSAIC_GRIDS, Invocation, Mosaic, flatten
from camapp.motion.regions import BoxesLike, plan_regions


@dataclass(frozen=True)
class Budget:
    """What the planner may spend and what it aims for (model pixels)."""

    model_size: int  # the model input's longer side
    max_invokes: int = 2
    mosaic: bool = True
    min_object_px: int = 20  # an object this tall at model resolution is detectable
    crop_min_px: int = 32  # moving boxes shorter than this (frame pixels) are noise to the planner
    region_size: int = 0  # side of single crops (0: the model's)

    def __post_init__(self) -> None:
        if self.model_size < 1 or self.max_invokes < 1:
            raise ValueError(f"Budget needs model_size >= 1 and max_invokes >= 1, got {self.model_size}, "
                             f"{self.max_invokes}")


@dataclass(frozen=True)
class _Candidate:
    plan: list[Invocation]
    invokes: int
    cell: int  # model pixels each region of the plan is fitted into
    sharpness: float = 0.0  # the smallest target's height at model resolution, in model pixels


def plan_invocations(
    motion: BoxesLike, objects: BoxesLike, width: int, height: int, budget: Budget
) -> list[Invocation]:
    """The plan for one analysed frame: never more than budget.max_invokes items, each one invoke."""
    motion_arr = _boxes(motion)
    object_arr = _boxes(objects)
    if not len(motion_arr) and not len(object_arr):
        return []
    # Objects the tracker follows always matter; motion fragments only when big enough to hold one.
    heights = np.concatenate([motion_arr[:, 3] - motion_arr[:, 1], object_arr[:, 3] - object_arr[:, 1]])
    keep = np.concatenate([heights[: len(motion_arr)] >= budget.crop_min_px, np.ones(len(object_arr), bool)])
    targets = np.concatenate([motion_arr, object_arr])[keep]
    best: _Candidate | None = None
    for candidate in _candidates(motion_arr, object_arr, width, height, budget):
        candidate = replace(candidate, sharpness=_sharpness(targets, candidate))
        if candidate.sharpness >= budget.min_object_px:
            return candidate.plan  # the cheapest plan that is sharp enough (candidates come cheapest first)
        if best is None or candidate.sharpness > best.sharpness:
            best = candidate
    return best.plan if best is not None else []


def _candidates(
    motion: np.ndarray, objects: np.ndarray, width: int, height: int, budget: Budget
) -> Iterator[_Candidate]:
    """Plans within the budget, cheapest first. Among one-invoke plans: one crop holding everything (sharper than
    the frame), then the whole frame (it also finds what does not move), then mosaics."""
    whole: list[Invocation] = [(0, 0, width, height)]
    crop = plan_regions(motion, objects, width, height, model_size=budget.model_size,
                        min_region=budget.region_size, max_regions=1)
    if crop != whole:
        yield _Candidate(list(crop), 1, budget.model_size)
    yield _Candidate(whole, 1, budget.model_size)
    for grid in MOSAIC_GRIDS if budget.mosaic else ():
        cell = budget.model_size // grid
        tiles = plan_regions(motion, objects, width, height, model_size=cell, max_regions=grid * grid)
        if len(tiles) > 1:
            yield _Candidate([Mosaic(tuple(tiles), grid)], 1, cell)
    for n in range(2, budget.max_invokes + 1):
        crops = plan_regions(motion, objects, width, height, model_size=budget.model_size,
                             min_region=budget.region_size, max_regions=n)
        if len(crops) == n:  # fewer: joined into one whole-frame pass, or nothing more to split
            yield _Candidate(list(crops), n, budget.model_size)


def _sharpness(targets: np.ndarray, candidate: _Candidate) -> float:
    """Height at model resolution of the worst-served target: each target counts in the sharpest region holding
    its centre (a region of side S shrinks by cell / S)."""
    regions = flatten(candidate.plan)
    if not len(targets) or not regions:
        return float("inf") if regions else 0.0
    r = np.asarray(regions, np.float64)
    scale = candidate.cell / np.maximum(r[:, 2] - r[:, 0], r[:, 3] - r[:, 1])
    cx, cy = (targets[:, 0] + targets[:, 2]) / 2, (targets[:, 1] + targets[:, 3]) / 2
    inside = (cx[:, None] >= r[None, :, 0]) & (cx[:, None] <= r[None, :, 2]) & \
        (cy[:, None] >= r[None, :, 1]) & (cy[:, None] <= r[None, :, 3])
    best = np.where(inside, scale[None, :], 0.0).max(axis=1)
    return float(np.min((targets[:, 3] - targets[:, 1]) * best))


def _boxes(boxes: BoxesLike) -> np.ndarray:
    arr = np.asarray(boxes, dtype=np.float64)
    return arr.reshape(-1, 4) if arr.size else np.zeros((0, 4), np.float64)
