"""The controller: every live change (arming, detection, silence, snapshots, alerts, clips, config, model) comes
in as a typed command (camapp/commands.py) and goes through `execute`, whoever sends it: the web API, MQTT
commands, GPIO inputs or alarm rules. It changes the appliance state and publishes what changed (or what was
asked for) as a typed event on the bus (camapp/bus.py) to the parts that react: MQTT publishes, the alarm
silences, the store saves a snapshot.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from camapp.bus import (
    AlarmChanged,
    AlertRaised,
    Bus,
    CameraDetectionToggled,
    ClipKept,
    DetectionToggled,
    ModeChanged,
    SilenceRequested,
    SnapshotRequested,
)
from camapp.commands import (
    Applied,
    ApplyConfig,
    Command,
    KeepClip,
    SendAlert,
    SetAlarm,
    SetCameraDetection,
    SetDetection,
    SetMode,
    Silence,
    SwitchModel,
    TakeSnapshot,
)
from camapp.config import AppConfig
from camapp.config.files import save_config
from camapp.errors import CommandError
from camapp.state import ApplianceState

log = logging.getLogger(__name__)
T = TypeVar("T")
ApplyFn = Callable[[AppConfig], Applied]
SwitchFn = Callable[[Path, Path], None]


class Controller:
    """Runs commands against the appliance state and, for config and model changes, the live pipeline."""

    def __init__(self, state: ApplianceState, *, bus: Bus | None = None, apply_config: ApplyFn | None = None,
                 switch_model: SwitchFn | None = None, config_path: Path | None = None) -> None:
        self.state = state
        self.bus = bus if bus is not None else Bus()
        self._apply, self._switch, self.config_path = apply_config, switch_model, config_path
        publish = self.bus.publish
        self._handlers: dict[type[Any], Callable[[Any], Any]] = {
            SetMode: self._set_mode,
            SetDetection: self._set_detection,
            SetCameraDetection: self._set_camera_detection,
            SetAlarm: self._set_alarm,
            Silence: lambda c: publish(SilenceRequested(source=c.source)),
            TakeSnapshot: self._take_snapshot,
            SendAlert: lambda c: publish(AlertRaised(c.alert, source=c.source)),
            KeepClip: lambda c: publish(ClipKept(c.event_id, c.rule, c.camera, source=c.source)),
            ApplyConfig: self._apply_config,
            SwitchModel: self._switch_model,
        }

    @property
    def can_switch_model(self) -> bool:
        return self._switch is not None

    def execute(self, command: Command[T]) -> T:
        """Run one command; raises CommandError (bad value), ConfigError or ModelError when it is refused."""
        handler = self._handlers.get(type(command))
        if handler is None:
            raise CommandError(f"no handler for command {type(command).__name__}")
        log.debug("command %s from %s", type(command).__name__, command.source)
        return cast(T, handler(command))

    def _set_mode(self, command: SetMode) -> None:
        if self.state.set_mode(command.mode):
            log.info("arming mode -> %s (from %s)", command.mode, command.source)
            self.bus.publish(ModeChanged(command.mode, source=command.source))

    def _set_detection(self, command: SetDetection) -> None:
        if self.state.set_detection(command.enabled):
            self.bus.publish(DetectionToggled(command.enabled, source=command.source))

    def _set_camera_detection(self, command: SetCameraDetection) -> None:
        if self.state.set_camera_detection(command.camera, command.enabled):
            log.info("camera %s: detection %s (from %s)", command.camera, "on" if command.enabled else "off",
                     command.source)
            self.bus.publish(CameraDetectionToggled(command.camera, command.enabled, source=command.source))

    def _set_alarm(self, command: SetAlarm) -> None:
        if self.state.set_alarm(command.active):
            self.bus.publish(AlarmChanged(command.active, source=command.source))

    def _take_snapshot(self, command: TakeSnapshot) -> str:
        """The id is handed out now; the store saves the frame under it when it hears the request."""
        snap_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:8]
        self.bus.publish(SnapshotRequested(snap_id, command.camera, source=command.source))
        return snap_id

    def _apply_config(self, command: ApplyConfig) -> list[str]:
        """Apply, then save (when there is a config file): a config that cannot run is never written."""
        if self._apply is None:
            raise CommandError("this appliance cannot apply a config live")
        applied = self._apply(command.config)
        if self.config_path is not None:
            save_config(self.config_path, command.config)
        if applied.arming is not None:
            self._set_mode(SetMode(applied.arming, source="config"))
        return applied.restart

    def _switch_model(self, command: SwitchModel) -> None:
        if self._switch is None:
            raise CommandError("this appliance cannot switch models")
        self._switch(command.model_path, command.labels_path)
