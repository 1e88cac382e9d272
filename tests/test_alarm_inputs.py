"""GPIO inputs on gpiozero's MockFactory: arm button (press arms, hold disarms), PIR and door triggers."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from camapp.alarm.inputs import ArmButton, TriggerInput, make_input
from camapp.bus import Bus, ModeChanged
from camapp.config.alarm import InputConfig
from camapp.control import Controller
from camapp.errors import GPIOError
from camapp.state import ApplianceState


def cfg(kind: str, pin: int, **kw: Any) -> InputConfig:
    return InputConfig.model_validate({"name": f"{kind}{pin}", "kind": kind, "pin": pin, **kw})


class Modes:
    """Records mode changes and lets a test wait for one."""

    def __init__(self, bus: Bus) -> None:
        self.seen: list[tuple[str, str]] = []
        self._changed = threading.Condition()
        bus.subscribe(ModeChanged, self._on)

    def _on(self, change: ModeChanged) -> None:
        with self._changed:
            self.seen.append((change.mode, change.source))
            self._changed.notify_all()

    def wait_for(self, count: int) -> list[tuple[str, str]]:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.seen) >= count, timeout=5), self.seen
        return self.seen


class Triggers:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.fired = threading.Event()

    def __call__(self, label: str, name: str) -> None:
        self.seen.append((label, name))
        self.fired.set()


def test_short_press_arms_long_hold_disarms(factory: MockFactory) -> None:
    control = Controller(ApplianceState())
    modes = Modes(control.bus)
    button = make_input(cfg("arm_button", 22, arm_mode="home", hold_s=0.2, bounce_s=0), control, Triggers(),
                        factory)
    assert isinstance(button, ArmButton)
    pin = factory.pin(22)  # pull-up: idle high, pressed low
    pin.drive_low()
    pin.drive_high()
    assert modes.wait_for(1) == [("home", "gpio")]
    pin.drive_low()
    assert modes.wait_for(2)[-1] == ("disarmed", "gpio")  # while still held
    pin.drive_high()  # releasing after a hold must not arm again
    assert control.state.mode == "disarmed" and len(modes.seen) == 2
    button.close()


def test_pir_motion_is_a_trigger(factory: MockFactory) -> None:
    triggers = Triggers()
    pir = make_input(cfg("pir", 23), Controller(ApplianceState()), triggers, factory)
    assert isinstance(pir, TriggerInput)
    # MotionSensor samples on a thread; its first sample sets the idle state, only later edges fire.
    assert pir.device.wait_for_inactive(5)
    factory.pin(23).drive_high()
    assert triggers.fired.wait(5)
    assert triggers.seen == [("pir", "pir23")]
    pir.close()


@pytest.mark.parametrize(
    ("pull_up", "open_level", "closed", "opened"),
    [(True, "high", "drive_low", "drive_high"), (False, "low", "drive_high", "drive_low"),
     (True, "low", "drive_high", "drive_low"), (False, "high", "drive_low", "drive_high")],
)
def test_door_fires_when_it_opens(
    factory: MockFactory, pull_up: bool, open_level: str, closed: str, opened: str
) -> None:
    triggers = Triggers()
    door = make_input(
        cfg("door", 24, pull_up=pull_up, open_level=open_level, label="front door", bounce_s=0),
        Controller(ApplianceState()), triggers, factory,
    )
    assert isinstance(door, TriggerInput)
    pin = factory.pin(24)
    getattr(pin, opened)()
    getattr(pin, closed)()  # door shut: establishes the closed level
    triggers.fired.clear()
    triggers.seen.clear()
    getattr(pin, closed)()
    assert not triggers.fired.wait(0.1)
    getattr(pin, opened)()
    assert triggers.fired.wait(5)
    assert triggers.seen == [("front door", "door24")]
    door.close()


def test_input_on_a_used_pin_names_the_entry(factory: MockFactory) -> None:
    first = make_input(cfg("pir", 23), Controller(ApplianceState()), Triggers(), factory)
    with pytest.raises(GPIOError, match=r"gpio.inputs 'door23' \(door on pin 23\)"):
        make_input(cfg("door", 23), Controller(ApplianceState()), Triggers(), factory)
    first.close()
