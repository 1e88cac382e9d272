"""Shared appliance state (arming mode, detection on/off, alarm) and the bus that announces its changes.

Requests come in as typed commands through camapp.control.Controller, which calls these methods; alarms, the
store and MQTT subscribe to the changes.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

from camapp.errors import CommandError

log = logging.getLogger(__name__)

Mode = Literal["disarmed", "home", "away"]
MODES: tuple[str, ...] = get_args(Mode)
ChangeKind = Literal["mode", "detection", "alarm", "silence", "snapshot", "alert", "clip"]


@dataclass(frozen=True)
class StateChange:
    """One change, delivered to every subscriber."""

    kind: ChangeKind
    value: Any
    source: str
    timestamp: float


Listener = Callable[[StateChange], None]


class ApplianceState:
    """Thread-safe state; listeners are called outside the lock and their errors are logged, not raised."""

    def __init__(self, mode: str = "disarmed", detection: bool = True) -> None:
        self._lock = threading.Lock()
        self._mode: str = self._check_mode(mode)
        self._detection = detection
        self._alarm = False
        self._listeners: list[Listener] = []

    @staticmethod
    def _check_mode(mode: object) -> str:
        if mode not in MODES:
            raise CommandError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        return str(mode)

    @property
    def mode(self) -> str:
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

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Register a listener; returns a function that removes it."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def _emit(self, kind: ChangeKind, value: Any, source: str) -> None:
        change = StateChange(kind, value, source, time.time())
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(change)
            except Exception:
                log.exception("state listener %r failed on %s", listener, kind)

    def set_mode(self, mode: str, source: str = "api") -> None:
        """Arm (home/away) or disarm."""
        mode = self._check_mode(mode)
        with self._lock:
            changed, self._mode = mode != self._mode, mode
        if changed:
            log.info("arming mode -> %s (from %s)", mode, source)
            self._emit("mode", mode, source)

    def set_detection(self, enabled: bool, source: str = "api") -> None:
        if not isinstance(enabled, bool):
            raise CommandError(f"detection must be true or false, got {enabled!r}")
        with self._lock:
            changed, self._detection = enabled != self._detection, enabled
        if changed:
            self._emit("detection", enabled, source)

    def set_alarm(self, active: bool, source: str = "rules") -> None:
        """Called by the alarm subsystem when outputs start or stop."""
        with self._lock:
            changed, self._alarm = active != self._alarm, active
        if changed:
            self._emit("alarm", active, source)

    def silence(self, source: str = "api") -> None:
        """Ask every alarm output to stop now."""
        self._emit("silence", True, source)

    def request_snapshot(self, source: str = "api") -> str:
        """Ask the store to save the current frame; returns the snapshot id it will be saved under."""
        snap_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:8]
        self._emit("snapshot", snap_id, source)
        return snap_id

    def announce(self, kind: Literal["alert", "clip"], value: Any, source: str) -> None:
        """Tell every listener about something that is not state: an alert to deliver, a clip to keep."""
        self._emit(kind, value, source)

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {"mode": self._mode, "armed": self._mode != "disarmed",
                    "detection": self._detection, "alarm": self._alarm}
