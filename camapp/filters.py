"""Per-label detection filters applied before tracking: tracked labels, min score, box area, object masks."""

from __future__ import annotations

import numpy as np

from camapp.config.core import LabelFilter, ObjectsConfig
from camapp.geometry import FloatArray, as_polygon, bottom_centre, signed_distance
from camapp.types import Detections


def _masks(flt: LabelFilter) -> list[FloatArray]:
    return [as_polygon(poly) for poly in flt.mask]


def _passes(flt: LabelFilter, masks: list[FloatArray], score: float, box: tuple[float, float, float, float]) -> bool:
    area = (box[2] - box[0]) * (box[3] - box[1])
    if score < flt.min_score or not flt.min_area <= area <= flt.max_area:
        return False
    # Masks test the feet, like zones: a person standing in front of a masked poster is still seen.
    feet = bottom_centre(box)
    return all(signed_distance(poly, feet) < 0 for poly in masks)


def filter_detections(dets: Detections, cfg: ObjectsConfig) -> Detections:
    """Keep only detections of tracked labels that pass their label's score, area and mask filters."""
    if not len(dets):
        return dets
    tracked = set(cfg.track)
    masks: dict[str, list[FloatArray]] = {}
    keep = np.zeros(len(dets), dtype=bool)
    for i, label in enumerate(dets.labels):
        if label not in tracked:
            continue
        flt = cfg.filter_for(label)
        if label not in masks:
            masks[label] = _masks(flt)
        box = (float(dets.boxes[i, 0]), float(dets.boxes[i, 1]), float(dets.boxes[i, 2]), float(dets.boxes[i, 3]))
        keep[i] = _passes(flt, masks[label], float(dets.scores[i]), box)
    return dets.select(keep)
