"""`make bench`: the whole pipeline on vtest.avi against a naive detect-every-whole-frame loop, motion gate versus a
Frigate-style percentile baseline, and the pipeline's fps with 0 versus 20 stream viewers. Prints figures and ratios.
"""

from __future__ import annotations

import argparse
import resource
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from camapp.assets import ROOT, demo_video
from camapp.bench.harness import (
    NaiveRun,
    PipelineRun,
    bench_config,
    frames_of,
    quiet_sequence,
    run_naive,
    run_pipeline,
)
from camapp.bench.recording import bench_recording
from camapp.bench.speed import bench_detection
from camapp.bench.storage import bench_storage
from camapp.bench.tracking import TrackLog, report_idle_people
from camapp.bench.tracking import report as report_tracking
from camapp.config import AppConfig
from camapp.detect import Detector
from camapp.detect.factory import build_detector
from camapp.detect.trust import ModelTrust
from camapp.types import Frame


def bench_motion(video: Path, cfg: AppConfig, person_boxes: dict[int, np.ndarray]) -> None:
    from camapp.motion.evaluate import PercentileMotionDetector, evaluate_motion

    ours = evaluate_motion(video, cfg.motion, person_boxes)
    base = evaluate_motion(video, cfg.motion, person_boxes, detector_factory=PercentileMotionDetector)
    print(f"motion gate (ours)           {ours['ms_per_frame']:.2f} ms/frame, recall of people {ours['recall']:.3f}")
    print(f"motion gate (percentile ref) {base['ms_per_frame']:.2f} ms/frame, recall of people {base['recall']:.3f}")
    print(f"  ours is {base['ms_per_frame'] / max(ours['ms_per_frame'], 1e-9):.2f}x faster per frame")


def report(title: str, gated: PipelineRun, naive: NaiveRun) -> None:
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
