"""Turn tracked objects into events: `new` once confirmed, `update` on meaningful change, `end` once gone.

An event follows one object. It starts when the tracker has confirmed the object and the median of its recent
scores reaches the label's threshold (a single confident frame is not enough), and ends end_after_s after the
object was last seen once the tracker has dropped it. A parked object stays one event because the tracker keeps it
while nobody looks; if its track is lost anyway, a new track of the same label appearing where it vanished
continues the event instead of starting another (reattach_iou).
"""

from __future__ import annotations

import secrets
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from camapp.config.core import EventsConfig, ObjectsConfig
from camapp.geometry import Box, box_iou
from camapp.types import EventMessage, EventType, TrackedObject


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
    track_id: int
    label: str
    start_time: float
    last_seen: float
    box: Box
    score: float
    top_score: float
    reported_top: float
    stationary: bool
    last_message: float
    zones: frozenset[str] = frozenset()
    entered: list[str] = field(default_factory=list)


class EventTracker:
    """Keeps one event per object; call update() once per frame from a single thread."""

    def __init__(self, objects_cfg: ObjectsConfig, events_cfg: EventsConfig, camera_id: str) -> None:
        self._objects = objects_cfg
        self._cfg = events_cfg
        self._camera = camera_id
        self._open: dict[int, _Event] = {}  # by the track id that currently carries the event
        self._orphans: list[_Event] = []  # events whose track was dropped, waiting to end or be continued
        self._entered: dict[int, list[str]] = {}  # zones each live track entered, in order, before and after `new`
        self._not_before: dict[int, float] = {}  # tracks whose event was ended while they were still present

    def update(
        self, objects: Sequence[TrackedObject], zones: Mapping[int, frozenset[str]], timestamp: float
    ) -> list[EventMessage]:
        """Messages for this frame, in order: ends of vanished objects, updates, then new events."""
        live = {obj.track_id: obj for obj in objects}
        self._forget_dead_tracks(live)
        for obj in objects:
            self._note_zones(obj.track_id, zones.get(obj.track_id, frozenset()))
        out = self._end_gone(timestamp)
        out += self._end_too_long(timestamp)
        for track_id, event in self._open.items():
            msg = self._refresh(event, live[track_id], zones, timestamp)
            if msg is not None:
                out.append(msg)
        for obj in sorted(objects, key=lambda o: o.track_id):
            if obj.track_id not in self._open:
                msg = self._begin(obj, zones, timestamp)
                if msg is not None:
                    out.append(msg)
        return out

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

    def _begin(self, obj: TrackedObject, zones: Mapping[int, frozenset[str]], timestamp: float) -> EventMessage | None:
        """Continue an orphaned event this object replaces, or start a new one if the object qualifies."""
        orphan = self._orphan_for(obj)
        if orphan is not None:
            return self._continue(orphan, obj, zones, timestamp)
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
        """Move an orphaned event onto the track that replaced its lost one; always reported (the track id changed)."""
        self._orphans.remove(event)
        event.track_id, event.box, event.score, event.last_seen = obj.track_id, obj.box, obj.score, obj.last_seen
        self._open[obj.track_id] = event
        self._refresh(event, obj, zones, timestamp)
        event.last_message = timestamp
        event.reported_top = event.top_score
        return self._message(event, "update")

    def _orphan_for(self, obj: TrackedObject) -> _Event | None:
        """The vanished event of the same label whose last box this newer object overlaps most, if enough."""
        if self._cfg.reattach_iou <= 0:
            return None
        best, best_iou = None, self._cfg.reattach_iou
        for event in self._orphans:
            if event.label != obj.label or obj.first_seen < event.last_seen:
                continue  # seen at the same time as the old object, so it is another one
            iou = box_iou(event.box, obj.box)
            if iou >= best_iou:
                best, best_iou = event, iou
        return best

    # --- updates ---------------------------------------------------------------------------------------------

    def _refresh(
        self, event: _Event, obj: TrackedObject, zones: Mapping[int, frozenset[str]], timestamp: float
    ) -> EventMessage | None:
        """Copy the object's latest state into the event; an `update` message if something meaningful changed."""
        current = zones.get(obj.track_id, frozenset())
        changed = current != event.zones or obj.stationary != event.stationary
        if obj.last_seen > event.last_seen:
            event.box, event.score, event.last_seen = obj.box, obj.score, obj.last_seen
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
        )
