"""Backend selection: pin factory from config or GPIOZERO_PIN_FACTORY, no-GPIO fallback, and Jetson.GPIO outputs."""

from __future__ import annotations

import importlib.util
import logging
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from camapp.alarm import AlarmSink
from camapp.alarm.factory import build_hardware
from camapp.alarm.jetson import JetsonOutput
from camapp.alarm.outputs import GpioZeroOutput, NullOutput
from camapp.bus import Alert, AlertRaised
from camapp.config.alarm import GpioConfig, OutputConfig, PatternConfig, RulesConfig
from camapp.control import Controller
from camapp.errors import GPIOError
from camapp.state import ApplianceState
from camapp.types import Detections, EventMessage, Frame, FrameResult, MotionResult

ROOT = Path(__file__).resolve().parent.parent
OUTPUTS = [{"name": "buzzer", "kind": "buzzer", "pin": 17, "pattern": {"duration_s": 0.05}},
           {"name": "relay", "kind": "relay", "pin": 18, "active_high": False}]
_IMAGE = np.zeros((4, 4, 3), np.uint8)
HAS_LGPIO = importlib.util.find_spec("lgpio") is not None
ON_A_PI = Path("/proc/device-tree/model").exists()


def gpio(**kw: Any) -> GpioConfig:
    return GpioConfig.model_validate({"enabled": True, "outputs": OUTPUTS, **kw})


def no_trigger(label: str, name: str) -> None:
    raise AssertionError("no trigger expected")


@pytest.fixture(autouse=True)
def _no_global_factory() -> Any:
    yield
    Device.pin_factory = None


def test_importing_camapp_alarm_does_not_import_gpiozero() -> None:
    code = "import sys, camapp.alarm, camapp.rules; print('gpiozero' in sys.modules, 'Jetson' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_disabled_in_config_simulates_outputs(caplog: pytest.LogCaptureFixture) -> None:
    hw = build_hardware(gpio(enabled=False), control=Controller(ApplianceState()), on_trigger=no_trigger)
    assert not hw.available and all(isinstance(o, NullOutput) for o in hw.outputs.values())
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    hw.close()


UNAVAILABLE = [
    pytest.param({"pin_factory": "lgpio"}, {}, "lgpio", marks=pytest.mark.skipif(HAS_LGPIO, reason="lgpio present")),
    pytest.param({}, {"GPIOZERO_PIN_FACTORY": "lgpio"}, "lgpio",
                 marks=pytest.mark.skipif(HAS_LGPIO, reason="lgpio present")),
    pytest.param({}, {"GPIOZERO_PIN_FACTORY": "no_such_factory"}, "unknown gpiozero pin factory", marks=()),
    pytest.param({}, {}, "no pin factory loads", marks=pytest.mark.skipif(ON_A_PI, reason="this is a Pi")),
    pytest.param({"pin_factory": "jetson"}, {}, "Jetson.GPIO",
                 marks=pytest.mark.skipif(importlib.util.find_spec("Jetson") is not None, reason="Jetson.GPIO")),
]


@pytest.mark.parametrize(("cfg", "env", "reason"), UNAVAILABLE)
def test_no_gpio_warns_and_the_app_carries_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, cfg: dict[str, Any], env: dict[str, str],
    reason: str,
) -> None:
    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    state = ApplianceState(mode="away")
    control = Controller(state)
    alerts: list[Alert] = []
    control.bus.subscribe(AlertRaised, lambda e: alerts.append(e.alert))
    rules = RulesConfig.model_validate(
        {"rules": [{"name": "any", "labels": ["person"], "actions": {"outputs": ["buzzer"], "mqtt_alert": True}}]}
    )
    with caplog.at_level(logging.WARNING), AlarmSink(
        rules, gpio(**cfg), state=state, bus=control.bus, control=control
    ) as sink:
        [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert warning.startswith("GPIO unavailable (") and warning.endswith("): alarms disabled")
        assert reason in warning
        assert isinstance(sink, AlarmSink) and not sink.hardware.available
        ev = EventMessage("new", "ev1", 1, "person", 0.9, 0.9, (0, 0, 1, 1), 0.0, None)
        motion = MotionResult(np.zeros((0, 4), np.int32), 0.0)
        sink.handle(FrameResult(Frame(_IMAGE, 1.0, 1), motion, Detections.empty(), (), (ev,)))
        assert [a.rule for a in alerts] == ["any"]  # rules and alerts still work
        assert state.alarm_active  # the simulated buzzer keeps the alarm timing for the UI


def test_mock_pin_factory_from_config() -> None:
    hw = build_hardware(gpio(pin_factory="mock"), control=Controller(ApplianceState()), on_trigger=no_trigger)
    assert hw.available and hw.backend == "gpiozero:MockFactory"
    assert all(isinstance(o, GpioZeroOutput) for o in hw.outputs.values())
    hw.close()
    hw.close()


def test_one_bad_pin_disables_only_that_output(caplog: pytest.LogCaptureFixture) -> None:
    factory = MockFactory()
    cfg = GpioConfig.model_validate({"enabled": True, "outputs": [*OUTPUTS, {"name": "led", "kind": "led", "pin": 60}]})
    hw = build_hardware(cfg, control=Controller(ApplianceState()), on_trigger=no_trigger, pin_factory=factory)
    assert isinstance(hw.outputs["led"], NullOutput) and isinstance(hw.outputs["buzzer"], GpioZeroOutput)
    assert "gpio.outputs 'led' (led on pin 60)" in caplog.text and "this output is disabled" in caplog.text
    hw.close()


class FakeJetsonGPIO:
    """Stands in for the Jetson.GPIO module (not installable off a Jetson): records every call."""

    BOARD, OUT, HIGH, LOW = "BOARD", "OUT", 1, 0

    def __init__(self) -> None:
        self.levels: dict[int, list[int]] = {}
        self.cleaned: list[int] = []
        self.changed = threading.Event()
        self._lock = threading.Lock()

    def setup(self, pin: int, direction: str, initial: int) -> None:
        assert direction == self.OUT
        self.levels[pin] = [initial]

    def output(self, pin: int, level: int) -> None:
        with self._lock:
            if self.levels[pin][-1] != level:
                self.levels[pin].append(level)
                self.changed.set()

    def cleanup(self, pin: int) -> None:
        self.cleaned.append(pin)


def wait_idle(out: Any, pattern: PatternConfig) -> None:
    done = threading.Event()
    out.on_idle = lambda _o: done.set()
    out.activate(pattern)
    assert done.wait(5)


def test_jetson_outputs_run_patterns_and_end_safe(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeJetsonGPIO()
    cfg = gpio(pin_factory="jetson", inputs=[{"name": "b", "kind": "arm_button", "pin": 22}])
    hw = build_hardware(cfg, control=Controller(ApplianceState()), on_trigger=no_trigger, jetson_gpio=fake)
    assert hw.available and hw.backend == "jetson" and "not supported with Jetson.GPIO" in caplog.text
    buzzer, relay = hw.outputs["buzzer"], hw.outputs["relay"]
    assert isinstance(buzzer, JetsonOutput)
    assert fake.levels == {17: [0], 18: [1]}  # both start off; the relay is active-low
    wait_idle(buzzer, PatternConfig(style="blink", on_s=0.05, off_s=0.05, duration_s=0.2))
    assert fake.levels[17] == [0, 1, 0, 1, 0]
    relay.activate(PatternConfig(duration_s=60))
    assert fake.levels[18] == [1, 0]
    hw.close()
    assert fake.levels[18] == [1, 0, 1] and sorted(fake.cleaned) == [17, 18]


def test_jetson_needs_board_pin_numbers() -> None:
    cfg = OutputConfig(name="x", kind="led", pin="GPIO17")
    with pytest.raises(GPIOError, match="BOARD number"):
        JetsonOutput(cfg, FakeJetsonGPIO())


def test_jetson_stop_mid_blink() -> None:
    fake = FakeJetsonGPIO()
    out = JetsonOutput(OutputConfig(name="led", kind="led", pin=12), fake)
    out.activate(PatternConfig(style="blink", on_s=5, off_s=5, duration_s=60))
    assert fake.changed.wait(5)  # the blink thread switched on
    out.off()
    assert fake.levels[12] == [0, 1, 0] and not out.active
    out.close()

