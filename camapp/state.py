"""Shared appliance state: arming mode, detection on/off, whether the alarm is sounding. State only.

Requests come in as typed commands through camapp.control.Controller, which changes this state and publishes
what changed as typed events on the bus (camapp/bus.py). Each setter says whether the value changed, so the
controller publishes a change once however many ask for it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal, get_args

from camapp.errors import CommandError

Mode = Literal["disarmed", "home", "away"]
MODES: tuple[Mode, ...] = get_args(Mode)

__all__ = ["MODES", "ApplianceState", "Mode", "StateView", "parse_mode"]


def parse_mode(value: object, where: str = "mode") -> Mode:
    """A mode from outside (a request body, an MQTT payload); CommandError naming the modes otherwise."""
    for mode in MODES:
        if value == mode:
            return mode
    raise CommandError(f"{where} must be one of {', '.join(MODES)}, got {str(value)[:40]!r}")


@dataclass(frozen=True)
class StateView:
    """The state at one moment, as the UI and MQTT show it."""

    mode: Mode
    detection: bool
    alarm: bool

    @property
    def armed(self) -> bool:
        return self.mode != "disarmed"

    def as_json(self) -> dict[str, str | bool]:
        return {"mode": self.mode, "armed": self.armed, "detection": self.detection, "alarm": self.alarm}


class ApplianceState:
    """Thread-safe state of a one-camera appliance: the arming mode (an appliance's, whatever its cameras) and the
    detection switch and alarm of its one camera."""

    def __init__(self, mode: Mode = "disarmed", detection: bool = True) -> None:
        self._lock = threading.Lock()
        self._mode: Mode = parse_mode(mode)
        self._detection = detection
        self._alarm = False

    @property
    def mode(self) -> Mode:
        with self._lock:
            return self._mode

    @property
    def armed(self) -> bool:
        return self.mode != "disarmed"

    @property
    def detection_enabled(self) -> bool:
        with self._lock:
            return self._detection

    @property
    def alarm_active(self) -> bool:
        with self._lock:
            return self._alarm

    def set_mode(self, mode: Mode) -> bool:
        """Arm (home/away) or disarm; True when the mode changed."""
        mode = parse_mode(mode)
        with self._lock:
            changed, self._mode = mode != self._mode, mode
        return changed

    def set_detection(self, enabled: bool) -> bool:
        if not isinstance(enabled, bool):
            raise CommandError(f"detection must be true or false, got {enabled!r}")
        with self._lock:
            changed, self._detection = enabled != self._detection, enabled
        return changed

    def set_alarm(self, active: bool) -> bool:
        """The alarm outputs started or all stopped; True when that changed."""
        with self._lock:
            changed, self._alarm = active != self._alarm, active
        return changed

    def view(self) -> StateView:
        with self._lock:
            return StateView(self._mode, self._detection, self._alarm)

    def as_dict(self) -> dict[str, str | bool]:
        return self.view().as_json()
