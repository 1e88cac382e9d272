"""Runner building blocks: latest-frame mailbox and sink isolation."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from camapp.runner import LatestFrame, dispatch
from camapp.sinks import ResultSink
from camapp.types import Detections, Frame, FrameResult, MotionResult


def frame(i: int) -> Frame:
    return Frame(np.zeros((8, 8, 3), np.uint8), float(i), i)


def test_latest_frame_drops_old_frames() -> None:
    slot = LatestFrame()
    for i in range(5):
        slot.put(frame(i))
    got = slot.get(timeout=0.1)
    assert got is not None and got.index == 4
    assert slot.dropped == 4
    assert slot.get(timeout=0.01) is None


def test_latest_frame_end_wakes_waiter() -> None:
    slot = LatestFrame()
    out: list[Frame | None] = []
    t = threading.Thread(target=lambda: out.append(slot.get(timeout=5)))
    t.start()
    slot.end()
    t.join(2)
    assert out == [None] and slot.ended


class Recorder(ResultSink):
    def __init__(self, fail: bool = False) -> None:
        self.seen: list[int] = []
        self.fail = fail

    def handle(self, result: FrameResult) -> None:
        if self.fail:
            raise RuntimeError("sink bug")
        self.seen.append(result.frame.index)

    def close(self) -> None:
        pass


def test_a_failing_sink_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    good = Recorder()
    res = FrameResult(frame(7), MotionResult(np.zeros((0, 4)), 0.0), Detections.empty(), (), ())
    dispatch(res, [Recorder(fail=True), good])
    assert good.seen == [7]
    assert "sink Recorder failed on frame 7" in caplog.text
