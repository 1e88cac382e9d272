"""Remote commands applied to a real ApplianceState: accepted forms, and refusals that leave the state alone."""

from __future__ import annotations

import pytest

from camapp.bus import BusEvent, SilenceRequested, SnapshotRequested
from camapp.control import Controller
from camapp.errors import CommandError
from camapp.mqtt.commands import MAX_PAYLOAD, CommandHandler
from camapp.state import ApplianceState

ALL = ("mode", "armed", "detection", "silence", "snapshot")


@pytest.mark.parametrize(
    ("name", "payload", "expected"),
    [
        ("mode", b"home", {"mode": "home", "armed": True}),
        ("mode", b" AWAY\n", {"mode": "away"}),
        ("mode", b"disarmed", {"mode": "disarmed", "armed": False}),
        ("armed", b"ON", {"mode": "away", "armed": True}),
        ("armed", b"true", {"armed": True}),
        ("armed", b"off", {"mode": "disarmed"}),
        ("detection", b"OFF", {"detection": False}),
        ("detection", b"1", {"detection": True}),
    ],
)
def test_commands_change_the_state(name: str, payload: bytes, expected: dict[str, object]) -> None:
    state = ApplianceState(mode="home" if payload.lower() == b"off" else "disarmed")
    CommandHandler(Controller(state), ALL).apply(name, payload)
    assert expected.items() <= state.as_dict().items()


def test_silence_and_snapshot_reach_subscribers() -> None:
    control = Controller(ApplianceState())
    seen: list[BusEvent] = []
    control.bus.subscribe(BusEvent, seen.append)
    handler = CommandHandler(control, ALL)
    assert handler.apply("silence", b"PRESS") is None
    snap_id = handler.apply("snapshot", b"")
    assert [(type(c), c.source) for c in seen] == [(SilenceRequested, "mqtt"), (SnapshotRequested, "mqtt")]
    assert isinstance(seen[1], SnapshotRequested) and seen[1].snapshot_id == snap_id and snap_id


@pytest.mark.parametrize(
    ("name", "payload", "allowed", "error"),
    [
        ("mode", b"panic", ALL, "set/mode must be one of"),
        ("armed", b"maybe", ALL, "ON or OFF"),
        ("detection", b"", ALL, "ON or OFF"),
        ("reboot", b"now", ALL, "unknown command"),
        ("armed", b"ON", ("silence",), "not allowed"),
        ("mode", b"\xff\xfe", ALL, "UTF-8"),
        ("mode", b"a" * (MAX_PAYLOAD + 1), ALL, "limit"),
    ],
)
def test_bad_or_unauthorised_commands_are_refused(name: str, payload: bytes, allowed: tuple[str, ...],
                                                  error: str) -> None:
    state = ApplianceState()
    before = state.as_dict()
    with pytest.raises(CommandError, match=error):
        CommandHandler(Controller(state), allowed).apply(name, payload)
    assert state.as_dict() == before
