"""What every `make bench` part runs the pipeline with: the default config on a clip, its frames held in memory, and
the whole pipeline (camapp/parts.py's stages, the stream hub) replayed over them, timed; plus the naive baseline
(the detector on every whole frame).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol, TypedDict

import cv2
import numpy as np

from camapp.capture import FrameSource
from camapp.config import AppConfig, parse_config
from camapp.detect import Detector
from camapp.errors import CaptureEndedError
from camapp.health import PipelineStats
from camapp.parts import pipeline_factory
from camapp.runner import PipelineHolder, replay
from camapp.sinks import ResultSink
from camapp.stream import FrameHub, HubSink
from camapp.types import FloatArray, Frame, FrameResult


def bench_config(video: Path) -> AppConfig:
    """The default config on the clip (what a new user gets), read as fast as possible."""
    return parse_config({"camera": {"source": "file", "path": str(video), "loop": False, "realtime": False}})


def frames_of(video: Path) -> Iterator[Frame]:
    cap = cv2.VideoCapture(str(video))
    i = 0
    while True:
        ok, img = cap.read()
        if not ok:
            break
        yield Frame(np.asarray(img, dtype=np.uint8), i / 10.0, i)
        i += 1
    cap.release()


class ListSource(FrameSource):
    """Frames from memory, so both loops see exactly the same input without decoding time."""

    def __init__(self, frames: list[Frame]) -> None:
        self._frames, self._i = frames, 0

    def read(self) -> Frame:
        if self._i >= len(self._frames):
            raise CaptureEndedError("end of the benchmark sequence")
        self._i += 1
        return self._frames[self._i - 1]

    def close(self) -> None:
        self._i = len(self._frames)


def quiet_sequence(frames: list[Frame], idle: int = 200, busy: int = 200) -> list[Frame]:
    """A home camera's day in miniature: a still scene, people walking through, a still scene again."""
    images = [frames[0].image] * idle + [f.image for f in frames[:busy]] + [frames[busy - 1].image] * idle
    return [Frame(img, i / 10.0, i) for i, img in enumerate(images)]


class CallTimer(ResultSink):
    """Collects the detector's per-call timings from each frame the detector ran on."""

    def __init__(self, detector: Detector) -> None:
        self.detector = detector
        self.invoke: list[float] = []
        self.total: list[float] = []

    def handle(self, result: FrameResult) -> None:
        t = self.detector.last_timings_ms
        if result.detector_ran and t:
            self.invoke.append(t.get("invoke", 0.0))
            self.total.append(t.get("total", sum(t.values())))

    def close(self) -> None:
        pass


class PipelineRun(TypedDict):
    """One replay through the pipeline: frames per second, detector share, per-frame times (ms), JPEG encodes."""

    fps: float
    frames: int
    detector_calls: int
    verifications: int
    motion_ms: float
    invoke_ms: float
    call_ms: float
    encodes: int


class NaiveRun(TypedDict):
    """The baseline's speed, and the people it found in each frame (by frame index) for the motion figures."""

    fps: float
    frames: int
    person_boxes: dict[int, FloatArray]


class RunPipeline(Protocol):
    """run_pipeline, as the bench parts that take it as an argument call it."""

    def __call__(self, frames: list[Frame], cfg: AppConfig, detector: Detector, viewers: int = 0,
                 extra: Sequence[ResultSink] = ()) -> PipelineRun: ...


def run_pipeline(frames: list[Frame], cfg: AppConfig, detector: Detector, viewers: int = 0,
                 extra: Sequence[ResultSink] = ()) -> PipelineRun:
    stats, hub = PipelineStats(), FrameHub(cfg.web.stream_width, cfg.web.jpeg_quality, cfg.web.stream_fps)
    timer = CallTimer(detector)
    threads = [threading.Thread(target=lambda: [None for _ in hub.frames(timeout=0.5)], daemon=True)
               for _ in range(viewers)]
    for t in threads:
        t.start()
    motion_ms: list[float] = []
    verifications = 0

    class MotionTimer(ResultSink):
        def handle(self, result: FrameResult) -> None:
            nonlocal verifications
            motion_ms.append(result.timings_ms.get("motion", 0.0))
            verifications += result.verification

        def close(self) -> None:
            pass

    t0 = time.perf_counter()
    holder = PipelineHolder(pipeline_factory(cfg, detector))
    replay(ListSource(frames), holder, [HubSink(hub), timer, MotionTimer(), *extra], stats)
    elapsed = time.perf_counter() - t0
    for t in threads:
        t.join(2)
    s = stats.as_dict()
    return PipelineRun(fps=s["frames"] / elapsed, frames=s["frames"], detector_calls=s["detector_calls"],
                       verifications=verifications,
                       motion_ms=statistics.mean(motion_ms) if motion_ms else 0.0,
                       invoke_ms=statistics.mean(timer.invoke) if timer.invoke else 0.0,
                       call_ms=statistics.mean(timer.total) if timer.total else 0.0, encodes=hub.encodes)


def run_naive(frames: list[Frame], detector: Detector) -> NaiveRun:
    """The baseline: the detector on every whole frame, nothing else."""
    n, t0 = 0, time.perf_counter()
    person_boxes: dict[int, FloatArray] = {}
    for frame in frames:
        dets = detector.detect(frame.image)
        keep = np.array([label == "person" for label in dets.labels], dtype=bool)
        person_boxes[frame.index] = dets.boxes[keep] if len(dets) else np.zeros((0, 4), np.float32)
        n += 1
    elapsed = time.perf_counter() - t0
    return NaiveRun(fps=n / elapsed, frames=n, person_boxes=person_boxes)
