"""The motion gate on the real demo clip: it fires where people walk, honours masks, ignores light switches."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from camapp.config.core import MotionConfig
from camapp.errors import CaptureError
from camapp.motion.evaluate import PercentileMotionDetector, cover_fraction, evaluate_motion, read_frames
from camapp.motion.improved import CALIBRATION_FRAMES, ImprovedMotionDetector, contrast_lut
from camapp.types import Frame, MotionResult

SAMPLE_FRAMES = 200  # the first 20 s of vtest.avi
GT_STEP = 5  # ground truth on every 5th frame
W, H = 768, 576  # vtest.avi


@pytest.fixture(scope="session")
def people(model_manifest: Path, demo_video: Path) -> dict[int, np.ndarray]:
    """Person boxes found by the real model on whole frames: frame index -> (N, 4)."""
    from camapp.detect.manifest import load_manifest
    from camapp.detect.tflite import TFLiteDetector

    boxes: dict[int, np.ndarray] = {}
    with TFLiteDetector(load_manifest(model_manifest), threads=1, min_score=0.5) as detector:
        for frame in read_frames(demo_video, SAMPLE_FRAMES):
            if frame.index % GT_STEP == 0:
                found = detector.detect(frame.image)
                boxes[frame.index] = found.boxes[np.asarray(found.labels) == "person"]
    assert sum(len(b) for b in boxes.values()) > 50, "the model should see plenty of people in vtest"
    return boxes


def run(
    detector: ImprovedMotionDetector, frames: Iterator[Frame], change: Callable[[Frame], Frame] = lambda f: f
) -> list[MotionResult]:
    return [detector.detect(change(frame)) for frame in frames]


def test_reports_motion_where_people_walk(demo_video: Path, people: dict[int, np.ndarray]) -> None:
    detector = ImprovedMotionDetector(MotionConfig(), W, H)
    results = run(detector, read_frames(demo_video, SAMPLE_FRAMES))

    assert not any(r.has_motion for r in results[:CALIBRATION_FRAMES]), "nothing is reported while calibrating"
    assert not detector.calibrating
    after = results[CALIBRATION_FRAMES:]
    assert np.mean([r.has_motion for r in after]) >= 0.9
    with_people = [i for i, b in people.items() if len(b) and i >= CALIBRATION_FRAMES]
    assert all(results[i].has_motion for i in with_people)
    for r in after:
        assert np.all(r.boxes[:, :2] >= 0) and np.all(r.boxes[:, 2] <= W) and np.all(r.boxes[:, 3] <= H)
        assert np.all(r.boxes[:, 2:] > r.boxes[:, :2])


@pytest.mark.parametrize("factory", [ImprovedMotionDetector, PercentileMotionDetector], ids=["ours", "percentile"])
def test_planned_regions_contain_the_people(
    demo_video: Path, people: dict[int, np.ndarray], factory: type[ImprovedMotionDetector]
) -> None:
    stats = evaluate_motion(demo_video, MotionConfig(), people, max_frames=SAMPLE_FRAMES, detector_factory=factory)

    assert stats["frames"] == SAMPLE_FRAMES
    assert stats["gt_boxes"] == sum(len(b) for b in people.values())
    assert stats["recall"] >= 0.9
    assert stats["recall_motion"] >= 0.9
    assert 0.9 <= stats["motion_frame_fraction"] <= 1.0
    assert 0 < stats["region_area_fraction"] < 1.0, "regions, not the whole frame every time"
    assert stats["ms_per_frame"] > 0


def test_ours_misses_no_more_people_than_the_percentile_baseline(
    demo_video: Path, people: dict[int, np.ndarray]
) -> None:
    cfg = MotionConfig()
    ours = evaluate_motion(demo_video, cfg, people, max_frames=SAMPLE_FRAMES)
    base = evaluate_motion(demo_video, cfg, people, max_frames=SAMPLE_FRAMES, detector_factory=PercentileMotionDetector)
    assert ours["recall"] >= base["recall"]
    assert ours["recall_motion"] >= base["recall_motion"]


@pytest.mark.parametrize(
    ("make_lores", "expect_motion"),
    [
        (lambda img: cv2.resize(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), (160, 120), interpolation=cv2.INTER_AREA), True),
        (lambda img: cv2.resize(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), (320, 240), interpolation=cv2.INTER_AREA), True),
        (lambda img: np.full((120, 160), 90, np.uint8), False),  # proves lores, not the main image, is used
    ],
    ids=["lores-at-motion-size", "lores-larger", "lores-blank"],
)
def test_uses_the_lores_stream(
    demo_video: Path, make_lores: Callable[[np.ndarray], np.ndarray], expect_motion: bool
) -> None:
    detector = ImprovedMotionDetector(MotionConfig(), W, H)

    def with_lores(f: Frame) -> Frame:
        return Frame(f.image, f.timestamp, f.index, lores=make_lores(f.image))

    results = run(detector, read_frames(demo_video, 60), with_lores)
    assert np.mean([r.has_motion for r in results[CALIBRATION_FRAMES:]]) >= (0.9 if expect_motion else 0.0)
    assert any(r.has_motion for r in results) == expect_motion


def test_mask_over_the_whole_walking_area_removes_all_motion(demo_video: Path) -> None:
    everywhere = [[(0.0, 0.0), (W, 0.0), (W, H), (0.0, H)]]
    detector = ImprovedMotionDetector(MotionConfig(mask=everywhere), W, H)
    results = run(detector, read_frames(demo_video, 100))
    assert not any(r.has_motion for r in results)
    assert all(r.fraction == 0.0 and not r.suppressed for r in results)


def test_mask_removes_motion_only_where_it_covers(demo_video: Path) -> None:
    left_half = [[(0.0, 0.0), (W / 2, 0.0), (W / 2, H), (0.0, H)]]
    masked = run(ImprovedMotionDetector(MotionConfig(mask=left_half), W, H), read_frames(demo_video, 100))
    unmasked = run(ImprovedMotionDetector(MotionConfig(), W, H), read_frames(demo_video, 100))

    one_motion_pixel = W / 160
    boxes = np.concatenate([r.boxes for r in masked])
    assert len(boxes), "people walking in the right half are still seen"
    assert boxes[:, 0].min() >= W / 2 - one_motion_pixel
    left = np.concatenate([r.boxes for r in unmasked])[:, 0].min()
    assert left < W / 2 - 10 * one_motion_pixel, "without the mask, people move in the left half too"


def brighten(img: np.ndarray) -> np.ndarray:
    return cv2.add(img, (70, 70, 70, 0))


def darken(img: np.ndarray) -> np.ndarray:
    return cv2.convertScaleAbs(img, alpha=0.4)


def infrared(img: np.ndarray) -> np.ndarray:
    grey = cv2.convertScaleAbs(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), alpha=1.3, beta=40)
    return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)


@pytest.mark.parametrize("light", [brighten, darken, infrared])
def test_light_switch_is_suppressed_and_motion_returns(
    demo_video: Path, light: Callable[[np.ndarray], np.ndarray]
) -> None:
    switch = 60
    detector = ImprovedMotionDetector(MotionConfig(), W, H)

    def lights(f: Frame) -> Frame:
        return Frame(light(f.image), f.timestamp, f.index) if f.index >= switch else f

    results = run(detector, read_frames(demo_video, switch + 20), lights)
    assert results[switch - 1].has_motion and not results[switch - 1].suppressed
    assert results[switch].suppressed
    assert not results[switch].has_motion
    assert results[switch].fraction > MotionConfig().lightning_threshold
    back = next(i for i in range(switch, len(results)) if results[i].has_motion)
    assert back - switch <= 5, f"motion came back only {back - switch} frames after the switch"
    assert np.mean([r.has_motion for r in results[back:]]) >= 0.9


def test_gradual_light_ramp_does_not_leave_lasting_false_motion(demo_video: Path) -> None:
    detector = ImprovedMotionDetector(MotionConfig(), W, H)

    def ramp(f: Frame) -> Frame:
        step = min(max(f.index - 59, 0), 5)
        return Frame(cv2.add(f.image, (35 * step,) * 3 + (0,)), f.timestamp, f.index)

    results = run(detector, read_frames(demo_video, 100), ramp)
    assert not any(r.has_motion and r.fraction > 0.3 for r in results), "no frame-wide motion is reported"
    assert np.mean([r.has_motion for r in results[80:]]) >= 0.9


@pytest.mark.parametrize("noise_sigma", [0.0, 3.0])
def test_static_scene_yields_no_motion(demo_video: Path, noise_sigma: float) -> None:
    still = next(read_frames(demo_video, 1)).image
    rng = np.random.default_rng(7)
    detector = ImprovedMotionDetector(MotionConfig(), W, H)
    for i in range(40):
        noise = rng.normal(0, noise_sigma, still.shape) if noise_sigma else 0
        image = np.clip(still + noise, 0, 255).astype(np.uint8)
        result = detector.detect(Frame(image, i / 10, i))
        assert not result.has_motion, f"frame {i}"
        assert not result.suppressed
    assert not detector.calibrating


def test_boxes_follow_a_moving_object_in_full_frame_pixels() -> None:
    from skimage import data

    scene = cv2.resize(cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR), (640, 480))
    patch = cv2.resize(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), (40, 90))
    detector = ImprovedMotionDetector(MotionConfig(), 640, 480)
    for i in range(30):
        image = scene.copy()
        x, y = 40 + 15 * i, 300
        if i >= 10:
            image[y : y + 90, x : x + 40] = patch
        result = detector.detect(Frame(image, i / 10, i))
        if i < 10:
            assert not result.has_motion
            continue
        covered = cover_fraction([[x, y, x + 40, y + 90]], result.boxes)[0]
        assert covered >= 0.9, f"frame {i}: the object is {covered:.0%} inside the motion boxes"
        union = [result.boxes[:, 0].min(), result.boxes[:, 1].min(), result.boxes[:, 2].max(), result.boxes[:, 3].max()]
        assert union[0] >= x - 80 and union[2] <= x + 40 + 80 and union[1] >= y - 20 and union[3] <= y + 90 + 20


def test_reset_recalibrates(demo_video: Path) -> None:
    detector = ImprovedMotionDetector(MotionConfig(), W, H)
    frames = list(read_frames(demo_video, 20))
    run(detector, iter(frames[:15]))
    assert not detector.calibrating
    detector.reset()
    assert detector.calibrating
    assert not any(r.has_motion for r in run(detector, iter(frames[15:18])))


def test_disabled_gate_reports_the_whole_frame(demo_video: Path) -> None:
    detector = ImprovedMotionDetector(MotionConfig(enabled=False), W, H)
    result = detector.detect(next(read_frames(demo_video, 1)))
    assert result.boxes.tolist() == [[0, 0, W, H]]


def test_frame_of_another_size_is_a_clear_error() -> None:
    detector = ImprovedMotionDetector(MotionConfig(), 640, 480)
    with pytest.raises(ValueError, match=r"640x480 frames, got 320x240"):
        detector.detect(Frame(np.zeros((240, 320, 3), np.uint8), 0.0, 0))


@pytest.mark.parametrize(
    ("mask", "message"),
    [
        ([[(0, 0), (10, 10)]], "at least 3 points"),
        ([[(0, 0), (10, 10), (20, 20)]], "zero area"),
    ],
)
def test_bad_mask_polygon_is_rejected(mask: list[list[tuple[float, float]]], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        MotionConfig(mask=mask)


@pytest.mark.parametrize(
    ("low", "high", "checks"),
    [
        (0, 255, {0: 0, 128: 128, 255: 255}),
        (50, 150, {0: 0, 50: 0, 100: 127, 150: 255, 255: 255}),
        (100, 110, {89: 0, 105: 127, 121: 255}),  # widened to a 32-level range: noise is not blown up
    ],
)
def test_contrast_lut(low: float, high: float, checks: dict[int, int]) -> None:
    lut = contrast_lut(low, high)
    assert lut.dtype == np.uint8 and lut.shape == (256,)
    assert np.all(np.diff(lut.astype(int)) >= 0)
    for value, expected in checks.items():
        assert abs(int(lut[value]) - expected) <= 1, value


@pytest.mark.parametrize(
    ("boxes", "regions", "expected"),
    [
        ([[0, 0, 10, 10]], [], [0.0]),
        ([[0, 0, 10, 10]], [[0, 0, 100, 100]], [1.0]),
        ([[0, 0, 10, 10]], [[5, 0, 100, 100]], [0.5]),
        ([[0, 0, 10, 10], [50, 50, 60, 60]], [[5, 0, 100, 100], [0, 0, 8, 10]], [0.8, 1.0]),
    ],
)
def test_cover_fraction(boxes: list[list[float]], regions: list[list[float]], expected: list[float]) -> None:
    assert cover_fraction(boxes, regions).tolist() == pytest.approx(expected)


def test_missing_video_is_a_capture_error(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="cannot open video"):
        next(read_frames(tmp_path / "nope.avi"))
