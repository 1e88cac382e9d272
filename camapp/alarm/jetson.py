"""Alarm outputs on a Jetson through Jetson.GPIO (optional extra `camapp[jetson]`), same interface as gpiozero's.

Jetson.GPIO has no background blink, so a small stoppable thread plays blink patterns; pulse (PWM fading)
is played as a blink with the fade times as on/off times because PWM exists only on a few Jetson pins.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from camapp.alarm.outputs import AlarmOutput, pattern_cycles
from camapp.config.alarm import OutputConfig, PatternConfig
from camapp.errors import GPIOError

log = logging.getLogger(__name__)


def load_jetson_gpio() -> Any:
    """Import Jetson.GPIO and select BOARD numbering; raises GPIOError when it is not usable here."""
    try:
        import Jetson.GPIO as GPIO
    except Exception as err:  # the library raises RuntimeError on non-Jetson boards
        raise GPIOError(f"Jetson.GPIO not usable: {err}") from err
    GPIO.setmode(GPIO.BOARD)
    GPIO.setwarnings(False)
    return GPIO


def blink_steps(pattern: PatternConfig) -> list[tuple[bool, float]]:
    """One blink cycle as (level, seconds) steps; pulse degrades to a blink with its fade times."""
    if pattern.style == "pulse":
        return [(True, pattern.fade_in_s), (False, pattern.fade_out_s)]
    return [(True, pattern.on_s), (False, pattern.off_s)]


class JetsonOutput(AlarmOutput):
    """A buzzer, LED or relay on a Jetson header pin (BOARD numbering), driven with Jetson.GPIO."""

    def __init__(self, cfg: OutputConfig, gpio: Any) -> None:
        if not isinstance(cfg.pin, int):
            raise GPIOError(f"gpio.outputs '{cfg.name}': on a Jetson the pin must be a BOARD number, got {cfg.pin!r}")
        self._gpio = gpio
        self._pin = cfg.pin
        self._on_level = gpio.HIGH if cfg.active_high else gpio.LOW
        self._off_level = gpio.LOW if cfg.active_high else gpio.HIGH
        self._blink_stop = threading.Event()
        self._blinker: threading.Thread | None = None
        try:
            gpio.setup(cfg.pin, gpio.OUT, initial=self._off_level)
        except Exception as err:
            raise GPIOError(f"gpio.outputs '{cfg.name}' (Jetson BOARD pin {cfg.pin}): {err}") from err
        super().__init__(cfg.name)

    def _write(self, on: bool) -> None:
        self._gpio.output(self._pin, self._on_level if on else self._off_level)

    def _start(self, pattern: PatternConfig) -> None:
        if pattern.style == "steady":
            self._write(True)
            return
        n, _ = pattern_cycles(pattern)
        self._blink_stop = threading.Event()
        steps = blink_steps(pattern) * n
        self._blinker = threading.Thread(
            target=self._blink, args=(steps, self._blink_stop), name=f"blink-{self.name}", daemon=True
        )
        self._blinker.start()

    def _blink(self, steps: list[tuple[bool, float]], stop: threading.Event) -> None:
        for on, seconds in steps:
            self._write(on)
            if stop.wait(seconds):
                return
        self._write(False)

    def _safe(self) -> None:
        self._blink_stop.set()
        blinker = self._blinker
        if blinker is not None and blinker is not threading.current_thread():
            blinker.join(timeout=2.0)
        self._blinker = None
        self._write(False)

    def _release(self) -> None:
        self._gpio.cleanup(self._pin)
