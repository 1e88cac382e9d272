"""The controller: one typed command path; each command's effect is announced on the state bus."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

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
from camapp.config import AppConfig, parse_config
from camapp.config.files import save_config
from camapp.control import Controller
from camapp.errors import CommandError
from camapp.state import ApplianceState, StateChange


def bus(state: ApplianceState) -> list[StateChange]:
    changes: list[StateChange] = []
    state.subscribe(changes.append)
    return changes


@pytest.mark.parametrize(
    ("command", "kind", "value"),
    [
        (SetMode("home", source="web"), "mode", "home"),
        (SetDetection(False, source="mqtt"), "detection", False),
        (Silence(source="gpio"), "silence", True),
        (SendAlert({"rule": "r"}, source="rule:r"), "alert", {"rule": "r"}),
        (KeepClip("ev1", "r", source="rule:r"), "clip", ("ev1", "r")),
    ],
)
def test_commands_reach_the_bus_with_their_source(command: Command[Any], kind: str, value: Any) -> None:
    state = ApplianceState()
    changes = bus(state)
    Controller(state).execute(command)
    assert [(c.kind, c.value, c.source) for c in changes] == [(kind, value, command.source)]


def test_snapshot_returns_the_id_it_announces() -> None:
    state = ApplianceState()
    changes = bus(state)
    snap_id = Controller(state).execute(TakeSnapshot(source="web"))
    assert [(c.kind, c.value) for c in changes] == [("snapshot", snap_id)]


def test_bad_values_and_missing_abilities_are_command_errors() -> None:
    control = Controller(ApplianceState())
    with pytest.raises(CommandError, match="mode must be one of"):
        control.execute(SetMode("party"))
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

    def apply(cfg: AppConfig) -> list[str]:
        if cfg.device_id == "broken":
            raise CommandError("cannot run this")
        applied.append(cfg)
        return ["device_id"]

    control = Controller(ApplianceState(), apply_config=apply, config_path=path)
    good = parse_config({"device_id": "garage"})
    assert control.execute(ApplyConfig(good)) == ["device_id"]
    assert "garage" in path.read_text() and (tmp_path / "camapp.yaml.bak").is_file()
    with pytest.raises(CommandError):
        control.execute(ApplyConfig(parse_config({"device_id": "broken"})))
    assert "garage" in path.read_text() and applied == [good]
