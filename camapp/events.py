"""Turn tracked objects into events: `new` once confirmed, `update` on meaningful change, `end` once gone.

An event follows one object. It starts when the tracker has confirmed the object and the median of its recent
scores reaches the label's threshold (a single confident frame is not enough), and ends end_after_s after the
object was last seen once the tracker has dropped it. A parked object stays one event because the tracker keeps it
while nobody looks.

Gaps: a person hidden behind a pillar, or missed by the detector for a few seconds, often comes back as a new track.
A confirmed new track of the same label that was first seen after the event's object was last seen, within
end_after_s, and where that object was heading (its last box moved on at its last speed, within reattach_distance
box heights, the allowance growing with the gap) or where it vanished (reattach_iou), continues the event instead of
starting another - unless both are clearly moving in opposite directions, or the vanished object was heading out of
the picture (expected beyond the frame's edge within a second): someone walking in where another walked out is
somebody else. An object seen at the same time as the vanished one is somebody else, except its twin: a track
born on a second box overlapping the object in the frame the object was last seen (one person seen twice, and from
then on only the newer box is found). This works whether the old track was already dropped or is still kept unseen by
the tracker; in the second case the old track gives the event away and starts no event of its own unless it is seen
again; seen again while the newer track is not (a detector flickering between two boxes of one person), it takes its
event back. `end` is sent once, end_after_s after the object was last seen by any of its tracks.

An event's `track_id` is the tracker id of the object that started it and never changes; the tracks that carried
it later are internal (the live view shows the tracker's current ids on the boxes).
"""

from __future__ import annotations

import math
import secrets
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from camapp.config.core import EventsConfig, ObjectsConfig
from camapp.geometry import Box, box_iou, centre, in_frame
from camapp.types import EventMessage, EventType, TrackedObject

REATTACH_HORIZON_S = 3.0  # a vanished object is not extrapolated further than this: people stop, turn, wait
REATTACH_GROWTH_PER_S = 0.5  # the reattach allowance grows by this share of itself per second of gap
# Two boxes of one frame overlapping this much may be one person seen twice: the detector's NMS (IoU 0.45-0.6) lets
# such pairs through, while two people that far into each other are nearly always returned as one merged box.
TWIN_IOU = 0.4
MOVING_HEIGHTS_PER_S = 0.2  # slower than this (box heights per second) an object's heading means nothing
# An object expected beyond the frame's edge this soon after its last sighting walked out of the picture (the
# tracker's prediction horizon: further on, its heading is a guess).
EXIT_HORIZON_S = 1.0
# A newcomer still short of evidence after this long is a hard case or no object of interest: no more extra looks.
VERIFY_WINDOW_S = 1.0


def _opposed(a: tuple[float, float], b: tuple[float, float], height: float) -> bool:
    """Both clearly moving, in directions more than 90 degrees apart: someone coming back is someone else (the one
    who walked out of the frame is not the one walking in where they left)."""
    moving = MOVING_HEIGHTS_PER_S * height
    if math.hypot(*a) < moving or math.hypot(*b) < moving:
        return False
    return a[0] * b[0] + a[1] * b[1] < 0


def new_event_id(start_time: float) -> str:
    """Unique id that sorts by start time: zero-padded seconds, then 6 random hex digits."""
    return f"{start_time:017.6f}-{secrets.token_hex(3)}"


def median_score(obj: TrackedObject, window: int) -> float:
    """Median of the object's most recent scores (its current score when it has no history)."""
    recent = obj.scores[-window:]
    return float(statistics.median(recent)) if recent else obj.score


@dataclass
class _Event:
    """One open event and what was last reported about it."""

    id: str
    track_id: int  # the track that started the event: what messages report, for the event's whole life
    label: str
    start_time: float
    last_seen: float
    box: Box
    score: float
    top_score: float
    reported_top: float
    stationary: bool
    last_message: float
    velocity: tuple[float, float] = (0.0, 0.0)
    carrier: int | None = None  # the track carrying the event now, when it is not track_id
    zones: frozenset[str] = frozenset()
    entered: list[str] = field(default_factory=list)


class EventTracker:
    """Keeps one event per object; call update() once per frame from a single thread."""

    def __init__(
        self, objects_cfg: ObjectsConfig, events_cfg: EventsConfig, camera_id: str, frame_size: tuple[int, int]
    ) -> None:
        self._objects = objects_cfg
        self._cfg = events_cfg
        self._camera = camera_id
        self._size = frame_size
        self._open: dict[int, _Event] = {}  # by the track id that currently carries the event
        self._orphans: list[_Event] = []  # events whose track was dropped, waiting to end or be continued
        self._entered: dict[int, list[str]] = {}  # zones each live track entered, in order, before and after `new`
        # tracks whose life so far belongs to an event they no longer carry (ended while they were present, or
        # taken over by a newer track while unseen): an event of their own starts no earlier than this
        self._not_before: dict[int, float] = {}
        # unseen tracks whose event a newer track continued: when, and which event
        self._handed_over: dict[int, tuple[float, _Event]] = {}
        self._born: dict[int, Box] = {}  # each live track's first box (to recognise a twin, see _lost_event_for)
        self._resumes: set[int] = set()  # of those, the ones whose sightings so far went with the event

    def update(
        self, objects: Sequence[TrackedObject], zones: Mapping[int, frozenset[str]], timestamp: float
    ) -> list[EventMessage]:
        """Messages for this frame, in order: ends of vanished objects, updates, then new events."""
        live = {obj.track_id: obj for obj in objects}
        self._forget_dead_tracks(live)
        for obj in objects:
            self._note_zones(obj.track_id, zones.get(obj.track_id, frozenset()))
            self._born.setdefault(obj.track_id, obj.box)
        out = self._end_gone(timestamp)
        out += self._end_too_long(timestamp)
        for track_id, event in self._open.items():
            msg = self._refresh(event, live[track_id], zones, timestamp)
            if msg is not None:
                out.append(msg)
        for obj in sorted(objects, key=lambda o: o.track_id):
            handed_at = self._handed_over.get(obj.track_id, (-math.inf,))[0]
            if obj.track_id not in self._open and obj.last_seen > handed_at:
                if obj.track_id in self._resumes:
                    self._resumes.discard(obj.track_id)
                    self._not_before[obj.track_id] = obj.last_seen
                msg = self._begin(obj, live, zones, timestamp)
                if msg is not None:
                    out.append(msg)
        return out

    def doubtful(self, objects: Sequence[TrackedObject], timestamp: float) -> list[TrackedObject]:
        """Objects seen at `timestamp`, first seen at most VERIFY_WINDOW_S before, with no event yet and scores that
        do not qualify for one: where a verification look (see Pipeline) can bring the evidence sooner."""
        return [
            obj for obj in objects
            if obj.last_seen == timestamp and timestamp - obj.first_seen <= VERIFY_WINDOW_S
            and obj.track_id not in self._open and not self._qualifies(obj)
        ]

    def flush(self, timestamp: float) -> list[EventMessage]:
        """End every open event now (shutdown, end of a replay); end_time is when each object was last seen."""
        events = [*self._orphans, *self._open.values()]
        for track_id in self._open:
            self._not_before[track_id] = timestamp
        self._orphans, self._open = [], {}
        return [self._message(event, "end", min(event.last_seen, timestamp)) for event in events]

    def open_events(self) -> list[EventMessage]:
        """Snapshot of every open event as an `update` message (for a UI or a late MQTT subscriber)."""
        return [self._message(event, "update") for event in [*self._open.values(), *self._orphans]]

    # --- bookkeeping ---------------------------------------------------------------------------------------

    def _forget_dead_tracks(self, live: Mapping[int, TrackedObject]) -> None:
        for track_id in [t for t in self._open if t not in live]:
            self._orphans.append(self._open.pop(track_id))
        self._entered = {t: zs for t, zs in self._entered.items() if t in live}
        self._not_before = {t: ts for t, ts in self._not_before.items() if t in live}
        self._handed_over = {t: h for t, h in self._handed_over.items() if t in live}
        self._born = {t: b for t, b in self._born.items() if t in live}
        self._resumes &= live.keys()

    def _note_zones(self, track_id: int, current: frozenset[str]) -> None:
        entered = self._entered.setdefault(track_id, [])
        entered.extend(sorted(current.difference(entered)))

    # --- ends ----------------------------------------------------------------------------------------------

    def _end_gone(self, timestamp: float) -> list[EventMessage]:
        """End orphaned events whose object has been gone for end_after_s (end_time: when it was last seen)."""
        done = [e for e in self._orphans if timestamp - e.last_seen >= self._cfg.end_after_s]
        self._orphans = [e for e in self._orphans if timestamp - e.last_seen < self._cfg.end_after_s]
        return [self._message(event, "end", event.last_seen) for event in done]

    def _end_too_long(self, timestamp: float) -> list[EventMessage]:
        """Split events longer than max_duration_s: end now; the object, still present, starts a new one."""
        limit = self._cfg.max_duration_s
        if limit <= 0:
            return []
        out = []
        for track_id, event in list(self._open.items()):
            if timestamp - event.start_time >= limit:
                del self._open[track_id]
                self._not_before[track_id] = timestamp
                self._entered[track_id] = sorted(event.zones)
                out.append(self._message(event, "end", timestamp))
        return out

    # --- new and continued events ----------------------------------------------------------------------------

    def _qualifies(self, obj: TrackedObject) -> bool:
        threshold = self._objects.filter_for(obj.label).threshold
        return obj.confirmed and median_score(obj, self._cfg.score_window) >= threshold

    def _begin(
        self, obj: TrackedObject, live: Mapping[int, TrackedObject], zones: Mapping[int, frozenset[str]],
        timestamp: float,
    ) -> EventMessage | None:
        """Continue an event of a vanished object this one replaces, or start a new one if the object qualifies."""
        if not obj.confirmed:
            return None
        lost = self._given_back(obj, live) or self._lost_event_for(obj, live, timestamp)
        if lost is not None:
            return self._continue(lost, obj, zones, timestamp)
        if not self._qualifies(obj):
            return None
        start = max(obj.first_seen, self._not_before.get(obj.track_id, obj.first_seen))
        score = median_score(obj, self._cfg.score_window)
        event = _Event(
            id=new_event_id(start),
            track_id=obj.track_id,
            label=obj.label,
            start_time=start,
            last_seen=obj.last_seen,
            box=obj.box,
            score=obj.score,
            top_score=score,
            reported_top=score,
            stationary=obj.stationary,
            last_message=timestamp,
            zones=zones.get(obj.track_id, frozenset()),
            entered=list(self._entered.get(obj.track_id, [])),
        )
        self._open[obj.track_id] = event
        return self._message(event, "new")

    def _continue(
        self, event: _Event, obj: TrackedObject, zones: Mapping[int, frozenset[str]], timestamp: float
    ) -> EventMessage:
        """Move a vanished object's event onto the track that replaced it; always reported (it may have moved far)."""
        if event in self._orphans:
            self._orphans.remove(event)
        else:
            old = next(t for t, e in self._open.items() if e is event)
            del self._open[old]
            if self._handed_over.get(obj.track_id, (0.0, None))[1] is not event:
                # The old track's sightings are in the event it hands over (unless it had only borrowed it, and
                # gives it back): an event it starts later starts when it is seen again.
                self._resumes.add(old)
            self._handed_over[old] = (timestamp, event)
        event.box, event.score, event.last_seen = obj.box, obj.score, obj.last_seen
        event.carrier = None if obj.track_id == event.track_id else obj.track_id
        self._open[obj.track_id] = event
        self._refresh(event, obj, zones, timestamp)
        event.last_message = timestamp
        event.reported_top = event.top_score
        return self._message(event, "update")

    def _given_back(self, obj: TrackedObject, live: Mapping[int, TrackedObject]) -> _Event | None:
        """The event this track handed to a newer one, when it is seen again and that newer one is not seen now:
        the hand-over was premature (the detector flickered between two boxes of one object), so it resumes."""
        handed = self._handed_over.get(obj.track_id)
        if handed is None:
            return None
        event = handed[1]
        if event in self._orphans:
            return event
        carrier = next((t for t, e in self._open.items() if e is event), None)
        return event if carrier is not None and live[carrier].last_seen < obj.last_seen else None

    def _lost_event_for(
        self, obj: TrackedObject, live: Mapping[int, TrackedObject], timestamp: float
    ) -> _Event | None:
        """The event of a vanished object (dropped, or kept unseen by the tracker) that this newer object continues:
        the nearest of those it plausibly is, if any."""
        unseen = [e for t, e in self._open.items() if live[t].last_seen < obj.last_seen]
        best, best_cost = None, math.inf
        for event in [*self._orphans, *unseen]:
            if event.label != obj.label or not self._after(obj, event):
                continue  # seen at the same time as the old object, so it is another one
            if timestamp - event.last_seen > self._cfg.end_after_s:
                continue
            cost = self._reattach_cost(event, obj)
            if cost < best_cost:
                best, best_cost = event, cost
        return best

    def _after(self, obj: TrackedObject, event: _Event) -> bool:
        """Whether `obj` may be the event's vanished object: first seen after it was last seen, or its twin - born in
        the very frame it was last seen, on a box overlapping it (TWIN_IOU): the detector saw one person twice, and
        from then on found only the newer box."""
        if obj.first_seen != event.last_seen:
            return obj.first_seen > event.last_seen
        return box_iou(self._born.get(obj.track_id, obj.box), event.box) >= TWIN_IOU

    def _reattach_cost(self, event: _Event, obj: TrackedObject) -> float:
        """How far the object is from where the event's object was heading, in allowances (< 1: plausible, else inf);
        inf when it was heading out of the picture (it left: whoever comes in there next is somebody else)."""
        gap = obj.last_seen - event.last_seen
        if self._walked_out(event, min(gap, EXIT_HORIZON_S)):
            return math.inf
        if self._cfg.reattach_iou > 0 and box_iou(event.box, obj.box) >= self._cfg.reattach_iou:
            return 0.0
        if self._cfg.reattach_distance <= 0:
            return math.inf
        ahead = min(gap, REATTACH_HORIZON_S)
        (ex, ey), (ox, oy) = centre(event.box), centre(obj.box)
        ex, ey = ex + event.velocity[0] * ahead, ey + event.velocity[1] * ahead
        height = max(event.box[3] - event.box[1], obj.box[3] - obj.box[1], 1.0)
        allowance = self._cfg.reattach_distance * height * (1.0 + REATTACH_GROWTH_PER_S * gap)
        cost = math.hypot(ox - ex, oy - ey) / allowance
        if cost > 1.0 or _opposed(event.velocity, obj.velocity, height):
            return math.inf
        return cost

    def _walked_out(self, event: _Event, ahead: float) -> bool:
        """The event's object, moved on at its last speed for `ahead` seconds, is beyond the frame's edge."""
        cx, cy = centre(event.box)
        return not in_frame((cx + event.velocity[0] * ahead, cy + event.velocity[1] * ahead), self._size)

    # --- updates ---------------------------------------------------------------------------------------------

    def _refresh(
        self, event: _Event, obj: TrackedObject, zones: Mapping[int, frozenset[str]], timestamp: float
    ) -> EventMessage | None:
        """Copy the object's latest state into the event; an `update` message if something meaningful changed."""
        current = zones.get(obj.track_id, frozenset())
        changed = current != event.zones or obj.stationary != event.stationary
        if obj.last_seen > event.last_seen:
            event.box, event.score, event.last_seen = obj.box, obj.score, obj.last_seen
            event.velocity = obj.velocity
            event.top_score = max(event.top_score, median_score(obj, self._cfg.score_window))
        improved = event.top_score - event.reported_top
        changed = changed or (improved > 0 and improved >= self._cfg.update_score_delta)
        interval = self._cfg.update_interval_s
        changed = changed or (interval > 0 and timestamp - event.last_message >= interval)
        event.zones, event.stationary = current, obj.stationary
        event.entered.extend(z for z in self._entered.get(obj.track_id, []) if z not in event.entered)
        if not changed:
            return None
        event.last_message = timestamp
        event.reported_top = event.top_score
        return self._message(event, "update")

    def _message(self, event: _Event, kind: EventType, end_time: float | None = None) -> EventMessage:
        return EventMessage(
            type=kind,
            id=event.id,
            track_id=event.track_id,
            label=event.label,
            score=event.score,
            top_score=event.top_score,
            box=event.box,
            start_time=event.start_time,
            end_time=end_time,
            current_zones=tuple(sorted(event.zones)),
            entered_zones=tuple(event.entered),
            camera=self._camera,
            stationary=event.stationary,
            current_track_id=event.carrier,
        )
