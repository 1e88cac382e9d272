"""PipelineStats: the fps it reports is the rate of now, not frozen at the last frame's."""

from __future__ import annotations

import itertools

import pytest

import camapp.health
from camapp.health import PipelineStats


def test_fps_is_exact_while_frames_arrive_and_decays_to_zero_when_they_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(camapp.health.time, "monotonic", lambda: now[0])
    stats = PipelineStats(window_s=5.0)
    for _ in range(51):  # 10 fps for 5 s
        stats.record_frame(False, False, {})
        now[0] += 0.1
    now[0] -= 0.05  # between two frames
    assert stats.as_dict()["fps"] == pytest.approx(10.0)
    seen = []
    for _ in range(12):  # the camera stops: the rate falls with every half second, never stays put
        now[0] += 0.5
        seen.append(stats.as_dict()["fps"])
    assert all(a > b for a, b in itertools.pairwise(seen[:9])), seen
    assert seen[-1] == 0.0 and seen[0] < 10.0


def test_capture_age_counts_from_the_last_delivered_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [50.0]
    monkeypatch.setattr(camapp.health.time, "monotonic", lambda: now[0])
    stats = PipelineStats()
    assert stats.capture_age() is None
    stats.record_capture()
    now[0] += 3.5
    assert stats.capture_age() == pytest.approx(3.5)
