"""Per-label filters: tracked labels, min score, area bounds, object masks by bottom-centre; their config checks."""

from __future__ import annotations

from typing import Any

import pytest

from camapp.config import parse_config
from camapp.config.core import ObjectsConfig
from camapp.errors import ConfigError
from camapp.filters import filter_detections
from camapp.types import Detections

Box = tuple[float, float, float, float]

# a mask over the left half of a 640x480 frame, for people only
LEFT_HALF = [(0.0, 0.0), (320.0, 0.0), (320.0, 480.0), (0.0, 480.0)]
CONFIG = ObjectsConfig.model_validate(
    {
        "track": ["person", "car"],
        "filters": {
            "car": {"min_score": 0.6, "min_area": 1000, "max_area": 50_000},
            "person": {"min_score": 0.5, "mask": [LEFT_HALF]},
        },
        "default": {"min_score": 0.3},
    }
)


def dets(*items: tuple[str, Box, float]) -> Detections:
    if not items:
        return Detections.empty()
    return Detections([b for _, b, _ in items], [s for *_, s in items], [0] * len(items), [lab for lab, *_ in items])


@pytest.mark.parametrize(
    ("label", "box", "score", "kept"),
    [
        ("person", (400, 100, 440, 200), 0.55, True),
        ("person", (400, 100, 440, 200), 0.5, True),  # exactly min_score passes
        ("person", (400, 100, 440, 200), 0.49, False),
        ("dog", (400, 100, 440, 200), 0.99, False),  # not tracked
        ("car", (400, 100, 440, 200), 0.59, False),  # car has its own higher min_score
        ("car", (400, 100, 430, 130), 0.9, False),  # 900 px < min_area 1000
        ("car", (400, 100, 440, 125), 0.9, True),  # exactly 1000 px
        ("car", (0, 0, 300, 200), 0.9, False),  # 60000 px > max_area
        ("person", (100, 100, 140, 200), 0.9, False),  # feet inside the person mask
        ("person", (300, 100, 380, 200), 0.9, True),  # box overlaps the mask, feet (340, 200) outside it
        ("person", (260, 100, 340, 200), 0.9, False),  # feet exactly on the mask edge count as masked
        ("car", (100, 100, 200, 200), 0.9, True),  # the mask is for people only
    ],
)
def test_filter_table(label: str, box: Box, score: float, kept: bool) -> None:
    out = filter_detections(dets((label, box, score)), CONFIG)
    assert len(out) == (1 if kept else 0)


def test_filter_keeps_order_and_fields_of_survivors() -> None:
    batch = dets(
        ("person", (400, 100, 440, 200), 0.9),
        ("dog", (10, 10, 50, 50), 0.9),
        ("car", (400, 300, 500, 400), 0.8),
        ("person", (100, 100, 140, 200), 0.9),
        ("person", (500, 100, 540, 200), 0.7),
    )
    out = filter_detections(batch, CONFIG)
    assert out.labels == ("person", "car", "person")
    assert out.scores.tolist() == pytest.approx([0.9, 0.8, 0.7])
    assert out.boxes.tolist() == [[400, 100, 440, 200], [400, 300, 500, 400], [500, 100, 540, 200]]


def test_empty_detections_pass_through() -> None:
    assert len(filter_detections(Detections.empty(), CONFIG)) == 0


def test_default_filter_applies_to_labels_without_their_own() -> None:
    cfg = ObjectsConfig.model_validate({"track": ["person", "bicycle"], "default": {"min_score": 0.3}})
    out = filter_detections(dets(("bicycle", (0, 0, 10, 10), 0.35), ("bicycle", (0, 0, 10, 10), 0.25)), cfg)
    assert out.scores.tolist() == pytest.approx([0.35])


@pytest.mark.parametrize(
    ("objects", "fragment"),
    [
        ({"track": ["person"], "filters": {"car": {}}}, "filters given for labels not in track: car"),
        ({"track": ["person", "person"]}, "track lists a label twice"),
        ({"track": [" "]}, "must not be empty"),
        ({"filters": {"person": {"mask": [[[0, 0], [10, 10]]]}}}, "mask[0]: a polygon needs at least 3 points"),
        ({"filters": {"person": {"mask": [[[0, 0], [10, 10], [20, 20]]]}}}, "zero area"),
        ({"filters": {"person": {"mask": [[[0, 0], [10, 10], [10, 0], [0, 10]]]}}}, "cross each other"),
        ({"default": {"min_score": 1.5}}, "objects.default.min_score"),
    ],
)
def test_bad_objects_config_is_named(objects: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"objects": objects})
    assert "objects" in str(info.value)
    assert fragment in str(info.value)
