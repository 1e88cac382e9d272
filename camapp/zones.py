"""Which zones each tracked object is in, by its bottom-centre point (feet on the ground), with hysteresis."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from camapp.config.alarm import ZoneConfig
from camapp.errors import ConfigError
from camapp.geometry import BoolArray, FloatArray, Point, as_polygon, inner_edges, signed_distance
from camapp.types import TrackedObject


@dataclass(frozen=True)
class _Zone:
    name: str
    points: tuple[Point, ...]
    polygon: FloatArray
    edges: BoolArray  # edges along the frame border do not count: an object cut off by the border is still inside
    hysteresis: float

    def next_state(self, inside: bool, feet: Point) -> bool:
        """Enter only hysteresis px past the edge, leave only hysteresis px outside it, so edges do not flicker."""
        d = signed_distance(self.polygon, feet, self.edges)
        if inside:
            return d > -self.hysteresis
        return d >= self.hysteresis and d > 0


def _compile(zones: Sequence[ZoneConfig], frame_size: tuple[int, int] | None) -> list[_Zone]:
    names = [z.name for z in zones]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"zones: each zone needs its own name; used more than once: {', '.join(dupes)}")
    out = []
    for z in zones:
        poly = as_polygon(z.polygon)
        points = tuple((float(x), float(y)) for x, y in z.polygon)
        out.append(_Zone(z.name, points, poly, inner_edges(poly, frame_size), z.hysteresis_px))
    return out


class ZoneMap:
    """Zone membership per track id; safe to read (time_in_zone, polygons) from other threads.

    frame_size (width, height) lets zones drawn up to the right or bottom border work with objects the border cuts
    off (their feet sit on the border, so no hysteresis distance could be reached there).
    """

    def __init__(self, zones: Sequence[ZoneConfig], frame_size: tuple[int, int] | None = None) -> None:
        self._lock = threading.Lock()
        self._frame_size = frame_size
        self._zones = _compile(zones, frame_size)
        self._entered: dict[int, dict[str, float]] = {}  # track id -> zone -> time it entered
        self._now = float("-inf")

    def set_zones(self, zones: Sequence[ZoneConfig]) -> None:
        """Replace the zones (API edits); objects stay in zones that keep their name, entry times included."""
        compiled = _compile(zones, self._frame_size)
        names = {z.name for z in compiled}
        with self._lock:
            self._zones = compiled
            for state in self._entered.values():
                for name in [n for n in state if n not in names]:
                    del state[name]

    def update(self, objects: Sequence[TrackedObject], timestamp: float) -> dict[int, frozenset[str]]:
        """Current zones per track id for every live object; ids not passed are forgotten (the tracker dropped them)."""
        with self._lock:
            self._now = timestamp
            live = {obj.track_id for obj in objects}
            for track_id in [t for t in self._entered if t not in live]:
                del self._entered[track_id]
            out: dict[int, frozenset[str]] = {}
            for obj in objects:
                state = self._entered.setdefault(obj.track_id, {})
                feet = obj.bottom_centre
                for zone in self._zones:
                    was_inside = zone.name in state
                    inside = zone.next_state(was_inside, feet)
                    if was_inside and not inside:
                        del state[zone.name]
                    elif inside and not was_inside:
                        state[zone.name] = timestamp
                out[obj.track_id] = frozenset(state)
            return out

    def time_in_zone(self, track_id: int, zone: str) -> float:
        """Seconds the object has been in the zone without leaving it; 0.0 when it is not in it."""
        with self._lock:
            entered = self._entered.get(track_id, {}).get(zone)
            return 0.0 if entered is None else max(0.0, self._now - entered)

    def polygons(self) -> list[tuple[str, list[tuple[float, float]]]]:
        """(name, vertices) of every zone, for drawing."""
        with self._lock:
            return [(z.name, list(z.points)) for z in self._zones]

    def forget(self, track_id: int) -> None:
        """Drop what is known about one track (it is gone)."""
        with self._lock:
            self._entered.pop(track_id, None)
