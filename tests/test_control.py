"""The controller: one typed command path; each command's effect is published as a typed event on the bus."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from camapp.bus import (
    AlarmChanged,
    Alert,
    AlertRaised,
    BusEvent,
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
    SetDetection,
    SetMode,
    Silence,
    SwitchModel,
    TakeSnapshot,
)
from camapp.config import AppConfig, parse_config
from camapp.config.files import save_config
from camapp.control import Controller
from camapp.errors import CommandError
from camapp.state import ApplianceState

ALERT = Alert(rule="r", label="person", score=0.9, mode="away", time=1.0)


def recorded(control: Controller) -> list[BusEvent]:
    events: list[BusEvent] = []
    control.bus.subscribe(BusEvent, events.append)
    return events


@pytest.mark.parametrize(
    ("command", "event"),
    [
        (SetMode("home", source="web"), ModeChanged("home", source="web")),
        (SetDetection(False, source="mqtt"), DetectionToggled(False, source="mqtt")),
        (SetAlarm(True, source="rule:r"), AlarmChanged(True, source="rule:r")),
        (Silence(source="gpio"), SilenceRequested(source="gpio")),
        (SendAlert(ALERT, source="rule:r"), AlertRaised(ALERT, source="rule:r")),
        (KeepClip("ev1", "r", source="rule:r"), ClipKept("ev1", "r", source="rule:r")),
    ],
)
def test_commands_reach_the_bus_as_typed_events(command: Command[Any], event: BusEvent) -> None:
    control = Controller(ApplianceState())
    events = recorded(control)
    control.execute(command)
    [got] = events
    assert replace(got, timestamp=0.0) == replace(event, timestamp=0.0)


def test_a_state_command_that_changes_nothing_publishes_nothing() -> None:
    control = Controller(ApplianceState("home"))
    events = recorded(control)
    control.execute(SetMode("home", source="web"))
    control.execute(SetDetection(True, source="web"))
    control.execute(SetAlarm(False))
    assert events == []


def test_snapshot_returns_the_id_it_announces() -> None:
    control = Controller(ApplianceState())
    events = recorded(control)
    snap_id = control.execute(TakeSnapshot(source="web"))
    assert [(type(e), getattr(e, "snapshot_id", None)) for e in events] == [(SnapshotRequested, snap_id)]


def test_bad_values_and_missing_abilities_are_command_errors() -> None:
    control = Controller(ApplianceState())
    with pytest.raises(CommandError, match="mode must be one of"):
        control.execute(SetMode("party"))  # type: ignore[arg-type]
    with pytest.raises(CommandError, match="cannot switch models"):
        control.execute(SwitchModel(Path("m.tflite"), Path("labels.txt")))
    with pytest.raises(CommandError, match="cannot apply a config"):
        control.execute(ApplyConfig(AppConfig()))
    with pytest.raises(CommandError, match="no handler"):
        control.execute(Command())


def test_apply_config_saves_only_what_applied(tmp_path: Path) -> None:
    path = tmp_path / "camapp.yaml"
    save_config(path, AppConfig())
    applied: list[AppConfig] = []

    def apply(cfg: AppConfig) -> Applied:
        if cfg.device_id == "broken":
            raise CommandError("cannot run this")
        applied.append(cfg)
        return Applied(["device_id"], arming=cfg.rules.arming)

    control = Controller(ApplianceState(), apply_config=apply, config_path=path)
    events = recorded(control)
    good = parse_config({"device_id": "garage", "rules": {"arming": "home"}})
    assert control.execute(ApplyConfig(good)) == ["device_id"]
    assert "garage" in path.read_text() and (tmp_path / "camapp.yaml.bak").is_file()
    # the config's new arming mode is followed, announced like any other mode change
    assert control.state.mode == "home" and [(type(e), e.source) for e in events] == [(ModeChanged, "config")]
    with pytest.raises(CommandError):
        control.execute(ApplyConfig(parse_config({"device_id": "broken"})))
    assert "garage" in path.read_text() and applied == [good]
