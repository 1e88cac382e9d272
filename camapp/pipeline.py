"""One frame through the stages: motion gate -> regions -> detector -> filters -> tracker -> zones -> events.

Pure orchestration: it holds stage objects behind their interfaces and never touches I/O.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from camapp.detect import Detector, Region
from camapp.events import EventTracker
from camapp.motion import MotionDetector
from camapp.track import Tracker
from camapp.types import Detections, Frame, FrameResult, IntArray, MotionResult
from camapp.zones import ZoneMap

Box = tuple[float, float, float, float]
RegionPlanner = Callable[[IntArray, Sequence[Box], int, int], list[Region]]


@dataclass
class Stages:
    """The stage objects one pipeline runs; built by the wiring (camapp/app.py)."""

    motion: MotionDetector | None  # None: no motion gate, detect on every whole frame
    detector: Detector
    tracker: Tracker
    zones: ZoneMap
    events: EventTracker
    plan_regions: RegionPlanner
    filter: Callable[[Detections], Detections]


@dataclass
class _Clock:
    last_recheck: float = float("-inf")
    last_frame: Frame | None = None
    timings: dict[str, float] = field(default_factory=dict)
    was_enabled: bool = True
    parked: list[Box] = field(default_factory=list)  # boxes of the objects that were stationary last frame


PARKED_MARGIN = 0.25  # widening of a parked object's box (share of its size): motion boxes come from a coarse mask


def _inside(blob: Sequence[float], parked: Sequence[Box]) -> bool:
    """Whether the blob lies wholly within the (widened) boxes of parked objects, together: one motion blob often
    spans two people standing side by side."""
    bx1, by1, bx2, by2 = (int(v) for v in blob[:4])
    if bx2 <= bx1 or by2 <= by1:
        return True
    covered = np.zeros((by2 - by1, bx2 - bx1), dtype=bool)
    for x1, y1, x2, y2 in parked:
        mx, my = (x2 - x1) * PARKED_MARGIN, (y2 - y1) * PARKED_MARGIN
        cx1, cy1 = max(int(x1 - mx) - bx1, 0), max(int(y1 - my) - by1, 0)
        cx2, cy2 = min(int(x2 + mx) - bx1, bx2 - bx1), min(int(y2 + my) - by1, by2 - by1)
        if cx2 > cx1 and cy2 > cy1:
            covered[cy1:cy2, cx1:cx2] = True
    return bool(covered.all())


class Pipeline:
    """Processes frames one at a time; call from a single thread.

    `enabled` is the detection switch, read every frame. Off, the detector is never called: the tracker is told
    nothing was found anywhere, so objects and their events end as they would for a person who left (moving ones
    after max_missed_s, then end_after_s). The first frame after switching on searches the whole frame, so anything
    already in view is found at once even though it is not moving.
    """

    def __init__(self, stages: Stages, recheck_s: float, enabled: Callable[[], bool] = lambda: True) -> None:
        self.stages = stages
        self._recheck_s = recheck_s
        self._enabled = enabled
        self._clock = _Clock()

    def _motion(self, frame: Frame) -> MotionResult:
        if self.stages.motion is None:
            return MotionResult(np.array([[0, 0, frame.width, frame.height]]), 1.0)
        return self.stages.motion.detect(frame)

    def _recheck_due(self, now: float) -> bool:
        if self._recheck_s <= 0 or not self.stages.tracker.predicted_boxes():
            return False
        return now - self._clock.last_recheck >= self._recheck_s

    def _regions(self, frame: Frame, motion: MotionResult, recheck: bool) -> list[Region] | None:
        if self.stages.motion is None:
            return None  # whole frame
        objects = self.stages.tracker.predicted_boxes() if recheck else []
        return self.stages.plan_regions(motion.boxes, objects, frame.width, frame.height)

    def _timed(self, name: str, t0: float) -> float:
        t1 = time.perf_counter()
        self._clock.timings[name] = (t1 - t0) * 1000.0
        return t1

    def process(self, frame: Frame) -> FrameResult:
        """Run every stage on one frame and return what happened."""
        self._clock.timings = {}
        self._clock.last_frame = frame
        t = time.perf_counter()
        motion = self._motion(frame)
        t = self._timed("motion", t)
        now = frame.timestamp
        enabled = self._enabled()
        resumed, self._clock.was_enabled = enabled and not self._clock.was_enabled, enabled
        regions, detections, ran = self._detect(frame, self._outside_parked(motion), enabled, resumed)
        if ran:
            t = self._timed("detect", t)
            objects = self.stages.tracker.update(detections, now, regions, frame.image)
        elif not enabled:
            objects = self.stages.tracker.update(Detections.empty(), now, None)  # blind: nothing is seen anywhere
        else:
            objects = self.stages.tracker.tick(now)
        self._clock.parked = [o.box for o in objects if o.stationary]
        zones = self.stages.zones.update(objects, now)
        events = self.stages.events.update(objects, zones, now)
        self._timed("track", t)
        return FrameResult(
            frame=frame,
            motion=motion,
            detections=detections,
            objects=tuple(objects),
            events=tuple(events),
            regions=tuple(regions or ()),
            detector_ran=ran,
            timings_ms=dict(self._clock.timings),
            detection_enabled=enabled,
        )

    def _outside_parked(self, motion: MotionResult) -> MotionResult:
        """Motion minus the blobs wholly inside a parked object's box (Frigate's stationary rule): a parked car's
        flickering paint or a seated person's small movements do not wake the detector; recheck_s still confirms
        the object is there, and motion reaching outside the box (it drives off, someone walks up) still counts."""
        parked = self._clock.parked
        if not parked or not motion.has_motion:
            return motion
        keep = [m for m in motion.boxes.tolist() if not _inside(m, parked)]
        if len(keep) == len(motion.boxes):
            return motion
        return MotionResult(np.asarray(keep, dtype=np.int32).reshape(-1, 4), motion.fraction, motion.suppressed)

    def _detect(
        self, frame: Frame, motion: MotionResult, enabled: bool, resumed: bool
    ) -> tuple[list[Region] | None, Detections, bool]:
        """(regions searched, detections, whether the detector ran) for this frame."""
        if not enabled:
            return [], Detections.empty(), False
        now = frame.timestamp
        recheck = self._recheck_due(now)
        if resumed:
            regions: list[Region] | None = None  # whole frame: find what is already there
        elif motion.has_motion or recheck:
            regions = self._regions(frame, motion, recheck)
            if regions is not None and not regions:
                return [], Detections.empty(), False
        else:
            return [], Detections.empty(), False
        if recheck or resumed:
            self._clock.last_recheck = now
        return regions, self.stages.filter(self.stages.detector.detect(frame.image, regions)), True

    def finish(self) -> FrameResult | None:
        """End every open event (shutdown or end of a replay), as a last result carrying the `end` messages."""
        last = self._clock.last_frame
        if last is None:
            return None
        events = self.stages.events.flush(last.timestamp)
        empty = MotionResult(np.zeros((0, 4), np.int32), 0.0)
        return FrameResult(frame=last, motion=empty, detections=Detections.empty(), objects=(), events=tuple(events))
