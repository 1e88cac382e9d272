"""Typed commands: the one way the web API, MQTT commands, GPIO inputs and alarm rules ask for a change.

Each command is a frozen dataclass naming its result type; `Commander.execute` runs it (camapp/control.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from camapp.bus import Alert
from camapp.state import Mode
from camapp.types import CameraName

if TYPE_CHECKING:
    from camapp.config import AppConfig

R = TypeVar("R", covariant=True)
T = TypeVar("T")


class Command(Generic[R]):
    """Base of every command; `source` says who asked (web, mqtt, gpio, rule:<name>, config) for the logs."""

    source: str


@dataclass(frozen=True)
class SetMode(Command[None]):
    """Arm (home/away) or disarm."""

    mode: Mode
    source: str = "api"


@dataclass(frozen=True)
class SetDetection(Command[None]):
    """Object detection on or off (motion and the stream keep running)."""

    enabled: bool
    source: str = "api"


@dataclass(frozen=True)
class SetCameraDetection(Command[None]):
    """One camera's own detection switch (several cameras); it detects while this and SetDetection's are on."""

    camera: str
    enabled: bool
    source: str = "api"


@dataclass(frozen=True)
class Silence(Command[None]):
    """Every alarm output off now."""

    source: str = "api"


@dataclass(frozen=True)
class TakeSnapshot(Command[str]):
    """Save the current frame (of `camera`; None: the first camera's); the result is the id it is saved under."""

    source: str = "api"
    camera: CameraName | None = None


@dataclass(frozen=True)
class SendAlert(Command[None]):
    """Publish an alert (an alarm rule fired) to whoever delivers alerts (MQTT)."""

    alert: Alert
    source: str = "rules"


@dataclass(frozen=True)
class SetAlarm(Command[None]):
    """The alarm outputs started (active) or the last one stopped: sent by the alarm sink, which drives them."""

    active: bool
    source: str = "alarm"


@dataclass(frozen=True)
class KeepClip(Command[None]):
    """Keep the recording around an event (rule action `clip`); `camera`: the camera that saw it, if known."""

    event_id: str
    rule: str
    source: str = "rules"
    camera: CameraName | None = None


@dataclass(frozen=True)
class ApplyConfig(Command[list[str]]):
    """Apply a validated config live where possible and save it; the result names sections needing a restart."""

    config: AppConfig
    source: str = "api"


@dataclass(frozen=True)
class SwitchModel(Command[None]):
    """Validate a model on the live frame, then detect with it (the previous one takes over if it fails)."""

    model_path: Path
    labels_path: Path
    source: str = "api"


@dataclass(frozen=True)
class Applied:
    """What applying a config did: the sections that need a restart, and the arming mode to follow when the
    config's `rules.arming` changed."""

    restart: list[str]
    arming: Mode | None = None


class Commander(Protocol):
    """Runs commands (camapp.control.Controller)."""

    def execute(self, command: Command[T]) -> T: ...
