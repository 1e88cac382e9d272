"""ApplianceState: validated changes, listeners notified, listener errors contained."""

from __future__ import annotations

import pytest

from camapp.errors import CommandError
from camapp.state import ApplianceState, StateChange


def test_mode_changes_notify_once() -> None:
    state = ApplianceState()
    seen: list[StateChange] = []
    state.subscribe(seen.append)
    state.set_mode("away", source="mqtt")
    state.set_mode("away", source="mqtt")  # no change, no event
    assert state.armed and state.mode == "away"
    assert [(c.kind, c.value, c.source) for c in seen] == [("mode", "away", "mqtt")]


@pytest.mark.parametrize("bad", ["armed", "", None, 3, "AWAY"])
def test_bad_mode_rejected_and_state_kept(bad: object) -> None:
    state = ApplianceState("home")
    with pytest.raises(CommandError, match="mode must be one of"):
        state.set_mode(bad)  # type: ignore[arg-type]
    assert state.mode == "home"


def test_bad_detection_value() -> None:
    with pytest.raises(CommandError):
        ApplianceState().set_detection("yes")  # type: ignore[arg-type]


def test_failing_listener_does_not_stop_others() -> None:
    state = ApplianceState()
    seen: list[str] = []

    def broken(change: StateChange) -> None:
        raise RuntimeError("boom")

    state.subscribe(broken)
    state.subscribe(lambda c: seen.append(c.kind))
    state.silence()
    snap = state.request_snapshot()
    assert seen == ["silence", "snapshot"] and len(snap) > 10


def test_unsubscribe() -> None:
    state = ApplianceState()
    seen: list[str] = []
    off = state.subscribe(lambda c: seen.append(c.kind))
    off()
    off()
    state.set_alarm(True)
    assert seen == [] and state.alarm_active
    assert state.as_dict() == {"mode": "disarmed", "armed": False, "detection": True, "alarm": True}


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
