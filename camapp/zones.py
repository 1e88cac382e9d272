"""Which zones each tracked object is in, by its bottom-centre point (feet on the ground), with hysteresis."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from camapp.config.alarm import ZoneConfig
from camapp.errors import ConfigError
from camapp.geometry import BoolArray, FloatArray, Point, as_polygon, inner_edges, signed_distance
from camapp.types import TrackedObject, ZoneState


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
    """Zone membership per track id; used by the pipeline thread only (sinks read ZoneState from FrameResult).

    frame_size (width, height) lets zones drawn up to the right or bottom border work with objects the border cuts
    off (their feet sit on the border, so no hysteresis distance could be reached there).
    """

    def __init__(self, zones: Sequence[ZoneConfig], frame_size: tuple[int, int] | None = None) -> None:
        self._zones = _compile(zones, frame_size)
        self._polygons = tuple((z.name, z.points) for z in self._zones)
        self._entered: dict[int, dict[str, float]] = {}  # track id -> zone -> time it entered
        self._now = float("-inf")

    def update(self, objects: Sequence[TrackedObject], timestamp: float) -> dict[int, frozenset[str]]:
        """Current zones per track id for every live object; ids not passed are forgotten (the tracker dropped them)."""
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

    def state(self) -> ZoneState:
        """The zones and each live object's time in them, as of the last update (handed to sinks in FrameResult)."""
        seconds = {tid: {zone: max(0.0, self._now - t) for zone, t in entered.items()}
                   for tid, entered in self._entered.items() if entered}
        return ZoneState(self._polygons, seconds)
