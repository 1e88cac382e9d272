"""Zones: membership by bottom-centre, hysteresis at the edge, entered zones, time in zone, config checks."""

from __future__ import annotations

import itertools
from typing import Any

import cv2
import numpy as np
import pytest

from camapp.config import parse_config
from camapp.config.alarm import ZoneConfig
from camapp.config.core import EventsConfig, ObjectsConfig, TrackerConfig
from camapp.errors import ConfigError
from camapp.events import EventTracker
from camapp.geometry import as_polygon, signed_distance
from camapp.track import IouTracker
from camapp.types import Detections, TrackedObject
from camapp.zones import ZoneMap

Box = tuple[float, float, float, float]
# a driveway strip along the bottom of a 640x480 frame, and a door area on the right
DRIVEWAY = ZoneConfig(name="driveway", polygon=[(0, 380), (640, 380), (640, 480), (0, 480)], hysteresis_px=8)
DOOR = ZoneConfig(name="door", polygon=[(500, 200), (640, 200), (640, 480), (500, 480)], hysteresis_px=8)


def obj(track_id: int, box: Box, t: float = 0.0) -> TrackedObject:
    return TrackedObject(track_id=track_id, label="person", box=box, score=0.9, first_seen=t, last_seen=t)


def feet_at(x: float, y: float) -> Box:
    """A 40x120 person box whose bottom-centre is (x, y)."""
    return (x - 20, y - 120, x + 20, y)


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        (feet_at(100, 420), {"driveway"}),  # box centre (100, 360) is outside; the feet are inside
        ((80, 300, 120, 370), set()),  # feet at y=370, above the strip
        ((80, 390, 120, 470), {"driveway"}),
        ((80, 300, 120, 470), {"driveway"}),
        (feet_at(560, 300), {"door"}),
        (feet_at(560, 430), {"door", "driveway"}),
        ((480, 100, 700, 460), {"door", "driveway"}),  # a box partly outside the frame
        ((480, 100, 700, 477), set()),  # feet 3 px from the zones' bottom edge; without a frame size that edge counts
        ((400, 250, 560, 350), set()),  # box centre (480, 300) is not in door and the feet are not either
        ((520, 380, 620, 440), {"door", "driveway"}),
        ((520, 300, 620, 375), {"door"}),  # feet (570, 375) still above the driveway
    ],
)
def test_membership_is_by_bottom_centre(box: Box, expected: set[str]) -> None:
    zones = ZoneMap([DRIVEWAY, DOOR])
    assert zones.update([obj(1, box)], 0.0)[1] == frozenset(expected)


@pytest.mark.parametrize(
    ("feet", "frame_size", "expected"),
    [
        ((590, 480), (640, 480), {"door", "driveway"}),  # cut off by the bottom border: the border is not an edge
        ((590, 477), (640, 480), {"door", "driveway"}),
        ((590, 477), None, set()),  # frame size unknown: the bottom edge is a real edge, 3 px < hysteresis
        ((2, 430), None, {"driveway"}),  # the left border (x = 0) is always known
        ((590, 377), (640, 480), {"door"}),  # the driveway's top edge is inside the frame and still counts
        ((590, 383), (640, 480), {"door"}),
    ],
)
def test_zone_edges_on_the_frame_border_need_no_hysteresis(
    feet: tuple[float, float], frame_size: tuple[int, int] | None, expected: set[str]
) -> None:
    zones = ZoneMap([DRIVEWAY, DOOR], frame_size=frame_size)
    assert zones.update([obj(1, feet_at(*feet))], 0.0)[1] == frozenset(expected)


def test_box_centre_inside_but_feet_outside_is_not_in_zone() -> None:
    high = ZoneConfig(name="sky", polygon=[(0, 0), (640, 0), (640, 200), (0, 200)], hysteresis_px=0)
    zones = ZoneMap([high])
    assert zones.update([obj(1, (100, 50, 140, 250))], 0.0)[1] == frozenset()  # centre y=150, feet y=250
    assert zones.update([obj(2, (100, 0, 140, 150))], 0.0)[2] == frozenset({"sky"})


@pytest.mark.parametrize(
    ("hysteresis", "feet_y", "expected"),
    [
        # the driveway edge is y=380; inside is y > 380
        (8.0, [370, 383, 377, 385, 379, 389, 383, 375, 381, 371], [0, 0, 0, 0, 0, 1, 1, 1, 1, 0]),
        (8.0, [381, 379] * 10, [0] * 20),  # oscillating 1 px around the edge: never enters
        (8.0, [392, 379, 374, 383] * 5, [1] * 20),  # once in, small excursions out do not leave
        (0.0, [381, 379, 381, 379], [1, 0, 1, 0]),  # no hysteresis: every crossing counts
    ],
)
def test_hysteresis_stops_flicker(hysteresis: float, feet_y: list[float], expected: list[int]) -> None:
    zone = ZoneConfig(name="driveway", polygon=DRIVEWAY.polygon, hysteresis_px=hysteresis)
    zones = ZoneMap([zone])
    states = [len(zones.update([obj(1, feet_at(100, y))], i * 0.1)[1]) for i, y in enumerate(feet_y)]
    assert states == expected


def test_time_in_zone_counts_the_current_stay() -> None:
    zones = ZoneMap([DRIVEWAY])
    path = [(0.0, 300), (1.0, 420), (2.0, 430), (4.5, 440), (5.0, 300), (6.0, 420), (7.5, 420)]
    seen = []
    for t, y in path:
        zones.update([obj(1, feet_at(100, y))], t)
        seen.append(zones.state().time_in_zone(1, "driveway"))
    assert seen == pytest.approx([0.0, 0.0, 1.0, 3.5, 0.0, 0.0, 1.5])
    assert zones.state().time_in_zone(1, "door") == 0.0
    assert zones.state().time_in_zone(99, "driveway") == 0.0


def test_absent_tracks_are_forgotten() -> None:
    zones = ZoneMap([DRIVEWAY])
    zones.update([obj(1, feet_at(100, 420)), obj(2, feet_at(300, 420))], 0.0)
    zones.update([obj(2, feet_at(300, 420))], 1.0)
    assert zones.state().time_in_zone(1, "driveway") == 0.0
    assert zones.state().time_in_zone(2, "driveway") == 1.0
    zones.update([], 2.0)  # gone from the tracker: forgotten
    assert zones.state().seconds == {}
    # a forgotten track starts again from its next update
    zones.update([obj(2, feet_at(300, 420))], 3.0)
    zones.update([obj(2, feet_at(300, 420))], 3.5)
    assert zones.state().time_in_zone(2, "driveway") == 0.5


def test_polygons_for_drawing() -> None:
    zones = ZoneMap([DRIVEWAY, DOOR])
    assert zones.state().polygons == (
        ("driveway", ((0.0, 380.0), (640.0, 380.0), (640.0, 480.0), (0.0, 480.0))),
        ("door", ((500.0, 200.0), (640.0, 200.0), (640.0, 480.0), (500.0, 480.0))),
    )


def test_entered_zones_accumulate_in_events() -> None:
    """A person walks along the driveway into the door area and back out: entered keeps both, current changes."""
    trk = IouTracker(TrackerConfig(min_hits=2), 640, 480)
    zones = ZoneMap([DRIVEWAY, DOOR])
    events = EventTracker(ObjectsConfig(), EventsConfig(score_window=3), "cam", (640, 480))
    waypoints = [(100, 300), (100, 430), (580, 430), (580, 250)]
    path = [
        (x0 + (x1 - x0) * k / 10, y0 + (y1 - y0) * k / 10)
        for (x0, y0), (x1, y1) in itertools.pairwise(waypoints)
        for k in range(10)
    ]
    messages = []
    for i, (x, y) in enumerate(path):
        objects = trk.update(Detections([feet_at(x, y)], [0.9], [0], ["person"]), i * 0.1)
        assert [o.track_id for o in objects] == [1]
        messages += events.update(objects, zones.update(objects, i * 0.1), i * 0.1)
    summary = [(m.type, m.current_zones, m.entered_zones) for m in messages]
    assert summary == [
        ("new", (), ()),
        ("update", ("driveway",), ("driveway",)),
        ("update", ("door", "driveway"), ("driveway", "door")),
        ("update", ("door",), ("driveway", "door")),
    ]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_signed_distance_agrees_with_opencv(seed: int) -> None:
    """Our numpy signed distance matches cv2.pointPolygonTest on a concave polygon."""
    poly = [(50, 50), (300, 60), (320, 300), (180, 150), (60, 280)]
    contour = np.asarray(poly, dtype=np.float32).reshape(-1, 1, 2)
    points = np.random.default_rng(seed).uniform(0, 360, size=(200, 2))
    compiled = as_polygon(poly)
    for x, y in points:
        expected = cv2.pointPolygonTest(contour, (float(x), float(y)), True)
        assert signed_distance(compiled, (x, y)) == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize(
    ("zones", "fragment"),
    [
        ([{"name": "a", "polygon": [[0, 0], [10, 0]]}], "zones.0.polygon"),
        ([{"name": "a", "polygon": [[0, 0], [10, 0], [20, 0]]}], "zone 'a': polygon has zero area"),
        ([{"name": "a", "polygon": [[0, 0], [10, 10], [10, 0], [0, 10]]}], "cross each other"),
        ([{"name": "a b", "polygon": [[0, 0], [10, 0], [0, 10]]}], "zones.0.name"),
        ([{"name": "a", "polygon": [[0, 0], [10, 0], [0, 10]], "hysteresis_px": -1}], "zones.0.hysteresis_px"),
    ],
)
def test_bad_zone_config_is_named(zones: list[dict[str, Any]], fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"zones": zones})
    assert fragment in str(info.value)


def test_duplicate_zone_names_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="used more than once: door"):
        ZoneMap([DOOR, DRIVEWAY, DOOR])
