"""Alarm inputs via gpiozero: arm/disarm button, PIR motion sensor and door contact.

- arm_button: a short press (released before hold_s) arms to `arm_mode`; holding for hold_s disarms.
- pir / door: each activation is a trigger with the input's label ("pir" / "door" unless set), which rules
  match like an object label (no zone, score 1.0). A door trigger fires when the door opens.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from camapp.commands import Commander, SetMode
from camapp.config.alarm import InputConfig
from camapp.errors import GPIOError

log = logging.getLogger(__name__)

Trigger = Callable[[str, str], None]  # (label, input name)


def _guarded(what: str, fn: Callable[[], None]) -> Callable[[], None]:
    """gpiozero calls these on its own threads: log failures instead of losing them in a traceback."""

    def run() -> None:
        try:
            fn()
        except Exception:
            log.exception("GPIO input %s: handler failed", what)

    return run


class ArmButton:
    """Short press arms, long hold disarms; both are SetMode commands with source "gpio"."""

    def __init__(self, cfg: InputConfig, control: Commander, pin_factory: object) -> None:
        from gpiozero import Button

        self.name = cfg.name
        self._control = control
        self._arm_mode = cfg.arm_mode
        self._held = threading.Event()
        self.device: Any = Button(
            cfg.pin, pull_up=cfg.pull_up, bounce_time=cfg.bounce_s or None, hold_time=cfg.hold_s,
            pin_factory=pin_factory,
        )
        self.device.when_held = _guarded(cfg.name, self._on_held)
        self.device.when_released = _guarded(cfg.name, self._on_released)

    def _on_held(self) -> None:
        self._held.set()
        log.info("GPIO %s held: disarming", self.name)
        self._control.execute(SetMode("disarmed", source="gpio"))

    def _on_released(self) -> None:
        if self._held.is_set():
            self._held.clear()
            return
        log.info("GPIO %s pressed: arming (%s)", self.name, self._arm_mode)
        self._control.execute(SetMode(self._arm_mode, source="gpio"))

    def close(self) -> None:
        self.device.close()


class TriggerInput:
    """A PIR sensor (motion) or door contact (opening) that raises a trigger for the rules."""

    def __init__(self, cfg: InputConfig, on_trigger: Trigger, pin_factory: object) -> None:
        self.name = cfg.name
        self.label = cfg.trigger_label
        self._on_trigger = on_trigger
        fire = _guarded(cfg.name, self._fire)
        if cfg.kind == "pir":
            from gpiozero import MotionSensor

            self.device: Any = MotionSensor(cfg.pin, pin_factory=pin_factory)
            self.device.when_motion = fire
            return
        from gpiozero import DigitalInputDevice

        self.device = DigitalInputDevice(
            cfg.pin, pull_up=cfg.pull_up, bounce_time=cfg.bounce_s or None, pin_factory=pin_factory
        )
        # With a pull-up the device is "active" when the pin is low; pick the edge that means "door opened".
        opens_on_activation = (cfg.open_level == "low") == cfg.pull_up
        if opens_on_activation:
            self.device.when_activated = fire
        else:
            self.device.when_deactivated = fire

    def _fire(self) -> None:
        log.info("GPIO %s: %s trigger", self.name, self.label)
        self._on_trigger(self.label, self.name)

    def close(self) -> None:
        self.device.close()


AlarmInput = ArmButton | TriggerInput


def make_input(cfg: InputConfig, control: Commander, on_trigger: Trigger, pin_factory: object) -> AlarmInput:
    """Build one input; raises GPIOError naming the config entry when the pin cannot be used."""
    try:
        if cfg.kind == "arm_button":
            return ArmButton(cfg, control, pin_factory)
        return TriggerInput(cfg, on_trigger, pin_factory)
    except Exception as err:
        raise GPIOError(f"gpio.inputs '{cfg.name}' ({cfg.kind} on pin {cfg.pin}): {err}") from err
