"""Shared appliance state: arming mode, detection on/off, whether the alarm is sounding. State only.

Requests come in as typed commands through camapp.control.Controller, which changes this state and publishes
what changed as typed events on the bus (camapp/bus.py). Each setter says whether the value changed, so the
controller publishes a change once however many ask for it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
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
    cameras: tuple[tuple[str, bool], ...] = ()  # several cameras: each one's own detection switch


    @property
    def armed(self) -> bool:
        return self.mode != "disarmed"

    def as_json(self) -> dict[str, str | bool | dict[str, bool]]:
        body: dict[str, str | bool | dict[str, bool]] = {"mode": self.mode, "armed": self.armed,
                                                          "detection": self.detection, "alarm": self.alarm}
        if self.cameras:
            body["camera_detection"] = dict(self.cameras)
        return body


class ApplianceState:
    """Thread-safe state of the appliance: the arming mode, the appliance-wide detection switch and the alarm (one
    each, whatever the number of cameras), and with several cameras each camera's own detection switch: a camera
    detects while both its switch and the appliance's are on."""

    def __init__(self, mode: Mode = "disarmed", detection: bool = True, cameras: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._mode: Mode = parse_mode(mode)
        self._detection = detection
        self._alarm = False
        self._cameras: dict[str, bool] = dict.fromkeys(cameras, True)

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

    @property
    def cameras(self) -> tuple[str, ...]:
        """The cameras with a switch of their own (none for a lone camera: the appliance's switch is its)."""
        return tuple(self._cameras)

    def camera_detection(self, camera: str) -> bool:
        """This camera's own switch (True for a camera without one)."""
        with self._lock:
            return self._cameras.get(camera, True)

    def detecting(self, camera: str) -> bool:
        """Whether `camera` detects now: the appliance's switch and its own are both on."""
        with self._lock:
            return self._detection and self._cameras.get(camera, True)

    def set_camera_detection(self, camera: str, enabled: bool) -> bool:
        """One camera's switch; CommandError naming the cameras for a camera that has none; True when it changed."""
        if not isinstance(enabled, bool):
            raise CommandError(f"detection must be true or false, got {enabled!r}")
        with self._lock:
            if camera not in self._cameras:
                known = ", ".join(self._cameras) or "none: this appliance has one camera, use its detection switch"
                raise CommandError(f"no camera named {camera[:40]!r} (cameras: {known})")
            changed, self._cameras[camera] = enabled != self._cameras[camera], enabled
        return changed

    def set_alarm(self, active: bool) -> bool:
        """The alarm outputs started or all stopped; True when that changed."""
        with self._lock:
            changed, self._alarm = active != self._alarm, active
        return changed

    def view(self) -> StateView:
        with self._lock:
            return StateView(self._mode, self._detection, self._alarm, tuple(self._cameras.items()))

    def as_dict(self) -> dict[str, str | bool | dict[str, bool]]:
        return self.view().as_json()
