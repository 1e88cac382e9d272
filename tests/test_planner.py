"""The invoke budget: the cheapest plan that keeps objects large enough, never more invokes than allowed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from camapp.config import parse_config
from camapp.detect import Mosaic, flatten
from camapp.detect.factory import build_detector
from camapp.motion.planner import Budget, plan_invocations
from camapp.parts import pipeline_factory

W, H = 1920, 1080


def contains(region: tuple[int, int, int, int], box: list[float]) -> bool:
    return region[0] <= box[0] and region[1] <= box[1] and region[2] >= box[2] and region[3] >= box[3]


def busy_street(rng: np.random.Generator, people: int, w: int = W, h: int = H) -> np.ndarray:
    """People-sized motion boxes (a sixth to a twelfth of the frame's height) scattered over the frame."""
    heights = rng.uniform(h / 12, h / 6, people)
    x = rng.uniform(0, w - heights / 2.5)
    y = rng.uniform(0, h - heights)
    return np.stack([x, y, x + heights / 2.5, y + heights], axis=1)


def test_nothing_to_look_at_plans_nothing() -> None:
    assert plan_invocations([], [], W, H, Budget(300)) == []


def test_the_whole_frame_when_every_object_is_big_enough_there() -> None:
    # 300 px tall at 1080p is 83 px at the model's 300 px: no crops needed.
    assert plan_invocations([[100, 100, 220, 400], [1500, 600, 1620, 900]], [], W, H, Budget(300)) == [(0, 0, W, H)]


def test_one_crop_for_one_small_object() -> None:
    # 50 px tall at 1080p would be 8 px at whole-frame model scale, under min_object_px (10).
    plan = plan_invocations([[900, 500, 920, 550]], [], W, H, Budget(300))
    assert len(plan) == 1 and not isinstance(plan[0], Mosaic)
    assert contains(plan[0], [900, 500, 920, 550]) and plan[0][2] - plan[0][0] == 300


def test_small_objects_far_apart_share_one_mosaic() -> None:
    boxes = [[100, 100, 120, 150], [1700, 100, 1720, 150], [100, 900, 120, 950], [1700, 900, 1720, 950]]
    plan = plan_invocations(boxes, [], W, H, Budget(300, max_invokes=4))
    assert len(plan) == 1 and isinstance(plan[0], Mosaic) and plan[0].grid == 2
    assert all(any(contains(t, b) for t in plan[0].tiles) for b in boxes)


def test_without_mosaics_the_same_scene_takes_crops() -> None:
    boxes = [[100, 100, 120, 150], [1700, 100, 1720, 150], [100, 900, 120, 950], [1700, 900, 1720, 950]]
    plan = plan_invocations(boxes, [], W, H, Budget(300, max_invokes=4, mosaic=False))
    assert 2 <= len(plan) <= 4 and not any(isinstance(p, Mosaic) for p in plan)


def test_tracked_objects_are_covered_too() -> None:
    plan = plan_invocations([[100, 100, 120, 150]], [(1700.0, 900.0, 1720.0, 950.0)], W, H, Budget(300))
    regions = flatten(plan)
    assert any(contains(r, [100, 100, 120, 150]) for r in regions)
    assert any(contains(r, [1700, 900, 1720, 950]) for r in regions)
    assert (0, 0, W, H) not in regions


def test_motion_fragments_too_small_to_matter_do_not_force_crops() -> None:
    # One person big enough for the whole frame, plus specks of noise shorter than crop_min_px.
    boxes = [[100, 100, 220, 400], [1500, 50, 1510, 60], [40, 1000, 48, 1010]]
    assert plan_invocations(boxes, [], W, H, Budget(300, crop_min_px=32)) == [(0, 0, W, H)]
    assert plan_invocations(boxes, [], W, H, Budget(300, crop_min_px=0)) != [(0, 0, W, H)]


@pytest.mark.parametrize("max_invokes", [1, 2, 3, 4])
@pytest.mark.parametrize("mosaic", [True, False])
def test_the_budget_is_never_exceeded_and_every_box_is_seen(max_invokes: int, mosaic: bool) -> None:
    rng = np.random.default_rng(max_invokes)
    for _ in range(60):
        w, h = [(1920, 1080), (768, 576), (3840, 2160), (640, 480)][int(rng.integers(4))]
        motion = busy_street(rng, int(rng.integers(1, 25)), w, h)
        objects = [tuple(b) for b in busy_street(rng, int(rng.integers(0, 4)), w, h)]
        plan = plan_invocations(motion, objects, w, h, Budget(300, max_invokes=max_invokes, mosaic=mosaic))
        assert 1 <= len(plan) <= max_invokes
        assert mosaic or not any(isinstance(p, Mosaic) for p in plan)
        regions = flatten(plan)
        for box in [*motion.tolist(), *objects]:
            assert any(contains(r, box) for r in regions), f"{box} not inside {plan}"


def test_a_busy_1080p_street_costs_one_invoke() -> None:
    """Issue 14's case: people all over a 1080p frame used to cost 2-4 crops; one mosaic or the whole frame now."""
    rng = np.random.default_rng(7)
    costs = [len(plan_invocations(busy_street(rng, int(rng.integers(3, 12))), [], W, H, Budget(300, max_invokes=4)))
             for _ in range(50)]
    assert np.mean(costs) <= 1.3


def test_budget_needs_positive_sizes() -> None:
    with pytest.raises(ValueError, match="max_invokes"):
        Budget(300, max_invokes=0)


CORNERS = [[100, 100, 120, 150], [1700, 100, 1720, 150], [100, 900, 120, 950], [1700, 900, 1720, 950]]


@pytest.mark.parametrize(
    ("detect", "invokes", "mosaics"),
    [({}, 1, 1), ({"mosaic": False}, 1, 0), ({"mosaic": False, "max_invokes": 4}, 4, 0), ({"max_invokes": 4}, 1, 1)],
)
def test_the_wiring_plans_with_the_configured_budget(
    model_manifest: Path, detect: dict[str, object], invokes: int, mosaics: int
) -> None:
    cfg = parse_config({"detect": detect})
    with build_detector(cfg.model) as detector:
        pipeline = pipeline_factory(cfg, detector)(W, H)
    plan = pipeline.stages.plan_regions(np.array(CORNERS, np.int32), [], W, H)
    assert len(plan) == invokes
    assert sum(isinstance(p, Mosaic) for p in plan) == mosaics
