"""Alarm outputs on gpiozero's MockFactory: pin state sequences for each pattern, silence, close and crash safety."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from camapp.alarm.outputs import (
    AlarmOutput,
    GpioZeroOutput,
    NullOutput,
    alarm_safety,
    pattern_cycles,
    safe_all,
)
from camapp.config.alarm import OutputConfig, PatternConfig
from camapp.errors import GPIOError


def make(factory: MockFactory, kind: str, pin: int, **kw: Any) -> GpioZeroOutput:
    cfg = OutputConfig.model_validate({"name": f"{kind}{pin}", "kind": kind, "pin": pin, **kw})
    return GpioZeroOutput(cfg, factory)


def states(factory: MockFactory, pin: int) -> list[float]:
    return [float(s.state) for s in factory.pin(pin).states]


def assert_durations(factory: MockFactory, pin: int, expected: list[float], slack: float = 0.25) -> None:
    """Each state after the first `on` lasted its nominal time: never shorter, and longer only by scheduling slack.

    Like gpiozero's assert_states_and_times, with a wider upper tolerance because the test machine is shared.
    """
    held = [s.timestamp for s in factory.pin(pin).states[2:]]  # [0] initial, [1] switched on at activate()
    assert len(held) == len(expected)
    for got, want in zip(held, expected, strict=True):
        assert want - 0.02 <= got <= want + slack, (held, expected)


def run_to_end(out: AlarmOutput, pattern: PatternConfig) -> None:
    done = threading.Event()
    out.on_idle = lambda _o: done.set()
    out.activate(pattern)
    assert out.active
    assert done.wait(10), f"{out.name} never finished its pattern"
    assert not out.active


def test_buzzer_steady_for_duration(factory: MockFactory) -> None:
    buzzer = make(factory, "buzzer", 17)
    run_to_end(buzzer, PatternConfig(style="steady", duration_s=0.3))
    assert states(factory, 17) == [0, 1, 0]
    assert_durations(factory, 17, [0.3])


def test_led_blink_sequence(factory: MockFactory) -> None:
    led = make(factory, "led", 27)
    run_to_end(led, PatternConfig(style="blink", on_s=0.1, off_s=0.1, duration_s=0.4))
    assert states(factory, 27) == [0, 1, 0, 1, 0]
    assert_durations(factory, 27, [0.1, 0.1, 0.1])


def test_relay_active_low(factory: MockFactory) -> None:
    relay = make(factory, "relay", 5, active_high=False)
    assert states(factory, 5) == [0, 1]  # held high (off) from construction
    run_to_end(relay, PatternConfig(duration_s=0.1))
    assert states(factory, 5) == [0, 1, 0, 1]


def test_pwm_led_pulse_fades_up_and_down(factory: MockFactory) -> None:
    led = make(factory, "pwm_led", 12)
    run_to_end(led, PatternConfig(style="pulse", fade_in_s=0.2, fade_out_s=0.2, duration_s=0.4))
    seq = states(factory, 12)
    peak = seq.index(1.0)
    assert seq[-1] == 0.0
    assert seq[1:peak + 1] == sorted(seq[1:peak + 1]) and len(seq[1:peak]) >= 3  # a ramp, not a jump
    assert seq[peak:] == sorted(seq[peak:], reverse=True)


def test_off_stops_a_running_pattern_now(factory: MockFactory) -> None:
    buzzer = make(factory, "buzzer", 17)
    idle = threading.Event()
    buzzer.on_idle = lambda _o: idle.set()
    buzzer.activate(PatternConfig(duration_s=30))
    buzzer.off()
    assert not buzzer.active
    assert states(factory, 17) == [0, 1, 0]
    assert not idle.is_set()  # off() is not a natural end


def test_new_pattern_replaces_running_one(factory: MockFactory) -> None:
    led = make(factory, "led", 27)
    led.activate(PatternConfig(style="blink", on_s=5, off_s=5, duration_s=30))
    run_to_end(led, PatternConfig(style="steady", duration_s=0.1))
    assert states(factory, 27) == [0, 1, 0, 1, 0]


def test_close_is_idempotent_and_final(factory: MockFactory) -> None:
    buzzer = make(factory, "buzzer", 17)
    buzzer.activate(PatternConfig(duration_s=30))
    buzzer.close()
    buzzer.close()
    assert states(factory, 17)[-1] == 0
    assert buzzer.device.closed
    with pytest.raises(GPIOError, match="closed"):
        buzzer.activate(PatternConfig())


def test_gpiozero_failure_names_the_output(factory: MockFactory) -> None:
    buzzer = make(factory, "buzzer", 17)
    with pytest.raises(GPIOError, match=r"gpio.outputs 'led17' \(led on pin 17\)"):
        make(factory, "led", 17)  # the pin is already in use
    buzzer.close()


def _pins_safe(factory: MockFactory) -> list[float]:
    return [factory.pin(17).state, factory.pin(27).state, factory.pin(5).state]


def test_safe_all_switches_everything_off(factory: MockFactory) -> None:
    outs = [make(factory, "buzzer", 17), make(factory, "led", 27), make(factory, "relay", 5, active_high=False)]
    for out in outs:
        out.activate(PatternConfig(style="blink", on_s=5, off_s=5, duration_s=60))
    assert _pins_safe(factory) == [1, 1, 0]
    safe_all()
    assert _pins_safe(factory) == [0, 0, 1]  # relay is active-low: off is high
    assert not any(o.active for o in outs)


def test_crash_in_the_pipeline_leaves_every_pin_off(factory: MockFactory) -> None:
    outs = [make(factory, "buzzer", 17), make(factory, "led", 27), make(factory, "relay", 5, active_high=False)]

    def pipeline() -> None:
        for out in outs:
            out.activate(PatternConfig(duration_s=60))
        raise RuntimeError("detector blew up")

    with pytest.raises(RuntimeError, match="blew up"), alarm_safety():
        pipeline()
    assert _pins_safe(factory) == [0, 0, 1]


def test_null_output_keeps_timing_without_hardware() -> None:
    out = NullOutput("buzzer")
    run_to_end(out, PatternConfig(duration_s=0.05))
    out.close()


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"style": "steady", "duration_s": 10}, (1, 10.0)),
        ({"style": "blink", "on_s": 0.5, "off_s": 0.5, "duration_s": 10}, (10, 10.0)),
        ({"style": "blink", "on_s": 0.5, "off_s": 0.5, "duration_s": 0.2}, (1, 1.0)),
        ({"style": "blink", "on_s": 1, "off_s": 2, "duration_s": 10}, (3, 9.0)),
        ({"style": "pulse", "fade_in_s": 1, "fade_out_s": 1, "duration_s": 5}, (3, 6.0)),
    ],
)
def test_pattern_cycles(pattern: dict[str, Any], expected: tuple[int, float]) -> None:
    assert pattern_cycles(PatternConfig.model_validate(pattern)) == expected
