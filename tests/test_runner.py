"""Runner building blocks (latest-frame mailbox, sink isolation), and a camera reconnect seen through the Runner."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest

from camapp.capture import FrameSource
from camapp.config import EventsConfig, ObjectsConfig, TrackerConfig
from camapp.detect import Detector, Region
from camapp.errors import CaptureEndedError
from camapp.events import EventTracker
from camapp.health import PipelineStats
from camapp.pipeline import Pipeline, Stages
from camapp.runner import LatestFrame, PipelineHolder, Runner, dispatch
from camapp.sinks import ResultSink
from camapp.track import IouTracker
from camapp.types import Detections, Frame, FrameResult, Image, MotionResult
from camapp.zones import ZoneMap


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


class NothingDetector(Detector):
    """Finds nothing, at once."""

    def detect(self, image: Image, regions: Sequence[Region] | None = None) -> Detections:
        return Detections.empty()

    labels = name = property(lambda self: "nothing")  # type: ignore[assignment]
    input_size = property(lambda self: (300, 300))  # type: ignore[assignment]
    last_timings_ms = property(lambda self: {"total": 0.0})  # type: ignore[assignment]

    def close(self) -> None:
        pass


def stages(width: int, height: int) -> Stages:
    """A whole pipeline around a detector that costs nothing (no motion gate: it runs on every frame)."""
    return Stages(motion=None, detector=NothingDetector(), tracker=IouTracker(TrackerConfig(), width, height),
                  zones=ZoneMap([]), events=EventTracker(ObjectsConfig(), EventsConfig(), "cam", (640, 480)),
                  plan_regions=lambda *_: [], filter=lambda d: d)


class SlowSink(ResultSink):
    """Takes 50 ms per frame: a camera at 100 fps must drop frames instead of queueing them."""

    def handle(self, result: FrameResult) -> None:
        time.sleep(0.05)

    def close(self) -> None:
        pass


class FastCamera(FrameSource):
    def __init__(self, frames: int) -> None:
        self._left, self._index = frames, 0

    def read(self) -> Frame:
        if self._left == 0:
            raise CaptureEndedError("done")
        self._left -= 1
        self._index += 1
        time.sleep(0.01)
        return frame(self._index)

    def close(self) -> None:
        pass


def test_frames_dropped_while_the_pipeline_is_busy_reach_the_stats() -> None:
    stats = PipelineStats()
    pipelines = PipelineHolder(lambda w, h: Pipeline(stages(w, h), recheck_s=0))
    with Runner(FastCamera(60), pipelines, [SlowSink()], stats) as runner:
        assert runner.wait(30)
    s = stats.as_dict()
    assert s["dropped_frames"] > 20 and s["frames"] + s["dropped_frames"] == 60
    assert s["dropped_frames"] == stats.dropped_frames


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


# --- a camera that drops out and comes back --------------------------------------------------------------------


def write_clip(path: Path, frames: list[np.ndarray], fps: float) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (768, 576))
    assert writer.isOpened(), "OpenCV cannot write MJPEG AVI here"
    for image in frames:
        writer.write(image)
    writer.release()
    return path


def vtest_frames(path: Path, start: int, count: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, start)
    frames = [cap.read()[1] for _ in range(count)]
    cap.release()
    return frames


class Results(ResultSink):
    def __init__(self, until: Callable[[list[FrameResult]], bool], stop: threading.Event) -> None:
        self.results: list[FrameResult] = []
        self._until, self._stop = until, stop

    def handle(self, result: FrameResult) -> None:
        self.results.append(result)
        if self._until(self.results):
            self._stop.set()

    def close(self) -> None:
        pass


BEFORE, AFTER = 30, 40  # frames the camera shows before it drops out, and (looped) after it is back


def test_motion_relearns_the_background_after_a_reconnect(tmp_path: Path, demo_video: Path,
                                                          model_manifest: Path) -> None:
    """The camera comes back showing the street 30 s later: compared with the old background, the people who
    left and came would all be motion at once; instead the first frames only teach the new background."""
    from camapp.capture.file import FileSource
    from camapp.capture.reconnect import ReconnectingSource
    from camapp.config import parse_config
    from camapp.detect.factory import build_detector
    from camapp.health import PipelineStats
    from camapp.parts import pipeline_factory

    camera = write_clip(tmp_path / "camera.avi", vtest_frames(demo_video, 0, BEFORE), fps=25)
    later = write_clip(tmp_path / "later.avi", vtest_frames(demo_video, 300, AFTER), fps=25)
    cfg = parse_config({"motion": {"recheck_s": 0}})  # the detector runs on motion only
    stop, stats = threading.Event(), PipelineStats()
    sink = Results(lambda rs: sum(r.frame.index >= BEFORE for r in rs) >= 15, stop)
    # Once open, the camera is unplugged (it is read on to the end of the pass, then reopening fails), and
    # plugged in again when the failure is reported.
    plug = {"open": lambda: camera.rename(tmp_path / "unplugged.avi"), "reconnecting": lambda: later.rename(camera)}

    def camera_status(status: str, error: str | None) -> None:
        stats.set_camera(status, error)
        if status in plug:
            plug.pop(status)()

    source = ReconnectingSource(lambda: FileSource(camera, loop=True, realtime=True, stop_event=stop),
                                min_backoff_s=0.05, max_backoff_s=0.1, stop_event=stop, on_status=camera_status)
    with build_detector(cfg.model) as detector, source, Runner(source, PipelineHolder(pipeline_factory(cfg, detector)),
                                                         [sink], stats, stop_event=stop) as runner:
        assert runner.wait(60), "the runner never saw 15 frames after the reconnect"
    assert runner.error is None and stats.reconnects == 1 and plug == {}
    before = [r for r in sink.results if r.frame.index < BEFORE]
    after = [r for r in sink.results if r.frame.index >= BEFORE]
    assert any(len(r.motion.boxes) for r in before), "no motion before the drop-out: nothing to compare with"
    relearning = after[:5]
    assert [(len(r.motion.boxes), r.detector_ran) for r in relearning] == [(0, False)] * 5
    assert any(len(r.motion.boxes) for r in after[5:]), "motion never came back after relearning"
