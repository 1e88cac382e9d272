"""IouTracker: stable ids through crossings and gaps, ageing by time, stationary objects, label separation."""

from __future__ import annotations

import numpy as np
import pytest

from camapp.config.core import TrackerConfig
from camapp.track import IouTracker
from camapp.types import Detections, TrackedObject

W, H = 768, 576
FPS = 10.0
Box = tuple[float, float, float, float]


def dets(*items: tuple[str, Box, float]) -> Detections:
    """Real Detections from (label, box, score) triples."""
    if not items:
        return Detections.empty()
    return Detections([b for _, b, _ in items], [s for *_, s in items], [0] * len(items), [lab for lab, *_ in items])


def person_at(x: float, y: float = 300.0, w: float = 40.0, h: float = 100.0) -> Box:
    return (x, y, x + w, y + h)


def tracker(**overrides: float) -> IouTracker:
    return IouTracker(TrackerConfig(**overrides), W, H)


def by_id(objects: list[TrackedObject]) -> dict[int, TrackedObject]:
    return {o.track_id: o for o in objects}


@pytest.mark.parametrize(
    ("speed", "dy"),
    [(8.0, 0.0), (8.0, 12.0), (15.0, 0.0), (25.0, 30.0)],
    ids=["slow-same-row", "slow-offset", "fast-same-row", "very-fast-offset"],
)
def test_two_people_crossing_keep_their_ids(speed: float, dy: float) -> None:
    trk = tracker()
    seen_a: set[int] = set()
    seen_b: set[int] = set()
    steps = int(500 / speed)
    for i in range(steps):
        xa = 100 + speed * i  # walks right
        xb = 600 - speed * i  # walks left
        objects = trk.update(
            dets(("person", person_at(xa), 0.8), ("person", person_at(xb, 300 + dy), 0.8)), i / FPS
        )
        assert len(objects) == 2
        for obj in objects:
            (seen_a if abs(obj.box[0] - xa) < 1e-3 and abs(obj.box[1] - 300) < 1e-3 else seen_b).add(obj.track_id)
    assert seen_a == {1}
    assert seen_b == {2}


@pytest.mark.parametrize(("gap_frames", "same_id"), [(1, True), (5, True), (15, True), (25, False)])
def test_object_missing_for_a_while(gap_frames: int, same_id: bool) -> None:
    """A detector that looked and missed (empty update) keeps the id until max_missed_s (2 s = 20 frames)."""
    trk = tracker()
    t = 0.0
    for i in range(10):
        t = i / FPS
        trk.update(dets(("person", person_at(100 + 5 * i), 0.8)), t)
    for i in range(10, 10 + gap_frames):
        trk.update(Detections.empty(), i / FPS)
    i = 10 + gap_frames
    objects = trk.update(dets(("person", person_at(100 + 5 * i), 0.8)), i / FPS)
    assert len(objects) == 1
    assert (objects[0].track_id == 1) is same_id


def test_unseen_objects_are_returned_with_misses() -> None:
    trk = tracker(min_hits=1)
    trk.update(dets(("person", person_at(100), 0.8)), 0.0)
    objects = trk.update(Detections.empty(), 0.1)
    assert [(o.track_id, o.misses, o.hits) for o in objects] == [(1, 1, 1)]
    objects = trk.tick(0.2)
    assert objects[0].misses == 2
    objects = trk.update(dets(("person", person_at(100), 0.8)), 0.3)
    assert (objects[0].misses, objects[0].hits) == (0, 2)


@pytest.mark.parametrize(
    ("steps", "alive"),
    [
        # tick() is "the detector did not run": nobody looked, so only max_unobserved_s (60 s) applies
        ([("tick", 1.9)], True),
        ([("tick", 59.0)], True),
        ([("tick", 60.5)], False),
        # an update without the object means the detector looked and missed: max_missed_s (2 s) applies
        ([("miss", 0.5), ("tick", 1.9)], True),
        ([("miss", 0.5), ("tick", 2.1)], False),
        ([("miss", 2.1)], False),
        # a search elsewhere in the frame is not a miss for this object
        ([("elsewhere", 0.5), ("tick", 10.0)], True),
        ([("here", 0.5), ("tick", 2.1)], False),
    ],
)
def test_objects_age_by_time_not_frames(steps: list[tuple[str, float]], alive: bool) -> None:
    trk = tracker(min_hits=1)
    trk.update(dets(("person", person_at(100), 0.8)), 0.0)
    objects: list[TrackedObject] = []
    for kind, t in steps:
        if kind == "tick":
            objects = trk.tick(t)
        elif kind == "miss":
            objects = trk.update(Detections.empty(), t)
        else:
            region = (500, 0, 768, 576) if kind == "elsewhere" else (50, 250, 200, 450)
            objects = trk.update(Detections.empty(), t, regions=[region])
    assert bool(objects) is alive


def test_many_ticks_in_a_short_time_do_not_drop() -> None:
    """Frame rate must not matter: 1000 ticks within one second are still one second."""
    trk = tracker()
    trk.update(dets(("person", person_at(100), 0.8)), 0.0)
    objects = []
    for i in range(1, 1001):
        objects = trk.tick(i / 1000.0)
    assert [o.track_id for o in objects] == [1]
    assert objects[0].misses == 1000


@pytest.mark.parametrize("min_hits", [1, 3, 5])
def test_confirmed_after_min_hits(min_hits: int) -> None:
    trk = tracker(min_hits=min_hits)
    flags = [trk.update(dets(("person", person_at(100 + i), 0.8)), i / FPS)[0].confirmed for i in range(6)]
    assert flags == [i + 1 >= min_hits for i in range(6)]


def test_single_frame_blip_is_never_confirmed_and_goes_away() -> None:
    trk = tracker()
    first = trk.update(dets(("person", person_at(100), 0.9)), 0.0)
    assert [o.confirmed for o in first] == [False]
    objects = first
    for i in range(1, 30):
        objects = trk.update(Detections.empty(), i / FPS)
        assert all(not o.confirmed for o in objects)
    assert objects == []


def test_stationary_after_stationary_s_and_not_before() -> None:
    trk = tracker(stationary_s=10.0)
    flags = {}
    for i in range(0, 121):  # 12 s of a parked car with a jittering box
        jitter = (i % 3) - 1.0
        box = (300 + jitter, 200.0, 500 + jitter, 320.0)
        flags[i / FPS] = trk.update(dets(("car", box, 0.8)), i / FPS)[0].stationary
    assert not any(v for t, v in flags.items() if t < 10.0 - 1e-9)
    assert all(v for t, v in flags.items() if t >= 10.0 + 1e-9)
    moved = trk.update(dets(("car", (390.0, 200.0, 590.0, 320.0), 0.8)), 12.1)  # IoU 0.38 with where it stood
    assert [(o.track_id, o.stationary) for o in moved] == [(1, False)]


def test_parked_object_searched_for_and_missed_is_kept() -> None:
    """A parked car the detector misses on a re-check is flaky detection, not departure: keep it."""
    trk = tracker(stationary_s=5.0)
    for i in range(0, 61):
        trk.update(dets(("car", (300, 200, 500, 320), 0.8)), i / FPS)
    objects = []
    for t in (10.0, 15.0, 20.0):  # three re-checks that miss it
        objects = trk.update(Detections.empty(), t)
    assert [(o.track_id, o.stationary) for o in objects] == [(1, True)]
    assert trk.update(dets(("car", (301, 201, 501, 321), 0.7)), 25.0)[0].track_id == 1


@pytest.mark.parametrize(("first", "second"), [("person", "car"), ("car", "truck"), ("dog", "cat")])
def test_different_labels_never_match(first: str, second: str) -> None:
    trk = tracker(min_hits=1)
    box = (200.0, 200.0, 300.0, 400.0)
    trk.update(dets((first, box, 0.8)), 0.0)
    objects = trk.update(dets((second, box, 0.8)), 0.1)
    labels = {o.track_id: (o.label, o.misses) for o in objects}
    assert labels == {1: (first, 1), 2: (second, 0)}


@pytest.mark.parametrize(("step_px", "same_id"), [(30.0, True), (90.0, True), (200.0, False)])
def test_fast_small_object_matches_by_centre(step_px: float, same_id: bool) -> None:
    """A 10 px ball moving faster than its own width has no IoU; the centroid fallback (0.15 * 768 px) follows it."""
    trk = tracker()
    ids = set()
    for i in range(6):
        x = 20 + step_px * i if same_id else 20 + step_px * (i % 2) * 2
        objects = trk.update(dets(("sports ball", (x, 100, x + 10, 110), 0.8)), i / FPS)
        ids.update(o.track_id for o in objects if o.misses == 0)
    assert (ids == {1}) is same_id


def test_centroid_fallback_does_not_join_very_different_sizes() -> None:
    trk = tracker()
    trk.update(dets(("person", (100, 100, 110, 120), 0.8)), 0.0)
    objects = trk.update(dets(("person", (120, 100, 220, 300), 0.8)), 0.1)
    assert {o.track_id for o in objects if o.misses == 0} == {2}


def test_duplicate_detection_of_a_matched_object_is_not_a_new_object() -> None:
    trk = tracker()
    trk.update(dets(("person", person_at(100), 0.8)), 0.0)
    objects = trk.update(dets(("person", person_at(101), 0.8), ("person", person_at(103), 0.7)), 0.1)
    assert [o.track_id for o in objects] == [1]


def test_ids_are_monotonic_and_never_reused() -> None:
    trk = tracker(max_missed_s=0.5)
    ids = []
    for k in range(4):
        t = k * 2.0
        ids += [o.track_id for o in trk.update(dets(("person", person_at(100 + 150 * k), 0.8)), t)]
        trk.update(Detections.empty(), t + 1.0)  # looked, missed, gone
    assert ids == [1, 2, 3, 4]


def test_predicted_boxes_follow_velocity_and_stay_in_frame() -> None:
    trk = tracker()
    for i in range(5):
        trk.update(dets(("person", person_at(100 + 10 * i), 0.8)), i / FPS)  # 100 px/s to the right
    trk.tick(0.6)
    (box,) = trk.predicted_boxes()
    assert box[0] == pytest.approx(160.0, abs=2.0)  # last seen at x=140 at t=0.4, +0.2 s * 100 px/s
    trk2 = tracker()
    for i in range(5):
        trk2.update(dets(("person", person_at(680 + 10 * i), 0.8)), i / FPS)
    trk2.tick(0.5)
    (box2,) = trk2.predicted_boxes()
    assert box2 == pytest.approx((730.0, 300.0, W, 400.0), abs=2.0)  # clipped at the right edge
    trk2.tick(1.5)
    assert trk2.predicted_boxes() == []  # expected wholly outside the frame: nothing to re-check


def test_returned_objects_are_copies() -> None:
    trk = tracker()
    objects = trk.update(dets(("person", person_at(100), 0.8)), 0.0)
    objects[0].scores.append(0.0)
    objects[0].box = (0.0, 0.0, 1.0, 1.0)
    again = trk.tick(0.1)
    assert again[0].scores == [pytest.approx(0.8)]
    assert again[0].box == person_at(100)


def test_scores_history_is_bounded() -> None:
    trk = tracker()
    objects = []
    for i in range(100):
        objects = trk.update(dets(("person", person_at(100), 0.5 + i / 1000)), i / FPS)
    assert len(objects[0].scores) == 30
    assert objects[0].scores[-1] == pytest.approx(0.599)


def test_bad_frame_size_is_rejected() -> None:
    with pytest.raises(ValueError, match="positive frame size"):
        IouTracker(TrackerConfig(), 0, 480)


@pytest.mark.parametrize(
    ("scores", "overrides", "confirmed_at"),
    [
        ([0.95, 0.92, 0.9], {}, 2),  # very confident twice: no need to wait for min_hits (3)
        ([0.95, 0.7, 0.9], {}, 3),  # one weaker score: the usual min_hits
        ([0.85, 0.85, 0.85], {}, 3),
        ([0.95, 0.95, 0.95], {"fast_confirm_score": 1.0}, 3),  # switched off
        ([0.95, 0.95, 0.95], {"fast_confirm_hits": 1}, 1),
    ],
)
def test_strong_evidence_confirms_on_fewer_frames(
    scores: list[float], overrides: dict[str, float], confirmed_at: int
) -> None:
    trk = tracker(**overrides)
    flags = [trk.update(dets(("person", person_at(100 + 4 * i), s)), i / FPS)[0].confirmed
             for i, s in enumerate(scores)]
    assert flags.index(True) + 1 == confirmed_at


def test_a_tentative_object_looked_for_and_missed_is_dropped_at_once() -> None:
    """Detector flicker (one frame) must not linger as a ghost that later steals a detection; a confirmed one stays."""
    trk = tracker()
    trk.update(dets(("person", person_at(100), 0.8)), 0.0)
    assert trk.update(Detections.empty(), 0.1) == []
    for i in range(3):
        trk.update(dets(("person", person_at(300), 0.8)), 1.0 + i / FPS)
    assert [o.track_id for o in trk.update(Detections.empty(), 1.3)] == [2]


def test_a_walker_hidden_for_a_second_is_found_where_the_prediction_says() -> None:
    """Constant velocity carries the object through the gap: it reappears 100 px on, beyond IoU with its last box."""
    trk = tracker()
    for i in range(10):
        trk.update(dets(("person", person_at(100 + 10 * i), 0.8)), i / FPS)
    for i in range(10, 20):
        trk.update(Detections.empty(), i / FPS)
    objects = trk.update(dets(("person", person_at(300), 0.8)), 2.0)
    assert [(o.track_id, o.misses) for o in objects] == [(1, 0)]
    assert objects[0].velocity[0] == pytest.approx(100.0, rel=0.2)


def scene(*people: tuple[Box, tuple[int, int, int]]) -> np.ndarray:
    """A grey frame with people drawn as boxes in their clothes' colours (BGR): jacket on top, trousers below."""
    img = np.full((H, W, 3), 128, np.uint8)
    for (x1, y1, x2, y2), colour in people:
        mid = int((y1 + y2) / 2)
        img[int(y1):mid, int(x1):int(x2)] = colour
        img[mid:int(y2), int(x1):int(x2)] = (40, 40, 40)
    return img


RED, BLUE = (30, 30, 200), (200, 60, 30)


@pytest.mark.parametrize(
    ("returning", "with_image", "same_id"),
    [
        (RED, True, True),  # the same red jacket where the prediction says: the same person
        (BLUE, True, False),  # a blue jacket there is somebody else
        (BLUE, False, True),  # without the frame the tracker can only go by position
    ],
)
def test_appearance_keeps_a_lost_person_from_being_found_in_someone_else(
    returning: tuple[int, int, int], with_image: bool, same_id: bool
) -> None:
    trk = tracker()
    for i in range(10):
        box = person_at(100 + 10 * i)
        trk.update(dets(("person", box, 0.8)), i / FPS, image=scene((box, RED)) if with_image else None)
    for i in range(10, 14):
        trk.update(Detections.empty(), i / FPS)
    box = person_at(240)
    objects = trk.update(dets(("person", box, 0.8)), 1.4, image=scene((box, returning)) if with_image else None)
    seen = [o.track_id for o in objects if o.misses == 0]
    assert (seen == [1]) is same_id


@pytest.mark.parametrize(
    ("step_px", "walked_out"),
    [
        (3.0, True),  # 30 px/s to the right, last seen half out of the picture: it left
        (0.0, False),  # standing at the edge, unseen for a while: still there
    ],
)
def test_an_object_walking_out_of_the_picture_is_dropped_not_kept_for_the_next_one_in(
    step_px: float, walked_out: bool
) -> None:
    """Kept, the walker's box would wait clipped at the edge and take whoever walks in there next (in the demo clip
    a track followed one person out and the next one in 3 s later, who then had no event of their own)."""
    trk = tracker()
    for i in range(10):
        x = 700 + step_px * i
        trk.update(dets(("person", (x, 300.0, min(x + 40, W), 400.0), 0.8)), i / FPS)
    (first,) = trk.tick(1.0)
    for t in (1.5, 2.0, 2.5, 3.0):  # nobody looks there (no motion where the box waits)
        trk.tick(t)
    objects = trk.update(dets(("person", (735.0, 300.0, W, 400.0), 0.8)), 3.1, regions=[(700, 250, 768, 450)])
    ids = {o.track_id for o in objects if o.last_seen == 3.1}
    assert (first.track_id not in ids) is walked_out


def test_a_verification_look_adds_scores_to_the_named_objects_without_moving_them() -> None:
    trk = tracker()
    for i in range(2):
        trk.update(dets(("person", person_at(100 + 10 * i), 0.5), ("person", person_at(400), 0.55)), i / FPS)
    before = by_id(trk.tick(0.15))
    found = dets(
        ("person", person_at(117, y=302), 0.95),  # a sharp look at object 1, where it is expected
        ("person", person_at(400), 0.9),  # object 2 is not being verified: its scores stay as they were
        ("car", person_at(120), 0.99),  # another label never counts
        ("person", person_at(600), 0.97),  # nobody there
    )
    trk.corroborate(found, 0.15, {1})
    after = by_id(trk.tick(0.15))
    assert after[1].scores == pytest.approx([0.5, 0.5, 0.95])
    assert after[2].scores == before[2].scores == pytest.approx([0.55, 0.55])
    moved = [(o.box, o.hits, o.last_seen) for o in after.values()]
    assert moved == [(o.box, o.hits, o.last_seen) for o in before.values()]
    assert len(after) == 2  # nothing new was started from the look


def test_a_verification_look_that_misses_the_object_adds_nothing() -> None:
    trk = tracker()
    trk.update(dets(("person", person_at(100), 0.5)), 0.0)
    trk.corroborate(dets(("person", person_at(300), 0.95)), 0.05, {1})  # someone else, nowhere near
    assert trk.tick(0.05)[0].scores == [0.5]
