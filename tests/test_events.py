"""Event lifecycle over the real tracker and zone map: new/update/end, median threshold, parked cars, splits."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import pytest

from camapp.config.alarm import ZoneConfig
from camapp.config.core import EventsConfig, ObjectsConfig, TrackerConfig
from camapp.events import EventTracker
from camapp.track import IouTracker
from camapp.types import Detections, EventMessage, TrackedObject
from camapp.zones import ZoneMap

W, H = 768, 576
DT = 0.125  # 8 fps: exact binary fractions, so event times can be compared exactly
Box = tuple[float, float, float, float]
Frame = tuple[float, Detections | None, Sequence[Box] | None]  # None detections: the detector did not run (tick)
YARD = ZoneConfig(name="yard", polygon=[(200, 0), (768, 0), (768, 576), (200, 576)], hysteresis_px=8)


def dets(*items: tuple[str, Box, float]) -> Detections:
    if not items:
        return Detections.empty()
    return Detections([b for _, b, _ in items], [s for *_, s in items], [0] * len(items), [lab for lab, *_ in items])


def person(x: float) -> Box:
    return (x, 300.0, x + 40.0, 400.0)


def run(
    frames: Iterable[Frame],
    tracker: TrackerConfig | None = None,
    events: EventsConfig | None = None,
    objects: ObjectsConfig | None = None,
    zones: Sequence[ZoneConfig] = (),
) -> tuple[list[tuple[float, EventMessage]], EventTracker]:
    """Feed frames through tracker -> zones -> events as the pipeline does; (time, message) pairs."""
    trk = IouTracker(tracker or TrackerConfig(), W, H)
    zone_map = ZoneMap(zones, (W, H))
    ev = EventTracker(objects or ObjectsConfig(), events or EventsConfig(), "cam1", (W, H))
    out = []
    for t, found, regions in frames:
        live = trk.tick(t) if found is None else trk.update(found, t, regions)
        out += [(t, m) for m in ev.update(live, zone_map.update(live, t), t)]
    return out, ev


def test_new_update_end_sequence_with_exact_fields() -> None:
    frames: list[Frame] = []
    for i in range(20):  # walks right into the yard; scores improve from frame 10
        frames.append((i * DT, dets(("person", person(100 + 10 * i), 0.75 if i < 10 else 0.875)), None))
    for i in range(20, 50):  # the detector keeps looking; nobody there
        frames.append((i * DT, Detections.empty(), None))
    messages, _ = run(
        frames,
        TrackerConfig(min_hits=3, max_missed_s=1.0),
        EventsConfig(end_after_s=2.0, score_window=3, update_score_delta=0.05),
        zones=[YARD],
    )
    got = [
        (t, m.type, m.track_id, m.label, m.score, m.top_score, m.box, m.start_time, m.end_time, m.current_zones,
         m.entered_zones, m.camera, m.stationary)
        for t, m in messages
    ]
    assert got == [
        # confirmed on its 3rd hit with median 0.75 >= 0.65; starts when first seen
        (0.25, "new", 1, "person", 0.75, 0.75, person(120), 0.0, None, (), (), "cam1", False),
        # feet x = 210 are 10 px inside the yard (hysteresis 8)
        (1.125, "update", 1, "person", 0.75, 0.75, person(190), 0.0, None, ("yard",), ("yard",), "cam1", False),
        # the median of the last 3 scores reaches 0.875 on frame 11
        (1.375, "update", 1, "person", 0.875, 0.875, person(210), 0.0, None, ("yard",), ("yard",), "cam1", False),
        # last seen at 2.375, dropped after 1 s looked-for and missed, ended 2 s after last seen
        (4.375, "end", 1, "person", 0.875, 0.875, person(290), 0.0, 2.375, ("yard",), ("yard",), "cam1", False),
    ]
    assert len({m.id for _, m in messages}) == 1
    assert re.fullmatch(r"0000000000\.000000-[0-9a-f]{6}", messages[0][1].id)
    assert messages[-1][1].to_dict()["end_time"] == 2.375


def scored_frames(scores: Sequence[float], label: str = "person") -> list[Frame]:
    return [(i * DT, dets((label, person(100 + 5 * i), s)), None) for i, s in enumerate(scores)]


@pytest.mark.parametrize(
    ("label", "scores", "new_at"),
    [
        ("person", [0.875] * 6, 2),  # confirmed at min_hits = 3
        ("person", [0.5, 0.5, 0.875, 0.875, 0.875, 0.875], 3),  # median(.5, .5, .875, .875) = .6875 >= .65
        ("person", [0.95] + [0.5] * 9, None),  # one confident frame is not enough
        ("person", [0.5, 0.5, 0.5, 0.95, 0.5, 0.5, 0.95, 0.5], None),  # occasional spikes neither
        ("person", [0.625] * 10, None),  # steadily below the 0.65 threshold
        ("person", [0.875, 0.5] * 5, 2),  # median of the last 3 is 0.875 at frame 2
        ("car", [0.875] * 10, None),  # cars need 0.9 in this config
        ("car", [0.875, 0.875, 0.875, 0.9375, 0.9375, 0.9375], 5),  # median(.875, .875, .9375 x3) = .9375
    ],
)
def test_new_needs_the_median_score_above_the_label_threshold(
    label: str, scores: list[float], new_at: int | None
) -> None:
    objects = ObjectsConfig.model_validate({"track": ["person", "car"], "filters": {"car": {"threshold": 0.9}}})
    messages, _ = run(scored_frames(scores, label), events=EventsConfig(score_window=5), objects=objects)
    news = [round(t / DT) for t, m in messages if m.type == "new"]
    assert news == ([] if new_at is None else [new_at])


def test_single_frame_blip_never_becomes_an_event() -> None:
    frames: list[Frame] = [(0.0, dets(("person", person(300), 0.99)), None)]
    for i in range(1, 200):  # 25 s of mixed detector runs and idle frames
        frames.append((i * DT, Detections.empty() if i % 4 == 0 else None, None))
    messages, ev = run(frames)
    assert messages == []
    assert ev.flush(200 * DT) == []


def car_box(x: float, jitter: float = 0.0) -> Box:
    return (x + jitter, 200.0 + jitter, x + 200.0 - jitter, 320.0)


def parked_car_scene() -> tuple[list[Frame], float]:
    """Drive in, park for 10 minutes seen only on 5 s re-checks (some missed), people passing, drive off."""
    frames: list[Frame] = []
    t = 0.0
    for i in range(40):  # drives in from x=0 to x=292.5
        frames.append((t, dets(("car", car_box(7.5 * i), 0.8)), None))
        t += DT
    for i in range(16):  # settles at x=300, seen on every frame while its motion dies down
        frames.append((t, dets(("car", car_box(300, (i % 3) - 1), 0.8)), None))
        t += DT
    parked_until = t + 600.0
    recheck = 0
    while t < parked_until:
        second = int(t)
        if abs(t / 5.0 - round(t / 5.0)) < 1e-9:  # periodic re-check of tracked objects
            recheck += 1
            seen = recheck % 4 != 0  # every 4th re-check the detector misses the car
            found = dets(("car", car_box(300, recheck % 3 - 1), 0.7 + 0.05 * (recheck % 3))) if seen else dets()
            frames.append((t, found, [(250, 150, 550, 370)]))
        elif second % 60 in (30, 31, 32):  # someone walks by on the far left: motion there, detector runs there
            walker = dets(("person", person(20 + 30 * (t % 1.0)), 0.8))
            regions = None if second // 60 == 3 else [(0, 250, 150, 450)]  # once, the whole frame is searched
            frames.append((t, walker, regions))
        else:
            frames.append((t, None, None))
        t += DT
    for i in range(40):  # drives off to the right, seen moving
        frames.append((t, dets(("car", car_box(300 + 10 * (i + 1)), 0.8)), None))
        t += DT
    last_seen = t - DT
    for _ in range(8 * 20):  # gone; motion where it left keeps the detector looking for a while
        frames.append((t, Detections.empty() if t < last_seen + 3 else None, None))
        t += DT
    return frames, last_seen


def test_parked_car_is_one_event_over_ten_minutes() -> None:
    frames, last_seen = parked_car_scene()
    messages, ev = run(frames)
    cars = [m for _, m in messages if m.label == "car"]
    assert [m.type for m in cars].count("new") == 1
    assert [m.type for m in cars].count("end") == 1
    assert cars[0].type == "new" and cars[-1].type == "end"
    assert len({m.id for m in cars}) == 1
    assert {m.track_id for m in cars} == {1}
    assert cars[-1].end_time == last_seen
    assert [m.stationary for m in cars if m.type == "update"].count(True) >= 1
    assert cars[-1].stationary is False  # it was moving when last seen
    assert ev.flush(frames[-1][0]) == []


def test_max_duration_splits_a_long_event() -> None:
    frames = [(i * DT, dets(("person", person(300 + (i % 2)), 0.8)), None) for i in range(int(25 / DT))]
    messages, ev = run(frames, events=EventsConfig(max_duration_s=10.0))
    spans = [(t, m.type, m.start_time, m.end_time) for t, m in messages if m.type != "update"]
    assert spans == [
        (0.25, "new", 0.0, None),
        (10.0, "end", 0.0, 10.0),
        (10.0, "new", 10.0, None),
        (20.0, "end", 10.0, 20.0),
        (20.0, "new", 20.0, None),
    ]
    ids = [m.id for _, m in messages if m.type == "new"]
    assert len(set(ids)) == 3 and ids == sorted(ids)
    final = ev.flush(25.0)
    assert [(m.type, m.start_time, m.end_time) for m in final] == [("end", 20.0, 25.0 - DT)]


def test_flush_ends_open_and_vanishing_events_at_last_seen() -> None:
    frames: list[Frame] = []
    for i in range(24):  # two people; the second leaves the frame after 1 s
        found = [("person", person(100 + i), 0.8)] + ([("person", person(500 - i), 0.8)] if i < 8 else [])
        frames.append((i * DT, dets(*found), None))
    messages, ev = run(frames, events=EventsConfig(end_after_s=10.0))
    assert [m.type for _, m in messages] == ["new", "new"]
    ended = sorted(ev.flush(3.0), key=lambda m: m.track_id)
    assert [(m.type, m.track_id, m.end_time) for m in ended] == [("end", 1, 23 * DT), ("end", 2, 7 * DT)]
    assert ev.flush(3.0) == []


@pytest.mark.parametrize(
    ("reattach_iou", "car_types"),
    [
        (0.5, ["new", "update", "end"]),  # the new track continues the event (update carries the new track id)
        (0.0, ["new", "new", "end", "end"]),  # disabled: the new track starts another event; the lost one ends
    ],
)
def test_lost_track_reappearing_in_place_continues_its_event(reattach_iou: float, car_types: list[str]) -> None:
    """reattach_iou alone (reattach_distance off): found again where it vanished."""
    frames: list[Frame] = [(i * DT, dets(("car", car_box(300), 0.8)), None) for i in range(8)]
    t = 8 * DT
    while t < 3.5:  # the detector keeps looking (regions None) and misses it: the tracker drops it after 2 s
        frames.append((t, Detections.empty(), None))
        t += DT
    while t < 8.0:  # it is found again in the same place
        frames.append((t, dets(("car", car_box(302), 0.8)), None))
        t += DT
    while t < 20.0:
        frames.append((t, None, None) if t > 10 else (t, Detections.empty(), None))
        t += DT
    messages, _ = run(frames, events=EventsConfig(reattach_iou=reattach_iou, reattach_distance=0, end_after_s=3.0))
    assert [m.type for _, m in messages] == car_types
    if reattach_iou > 0:
        # found again at 3.5 s, confirmed at 3.75 s (within end_after_s of 0.875 s); gone for good after 7.875 s.
        # The event keeps the track id it started with; current_track_id says which track carries it now.
        got = [(t, m.type, m.track_id, m.current_track_id, m.start_time, m.end_time, m.box) for t, m in messages]
        assert got == [
            (0.25, "new", 1, None, 0.0, None, car_box(300)),
            (3.75, "update", 1, 2, 0.0, None, car_box(302)),
            (10.875, "end", 1, 2, 0.0, 7.875, car_box(302)),
        ]
        assert len({m.id for _, m in messages}) == 1


def test_stationary_change_and_periodic_updates() -> None:
    frames = [(i * DT, dets(("car", car_box(300), 0.8)), None) for i in range(int(14 / DT))]
    messages, _ = run(frames, TrackerConfig(stationary_s=5.0), EventsConfig(update_interval_s=4.0))
    got = [(t, m.type, m.stationary) for t, m in messages]
    assert got == [(0.25, "new", False), (4.25, "update", False), (5.0, "update", True), (9.0, "update", True),
                   (13.0, "update", True)]


def test_event_ids_sort_by_start_time() -> None:
    ev = EventTracker(ObjectsConfig(), EventsConfig(), "cam", (W, H))
    trk = IouTracker(TrackerConfig(min_hits=1), W, H)
    ids = []
    for k, t in enumerate([5.0, 12.0, 100.0, 1_700_000_000.0]):
        live = trk.update(dets(("person", person(50 + 150 * k), 0.9)), t)
        ids += [m.id for m in ev.update(live, {}, t) if m.type == "new"]
    assert len(ids) == 4
    assert sorted(ids) == ids


def walk(speed: float, hidden: tuple[float, float], end: float, x0: float = 100.0, dx: float = 0.0) -> list[Frame]:
    """A person walking right at `speed` px/s, not found by a detector that keeps looking during `hidden`; after
    the gap the detections are shifted by dx (a detector box that lands off the predicted path)."""
    frames: list[Frame] = []
    t = 0.0
    while t < end:
        x = x0 + speed * t + (dx if t >= hidden[1] else 0.0)
        found = Detections.empty() if hidden[0] <= t < hidden[1] else dets(("person", person(x), 0.8))
        frames.append((t, found, None))
        t += DT
    return frames


@pytest.mark.parametrize(
    ("reattach_distance", "dx", "news"),
    [
        (1.0, 0.0, 1),  # found again where it was heading: the same event
        (1.0, 30.0, 1),  # a little off the predicted path still is
        (1.0, 400.0, 2),  # far from where it was heading: someone else
        (0.0, 0.0, 2),  # disabled: a new event
    ],
)
def test_walker_lost_for_seconds_continues_its_event_where_it_was_heading(
    reattach_distance: float, dx: float, news: int
) -> None:
    """Hidden 2.5 s (the tracker drops it after 2 s) while walking 60 px/s: it reappears 150 px from where it
    vanished, no overlap with its last box, yet it is the same person."""
    frames = walk(60.0, (2.0, 4.5), 7.0, dx=dx)
    frames += [(7.0 + i * DT, None, None) for i in range(80)]  # detector idle: the tracks age out by time
    messages, ev = run(frames, events=EventsConfig(reattach_distance=reattach_distance, end_after_s=3.0))
    messages += [(99.0, m) for m in ev.flush(99.0)]
    kinds = [m.type for _, m in messages if m.type != "update"]
    assert kinds.count("new") == news and kinds.count("end") == news
    first = [m for _, m in messages if m.id == messages[0][1].id]
    assert first[-1].type == "end" and all(m.track_id == 1 for m in first)  # the event's track id never changes
    if news == 1:
        assert first[-1].current_track_id == 2 and first[-1].end_time == pytest.approx(7.0 - DT)


def test_a_track_kept_unseen_gives_its_event_to_the_one_that_replaced_it() -> None:
    """The tracker still holds the lost track (max_missed_s 5 s) when the person is found as a new track: the event
    moves on at once, the old track starts no event of its own, and one `end` comes after both are gone."""
    frames = walk(60.0, (2.0, 3.5), 6.0, dx=120.0)  # dx: beyond the tracker's reach, within the event's allowance
    frames += [(6.0 + i * DT, Detections.empty(), None) for i in range(80)]
    messages, _ = run(frames, TrackerConfig(max_missed_s=5.0), EventsConfig(end_after_s=3.0))
    assert [m.type for _, m in messages if m.type != "update"] == ["new", "end"]
    moved = [m for _, m in messages if m.type == "update" and m.current_track_id == 2]
    assert moved and all(m.track_id == 1 for _, m in messages)
    assert messages[-1][1].end_time == pytest.approx(6.0 - DT)


def test_someone_seen_while_the_first_is_still_visible_gets_their_own_event() -> None:
    """Two people at once are two events however close: reattachment needs the old object to have vanished first."""
    frames = [(i * DT, dets(("person", person(100 + 5 * i), 0.8)), None) for i in range(20)]
    frames += [(i * DT, dets(("person", person(100 + 5 * i), 0.8), ("person", person(150 + 5 * i), 0.8)), None)
               for i in range(20, 40)]
    messages, _ = run(frames, events=EventsConfig(reattach_iou=0.1, reattach_distance=5.0))
    assert len({m.id for _, m in messages if m.type == "new"}) == 2


@pytest.mark.parametrize(("b_speed", "news"), [(-80.0, 2), (80.0, 1)], ids=["walking-back-is-someone-else", "same-way"])
def test_someone_coming_the_other_way_where_a_person_vanished_is_someone_else(b_speed: float, news: int) -> None:
    """A walks right and is lost for 2.5 s (the tracker drops it); then somebody is found where A was heading.
    Walking the other way they are someone else; walking A's way, they are A again."""
    frames: list[Frame] = []
    t = 0.0
    while t < 3.0:
        frames.append((t, dets(("person", person(300 + 80 * t), 0.8)), None))
        t += DT
    while t < 5.5:
        frames.append((t, Detections.empty(), None))
        t += DT
    while t < 8.0:
        frames.append((t, dets(("person", person(720 + b_speed * (t - 5.5)), 0.8)), None))
        t += DT
    messages, _ = run(frames, events=EventsConfig(end_after_s=4.0))
    assert len({m.id for _, m in messages if m.type == "new"}) == news


def seen(track_id: int, x: float, first: float, last: float) -> TrackedObject:
    """A confirmed person the tracker last saw at `last` (standing still: no heading to argue with)."""
    return TrackedObject(track_id, "person", person(x), 0.8, first, last, hits=5, scores=[0.8] * 5, confirmed=True)


@pytest.mark.parametrize(
    ("newer_seen_too", "news"),
    [(False, 1), (True, 2)],
    ids=["newer-box-gone-the-event-goes-back", "both-seen-at-once-two-people"],
)
def test_a_track_seen_again_after_handing_its_event_on_takes_it_back(newer_seen_too: bool, news: int) -> None:
    """A detector flickering between two boxes of one person: track 1 goes unseen, track 2 (where 1 was) takes the
    event; then 1 is seen again and 2 is not. The hand-over was premature: the event returns to track 1, no second
    `new`. Seen at the same moment, though, they are two people and the second one gets an event of its own."""
    ev = EventTracker(ObjectsConfig(), EventsConfig(), "cam1", (W, H))
    frames = [
        [seen(1, 100, 0.0, 0.0)],
        [seen(1, 100, 0.0, 0.0), seen(2, 104, 0.5, 0.5)],  # 1 unseen since 0.0: 2 continues its event
        [seen(1, 100, 0.0, 1.0), seen(2, 104, 0.5, 1.0 if newer_seen_too else 0.5)],
    ]
    messages = [m for i, live in enumerate(frames) for m in ev.update(live, {}, i * 0.5)]
    assert [m.type for m in messages].count("new") == news
    assert messages[1].type == "update" and messages[1].current_track_id == 2
    if news == 1:
        assert messages[-1].type == "update" and messages[-1].current_track_id is None
        assert {m.id for m in messages} == {messages[0].id}


@pytest.mark.parametrize(
    ("frames", "starts"),
    [
        # 2 takes 1's event while 1 is unseen; both seen at 1.5: two people, and 1's second event starts when it
        # is seen again (its sightings until then are in the first event, announced at 0.0)
        ([[(1, 0.0, 0.0)], [(1, 0.0, 0.0), (2, 0.5, 0.5)], [(1, 0.0, 0.0), (2, 0.5, 1.0)],
          [(1, 0.0, 1.5), (2, 0.5, 1.5)]], [0.0, 1.5]),
        # 2 only borrows 1's event and gives it back at 1.0; both seen at 1.5: 2's own event starts when it was
        # first seen (its sightings are in no event any more)
        ([[(1, 0.0, 0.0)], [(1, 0.0, 0.0), (2, 0.5, 0.5)], [(1, 0.0, 1.0), (2, 0.5, 0.5)],
          [(1, 0.0, 1.5), (2, 0.5, 1.5)]], [0.0, 0.5]),
    ],
    ids=["taken-over-starts-when-seen-again", "borrowed-and-given-back-starts-when-first-seen"],
)
def test_a_second_event_of_a_track_starts_after_what_its_first_event_covers(
    frames: list[list[tuple[int, float, float]]], starts: list[float]
) -> None:
    """No stretch of a track's life is in two events: start_time (what latency and clips count from) of a track's
    later event comes after the part of its life an earlier event already holds."""
    ev = EventTracker(ObjectsConfig(), EventsConfig(), "cam1", (W, H))
    messages = [m for i, live in enumerate(frames)
                for m in ev.update([seen(t, 100 + 4 * (t - 1), a, b) for t, a, b in live], {}, i * 0.5)]
    assert [m.start_time for m in messages if m.type == "new"] == starts


@pytest.mark.parametrize(
    ("second_x", "news"),
    [(110.0, 1), (130.0, 2), (145.0, 2)],
    ids=["overlapping-box-one-person-seen-twice", "side-by-side-two-people", "apart-two-people"],
)
def test_a_twin_box_that_carries_on_alone_continues_the_event(second_x: float, news: int) -> None:
    """In one frame the detector returns a second box on a tracked person, and from then on only that one: the new
    track is the same person (a twin, IoU 0.6) and continues the event. A box beside the person (IoU 0.14) or apart
    from them, seen in the same frame, is somebody else even when the first person then vanishes."""
    ev = EventTracker(ObjectsConfig(), EventsConfig(), "cam1", (W, H))
    born = TrackedObject(2, "person", person(second_x), 0.8, 0.5, 0.5, scores=[0.8])
    frames = [
        [seen(1, 100, 0.0, 0.0)],
        [seen(1, 100, 0.0, 0.5), born],  # both seen at 0.5; track 2 is still tentative
        [seen(1, 100, 0.0, 0.5), seen(2, second_x + 4, 0.5, 1.0)],  # 1 unseen since, 2 confirmed
    ]
    messages = [m for i, live in enumerate(frames) for m in ev.update(live, {}, i * 0.5)]
    assert [m.type for m in messages].count("new") == news
    if news == 1:
        assert messages[-1].type == "update" and messages[-1].current_track_id == 2
        assert {m.id for m in messages} == {messages[0].id}


@pytest.mark.parametrize(("last_x", "news"), [(2.0, 2), (300.0, 1)], ids=["walked-out", "vanished-mid-frame"])
def test_whoever_walks_in_where_somebody_walked_out_is_somebody_else(last_x: float, news: int) -> None:
    """A walks left at 40 px/s and is last seen at `last_x`; 3.2 s later B appears in the same place, standing
    (nothing to compare headings with). At the frame's edge A has left the picture by then: B is somebody else (in
    the demo clip such a hand-over gave one person's event to the next one in). Mid-frame, A was hidden: B is A."""
    ev = EventTracker(ObjectsConfig(), EventsConfig(end_after_s=5.0), "cam1", (W, H))
    news_seen: set[str] = set()

    def step(t: float, *objects: TrackedObject) -> None:
        news_seen.update(m.id for m in ev.update(list(objects), {}, t) if m.type == "new")

    for i in range(11):
        t = 8.0 + i * 0.2
        a = TrackedObject(1, "person", person(last_x + 40 * (10.0 - t)), 0.8, 8.0, t, hits=i + 1,
                          scores=[0.8] * (i + 1), confirmed=i >= 2, velocity=(-40.0, 0.0))
        step(t, a)
    for i in range(1, 16):  # A is gone (dropped by the tracker)
        step(10.0 + i * 0.2)
    for i in range(5):
        t = 13.2 + i * 0.2
        b = TrackedObject(2, "person", person(last_x), 0.8, 13.2, t, hits=i + 1, scores=[0.8] * (i + 1),
                          confirmed=i >= 2)
        step(t, b)
    assert len(news_seen) == news


@pytest.mark.parametrize(
    ("obj", "doubtful"),
    [
        (TrackedObject(1, "person", person(100), 0.5, 9.6, 10.0, hits=3, scores=[0.5, 0.58, 0.84]), True),
        (TrackedObject(2, "person", person(100), 0.5, 9.6, 10.0, hits=2, scores=[0.9, 0.9]), True),  # tentative
        (TrackedObject(3, "person", person(100), 0.8, 9.6, 10.0, hits=3, scores=[0.8] * 3, confirmed=True), False),
        (TrackedObject(4, "person", person(100), 0.5, 8.9, 10.0, hits=6, scores=[0.5] * 6, confirmed=True), False),
        (TrackedObject(5, "person", person(100), 0.5, 9.6, 9.8, hits=2, scores=[0.5, 0.5], misses=2), False),
    ],
    ids=["weak-scores", "not-confirmed-yet", "qualifies", "older-than-the-window", "not-seen-now"],
)
def test_doubtful_newcomers_are_those_a_verification_look_can_help(obj: TrackedObject, doubtful: bool) -> None:
    obj.confirmed = obj.confirmed or obj.hits >= 3
    ev = EventTracker(ObjectsConfig(), EventsConfig(), "cam1", (W, H))
    ev.update([obj], {}, 10.0)
    assert (ev.doubtful([obj], 10.0) == [obj]) is doubtful


def test_an_object_carrying_an_event_is_never_doubtful() -> None:
    ev = EventTracker(ObjectsConfig(), EventsConfig(), "cam1", (W, H))
    obj = TrackedObject(1, "person", person(100), 0.8, 9.6, 10.0, hits=3, scores=[0.8] * 3, confirmed=True)
    assert [m.type for m in ev.update([obj], {}, 10.0)] == ["new"]
    obj.scores += [0.5] * 5  # its scores drop afterwards: it has its event, nothing to verify
    assert ev.doubtful([obj], 10.0) == []
