"""One loaded model for every camera: detection requests are served one at a time, in the order they came.

Each camera's pipeline thread asks for at most one detection at a time (it waits for the answer), so with first-come,
first-served order a request waits at most for one request of every other camera: no camera starves another, and a
busy camera (motion everywhere, several invokes per slot) cannot push an idle camera's newcomer back by more than its
own one request. A request that waits longer than its camera can afford (half a detection period) is counted as a
late slot for that camera; the counts are in the stats and /api/stats.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypedDict, TypeVar

from camapp.detect import Detector, Invocation
from camapp.types import Detections, Image

T = TypeVar("T")
LATE_FRACTION = 0.5  # of the camera's detection period: waiting longer than this makes its slot late


class SlotFigures(TypedDict):
    """A camera's slot stats as /api/stats, /healthz and the bench report them."""

    requests: int
    late_slots: int
    wait_ms_mean: float
    wait_ms_max: float
    busy_ms: float
    ahead_max: int


@dataclass
class SlotStats:
    """One camera's use of the shared model."""

    requests: int = 0
    late: int = 0
    wait_ms_max: float = 0.0
    wait_ms_total: float = 0.0
    busy_ms_total: float = 0.0  # time its requests held the model
    ahead_max: int = 0  # most requests (of other cameras) queued ahead of one of its requests

    def as_dict(self) -> SlotFigures:
        mean = self.wait_ms_total / self.requests if self.requests else 0.0
        return {"requests": self.requests, "late_slots": self.late, "wait_ms_mean": round(mean, 2),
                "wait_ms_max": round(self.wait_ms_max, 2), "busy_ms": round(self.busy_ms_total, 1),
                "ahead_max": self.ahead_max}


class DetectorScheduler:
    """A ticket queue in front of one model: strictly first come, first served (a plain lock is not: the thread
    that just released it often takes it again before a waiting one wakes up)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._issued = 0
        self._serving = 0
        self._stats: dict[str, SlotStats] = {}

    def serve(self, camera: str, late_after_s: float, work: Callable[[], T]) -> T:
        """Run `work` when it is this request's turn; its wait is counted for `camera`."""
        t0 = time.perf_counter()
        with self._cond:
            ticket = self._issued
            self._issued += 1
            ahead = ticket - self._serving
            self._cond.wait_for(lambda: self._serving == ticket)
        t1 = time.perf_counter()
        try:
            return work()
        finally:
            t2 = time.perf_counter()
            with self._cond:
                stats = self._stats.setdefault(camera, SlotStats())
                wait = t1 - t0
                stats.requests += 1
                stats.late += int(wait > late_after_s)
                stats.wait_ms_total += wait * 1000.0
                stats.wait_ms_max = max(stats.wait_ms_max, wait * 1000.0)
                stats.busy_ms_total += (t2 - t1) * 1000.0
                stats.ahead_max = max(stats.ahead_max, ahead)
                self._serving += 1
                self._cond.notify_all()

    def stats(self) -> dict[str, SlotFigures]:
        """Per camera: requests, late slots, mean and longest wait in ms, ms holding the model."""
        with self._cond:
            return {name: s.as_dict() for name, s in self._stats.items()}

    def camera_stats(self, camera: str) -> SlotFigures:
        with self._cond:
            return self._stats.get(camera, SlotStats()).as_dict()


class ScheduledDetector(Detector):
    """One camera's view of the shared model: the same model, its requests queued through the scheduler. Closing it
    leaves the model open (its owner, camapp.live.LivePipeline, closes that once)."""

    def __init__(self, model: Detector, scheduler: DetectorScheduler, camera: str, late_after_s: float) -> None:
        self.model, self._scheduler, self.camera, self._late_after_s = model, scheduler, camera, late_after_s
        self._timings: dict[str, float] = {"total": 0.0}

    def detect(self, image: Image, regions: Sequence[Invocation] | None = None) -> Detections:
        def work() -> Detections:
            found = self.model.detect(image, regions)
            self._timings = self.model.last_timings_ms  # read while this request still holds the model
            return found

        return self._scheduler.serve(self.camera, self._late_after_s, work)

    def close(self) -> None:
        """Nothing of its own to release."""

    @property
    def labels(self) -> Sequence[str]:
        return self.model.labels

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def input_size(self) -> tuple[int, int]:
        return self.model.input_size

    @property
    def last_timings_ms(self) -> dict[str, float]:
        return dict(self._timings)


def late_after_s(detect_fps: float, camera_fps: float) -> float:
    """How long a camera's detection request may wait before its slot counts as late."""
    rate = detect_fps if detect_fps > 0 else camera_fps
    return LATE_FRACTION / rate
