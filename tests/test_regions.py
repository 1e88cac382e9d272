"""Region planning: square crops around motion and tracked objects, clamped, merged, capped."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from camapp.motion.regions import Region, plan_regions, union_area

Box = Sequence[float]


def contains(region: Region, box: Box) -> bool:
    return region[0] <= box[0] and region[1] <= box[1] and region[2] >= box[2] and region[3] >= box[3]


def check_invariants(regions: list[Region], boxes: list[Box], w: int, h: int, side: int, max_regions: int) -> None:
    """What every plan must satisfy: inside the frame, big enough, few enough, and every box fully seen."""
    assert 1 <= len(regions) <= max_regions
    for x1, y1, x2, y2 in regions:
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
        assert x2 - x1 >= min(side, w) and y2 - y1 >= min(side, h)
    for box in boxes:
        clipped = (max(box[0], 0), max(box[1], 0), min(box[2], w), min(box[3], h))
        assert any(contains(r, clipped) for r in regions), f"{box} is not inside any of {regions}"


CASES = [
    # id, motion boxes, object boxes, frame w, h, model_size, min_region, max_regions, expected regions
    ("centre", [[600, 400, 640, 480]], [], 1280, 720, 300, 0, 4, [(470, 290, 770, 590)]),
    ("top-left-clamped", [[0, 0, 30, 60]], [], 1280, 720, 300, 0, 4, [(0, 0, 300, 300)]),
    ("bottom-right-clamped", [[1250, 650, 1280, 720]], [], 1280, 720, 300, 0, 4, [(980, 420, 1280, 720)]),
    ("near-boxes-one-region", [[500, 300, 540, 380], [600, 320, 640, 400]], [], 1280, 720, 300, 0, 4,
     [(420, 200, 720, 500)]),
    ("far-boxes-two-regions", [[100, 100, 140, 180], [1000, 500, 1040, 580]], [], 1280, 720, 300, 0, 4,
     [(0, 0, 300, 300), (870, 390, 1170, 690)]),
    ("clustered-within-one-crop", [[400, 300, 440, 380], [560, 300, 600, 380]], [], 1280, 720, 300, 0, 4,
     [(350, 190, 650, 490)]),
    ("overlapping-regions-merged", [[100, 100, 300, 300], [300, 150, 340, 250]], [], 1280, 720, 300, 0, 4,
     [(50, 0, 470, 420)]),
    ("min-region-upscales", [[600, 400, 620, 440]], [], 1280, 720, 300, 160, 4, [(530, 340, 690, 500)]),
    ("big-box-gets-margin", [[100, 100, 500, 300]], [], 1280, 720, 300, 0, 4, [(30, 0, 570, 540)]),
    ("frame-smaller-than-model", [[50, 40, 90, 120]], [], 200, 150, 300, 0, 4, [(0, 0, 200, 150)]),
    ("tracked-object-only", [], [[900, 100, 960, 240]], 1920, 1080, 300, 0, 4, [(780, 20, 1080, 320)]),
    ("corners-cover-most-frame", [[0, 0, 40, 80], [728, 0, 768, 80], [0, 496, 40, 576], [728, 496, 768, 576]], [],
     768, 576, 300, 0, 4, [(0, 0, 768, 576)]),
    ("nothing-moves", [], [], 1280, 720, 300, 0, 4, []),
    ("box-outside-frame-ignored", [[2000, 100, 2100, 200]], [], 1280, 720, 300, 0, 4, []),
]  # fmt: skip


@pytest.mark.parametrize(
    ("motion", "objects", "w", "h", "model", "min_region", "max_regions", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_plan_regions(
    motion: list[Box],
    objects: list[Box],
    w: int,
    h: int,
    model: int,
    min_region: int,
    max_regions: int,
    expected: list[Region],
) -> None:
    regions = plan_regions(motion, objects, w, h, model_size=model, min_region=min_region, max_regions=max_regions)
    assert regions == expected
    inside = [b for b in [*motion, *objects] if b[0] < w and b[1] < h]
    if inside:
        check_invariants(regions, inside, w, h, min_region or model, max_regions)


def test_slightly_overlapping_regions_stay_apart_at_full_resolution() -> None:
    # Joining these would need a 420 px crop: more pixels than the two 300 px crops, so both stay.
    boxes = [[300, 300, 340, 380], [540, 300, 580, 380]]
    regions = plan_regions(boxes, [], 1280, 720, model_size=300)
    assert len(regions) == 2
    assert all(r[2] - r[0] == 300 for r in regions)
    check_invariants(regions, boxes, 1280, 720, 300, 4)


@pytest.mark.parametrize("max_regions", [1, 2, 3, 4])
def test_many_scattered_boxes_are_joined_down_to_max_regions(max_regions: int) -> None:
    xs, ys = [100, 900, 1700], [100, 500, 900]
    boxes = [[x, y, x + 40, y + 80] for x in xs for y in ys]
    regions = plan_regions(boxes, [], 3840, 2160, model_size=300, max_regions=max_regions)
    check_invariants(regions, boxes, 3840, 2160, 300, max_regions)
    assert regions != [(0, 0, 3840, 2160)], "the boxes sit in one corner of a 4K frame"


def test_regions_cover_each_box_across_random_layouts() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        w, h = int(rng.integers(320, 2000)), int(rng.integers(240, 1200))
        n = int(rng.integers(1, 8))
        xy = rng.uniform(0, 1, (n, 2)) * [w, h]
        wh = rng.uniform(5, 250, (n, 2))
        boxes = np.concatenate([xy, np.minimum(xy + wh, [w, h])], axis=1).tolist()
        max_regions = int(rng.integers(1, 6))
        regions = plan_regions(boxes, [], w, h, model_size=300, max_regions=max_regions)
        check_invariants(regions, boxes, w, h, 300, max_regions)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"motion_boxes": [[1, 2, 3]]}, r"motion_boxes must have shape \(N, 4\)"),
        ({"object_boxes": [[0, 0, float("nan"), 5]]}, "object_boxes contains NaN"),
        ({"frame_w": 0}, "frame size must be positive"),
        ({"model_size": 0}, "model_size must be >= 1"),
        ({"max_regions": 0}, "max_regions must be >= 1"),
    ],
)
def test_bad_input_is_a_clear_error(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"motion_boxes": [[0, 0, 10, 10]], "object_boxes": [], "frame_w": 640, "frame_h": 480}
    args.update(kwargs)
    size = {"model_size": args.pop("model_size", 300), "max_regions": args.pop("max_regions", 4)}
    with pytest.raises(ValueError, match=message):
        plan_regions(**args, **size)  # type: ignore[arg-type]


def test_reversed_box_corners_are_accepted() -> None:
    assert plan_regions([[640, 480, 600, 400]], [], 1280, 720, model_size=300) == [(470, 290, 770, 590)]


@pytest.mark.parametrize(
    ("regions", "area"),
    [
        ([], 0),
        ([(0, 0, 10, 10)], 100),
        ([(0, 0, 10, 10), (5, 5, 15, 15)], 175),
        ([(0, 0, 10, 10), (0, 0, 10, 10)], 100),
        ([(0, 0, 10, 10), (20, 0, 30, 10)], 200),
        ([(0, 0, 30, 30), (10, 10, 20, 20)], 900),
    ],
)
def test_union_area(regions: list[Region], area: int) -> None:
    assert union_area(regions) == area


@pytest.mark.parametrize(
    ("boxes", "min_px", "whole"),
    [
        ([[0, 0, 100, 120], [400, 300, 460, 400]], 10, True),  # smallest 100 px tall / 2.56 = 39 px >= 10
        ([[0, 0, 100, 120], [400, 300, 410, 320]], 10, False),  # a 20 px blob would be 8 px: keep crops
        ([[0, 0, 100, 120], [400, 300, 460, 400]], 0, False),  # disabled
        ([[0, 0, 100, 120], [400, 300, 460, 400]], 50, False),  # 39 px < 50
    ],
)
def test_prefer_whole_frame(boxes: list[list[int]], min_px: int, whole: bool) -> None:
    from camapp.motion.regions import prefer_whole_frame

    crops = plan_regions(np.array(boxes), [], 768, 576, model_size=300, max_regions=4)
    assert len(crops) >= 2
    got = prefer_whole_frame(crops, boxes, 768, 576, model_size=300, min_object_px=min_px)
    assert (got == [(0, 0, 768, 576)]) is whole
    if not whole:
        assert got == crops


def test_prefer_whole_frame_when_every_box_was_too_small_to_matter() -> None:
    from camapp.motion.regions import prefer_whole_frame

    crops = [(0, 0, 300, 300), (400, 200, 700, 500)]
    assert prefer_whole_frame(crops, [], 768, 576, model_size=300, min_object_px=10) == [(0, 0, 768, 576)]


def test_prefer_whole_frame_keeps_a_single_crop() -> None:
    from camapp.motion.regions import prefer_whole_frame

    assert prefer_whole_frame([(0, 0, 300, 300)], [[0, 0, 200, 200]], 768, 576, model_size=300, min_object_px=1) == [
        (0, 0, 300, 300)
    ]
