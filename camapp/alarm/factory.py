"""Pick the GPIO backend (a gpiozero pin factory or Jetson.GPIO, registered by key in GPIO_BACKENDS) and build the
configured outputs and inputs.

When no GPIO is usable the alarm is disabled with one clear WARNING and NullOutputs stand in, so the rest
of the app (rules, MQTT alerts, snapshots) keeps working on a laptop or in CI.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from camapp.alarm.inputs import AlarmInput, Trigger, make_input
from camapp.alarm.outputs import AlarmOutput, GpioZeroOutput, NullOutput
from camapp.commands import Commander
from camapp.config.alarm import (
    GPIO_BACKENDS,
    GPIOZERO_AUTO_ORDER,
    GPIOZERO_KEYS,
    JETSON_KEY,
    GpioBackend,
    GpioConfig,
    OutputConfig,
)
from camapp.errors import GPIOError

log = logging.getLogger(__name__)


def _load_named(name: str) -> Any:
    try:
        import gpiozero  # noqa: F401 - only to give a clear message when it is missing
    except ImportError as err:
        raise GPIOError("gpiozero is not installed (pip install 'camapp[gpio]')") from err
    if name == "mock":
        from gpiozero.pins.mock import MockFactory, MockPWMPin

        return MockFactory(pin_class=MockPWMPin)
    eps = {ep.name: ep for ep in entry_points(group="gpiozero_pin_factories")}
    ep = eps.get(name) or eps.get(name.lower())
    if ep is None:
        raise GPIOError(f"unknown gpiozero pin factory {name!r} (known: {', '.join(sorted(eps))})")
    try:
        return ep.load()()
    except Exception as err:  # each library fails differently off-Pi: ImportError, OSError, RuntimeError
        raise GPIOError(f"pin factory {name}: {err}") from err


def open_pin_factory(name: str = "auto") -> Any:
    """A gpiozero pin factory: `name`, or for "auto" GPIOZERO_PIN_FACTORY, else the first that loads."""
    if name != "auto":
        return _load_named(name)
    env = os.environ.get("GPIOZERO_PIN_FACTORY")
    if env:
        return _load_named(env)
    reasons = []
    for candidate in GPIOZERO_AUTO_ORDER:
        try:
            return _load_named(candidate)
        except GPIOError as err:
            if "not installed" in str(err):
                raise
            reasons.append(str(err))
    raise GPIOError("no pin factory loads: " + "; ".join(reasons))


@dataclass
class AlarmHardware:
    """The built outputs and inputs; `available` is False when everything is simulated."""

    outputs: dict[str, AlarmOutput]
    inputs: list[AlarmInput] = field(default_factory=list)
    available: bool = False
    backend: str = "none"
    pin_factory: Any = None
    owns_factory: bool = False

    def close(self) -> None:
        """Outputs off and released, inputs released, then the pin factory; idempotent."""
        for out in self.outputs.values():
            try:
                out.close()
            except Exception:
                log.exception("closing alarm output %s failed", out.name)
        for inp in self.inputs:
            try:
                inp.close()
            except Exception:
                log.exception("closing GPIO input %s failed", inp.name)
        self.inputs = []
        if self.owns_factory and self.pin_factory is not None:
            self.pin_factory.close()
            self.pin_factory = None


def _null(gpio: GpioConfig) -> AlarmHardware:
    return AlarmHardware({o.name: NullOutput(o.name) for o in gpio.outputs})


def _output(cfg: OutputConfig, make: Any) -> AlarmOutput:
    try:
        out: AlarmOutput = make(cfg)
        return out
    except GPIOError as err:
        log.error("%s; this output is disabled", err)
        return NullOutput(cfg.name)


# A GPIO backend builds the outputs and inputs for a config; `lib` is the hardware library to drive instead of
# loading the real one (a gpiozero pin factory, the Jetson.GPIO module; tests inject fakes). It raises GPIOError
# when its hardware is not usable here.
Backend = GpioBackend


def build_hardware(
    gpio: GpioConfig, *, control: Commander, on_trigger: Trigger, pin_factory: Any = None, jetson_gpio: Any = None
) -> AlarmHardware:
    """Outputs and inputs for the config; never raises for missing hardware (warns and simulates instead)."""
    if not gpio.enabled:
        if gpio.outputs or gpio.inputs:
            log.info("gpio.enabled is false: alarm outputs are simulated, inputs ignored")
        return _null(gpio)
    if pin_factory is not None:  # an injected gpiozero pin factory drives the pins whatever the config names
        return _gpiozero(gpio, control, on_trigger, pin_factory, owns=False)
    backend: Backend = GPIO_BACKENDS.builder(gpio.pin_factory)
    try:
        return backend(gpio, control, on_trigger, jetson_gpio)
    except GPIOError as err:
        log.warning("GPIO unavailable (%s): alarms disabled", err)
        return _null(gpio)


def _gpiozero(
    gpio: GpioConfig, control: Commander, on_trigger: Trigger, pin_factory: Any, *, owns: bool
) -> AlarmHardware:
    hw = AlarmHardware(
        {o.name: _output(o, lambda c: GpioZeroOutput(c, pin_factory)) for o in gpio.outputs},
        available=True, backend=f"gpiozero:{type(pin_factory).__name__}", pin_factory=pin_factory, owns_factory=owns,
    )
    for cfg in gpio.inputs:
        try:
            hw.inputs.append(make_input(cfg, control, on_trigger, pin_factory))
        except GPIOError as err:
            log.error("%s; this input is disabled", err)
    return hw


def _pin_factory_backend(name: str) -> Backend:
    def build(gpio: GpioConfig, control: Commander, on_trigger: Trigger, lib: Any) -> AlarmHardware:
        if lib is not None:
            return _gpiozero(gpio, control, on_trigger, lib, owns=False)
        return _gpiozero(gpio, control, on_trigger, open_pin_factory(name), owns=True)

    return build


for _name in GPIOZERO_KEYS:
    GPIO_BACKENDS.register_key(_name)(_pin_factory_backend(_name))


@GPIO_BACKENDS.register_key(JETSON_KEY)
def _build_jetson(gpio: GpioConfig, control: Commander, on_trigger: Trigger, lib: Any) -> AlarmHardware:
    from camapp.alarm.jetson import JetsonOutput, load_jetson_gpio

    module = lib if lib is not None else load_jetson_gpio()
    if gpio.inputs:
        log.warning("gpio.inputs are not supported with Jetson.GPIO yet; %d input(s) ignored", len(gpio.inputs))
    outputs = {o.name: _output(o, lambda c: JetsonOutput(c, module)) for o in gpio.outputs}
    return AlarmHardware(outputs, available=True, backend="jetson")
