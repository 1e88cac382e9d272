"""Appearance signatures: the same person looks alike from frame to frame, differently dressed people do not."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from camapp.appearance import distance, signature


def test_the_same_person_a_frame_later_looks_alike_and_a_neighbour_does_not(demo_video: Path) -> None:
    """On the demo street: two people side by side in frame 30 (boxes from the detector's output there)."""
    cap = cv2.VideoCapture(str(demo_video))
    frames = [cap.read()[1] for _ in range(32)]
    cap.release()
    left, right = (626.0, 253.0, 660.0, 342.0), (661.0, 252.0, 697.0, 340.0)
    a0, a1 = signature(frames[30], left), signature(frames[31], (left[0] - 3, left[1], left[2] - 3, left[3]))
    b0 = signature(frames[30], right)
    assert a0 is not None and a1 is not None and b0 is not None
    assert distance(a0, a1) < distance(a0, b0)


@pytest.mark.parametrize(
    ("top", "bottom", "other_top", "other_bottom", "low", "high"),
    [
        ((0, 0, 200), (50, 50, 50), (0, 0, 200), (50, 50, 50), 0.0, 0.01),  # identical clothes
        ((0, 0, 200), (50, 50, 50), (200, 0, 0), (50, 50, 50), 0.5, 1.0),  # red jacket vs blue jacket
        ((0, 0, 200), (50, 50, 50), (200, 0, 0), (0, 200, 0), 0.9, 1.0),  # nothing in common
    ],
)
def test_distance_is_zero_for_the_same_colours_and_one_for_disjoint_ones(
    top: tuple[int, ...], bottom: tuple[int, ...], other_top: tuple[int, ...], other_bottom: tuple[int, ...],
    low: float, high: float,
) -> None:
    img = np.zeros((100, 200, 3), np.uint8)
    img[:50, :100], img[50:, :100] = top, bottom
    img[:50, 100:], img[50:, 100:] = other_top, other_bottom
    a, b = signature(img, (0, 0, 100, 100)), signature(img, (100, 0, 200, 100))
    assert a is not None and b is not None
    assert low <= distance(a, b) <= high


@pytest.mark.parametrize("box", [(10.0, 10.0, 13.0, 60.0), (10.0, 10.0, 60.0, 14.0), (-50.0, -50.0, -10.0, -5.0)])
def test_boxes_too_small_or_outside_the_frame_have_no_signature(box: tuple[float, float, float, float]) -> None:
    assert signature(np.zeros((100, 100, 3), np.uint8), box) is None
