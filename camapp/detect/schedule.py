"""When the detector may run: at most `fps` times per second of frame time, whatever the camera's rate, plus at most
one verification look between two slots."""

from __future__ import annotations

# Frame timestamps are floats built by adding periods; a frame this close to its slot still takes it.
_SLACK_S = 1e-3


class DetectRate:
    """A grid of detection slots `1/fps` apart in frame time (video time for a file, so replays are repeatable).

    Slots follow a grid rather than "period after the last run", so a camera rate that is not a multiple of the
    detection rate (7 fps camera, 5 fps detection) still averages the configured rate; after an idle gap, or if
    time goes backwards (a clock change, a restarted source), the grid restarts at the next frame.
    """

    def __init__(self, fps: float) -> None:
        if fps < 0:
            raise ValueError(f"detect fps must be >= 0, got {fps}")
        self._period = 1.0 / fps if fps > 0 else 0.0
        self._next = float("-inf")
        self._last = float("-inf")
        self._verified = False  # a verification look was taken since the last slot

    def due(self, timestamp: float) -> bool:
        """True if a detection at this frame time keeps within the rate."""
        return self._period == 0 or timestamp < self._last or timestamp >= self._next - _SLACK_S

    def verify_due(self, timestamp: float) -> bool:
        """True once between two slots, from halfway on: verification looks at most double the invoke rate, and
        come when the slot's look is half a period old (every frame is a slot when fps is 0: nothing to add)."""
        if self._period == 0 or self._verified:
            return False
        return self._last + self._period / 2 - _SLACK_S <= timestamp < self._next - _SLACK_S

    def verified(self) -> None:
        """Record the verification look of this slot interval."""
        self._verified = True

    def ran(self, timestamp: float) -> None:
        """Record a detection at this frame time. In its slot, the next slot is one period on; an extra detection
        before its slot (the pipeline may look more often for a while) leaves the schedule as it was."""
        if timestamp < self._last or timestamp >= self._next + self._period:
            self._next = timestamp + self._period
        elif timestamp >= self._next - _SLACK_S:
            self._next += self._period
        self._last = timestamp
        self._verified = False
