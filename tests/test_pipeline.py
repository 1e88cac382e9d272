"""The whole pipeline on the real clip with the real model: person events with stable ids, and a motion gate
that keeps the detector off frames without motion."""

from __future__ import annotations

import itertools
import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest

from camapp.annotate import Overlay, annotate
from camapp.capture.file import FileSource
from camapp.config import AppConfig, parse_config
from camapp.detect import Detector, Invocation
from camapp.detect.factory import build_detector
from camapp.events import VERIFY_WINDOW_S
from camapp.geometry import box_iou
from camapp.health import PipelineStats
from camapp.parts import pipeline_factory
from camapp.pipeline import LOOK_S, Pipeline
from camapp.runner import PipelineHolder, replay
from camapp.sinks import ResultSink
from camapp.types import Detections, EventMessage, Frame, FrameResult, Image

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
def clip(demo_video: Path) -> list[Frame]:
    return clip_frames(demo_video)


@pytest.fixture(scope="module")
def run(
    demo_video: Path, model_manifest: Path, clip: list[Frame]
) -> tuple[list[FrameResult], list[EventMessage], Pipeline]:
    cfg = config(demo_video)
    detector = build_detector(cfg.model)
    frames = clip
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
    # Only verification looks at what the start-up search found, within the first second of seeing it
    start = results[0].frame.timestamp
    assert all(r.verification and r.frame.timestamp - start <= VERIFY_WINDOW_S + 0.1 for r in still if r.detector_ran)
    ran = sum(r.detector_ran and not r.verification for r in results)
    assert ran < len(results)
    # At most detect.fps (5) analysed frames per second of video (10 fps): every other frame at most, and every
    # frame with motion is looked at by the next detection slot, 0.2 s later at the latest.
    period = 1 / AppConfig().detect.fps
    times = [r.frame.timestamp for r in results if r.detector_ran and not r.verification]
    assert min(b - a for a, b in itertools.pairwise(times)) >= period - 0.1 - 1e-6
    for r in results:
        if r.motion.has_motion and r.frame.timestamp < results[-1].frame.timestamp - period:
            assert any(0 <= t - r.frame.timestamp <= period + 1e-6 for t in times), r.frame.index
    # Crops around motion exactly when some moving box would be too small at whole-frame model scale (so small,
    # distant people are seen at full resolution); otherwise one whole-frame pass is cheaper than several crops.
    scale = max(results[0].frame.width, results[0].frame.height) / 300
    whole = (0, 0, results[0].frame.width, results[0].frame.height)
    crops = [r for r in results if r.detector_ran and not r.verification and r.regions and r.regions != (whole,)]
    assert len(crops) < ran
    min_px = AppConfig().detect.min_object_px
    crop_min = AppConfig().model.crop_min_px

    def needs_crops(i: int) -> bool:  # some box big enough to matter but too small at whole-frame scale
        # The plan also covers motion of the frame the rate skipped just before.
        skipped = [results[i - 1].motion.boxes] if i and not results[i - 1].detector_ran else []
        boxes = np.concatenate([*skipped, results[i].motion.boxes.reshape(-1, 4)])
        heights = boxes[:, 3] - boxes[:, 1]
        heights = heights[heights >= crop_min]
        return bool(len(heights)) and heights.min() / scale < min_px

    index = {id(r): i for i, r in enumerate(results)}
    unexplained = [r for r in crops if len(r.regions) > 1 and not needs_crops(index[id(r)])]
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


def astronaut(px: int) -> np.ndarray:
    """A person for synthetic scenes: scikit-image's astronaut photo, px pixels square."""
    from skimage import data

    return cv2.resize(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), (px, px), interpolation=cv2.INTER_AREA)


def noise(shape: tuple[int, int], seed: int) -> np.ndarray:
    """A textured, motionless background (height, width)."""
    return np.random.default_rng(seed).integers(60, 120, (*shape, 3), dtype=np.uint8)


def test_a_small_distant_person_is_found_through_a_crop(model_manifest: Path) -> None:
    """A person 80 px tall walking across a 1920x1080 frame: about 12 px at whole-frame model scale, too small
    for the model, but found at full resolution in a crop around the motion, and made into an event."""
    person, background = astronaut(80), noise((1080, 1920), seed=0)
    frames = []
    for i in range(70):
        img = background.copy()
        if i >= 10:  # still at first, then the person walks in
            x = 300 + 12 * (i - 10)
            img[700:780, x:x + 80] = person
        frames.append(Frame(img, 2_000_000.0 + i / 10.0, i))
    cfg = parse_config({"objects": {"track": ["person"]}})
    detector = build_detector(cfg.model)
    pipeline = pipeline_factory(cfg, detector)(1920, 1080)
    results = [pipeline.process(f) for f in frames]
    whole_frame = detector.detect(frames[40].image)  # the naive loop's view of the same frame
    detector.close()
    assert not any(lab == "person" for lab in whole_frame.labels)
    ran = [r for r in results[5:] if r.detector_ran]  # after the whole-frame look at start (LOOK_S)
    assert ran and all(r.regions and r.regions[0] != (0, 0, 1920, 1080) for r in ran)
    assert sum("person" in r.detections.labels for r in ran) > len(ran) // 2
    assert any(e.type == "new" and e.label == "person" for r in results for e in r.events)


def test_tracked_people_move_on_frames_the_detector_skips(run: Run) -> None:
    """Between analysed frames the tracker predicts: the live view and zones follow a walking person."""
    results, _, _ = run
    moved = still = 0
    for before, now in itertools.pairwise(results):
        if now.detector_ran or not before.detector_ran:
            continue
        prior = {o.track_id: o.box for o in before.objects if o.label == "person" and o.confirmed and o.misses == 0}
        for o in now.objects:
            if o.track_id in prior:
                moved += o.box != prior[o.track_id]
                still += o.box == prior[o.track_id]
    assert moved > 3 * still, f"{moved} boxes predicted forward, {still} frozen on skipped frames"


class CountingDetector(Detector):
    """The real detector, with a count of the calls made to it per frame (so a test can see when it ran)."""

    def __init__(self, inner: Detector) -> None:
        self.inner = inner
        self.calls: list[int] = []  # the frame index of each call
        self.invocations = 0
        self.frame = -1

    @property
    def input_size(self) -> tuple[int, int]:
        return self.inner.input_size

    @property
    def last_timings_ms(self) -> dict[str, float]:
        return self.inner.last_timings_ms

    @property
    def labels(self) -> Sequence[str]:
        return self.inner.labels

    @property
    def name(self) -> str:
        return self.inner.name

    def detect(self, image: Image, regions: Sequence[Invocation] | None = None) -> Detections:
        self.calls.append(self.frame)
        self.invocations += 1 if regions is None else len(regions)
        return self.inner.detect(image, regions)

    def close(self) -> None:
        self.inner.close()


def test_detection_switch_off_never_calls_the_detector_and_on_resumes_at_once(
    demo_video: Path, model_manifest: Path
) -> None:
    """On for 4 s, off for 9 s, on again: zero detector calls while off, the events of the people in view end
    normally during the pause, the live view says detection is off, and the first frame back searches the whole
    frame and finds the people already there."""
    frames = clip_frames(demo_video)[STATIC_FRAMES:STATIC_FRAMES + 160]
    switch = {"on": True}
    cfg = config(demo_video)
    detector = CountingDetector(build_detector(cfg.model))
    pipeline = pipeline_factory(cfg, detector, lambda: switch["on"])(frames[0].width, frames[0].height)
    results = []
    for i, frame in enumerate(frames):
        switch["on"] = not 40 <= i < 130
        detector.frame = i
        results.append(pipeline.process(frame))
    detector.close()
    assert not [i for i in detector.calls if 40 <= i < 130]
    assert all(not r.detection_enabled and not r.detector_ran for r in results[40:130])
    assert all(r.detection_enabled for r in results[:40] + results[130:])
    started = {e.id for r in results[:40] for e in r.events if e.type == "new"}
    ended = {e.id for r in results[40:130] for e in r.events if e.type == "end"}
    assert started and started <= ended
    back = results[130]
    assert back.detector_ran and back.regions == () and "person" in back.detections.labels  # whole frame
    assert 130 in detector.calls
    assert any(e.type == "new" for r in results[130:] for e in r.events)
    banner = annotate(results[60])[:20, :100].astype(int) - annotate(results[20], Overlay(False, False, False))[
        :20, :100].astype(int)
    assert np.abs(banner).mean() > 40  # "DETECTION OFF" drawn over the corner
    assert np.array_equal(annotate(results[20], Overlay(False, False, False)), results[20].frame.image)


def test_motion_inside_a_parked_object_does_not_wake_the_detector(model_manifest: Path) -> None:
    """A person walks in and stands still, waving a hand: once parked (stationary_s), the motion inside their box
    no longer runs the detector, except the recheck_s re-checks that confirm they
    are still there; motion elsewhere in the frame still does."""
    person, background = astronaut(200), noise((576, 768), seed=1)
    frames = []
    for i in range(130):
        img = background.copy()
        if i >= 10:
            x = 100 + 15 * min(i - 10, 10)  # walks in for 1 s, then stands at x = 250
            img[250:450, x:x + 200] = person
        if i >= 30:
            img[330:370, 330:370] = 40 + 150 * (i % 2)  # a hand waving, well inside the standing person's box
        if i >= 120:
            img[20:80, 600:700] = 255 * (i % 2)  # something moves far from the person
        frames.append(Frame(img, 3_000_000.0 + i / 10.0, i))
    cfg = parse_config({"objects": {"track": ["person"]}, "tracker": {"stationary_s": 1.0},
                        "motion": {"recheck_s": 2.0}, "detect": {"fps": 0}})  # every frame may run it
    with build_detector(cfg.model) as detector:
        pipeline = pipeline_factory(cfg, detector)(768, 576)
        results = [pipeline.process(f) for f in frames]
    parked = [any(o.stationary for o in r.objects) for r in results]
    parked_at = max(i for i in range(1, 120) if parked[i] and not parked[i - 1])  # for good (a look may unpark)
    still = results[parked_at + 1:120]
    moving = [r for r in still if r.motion.has_motion]
    assert len(moving) >= 20  # the motion is there...
    ran = [r.frame.index for r in still if r.detector_ran]
    assert 1 <= len(ran) <= len(still) // 15  # ...but only the re-checks (every 2 s) run the detector
    assert all(any(o.stationary and o.misses == 0 for o in results[i].objects) for i in ran)  # still there
    assert all(r.detector_ran for r in results[120:])


@pytest.mark.parametrize(
    ("blob", "inside"),
    [
        ((110, 110, 140, 190), True),  # within one parked person
        ((110, 110, 190, 190), True),  # across two people standing side by side
        ((110, 110, 260, 190), False),  # reaching past them: someone walks up
        ((95, 105, 145, 205), True),  # a coarse motion box a little larger than the person's box
    ],
)
def test_motion_counts_as_inside_parked_objects_together(blob: tuple[int, int, int, int], inside: bool) -> None:
    from camapp.pipeline import _inside

    parked = [(100.0, 100.0, 150.0, 200.0), (150.0, 100.0, 200.0, 200.0)]
    assert _inside(blob, parked) is inside


@pytest.fixture(scope="module")
def shared_detector(demo_video: Path, model_manifest: Path) -> Iterator[Detector]:
    with build_detector(config(demo_video).model) as detector:
        yield detector


def with_detect(video: Path, **detect: object) -> AppConfig:
    data = config(video).model_dump(mode="json")
    data["detect"] = {**data["detect"], **detect}
    return parse_config(data)


@pytest.mark.parametrize(("detect_fps", "camera_fps"), [(5, 10), (5, 25), (0, 10)])
def test_detect_fps_limits_detector_calls_by_frame_time(
    demo_video: Path, clip: list[Frame], shared_detector: Detector, detect_fps: float, camera_fps: float
) -> None:
    frames = [Frame(f.image, 500.0 + i / camera_fps, i) for i, f in enumerate(clip[40:100])]
    counting = CountingDetector(shared_detector)
    pipeline = pipeline_factory(with_detect(demo_video, fps=detect_fps), counting)(frames[0].width, frames[0].height)
    results = [pipeline.process(f) for f in frames]
    duration = len(frames) / camera_fps
    # every frame with motion, and the whole-frame look while the motion gate is still learning at start
    with_motion = sum(r.motion.has_motion or r.frame.timestamp < 500.0 + LOOK_S for r in results)
    slots = sum(r.detector_ran and not r.verification for r in results)
    if detect_fps:  # plus at most one verification look between two slots
        assert 0.8 * duration * detect_fps <= slots <= duration * detect_fps + 1
        assert len(counting.calls) - slots <= slots
    else:  # no limit: every frame with motion (a busy street: nearly all of them), nothing between to verify
        assert len(counting.calls) == slots == with_motion >= 0.8 * len(frames)
    assert len(counting.calls) == sum(r.detector_ran for r in results)


class Ran(ResultSink):
    """Notes which frames the detector ran on; stops the replay after `limit` frames."""

    def __init__(self, limit: int) -> None:
        self.ran: list[tuple[int, bool]] = []
        self.limit, self.stop = limit, threading.Event()

    def handle(self, result: FrameResult) -> None:
        self.ran.append((result.frame.index, result.detector_ran and not result.verification))
        if len(self.ran) >= self.limit:
            self.stop.set()

    def close(self) -> None:
        pass


def test_a_replay_honours_detect_fps_by_video_time_and_repeats_exactly(
    demo_video: Path, shared_detector: Detector
) -> None:
    """Replayed as fast as the machine goes, the file still gets 1 analysed frame per second of its own time."""
    cfg = with_detect(demo_video, fps=1)
    runs = []
    for _ in range(2):
        counting, sink = CountingDetector(shared_detector), Ran(300)  # 30 s of video
        with FileSource(demo_video, loop=False, realtime=False) as source:
            replay(source, PipelineHolder(pipeline_factory(cfg, counting)), [sink], PipelineStats(), sink.stop)
        slots = sum(ran for _, ran in sink.ran)
        assert 25 <= slots <= 31 and len(counting.calls) <= 2 * slots
        runs.append(sink.ran)
    assert runs[0] == runs[1]


@pytest.mark.parametrize("max_invokes", [1, 2])
def test_invokes_per_frame_stay_within_the_budget_on_a_1080p_street(
    demo_video: Path, clip: list[Frame], shared_detector: Detector, max_invokes: int
) -> None:
    frames = [Frame(cv2.resize(f.image, (1920, 1080)), f.timestamp, f.index) for f in clip[40:80]]
    counting = CountingDetector(shared_detector)
    cfg = with_detect(demo_video, fps=0, max_invokes=max_invokes)
    pipeline = pipeline_factory(cfg, counting)(1920, 1080)
    results = [pipeline.process(f) for f in frames]
    assert all(r.invokes <= max_invokes for r in results)
    assert counting.invocations == sum(r.invokes for r in results) <= max_invokes * len(counting.calls)
    assert sum("person" in r.detections.labels for r in results if r.detector_ran) >= 0.8 * len(counting.calls)


@pytest.mark.parametrize("fade_frames", [0, 25], ids=["already-there-at-start", "fading-in-from-black"])
def test_people_standing_still_when_the_gate_was_blind_get_one_event_each(
    demo_video: Path, model_manifest: Path, fade_frames: int
) -> None:
    """Nobody moves, so the motion gate alone would never run the detector: people already standing there when
    the pipeline starts, or revealed by a scene fading in from black (lights on), are found by the whole-frame
    search that follows a blind gate, and each gets exactly one event."""
    cap = cv2.VideoCapture(str(demo_video))
    first = cap.read()[1]
    cap.release()
    frames = [Frame(np.asarray(first * min(i / max(fade_frames, 1), 1.0), np.uint8), 5_000_000.0 + i / 10.0, i)
              for i in range(100)]
    cfg = parse_config({})
    with build_detector(cfg.model) as detector:
        whole = detector.detect(first)
        pipeline = pipeline_factory(cfg, detector)(768, 576)
        results = [pipeline.process(f) for f in frames]
        last = pipeline.finish()
    threshold = cfg.objects.filter_for("person").threshold
    people = [tuple(float(v) for v in box) for lab, s, box in zip(whole.labels, whole.scores, whole.boxes, strict=True)
              if lab == "person" and s >= threshold]
    news = [e for r in [*results, last] if r is not None for e in r.events if e.type == "new"]
    assert len(people) >= 3
    for person in people:  # one event each: not missed, not doubled
        assert sum(box_iou(person, e.box) >= 0.5 for e in news) == 1  # type: ignore[arg-type]
    assert sum(r.detector_ran for r in results) <= 30  # a look, not detection on every still frame


def test_a_swaying_bush_wakes_the_detector_but_makes_no_events(model_manifest: Path) -> None:
    """Foliage moving in the wind is motion, so the detector looks; it finds no object there, and the tracker and
    events add nothing of their own (no ghost track, no event)."""
    from skimage import data

    grass, background = cv2.cvtColor(data.grass(), cv2.COLOR_GRAY2BGR), noise((576, 768), seed=3)
    frames = []
    for i in range(80):
        img = background.copy()
        dx = round(8 * float(np.sin(i / 3.0)))  # branches swinging back and forth
        img[150:450, 200 + dx:500 + dx] = grass[:300, :300]
        frames.append(Frame(img, 6_000_000.0 + i / 10.0, i))
    cfg = parse_config({})
    with build_detector(cfg.model) as detector:
        pipeline = pipeline_factory(cfg, detector)(768, 576)
        results = [pipeline.process(f) for f in frames]
        last = pipeline.finish()
    assert sum(r.detector_ran and r.motion.has_motion for r in results) >= 10
    assert not [e for r in [*results, last] if r is not None for e in r.events]


@pytest.mark.parametrize(("verify", "latest"), [(True, 0.4), (False, 0.6)], ids=["verify", "no-verify"])
def test_verification_looks_announce_people_walking_in_half_visible_sooner(
    demo_video: Path, clip: list[Frame], shared_detector: Detector, verify: bool, latest: float
) -> None:
    """The clip's first 6 s (10 fps, detect.fps 5). Someone walks in at the right edge and scores 0.50 and 0.58 on
    their first two whole-frame looks; a sharp look around them between two slots scores them 0.9 and more. With it
    every person's `new` comes on their third slot (0.4 s after their first detection), without it that person
    waits for a fourth. Verification looks are single invokes, and only the verifying pipeline takes them."""
    frames = [Frame(f.image, 500.0 + i / 10, i) for i, f in enumerate(clip[STATIC_FRAMES:STATIC_FRAMES + 60])]
    pipeline = pipeline_factory(with_detect(demo_video, verify=verify), shared_detector)(frames[0].width,
                                                                                          frames[0].height)
    results = [pipeline.process(f) for f in frames]
    delays: dict[int, float] = {}
    for r in results:
        for e in r.events:
            if e.type == "new" and e.label == "person":
                delays.setdefault(e.track_id, r.frame.timestamp - e.start_time)
    assert len(delays) >= 5
    assert max(delays.values()) == pytest.approx(latest, abs=1e-6)
    looks = [r for r in results if r.verification]
    assert bool(looks) is verify and all(r.invokes == 1 for r in looks)
