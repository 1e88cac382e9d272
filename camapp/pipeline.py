"""One frame through the stages: motion gate -> regions -> detector -> filters -> tracker -> zones -> events.

Pure orchestration: it holds stage objects behind their interfaces and never touches I/O.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from camapp.detect import Detector, Invocation, Region, flatten
from camapp.detect.schedule import DetectRate
from camapp.events import EventTracker
from camapp.geometry import Box
from camapp.motion import MotionDetector
from camapp.track import Tracker
from camapp.types import Detections, Frame, FrameResult, IntArray, MotionResult, TrackedObject
from camapp.zones import ZoneMap

RegionPlanner = Callable[[IntArray, Sequence[Box], int, int], list[Invocation]]  # each item is one model invoke
MAX_PENDING_BOXES = 64  # motion remembered between analysed frames; more is folded into one bounding box


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
    plan_verify: RegionPlanner | None = None  # the sharpest look at a few boxes in one invoke; None: no verification


@dataclass(frozen=True)
class _Look:
    """What the detector searched on one frame (plan None: the whole frame) and found; a verification look only
    searched around doubtful newcomers."""

    plan: list[Invocation] | None
    detections: Detections
    verification: bool = False

    @cached_property
    def regions(self) -> list[Region] | None:
        """The frame areas the plan searched (None: the whole frame), as the tracker and FrameResult take them."""
        return None if self.plan is None else flatten(self.plan)


@dataclass
class _Clock:
    last_recheck: float = float("-inf")
    last_frame: Frame | None = None
    pending: list[IntArray] = field(default_factory=list)  # motion boxes seen since the detector last ran
    timings: dict[str, float] = field(default_factory=dict)
    was_enabled: bool = True
    look_from: float = float("inf")  # whole-frame search window (see Pipeline), none scheduled yet
    look_until: float = float("-inf")
    parked: list[Box] = field(default_factory=list)  # boxes of the objects that were stationary last frame
    doubtful: list[TrackedObject] = field(default_factory=list)  # newcomers the last slot's look left in doubt


LOOK_S = 0.5  # whole-frame search after the motion gate was blind: a few frames, enough to confirm what is there
SETTLE_S = 1.0  # wait after a light switch before that search, for the picture to settle
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
    after max_missed_s, then end_after_s).

    The motion gate cannot see what stands still, so whenever it was blind the pipeline searches the whole frame for
    LOOK_S: when it starts (someone may already be standing there), when detection is switched back on, and
    SETTLE_S after a light switch (the lights come on, or a scene fades in from black, on people who are not
    moving). That is long enough to confirm what is there; from then on the motion gate and re-checks take over.

    Verification: a newcomer's first looks are often weak (half in the picture, small, partly hidden), and its event
    waits until its scores qualify. Between two detection slots the pipeline takes at most one extra look, as sharp as
    one invoke allows, around the newcomers the last slot left in doubt (EventTracker.doubtful); what it finds only
    adds to their score evidence (Tracker.corroborate), so the tracker still moves at detect_fps.
    """

    def __init__(
        self, stages: Stages, recheck_s: float, enabled: Callable[[], bool] = lambda: True, detect_fps: float = 0.0
    ) -> None:
        self.stages = stages
        self._recheck_s = recheck_s
        self._rate = DetectRate(detect_fps)
        self._enabled = enabled
        self._clock = _Clock()

    def relearn(self) -> None:
        """The camera restarted: learn the motion background afresh and forget motion seen before."""
        if self.stages.motion is not None:
            self.stages.motion.reset()
        self._clock.pending = []
        self._clock.doubtful = []

    def _motion(self, frame: Frame) -> MotionResult:
        if self.stages.motion is None:
            return MotionResult(np.array([[0, 0, frame.width, frame.height]]), 1.0)
        return self.stages.motion.detect(frame)

    def _recheck_due(self, now: float) -> bool:
        if self._recheck_s <= 0 or not self.stages.tracker.predicted_boxes():
            return False
        return now - self._clock.last_recheck >= self._recheck_s

    def _regions(self, frame: Frame, motion: MotionResult, recheck: bool) -> list[Invocation] | None:
        if self.stages.motion is None:
            return None  # whole frame
        objects = self.stages.tracker.predicted_boxes() if recheck else []
        moved = np.concatenate([*self._clock.pending, motion.boxes.reshape(-1, 4)]).astype(np.int32)
        return self.stages.plan_regions(moved, objects, frame.width, frame.height)

    def _remember(self, motion: MotionResult) -> None:
        """Keep motion from frames the rate skipped, so the next analysed frame also looks where it happened."""
        pending = self._clock.pending
        pending.append(motion.boxes.reshape(-1, 4))
        if sum(len(b) for b in pending) > MAX_PENDING_BOXES:
            allb = np.concatenate(pending)
            pending[:] = [np.array([[*allb[:, :2].min(axis=0), *allb[:, 2:].max(axis=0)]], np.int32)]

    def _timed(self, name: str, t0: float) -> float:
        t1 = time.perf_counter()
        self._clock.timings[name] = (t1 - t0) * 1000.0
        return t1

    def process(self, frame: Frame) -> FrameResult:
        """Run every stage on one frame and return what happened."""
        now = frame.timestamp
        if self._clock.last_frame is None:
            self._look(now)
        self._clock.timings = {}
        self._clock.last_frame = frame
        t = time.perf_counter()
        motion = self._motion(frame)
        t = self._timed("motion", t)
        enabled = self._enabled()
        if enabled and not self._clock.was_enabled:
            self._look(now)
        self._clock.was_enabled = enabled
        if motion.suppressed:
            self._look(now + SETTLE_S)
        look = self._detect(frame, self._outside_parked(motion), enabled)
        if look is None and enabled:
            look = self._verify(frame)
        if look is not None:
            t = self._timed("detect", t)
        objects = self._track(look, now, enabled, frame)
        self._clock.parked = [o.box for o in objects if o.stationary]
        zones = self.stages.zones.update(objects, now)
        events = self.stages.events.update(objects, zones, now)
        if look is not None:  # a slot leaves new doubts; a verification look has taken its interval's chance
            slot = not look.verification and self.stages.plan_verify is not None
            self._clock.doubtful = self.stages.events.doubtful(objects, now) if slot else []
        self._timed("track", t)
        return FrameResult(
            frame=frame,
            motion=motion,
            detections=Detections.empty() if look is None else look.detections,
            objects=tuple(objects),
            events=tuple(events),
            regions=() if look is None else tuple(look.regions or ()),
            detector_ran=look is not None,
            invokes=0 if look is None else 1 if look.plan is None else len(look.plan),
            timings_ms=dict(self._clock.timings),
            detection_enabled=enabled,
            zones=self.stages.zones.state(),
            verification=look is not None and look.verification,
        )

    def _track(self, look: _Look | None, now: float, enabled: bool, frame: Frame) -> list[TrackedObject]:
        """The tracker's objects after this frame's look (a verification look only adds score evidence)."""
        tracker = self.stages.tracker
        if look is None:  # nobody looked: predict on; switched off, the pipeline is blind: nothing is seen anywhere
            return tracker.tick(now) if enabled else tracker.update(Detections.empty(), now, None)
        if look.verification:
            tracker.corroborate(look.detections, now, {o.track_id for o in self._clock.doubtful})
            return tracker.tick(now)
        return tracker.update(look.detections, now, look.regions, frame.image)

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

    def _look(self, start: float) -> None:
        """Search the whole frame from `start` for LOOK_S."""
        self._clock.look_from, self._clock.look_until = start, start + LOOK_S

    def _verify(self, frame: Frame) -> _Look | None:
        """The verification look of this slot interval, if there are doubtful newcomers and it is time."""
        plan_verify = self.stages.plan_verify
        if plan_verify is None or not self._clock.doubtful or not self._rate.verify_due(frame.timestamp):
            return None
        self._rate.verified()
        boxes = [o.box for o in self._clock.doubtful]
        plan = plan_verify(np.zeros((0, 4), np.int32), boxes, frame.width, frame.height)
        return _Look(plan, self.stages.filter(self.stages.detector.detect(frame.image, plan)), verification=True)

    def _detect(self, frame: Frame, motion: MotionResult, enabled: bool) -> _Look | None:
        """What the detector searched and found on this frame, if it ran. It runs at most at detect_fps (frame
        time); motion on the frames between is planned on at the next slot."""
        now = frame.timestamp
        recheck = enabled and self._recheck_due(now)
        looking = enabled and self._clock.look_from <= now < self._clock.look_until
        if not enabled or not (looking or motion.has_motion or recheck or self._clock.pending):
            return None
        if not self._rate.due(now):
            if motion.has_motion:
                self._remember(motion)
            return None
        plan = None if looking else self._regions(frame, motion, recheck)  # looking: find what is already there
        self._clock.pending = []
        if plan is not None and not plan:
            return None
        self._rate.ran(now)
        if recheck or looking:
            self._clock.last_recheck = now
        return _Look(plan, self.stages.filter(self.stages.detector.detect(frame.image, plan)))

    def finish(self) -> FrameResult | None:
        """End every open event (shutdown or end of a replay), as a last result carrying the `end` messages."""
        last = self._clock.last_frame
        if last is None:
            return None
        events = self.stages.events.flush(last.timestamp)
        empty = MotionResult(np.zeros((0, 4), np.int32), 0.0)
        return FrameResult(frame=last, motion=empty, detections=Detections.empty(), objects=(), events=tuple(events),
                           zones=self.stages.zones.state())
