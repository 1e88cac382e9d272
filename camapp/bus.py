"""Typed events between parts, and the bus that delivers them.

The controller (camapp/control.py) publishes what a command changed or asked for; parts subscribe to the event
types they react to (MQTT publishes the mode, the alarm silences, the store saves a snapshot). Every event is a
small frozen dataclass; a handler is called only for the type it subscribed to (or a subclass of it), so nobody
re-dispatches on a string or unpacks a tuple.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TypeVar

from camapp.state import Mode
from camapp.types import CameraName

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class BusEvent:
    """Base of every event: who caused it (web, mqtt, gpio, rule:<name>, config) and when (epoch seconds)."""

    source: str
    timestamp: float = field(default_factory=time.time)


@dataclass(frozen=True)
class ModeChanged(BusEvent):
    """The arming mode changed."""

    mode: Mode


@dataclass(frozen=True)
class DetectionToggled(BusEvent):
    """Object detection was switched on or off."""

    enabled: bool


@dataclass(frozen=True)
class CameraDetectionToggled(BusEvent):
    """One camera's own detection switch changed (several cameras)."""

    camera: str
    enabled: bool


@dataclass(frozen=True)
class AlarmChanged(BusEvent):
    """An alarm output started (the alarm is active) or the last one stopped."""

    active: bool


@dataclass(frozen=True)
class SilenceRequested(BusEvent):
    """Every alarm output should stop now."""


@dataclass(frozen=True)
class SnapshotRequested(BusEvent):
    """Save the current frame under `snapshot_id` (the id the requester was given), of `camera` (None: the
    appliance's first camera)."""

    snapshot_id: str
    camera: CameraName | None = None


@dataclass(frozen=True)
class Alert:
    """What an alarm rule firing tells whoever delivers alerts: rule, event, label, zones, time, arming mode."""

    rule: str
    label: str
    score: float
    mode: Mode
    time: float
    event_id: str | None = None
    track_id: int | None = None
    zones: tuple[str, ...] = ()
    zone: str | None = None
    source: str = "event"
    snapshot_id: str | None = None
    camera: str | None = None  # the camera whose event fired the rule; None for a GPIO input (no camera)

    def as_json(self) -> dict[str, object]:
        body = asdict(self)
        body["zones"] = list(self.zones)
        if self.camera is None:  # a lone camera's alert: the MQTT envelope names it
            del body["camera"]
        return body


@dataclass(frozen=True)
class AlertRaised(BusEvent):
    """An alarm rule asked for an alert to be delivered (MQTT)."""

    alert: Alert


@dataclass(frozen=True)
class ClipKept(BusEvent):
    """A rule asked to keep the recording around an event (of `camera`; None: whichever camera recorded it)."""

    event_id: str
    rule: str
    camera: CameraName | None = None


E = TypeVar("E", bound=BusEvent)


class Bus:
    """Delivers each published event to the handlers subscribed to its type (or a base of it), in subscription
    order, on the publisher's thread; handlers are called outside the lock and their errors are logged."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: list[tuple[type[BusEvent], Callable[[BusEvent], None]]] = []

    def subscribe(self, kind: type[E], handler: Callable[[E], None]) -> Callable[[], None]:
        """Call `handler` with every event of type `kind`; returns a function that removes it."""

        def deliver(event: BusEvent) -> None:
            if not isinstance(event, kind):
                return
            try:
                handler(event)
            except Exception:
                log.exception("bus handler %r failed on %s", handler, type(event).__name__)

        entry: tuple[type[BusEvent], Callable[[BusEvent], None]] = (kind, deliver)
        with self._lock:
            self._subs.append(entry)

        def unsubscribe() -> None:
            with self._lock:
                if entry in self._subs:
                    self._subs.remove(entry)

        return unsubscribe

    def publish(self, event: BusEvent) -> None:
        with self._lock:
            subs = [deliver for kind, deliver in self._subs if isinstance(event, kind)]
        for deliver in subs:
            deliver(event)
