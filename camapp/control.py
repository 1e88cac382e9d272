"""The controller: every live change (arming, detection, silence, snapshots, alerts, clips, config, model) comes
in as a typed command (camapp/commands.py) and goes through `execute`, whoever sends it: the web API, MQTT
commands, GPIO inputs or alarm rules. What changes is announced on the state bus (ApplianceState) to the parts
that react (MQTT publishes, the alarm silences, the store saves a snapshot).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from camapp.commands import (
    ApplyConfig,
    Command,
    KeepClip,
    SendAlert,
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
ApplyFn = Callable[[AppConfig], list[str]]
SwitchFn = Callable[[Path, Path], None]


class Controller:
    """Runs commands against the appliance state and, for config and model changes, the live pipeline."""

    def __init__(self, state: ApplianceState, *, apply_config: ApplyFn | None = None,
                 switch_model: SwitchFn | None = None, config_path: Path | None = None) -> None:
        self.state = state
        self._apply, self._switch, self.config_path = apply_config, switch_model, config_path
        self._handlers: dict[type[Any], Callable[[Any], Any]] = {
            SetMode: lambda c: state.set_mode(c.mode, source=c.source),
            SetDetection: lambda c: state.set_detection(c.enabled, source=c.source),
            Silence: lambda c: state.silence(source=c.source),
            TakeSnapshot: lambda c: state.request_snapshot(source=c.source),
            SendAlert: lambda c: state.announce("alert", c.payload, c.source),
            KeepClip: lambda c: state.announce("clip", (c.event_id, c.rule), c.source),
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

    def _apply_config(self, command: ApplyConfig) -> list[str]:
        """Apply, then save (when there is a config file): a config that cannot run is never written."""
        if self._apply is None:
            raise CommandError("this appliance cannot apply a config live")
        restart = self._apply(command.config)
        if self.config_path is not None:
            save_config(self.config_path, command.config)
        return restart

    def _switch_model(self, command: SwitchModel) -> None:
        if self._switch is None:
            raise CommandError("this appliance cannot switch models")
        self._switch(command.model_path, command.labels_path)
