"""The detection rate: at most `fps` analysed frames per second of frame time, whatever the camera delivers."""

from __future__ import annotations

import itertools

import pytest

from camapp.detect.schedule import DetectRate


def analysed(rate: DetectRate, times: list[float]) -> list[float]:
    out = []
    for t in times:
        if rate.due(t):
            rate.ran(t)
            out.append(t)
    return out


@pytest.mark.parametrize(
    ("camera_fps", "detect_fps", "expected"),
    [
        (10, 5, 50),  # every other frame
        (25, 5, 50),  # every fifth frame
        (7, 5, 50),  # not a multiple: the grid keeps the average, not "one per 0.2 s after the last"
        (30, 2, 20),
        (4, 5, 40),  # slower camera than the detection rate: every frame
        (10, 0, 100),  # 0: no limit
    ],
)
def test_ten_seconds_of_frames(camera_fps: float, detect_fps: float, expected: int) -> None:
    times = [i / camera_fps for i in range(int(10 * camera_fps))]
    got = analysed(DetectRate(detect_fps), times)
    assert abs(len(got) - expected) <= 1
    if detect_fps:  # never two analysed frames closer than a camera frame below the period
        gaps = [b - a for a, b in itertools.pairwise(got)]
        assert min(gaps) >= 1 / detect_fps - 1 / camera_fps - 1e-9


def test_after_an_idle_gap_the_first_frame_is_analysed_and_the_grid_restarts() -> None:
    rate = DetectRate(5)
    assert analysed(rate, [0.0, 0.1, 0.2]) == [0.0, 0.2]
    assert analysed(rate, [30.05, 30.15, 30.25]) == [30.05, 30.25]


def test_time_going_backwards_is_analysed_at_once() -> None:
    rate = DetectRate(5)
    analysed(rate, [100.0])
    assert rate.due(50.0)


def test_negative_fps_is_refused() -> None:
    with pytest.raises(ValueError, match="fps"):
        DetectRate(-1)


def test_extra_detections_between_slots_do_not_push_the_schedule_back() -> None:
    """The pipeline analyses every frame while someone is arriving; the regular slots carry on afterwards."""
    rate = DetectRate(5)
    for t in [i / 10 for i in range(30)]:  # 3 s of extra detections at 10 fps
        rate.ran(t)
    assert analysed(rate, [3.0, 3.1, 3.2, 3.3, 3.4]) == [3.0, 3.2, 3.4]


@pytest.mark.parametrize(
    ("camera_fps", "expected"),
    [
        (10, [0.1, 0.3, 0.5, 0.7]),  # the frame between two slots
        (30, [0.1, 0.3, 0.5, 0.7]),  # the first frame from halfway on, once: never more than double the rate
        (25, [0.12, 0.32, 0.52, 0.72]),
        (5, []),  # every frame is a slot: no frame between
    ],
)
def test_one_verification_look_per_slot_interval_from_halfway(camera_fps: float, expected: list[float]) -> None:
    rate, looks = DetectRate(5), []
    for t in [i / camera_fps for i in range(round(0.8 * camera_fps))]:
        if rate.due(t):
            rate.ran(t)
        elif rate.verify_due(t):
            rate.verified()
            looks.append(round(t, 2))
    assert looks == expected


def test_no_verification_looks_without_a_rate_limit() -> None:
    rate = DetectRate(0)
    rate.ran(0.0)
    assert not rate.verify_due(0.1)
