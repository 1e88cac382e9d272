"""Measure the motion gate on a real clip: speed, how often it fires, and how many people its regions would miss.

`make bench` calls evaluate_motion() for ours and for PercentileMotionDetector (the Frigate-style baseline).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from camapp.config.core import MotionConfig
from camapp.errors import CaptureError
from camapp.motion import MotionDetector
from camapp.motion.improved import ImprovedMotionDetector
from camapp.motion.regions import Region, plan_regions
from camapp.types import Frame, Image

MIN_COVER = 0.5  # a person counts as seen when at least this much of their box lies inside one region
MOTION_REGIONS = 4  # crops the evaluation plans per frame (the pipeline plans under its invoke budget)

DetectorFactory = Callable[[MotionConfig, int, int], MotionDetector]


class PercentileMotionDetector(ImprovedMotionDetector):
    """Baseline: Frigate's contrast step (two np.percentile calls and a float clip/scale per frame), else the same."""

    def _percentiles(self, luma: Image) -> tuple[float, float]:
        pixels = luma if self._mask is None else luma[self._mask > 0]
        return float(np.percentile(pixels, 4)), float(np.percentile(pixels, 96))

    def _stretch(self, luma: Image, low: float, high: float) -> Image:
        if high <= low:
            return luma
        clipped = np.clip(luma, low, high)
        return (((clipped - low) / (high - low)) * 255).astype(np.uint8)


def read_frames(video: Path, max_frames: int | None = None) -> Iterator[Frame]:
    """Frames of a video file, timestamped from its frame rate."""
    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise CaptureError(f"cannot open video {video}")
    fps = capture.get(cv2.CAP_PROP_FPS) or 10.0
    try:
        index = 0
        while max_frames is None or index < max_frames:
            ok, image = capture.read()
            if not ok:
                return
            yield Frame(image=np.asarray(image, dtype=np.uint8), timestamp=index / fps, index=index)
            index += 1
    finally:
        capture.release()


def cover_fraction(boxes: npt.ArrayLike, regions: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """For each box, the largest fraction of its area inside any one region (0 with no regions)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    r = np.asarray(regions, dtype=np.float64).reshape(-1, 4)
    if not len(b) or not len(r):
        return np.zeros(len(b))
    iw = np.minimum(b[:, None, 2], r[None, :, 2]) - np.maximum(b[:, None, 0], r[None, :, 0])
    ih = np.minimum(b[:, None, 3], r[None, :, 3]) - np.maximum(b[:, None, 1], r[None, :, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    area = np.maximum((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), 1e-9)
    return np.asarray((inter / area[:, None]).max(axis=1), dtype=np.float64)


def evaluate_motion(
    video: Path,
    cfg: MotionConfig,
    person_boxes: Mapping[int, npt.ArrayLike],
    *,
    model_size: int = 300,
    max_frames: int | None = None,
    detector_factory: DetectorFactory = ImprovedMotionDetector,
) -> dict[str, float]:
    """Run a motion detector over the clip; recall is the share of ground-truth boxes its planned regions would see.

    person_boxes maps frame index -> (N, 4) x1, y1, x2, y2 boxes found by the real detector on whole frames.
    Returns ms_per_frame (motion only), regions_ms_per_frame, motion_frame_fraction, recall (regions),
    recall_motion (any overlap with a motion box), regions_per_frame, region_area_fraction, frames, gt_boxes.
    """
    detector: MotionDetector | None = None
    motion_s = regions_s = 0.0
    frames = motion_frames = region_count = 0
    region_area = 0.0
    seen: list[float] = []
    touched: list[bool] = []
    for frame in read_frames(video, max_frames):
        if detector is None:
            detector = detector_factory(cfg, frame.width, frame.height)
        start = time.perf_counter()
        motion = detector.detect(frame)
        mid = time.perf_counter()
        regions = plan_regions(
            motion.boxes, (), frame.width, frame.height, model_size=model_size, max_regions=MOTION_REGIONS
        )
        regions_s += time.perf_counter() - mid
        motion_s += mid - start
        frames += 1
        motion_frames += motion.has_motion
        region_count += len(regions)
        region_area += _area_fraction(regions, frame.width, frame.height)
        if frame.index in person_boxes:
            gt = np.asarray(person_boxes[frame.index], dtype=np.float64).reshape(-1, 4)
            seen.extend(cover_fraction(gt, regions).tolist())
            touched.extend((cover_fraction(gt, motion.boxes) > 0).tolist())
    n = max(frames, 1)
    return {
        "frames": float(frames),
        "ms_per_frame": 1000.0 * motion_s / n,
        "regions_ms_per_frame": 1000.0 * regions_s / n,
        "motion_frame_fraction": motion_frames / n,
        "recall": float(np.mean(np.asarray(seen) >= MIN_COVER)) if seen else 1.0,
        "recall_motion": float(np.mean(touched)) if touched else 1.0,
        "regions_per_frame": region_count / n,
        "region_area_fraction": region_area / n,
        "gt_boxes": float(len(seen)),
    }


def _area_fraction(regions: list[Region], width: int, height: int) -> float:
    """Share of the frame's pixels sent to the detector (overlaps counted twice: that is what it costs)."""
    return sum((x2 - x1) * (y2 - y1) for x1, y1, x2, y2 in regions) / float(width * height)
