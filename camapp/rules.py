"""Alarm rules: which tracked objects or input triggers fire which rule, and per-rule / per-track cooldowns.

Pure logic: no hardware, no I/O. The alarm sink builds a RuleContext per frame (or per GPIO trigger) and
asks a RuleEngine which rules fire.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from camapp.config.alarm import DAYS, RuleConfig, TimeWindow

TimeInZone = Callable[[int, str], float]


def _no_time_in_zone(track_id: int, zone: str) -> float:
    return 0.0


@dataclass(frozen=True)
class Subject:
    """Something a rule can match: a tracked object's latest event, or a GPIO trigger (pir/door)."""

    label: str
    score: float
    zones: tuple[str, ...] = ()
    track_id: int | None = None
    event_id: str | None = None
    source: str = "event"


@dataclass(frozen=True)
class RuleContext:
    """What the rules see at one moment."""

    subjects: tuple[Subject, ...]
    mode: str
    now: datetime
    time_in_zone: TimeInZone = _no_time_in_zone


@dataclass(frozen=True)
class Fired:
    """One rule matching one subject; `zone` is the matched zone (None for rules without zones)."""

    rule: RuleConfig
    subject: Subject
    zone: str | None


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def in_window(window: TimeWindow, now: datetime) -> bool:
    """Whether `now` (local wall clock) falls in the window; windows with end <= start run past midnight."""
    start, end, t = _minutes(window.start), _minutes(window.end), now.hour * 60 + now.minute
    today = DAYS[now.weekday()]
    yesterday = DAYS[(now - timedelta(days=1)).weekday()]
    if start == end:
        return today in window.days
    if start < end:
        return today in window.days and start <= t < end
    return (today in window.days and t >= start) or (yesterday in window.days and t < end)


def in_schedule(rule: RuleConfig, now: datetime) -> bool:
    """An empty schedule means always."""
    return not rule.schedule or any(in_window(w, now) for w in rule.schedule)


def matched_zone(rule: RuleConfig, subject: Subject, time_in_zone: TimeInZone) -> tuple[bool, str | None]:
    """(matches, zone): zone rules need the subject in one of their zones for at least min_zone_seconds."""
    if not rule.zones:
        return True, None
    for zone in rule.zones:
        if zone not in subject.zones:
            continue
        if rule.min_zone_seconds <= 0:
            return True, zone
        if subject.track_id is not None and time_in_zone(subject.track_id, zone) >= rule.min_zone_seconds:
            return True, zone
    return False, None


def rule_applies(rule: RuleConfig, mode: str, now: datetime) -> bool:
    """Enabled, in an arming mode it lists, and inside its schedule."""
    return rule.enabled and mode in rule.modes and in_schedule(rule, now)


def evaluate(rules: Iterable[RuleConfig], context: RuleContext) -> list[Fired]:
    """Every (rule, subject) pair that matches now; no cooldowns (see RuleEngine)."""
    fired: list[Fired] = []
    for rule in rules:
        if not rule_applies(rule, context.mode, context.now):
            continue
        for subject in context.subjects:
            if subject.label not in rule.labels or subject.score < rule.min_score:
                continue
            ok, zone = matched_zone(rule, subject, context.time_in_zone)
            if ok:
                fired.append(Fired(rule, subject, zone))
    return fired


@dataclass
class RuleEngine:
    """Applies cooldowns on top of evaluate(): a rule is quiet for cooldown_s after firing, and fires once per track.

    Per-track memory lasts until forget_track() (the track's event ended) or reset() (the arming mode changed).
    """

    rules: Sequence[RuleConfig]
    clock: Callable[[], float] = time.monotonic
    _last_fired: dict[str, float] = field(default_factory=dict)
    _tracks_fired: set[tuple[str, int]] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def process(self, context: RuleContext) -> list[Fired]:
        """Matching rules that are not cooling down; at most one firing per rule per call."""
        candidates = evaluate(self.rules, context)
        now = self.clock()
        out: list[Fired] = []
        with self._lock:
            for f in candidates:
                name = f.rule.name
                if any(o.rule.name == name for o in out) or self._cooling(f, now):
                    continue
                self._last_fired[name] = now
                if f.subject.track_id is not None:
                    self._tracks_fired.add((name, f.subject.track_id))
                out.append(f)
        return out

    def _cooling(self, f: Fired, now: float) -> bool:
        last = self._last_fired.get(f.rule.name)
        if last is not None and now - last < f.rule.cooldown_s:
            return True
        return f.subject.track_id is not None and (f.rule.name, f.subject.track_id) in self._tracks_fired

    def forget_track(self, track_id: int) -> None:
        """The track's event ended: a later track with the same id may fire again."""
        with self._lock:
            self._tracks_fired = {k for k in self._tracks_fired if k[1] != track_id}

    def reset(self) -> None:
        """Forget every cooldown (called when the arming mode changes)."""
        with self._lock:
            self._last_fired.clear()
            self._tracks_fired.clear()
