"""`make bench`, detection cost: today's behaviour (detector on every frame with motion, crops or whole frame)
against `detect.fps` with the invoke-budget planner, at the clip's 768x576 and upscaled to 1920x1080, in one run.

People found are scored against the MOTChallenge ground truth of PETS09-S2L1 (the demo clip) when it is present
(`make bench MOT_GT=path`, as for the tracking figures); the bench never downloads it.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from camapp.bench.tracking import load_ground_truth
from camapp.capture import FrameSource
from camapp.config import AppConfig
from camapp.detect import Detector, Invocation
from camapp.errors import CaptureEndedError
from camapp.geometry import Box
from camapp.motion.regions import plan_regions, prefer_whole_frame
from camapp.parts import pipeline_factory
from camapp.pipeline import Pipeline
from camapp.sinks import ResultSink
from camapp.types import Frame, FrameResult, IntArray

MATCH_IOU = 0.4  # a tracked person box this close to a ground-truth box follows that person
FOUND_FRAMES = 10  # a person counts as found when a confirmed track follows them on this many frames
LEGACY_REGIONS, LEGACY_MIN_PX = 4, 10  # today's planner: up to 4 crops, whole frame when boxes stay 10 px tall
Truth = dict[int, list[tuple[int, Box]]]  # frame index (0-based) -> [(person id, box)]


def ground_truth(path: Path | None) -> Truth | None:
    """The MOTChallenge ground truth of the demo clip by 0-based frame index, or None when it is not here."""
    if path is None or not path.is_file():
        return None
    return {n - 1: rows for n, rows in load_ground_truth(path).items()}


class ScaledSource(FrameSource):
    """Frames from memory, resized on the fly (a 1080p clip of 795 frames would take 5 GB); the time spent
    resizing is kept apart so fps measures the pipeline alone."""

    def __init__(self, frames: Sequence[Frame], size: tuple[int, int] | None) -> None:
        self._frames, self._size, self._i = frames, size, 0
        self.supply_s = 0.0

    def read(self) -> Frame:
        if self._i >= len(self._frames):
            raise CaptureEndedError("end of the benchmark sequence")
        t0 = time.perf_counter()
        frame = self._frames[self._i]
        self._i += 1
        if self._size is not None:
            image = np.asarray(cv2.resize(frame.image, self._size, interpolation=cv2.INTER_LINEAR), np.uint8)
            frame = Frame(image, frame.timestamp, frame.index)
        self.supply_s += time.perf_counter() - t0
        return frame

    def close(self) -> None:
        self._i = len(self._frames)


@dataclass
class Tally(ResultSink):
    """Counts what the detector did and where the pipeline saw people."""

    analysed: int = 0
    invokes: int = 0
    max_invokes: int = 0
    person_events: int = 0
    people: dict[int, list[tuple[Box, bool]]] = field(default_factory=lambda: defaultdict(list))

    def handle(self, result: FrameResult) -> None:
        self.analysed += result.detector_ran
        self.invokes += result.invokes
        self.max_invokes = max(self.max_invokes, result.invokes)
        self.person_events += sum(e.type == "new" and e.label == "person" for e in result.events)
        self.people[result.frame.index] = [(o.box, o.confirmed) for o in result.objects if o.label == "person"]

    def close(self) -> None:
        pass


def legacy_factory(cfg: AppConfig, detector: Detector) -> Callable[[int, int], Pipeline]:
    """Today's behaviour before this change: no detection rate limit and the crops-or-whole-frame planner."""
    cfg = cfg.model_copy(update={"detect": cfg.detect.model_copy(update={"fps": 0.0})})
    base = pipeline_factory(cfg, detector)
    model = cfg.model
    input_size = detector.input_size
    size = int(max(input_size))

    def planner(motion: IntArray, objects: Sequence[Box], width: int, height: int) -> list[Invocation]:
        regions = plan_regions(motion, objects, width, height, model_size=size, min_region=model.region_size,
                               max_regions=LEGACY_REGIONS)
        boxes = [b for b in [*motion.tolist(), *objects] if b[3] - b[1] >= model.crop_min_px]
        return list(prefer_whole_frame(regions, boxes, width, height, model_size=size,
                                       min_object_px=LEGACY_MIN_PX))

    def build(width: int, height: int) -> Pipeline:
        pipeline = base(width, height)
        pipeline.stages.plan_regions = planner
        return pipeline

    return build


Factory = Callable[[int, int], Pipeline]


def run_cases(frames: Sequence[Frame], size: tuple[int, int] | None, factories: Sequence[Factory],
              truth: Truth | None = None) -> list[dict[str, float]]:
    """Each pipeline on the same frames in lockstep (frame i through every pipeline, then frame i + 1), each timed
    on its own: on a shared machine a load spike hits all of them alike, so their ratio holds."""
    source = ScaledSource(frames, size)
    first = source.read()
    pipelines = [factory(first.width, first.height) for factory in factories]
    tallies, spent = [Tally() for _ in pipelines], [0.0] * len(pipelines)
    frame: Frame | None = first
    while frame is not None:
        for i, pipeline in enumerate(pipelines):
            t0 = time.perf_counter()
            result = pipeline.process(frame)
            spent[i] += time.perf_counter() - t0
            tallies[i].handle(result)
        try:
            frame = source.read()
        except CaptureEndedError:
            frame = None
    for pipeline, tally in zip(pipelines, tallies, strict=True):
        last = pipeline.finish()
        if last is not None:
            tally.person_events += sum(e.type == "new" and e.label == "person" for e in last.events)
    return [{"fps": len(frames) / s, "frames": len(frames), "analysed": t.analysed,
             "invokes_per_analysed": t.invokes / max(t.analysed, 1), "max_invokes": t.max_invokes,
             "person_events": t.person_events, **_people_found(t.people, size, frames, truth)}
            for t, s in zip(tallies, spent, strict=True)]


def run_case(frames: Sequence[Frame], size: tuple[int, int] | None, factory: Callable[[int, int], Pipeline],
             truth: Truth | None = None) -> dict[str, float]:
    return run_cases(frames, size, [factory], truth)[0]


def _people_found(people: dict[int, list[tuple[Box, bool]]], size: tuple[int, int] | None,
                  frames: Sequence[Frame], truth: Truth | None) -> dict[str, float]:
    if truth is None:
        return {}
    sx = sy = 1.0
    if size is not None:
        sx, sy = size[0] / frames[0].width, size[1] / frames[0].height
    followed: dict[int, int] = defaultdict(int)
    matched = total = 0
    indices = {f.index for f in frames}
    truth = {i: gt for i, gt in truth.items() if i in indices}
    for index, gt in truth.items():
        boxes = [(x1 * sx, y1 * sy, x2 * sx, y2 * sy) for _, (x1, y1, x2, y2) in gt]
        ours = people.get(index, [])
        for g, o in _greedy_match(boxes, [b for b, _ in ours]):
            matched += 1
            followed[gt[g][0]] += ours[o][1]
        total += len(gt)
    ids = {pid for gt in truth.values() for pid, _ in gt}
    found = sum(followed[pid] >= FOUND_FRAMES for pid in ids)
    return {"people": len(ids), "people_found": found, "box_recall": matched / max(total, 1)}


def _greedy_match(truth: list[Box], ours: list[Box]) -> list[tuple[int, int]]:
    if not truth or not ours:
        return []
    t, o = np.asarray(truth)[:, None, :], np.asarray(ours)[None, :, :]
    iw = np.clip(np.minimum(t[..., 2], o[..., 2]) - np.maximum(t[..., 0], o[..., 0]), 0, None)
    ih = np.clip(np.minimum(t[..., 3], o[..., 3]) - np.maximum(t[..., 1], o[..., 1]), 0, None)
    inter = iw * ih
    iou = inter / np.maximum(_area(t) + _area(o) - inter, 1e-9)
    pairs, used_t, used_o = [], set(), set()
    for flat in np.argsort(-iou, axis=None):
        g, k = divmod(int(flat), iou.shape[1])
        if iou[g, k] < MATCH_IOU:
            break
        if g not in used_t and k not in used_o:
            pairs.append((g, k))
            used_t.add(g)
            used_o.add(k)
    return pairs


def _area(b: np.ndarray) -> np.ndarray:
    return np.asarray((b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]))


def bench_detection(frames: Sequence[Frame], cfg: AppConfig, detector: Detector, gt_path: Path | None) -> None:
    """Print today's vs the new behaviour at 768x576 and 1080p, with ratios from this one run."""
    truth = ground_truth(gt_path)
    print(f"\ndetection rate and invoke budget (busy street, {len(frames)} frames at 10 fps video time; "
          f"detect.fps {cfg.detect.fps:g}, max_invokes {cfg.detect.max_invokes}, mosaic {cfg.detect.mosaic}; "
          "both run in lockstep, frame by frame, each timed on its own)")
    if truth is None:
        print(f"  (no ground truth at {gt_path}: people found are not scored; make bench MOT_GT=path)")
    for name, size in (("768x576", None), ("1920x1080", (1920, 1080))):
        today, new = run_cases(frames, size, [legacy_factory(cfg, detector), pipeline_factory(cfg, detector)], truth)
        for label, r in (("today", today), ("new", new)):
            print(f"  {name:9} {label:5} {r['fps']:6.1f} frames/s  analysed {r['analysed']:3d}/{r['frames']}  "
                  f"invokes/analysed {r['invokes_per_analysed']:.2f} (max {r['max_invokes']})  "
                  f"person events {r['person_events']}" + _people_text(r))
        print(f"  {name:9} new/today fps {new['fps'] / today['fps']:.2f}x")


def _people_text(r: dict[str, float]) -> str:
    if "people" not in r:
        return ""
    return f"  people found {r['people_found']}/{r['people']}  box recall {r['box_recall']:.3f}"
