"""ApplianceState: validated changes, each setter saying whether it changed anything; state only (no bus)."""

from __future__ import annotations

import pytest

from camapp.errors import CommandError
from camapp.state import ApplianceState, parse_mode


def test_setters_say_whether_anything_changed() -> None:
    state = ApplianceState()
    assert state.set_mode("away") and not state.set_mode("away")
    assert state.armed and state.mode == "away"
    assert state.set_detection(False) and not state.set_detection(False)
    assert state.set_alarm(True) and not state.set_alarm(True)
    assert state.as_dict() == {"mode": "away", "armed": True, "detection": False, "alarm": True}


@pytest.mark.parametrize("bad", ["armed", "", None, 3, "AWAY"])
def test_bad_mode_rejected_and_state_kept(bad: object) -> None:
    state = ApplianceState("home")
    with pytest.raises(CommandError, match="mode must be one of"):
        state.set_mode(bad)  # type: ignore[arg-type]
    with pytest.raises(CommandError, match="set/mode must be one of disarmed, home, away"):
        parse_mode(bad, "set/mode")
    assert state.mode == "home"


def test_bad_detection_value() -> None:
    with pytest.raises(CommandError):
        ApplianceState().set_detection("yes")  # type: ignore[arg-type]


def test_fps_is_frames_over_a_window() -> None:
    import time

    from camapp.health import PipelineStats

    stats = PipelineStats(window_s=60)
    t0 = time.monotonic()
    for _ in range(11):
        stats.record_frame(motion=True, detector_ran=False, timings_ms={"motion": 1.0})
    elapsed = time.monotonic() - t0
    d = stats.as_dict()
    assert d["frames"] == 11 and d["motion_frames"] == 11 and d["detector_calls"] == 0
    assert d["fps"] >= 10 / max(elapsed, 1e-6) * 0.5  # 10 intervals in `elapsed` seconds
