"""`make bench`: the whole pipeline on vtest.avi against a naive detect-every-whole-frame loop, motion gate versus a
Frigate-style percentile baseline, and the pipeline's fps with 0 versus 20 stream viewers. Prints figures and ratios.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from camapp.assets import ROOT, demo_video
from camapp.bench.recording import bench_recording
from camapp.bench.speed import bench_detection
from camapp.bench.storage import bench_storage
from camapp.bench.tracking import TrackLog, report_idle_people
from camapp.bench.tracking import report as report_tracking
from camapp.capture import FrameSource
from camapp.config import AppConfig, parse_config
from camapp.detect import Detector
from camapp.detect.factory import build_detector
from camapp.detect.trust import ModelTrust
from camapp.errors import CaptureEndedError
from camapp.health import PipelineStats
from camapp.parts import pipeline_factory
from camapp.runner import PipelineHolder, replay
from camapp.sinks import ResultSink
from camapp.stream import FrameHub, HubSink
from camapp.types import Frame, FrameResult


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


def run_pipeline(frames: list[Frame], cfg: AppConfig, detector: Detector, viewers: int = 0,
                 extra: Sequence[ResultSink] = ()) -> dict[str, Any]:
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
    return {"fps": s["frames"] / elapsed, "frames": s["frames"], "detector_calls": s["detector_calls"],
            "verifications": verifications,
            "motion_ms": statistics.mean(motion_ms) if motion_ms else 0.0,
            "invoke_ms": statistics.mean(timer.invoke) if timer.invoke else 0.0,
            "call_ms": statistics.mean(timer.total) if timer.total else 0.0, "encodes": hub.encodes}


def run_naive(frames: list[Frame], detector: Detector) -> dict[str, Any]:
    """The baseline: the detector on every whole frame, nothing else."""
    n, t0, person_boxes = 0, time.perf_counter(), {}
    for frame in frames:
        dets = detector.detect(frame.image)
        keep = np.array([label == "person" for label in dets.labels], dtype=bool)
        person_boxes[frame.index] = dets.boxes[keep] if len(dets) else np.zeros((0, 4), np.float32)
        n += 1
    elapsed = time.perf_counter() - t0
    return {"fps": n / elapsed, "frames": n, "person_boxes": person_boxes}


def bench_motion(video: Path, cfg: AppConfig, person_boxes: dict[int, np.ndarray]) -> None:
    from camapp.motion.evaluate import PercentileMotionDetector, evaluate_motion

    ours = evaluate_motion(video, cfg.motion, person_boxes)
    base = evaluate_motion(video, cfg.motion, person_boxes, detector_factory=PercentileMotionDetector)
    print(f"motion gate (ours)           {ours['ms_per_frame']:.2f} ms/frame, recall of people {ours['recall']:.3f}")
    print(f"motion gate (percentile ref) {base['ms_per_frame']:.2f} ms/frame, recall of people {base['recall']:.3f}")
    print(f"  ours is {base['ms_per_frame'] / max(ours['ms_per_frame'], 1e-9):.2f}x faster per frame")


def report(title: str, gated: dict[str, Any], naive: dict[str, Any]) -> None:
    frac = gated["detector_calls"] / max(gated["frames"], 1)
    print(f"\n{title}")
    print(f"  pipeline (motion-gated)    {gated['fps']:.1f} frames/s over {gated['frames']} frames")
    print(f"  motion                     {gated['motion_ms']:.2f} ms/frame")
    print(f"  detector                   invoke {gated['invoke_ms']:.1f} ms, per call (pre+invoke+post) "
          f"{gated['call_ms']:.1f} ms")
    print(f"  frames sent to detector    {frac:.1%} ({gated['detector_calls']}/{gated['frames']}, of which "
          f"{gated['verifications']} verification looks)")
    print(f"  naive (every whole frame)  {naive['fps']:.1f} frames/s")
    print(f"  ratio gated/naive          {gated['fps'] / naive['fps']:.2f}x")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="camapp.bench")
    parser.add_argument("--mot-gt", type=Path, default=ROOT.parent / "shared" / "data" / "pets09-s2l1-gt.txt",
                        help="MOTChallenge ground truth of the demo clip (PETS09-S2L1); scores skipped if absent")
    parser.add_argument("--only", choices=["tracking"],
                        help="tracking: only the tracking figures and the mostly-idle sequence's detector share and "
                        "missed people (one pipeline run each, no baselines: a quick loop while tuning)")
    parser.add_argument("--per-event", action="store_true",
                        help="with the ground truth: list each person event with the frames its tracks matched each "
                        "person (who an event is scored to, and why someone has none)")
    return parser.parse_args(argv)


def bench_tracking(busy: list[Frame], cfg: AppConfig, detector: Detector, gt_path: Path,
                   per_event: bool = False) -> None:
    """The tracking figures of the busy clip and the mostly-idle sequence, without the speed baselines."""
    tracks, idle_tracks = TrackLog(), TrackLog()
    run_pipeline(busy, cfg, detector, extra=[tracks])
    report_tracking(tracks, gt_path, per_event=per_event)
    idle = run_pipeline(quiet_sequence(busy), cfg, detector, extra=[idle_tracks])
    share = idle["detector_calls"] / max(idle["frames"], 1)
    print("\nmostly idle (20 s still, 20 s of vtest, 20 s still)")
    print(f"  frames sent to detector    {share:.1%} ({idle['detector_calls']}/{idle['frames']}, of which "
          f"{idle['verifications']} verification looks)")
    report_idle_people(idle_tracks, gt_path, offset=200, frames=200)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    gt_path = Path(args.mot_gt)
    video = demo_video()
    cfg = bench_config(video)
    busy = list(frames_of(video))
    quiet = quiet_sequence(busy)
    with build_detector(cfg.model, ModelTrust.from_config(cfg.web)) as detector:
        print(f"camapp bench: {detector.name} ({cfg.model.describe()}), {video.name} "
              f"({busy[0].width}x{busy[0].height})")
        if args.only == "tracking":
            bench_tracking(busy, cfg, detector, gt_path, args.per_event)
            return 0
        naive = run_naive(busy, detector)
        tracks = TrackLog()
        gated = run_pipeline(busy, cfg, detector, extra=[tracks])
        report("busy street (vtest.avi: people in almost every frame)", gated, naive)
        report_tracking(tracks, gt_path, per_event=args.per_event)
        idle_tracks = TrackLog()
        report("mostly idle (20 s still, 20 s of vtest, 20 s still)",
               run_pipeline(quiet, cfg, detector, extra=[idle_tracks]), run_naive(quiet, detector))
        report_idle_people(idle_tracks, gt_path, offset=200, frames=200)
        watched = run_pipeline(busy, cfg, detector, viewers=20)
        bench_recording(busy, cfg, detector, run_pipeline, fps=10.0)
        bench_storage(busy, cfg, detector, run_pipeline)
        bench_detection(busy, cfg, detector, gt_path)
    ratio = watched["fps"] / gated["fps"]
    print(f"\n20 stream viewers (busy)     {watched['fps']:.1f} frames/s ({ratio:.2f}x of 0 viewers), "
          f"{watched['encodes']} JPEG encodes for {watched['frames']} frames (stream_fps {cfg.web.stream_fps:g})")
    print()
    bench_motion(video, cfg, naive["person_boxes"])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    held = sum(f.image.nbytes for f in busy) / 2**20  # the quiet sequence reuses these arrays
    print(f"peak RSS                     {peak:.0f} MB, of which ~{held:.0f} MB are decoded frames the benchmark "
          "holds in memory")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
