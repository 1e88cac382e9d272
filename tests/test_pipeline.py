"""The whole pipeline on the real clip with the real model: person events with stable ids, and a motion gate
that keeps the detector off frames without motion."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest

from camapp.app import build_detector, pipeline_factory
from camapp.config import AppConfig, parse_config
from camapp.pipeline import Pipeline
from camapp.types import EventMessage, Frame, FrameResult

STATIC_FRAMES = 40  # the clip's first frame repeated: a scene with nothing moving


def config(video: Path) -> AppConfig:
    return parse_config({"camera": {"source": "file", "path": str(video), "loop": False, "realtime": False}})


def clip_frames(video: Path) -> list[Frame]:
    cap = cv2.VideoCapture(str(video))
    images = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        images.append(img)
    cap.release()
    # A still prelude: the detector must not run while nothing moves.
    seq = [images[0]] * STATIC_FRAMES + images
    return [Frame(img, 1_000_000.0 + i / 10.0, i) for i, img in enumerate(seq)]


@pytest.fixture(scope="module")
def run(demo_video: Path, model_manifest: Path) -> tuple[list[FrameResult], list[EventMessage], Pipeline]:
    cfg = config(demo_video)
    detector = build_detector(cfg)
    frames = clip_frames(demo_video)
    pipeline = pipeline_factory(cfg, detector)(frames[0].width, frames[0].height)
    results = [pipeline.process(f) for f in frames]
    last = pipeline.finish()
    events = [e for r in results for e in r.events] + (list(last.events) if last else [])
    detector.close()
    return results, events, pipeline


Run = tuple[list[FrameResult], list[EventMessage], Pipeline]


def test_motion_gate_skips_the_detector_without_motion(run: Run) -> None:
    results, _, _ = run
    still = results[5:STATIC_FRAMES]  # after the background has settled
    assert not any(r.motion.has_motion for r in still)
    assert not any(r.detector_ran for r in still)
    ran = sum(r.detector_ran for r in results)
    with_motion = sum(r.motion.has_motion for r in results)
    assert ran < len(results)
    # The detector runs on motion frames, plus at most one periodic re-check per recheck_s (5 s = 50 frames).
    assert with_motion <= ran <= with_motion + len(results) // 50 + 1
    assert all(r.detector_ran for r in results if r.motion.has_motion)
    # Crops around motion exactly when some moving box would be too small at whole-frame model scale (so small,
    # distant people are seen at full resolution); otherwise one whole-frame pass is cheaper than several crops.
    scale = max(results[0].frame.width, results[0].frame.height) / 300
    whole = (0, 0, results[0].frame.width, results[0].frame.height)
    crops = [r for r in results if r.detector_ran and r.regions and r.regions != (whole,)]
    assert len(crops) < ran
    min_px = AppConfig().model.whole_frame_min_px
    crop_min = AppConfig().model.crop_min_px

    def needs_crops(r: FrameResult) -> bool:  # some box big enough to matter but too small at whole-frame scale
        heights = r.motion.boxes[:, 3] - r.motion.boxes[:, 1]
        heights = heights[heights >= crop_min]
        return bool(len(heights)) and heights.min() / scale < min_px

    unexplained = [r for r in crops if len(r.regions) > 1 and not needs_crops(r)]
    # Periodic re-checks also plan around tracked objects' predicted boxes, which FrameResult does not carry.
    assert len(unexplained) <= len(results) // 50 + 1


def test_people_become_events_with_stable_ids(run: tuple[list[FrameResult], list[EventMessage], Pipeline]) -> None:
    _, events, _ = run
    by_id: dict[str, list[EventMessage]] = defaultdict(list)
    for e in events:
        by_id[e.id].append(e)
    people = {i: msgs for i, msgs in by_id.items() if msgs[0].label == "person"}
    assert len(people) >= 4, f"expected several pedestrians, got {len(people)}"
    assert len(people) <= 60, f"{len(people)} person events: ids are not stable"
    for msgs in by_id.values():
        assert msgs[0].type == "new" and msgs[-1].type == "end"
        assert [m.type for m in msgs[1:-1]] == ["update"] * (len(msgs) - 2)
        assert msgs[-1].end_time is not None and msgs[-1].end_time >= msgs[0].start_time
        assert msgs[-1].top_score >= 0.5
    # A track lost behind another person may be re-attached to its event under a new id; most events keep one.
    single = [msgs for msgs in people.values() if len({m.track_id for m in msgs}) == 1]
    assert len(single) >= 0.7 * len(people)


def test_long_events_follow_people_across_the_frame(
    run: tuple[list[FrameResult], list[EventMessage], Pipeline],
) -> None:
    """Some tracked person is followed for several seconds and moves: ids survive motion."""
    results, _, _ = run
    paths: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for r in results:
        for o in r.objects:
            if o.label == "person" and o.misses == 0:
                paths[o.track_id].append(o.bottom_centre)
    long_tracks = [np.array(p) for p in paths.values() if len(p) >= 30]
    assert long_tracks, "no person tracked for 3 seconds"
    assert max(float(np.linalg.norm(p[-1] - p[0])) for p in long_tracks) > 100  # walked > 100 px, same id


def test_a_small_distant_person_is_found_through_a_crop(model_manifest: Path) -> None:
    """A person 80 px tall walking across a 1920x1080 frame: about 12 px at whole-frame model scale, too small
    for the model, but found at full resolution in a crop around the motion, and made into an event."""
    from skimage import data

    person = cv2.resize(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), (80, 80), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(0)
    background = rng.integers(60, 120, (1080, 1920, 3), dtype=np.uint8)
    frames = []
    for i in range(70):
        img = background.copy()
        if i >= 10:  # still at first, then the person walks in
            x = 300 + 12 * (i - 10)
            img[700:780, x:x + 80] = person
        frames.append(Frame(img, 2_000_000.0 + i / 10.0, i))
    cfg = parse_config({"objects": {"track": ["person"]}})
    detector = build_detector(cfg)
    pipeline = pipeline_factory(cfg, detector)(1920, 1080)
    results = [pipeline.process(f) for f in frames]
    whole_frame = detector.detect(frames[40].image)  # the naive loop's view of the same frame
    detector.close()
    assert not any(lab == "person" for lab in whole_frame.labels)
    ran = [r for r in results if r.detector_ran]
    assert ran and all(r.regions and r.regions[0] != (0, 0, 1920, 1080) for r in ran)
    assert sum("person" in r.detections.labels for r in ran) > len(ran) // 2
    assert any(e.type == "new" and e.label == "person" for r in results for e in r.events)
