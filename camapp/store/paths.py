"""The path an event's object walked: bottom-centre points over time, thinned so each event stays small."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from camapp.types import TrackedObject

MAX_POINTS = 200
PathSample = tuple[float, float, float]  # t (unix seconds), x, y (frame pixels)


@dataclass
class TrackPath:
    """Keeps every `stride`-th observation; when full it drops every other point and doubles the stride.

    So a path never holds more than `max_points` (the latest observation included), evenly spread over the
    whole track however long it runs.
    """

    max_points: int = MAX_POINTS
    points: list[PathSample] = field(default_factory=list)
    stride: int = 1
    seen: int = 0
    last: PathSample | None = None

    def add(self, t: float, x: float, y: float) -> None:
        self.last = (t, x, y)
        if self.seen % self.stride == 0 and len(self.points) == self.max_points:
            self.points = self.points[::2]
            self.stride *= 2
        if self.seen % self.stride == 0:
            self.points.append(self.last)
        self.seen += 1

    def as_list(self) -> list[list[float]]:
        """[[t, x, y], ...] oldest first, ending at the latest observation; rounded for compact JSON."""
        points = list(self.points)
        if self.last is not None and (not points or points[-1] != self.last):
            if len(points) == self.max_points:
                points.pop()
            points.append(self.last)
        return [[round(t, 3), round(x, 1), round(y, 1)] for t, x, y in points]


class PathBook:
    """Paths of the tracks the pipeline reports, handed over to events as they start.

    Tracks without an event are kept only while the tracker reports them, so memory is bounded by the number
    of live objects; an event keeps its own path (it may continue on another track id after a re-attach).
    """

    def __init__(self) -> None:
        self._tracks: dict[int, TrackPath] = {}

    def take(self, track_id: int) -> TrackPath:
        """The history of a track that just became an event (empty if it was never seen)."""
        return self._tracks.pop(track_id, None) or TrackPath()

    def observe(self, objects: Iterable[TrackedObject], events: dict[int, TrackPath], t: float) -> None:
        """Add this frame's detected positions: to the event following the track, else to the track's history."""
        live = set()
        for obj in objects:
            live.add(obj.track_id)
            if obj.misses:  # the tracker only predicted this position; keep the path to what was seen
                continue
            path = events.get(obj.track_id)
            if path is None:
                path = self._tracks.setdefault(obj.track_id, TrackPath())
            x, y = obj.bottom_centre
            path.add(t, x, y)
        for track_id in [k for k in self._tracks if k not in live]:
            del self._tracks[track_id]
