"""Turns FrameResults into retained-state changes: motion ON/OFF (with an off delay) and per-label counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from camapp.mqtt.topics import Topics
from camapp.types import FrameResult


class FrameStates:
    """Remembers the last published motion and counts; `update` returns only what changed, as (topic, payload)."""

    def __init__(self, topics: Topics, labels: Sequence[str], motion_off_s: float) -> None:
        self.topics = topics
        self.motion_off_s = motion_off_s
        self.motion_on = False
        self.last_motion: float | None = None
        self.counts: dict[str, int] = dict.fromkeys(labels, 0)

    def initial(self) -> list[tuple[str, str]]:
        return [(self.topics.motion, "OFF")] + [(self.topics.count(label), "0") for label in self.counts]

    def update(self, result: FrameResult) -> list[tuple[str, str]]:
        return self._motion(result) + self._counts(result)

    def _motion(self, result: FrameResult) -> list[tuple[str, str]]:
        # Frame timestamps, not the wall clock, so a replayed clip publishes what a live run would.
        now = result.frame.timestamp
        if result.motion.has_motion and not result.motion.suppressed:
            self.last_motion = now
            if not self.motion_on:
                self.motion_on = True
                return [(self.topics.motion, "ON")]
        elif self.motion_on and (self.last_motion is None or now - self.last_motion >= self.motion_off_s):
            self.motion_on = False
            return [(self.topics.motion, "OFF")]
        return []

    def _counts(self, result: FrameResult) -> list[tuple[str, str]]:
        seen = Counter(o.label for o in result.objects if o.confirmed)
        changes = []
        for label in sorted(set(self.counts) | set(seen)):
            n = seen.get(label, 0)
            if self.counts.get(label) != n:
                self.counts[label] = n
                changes.append((self.topics.count(label), str(n)))
        return changes
