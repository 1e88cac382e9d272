"""Config for zones, rules, arming and GPIO (owned by the zones/rules/GPIO work; extend here)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic.fields import FieldInfo

from camapp.config.base import MAX_POLYGON_POINTS, ConfigPoint, Section, at_most
from camapp.geometry import polygon_problem
from camapp.registry import Registry

if TYPE_CHECKING:
    from camapp.alarm.factory import AlarmHardware
    from camapp.alarm.inputs import Trigger
    from camapp.commands import Commander

MAX_ZONES = 64
MAX_RULES = 256


class ZoneConfig(Section):
    """A named polygon in frame pixels; an object is inside by its bottom-centre point."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$", description="Zone name used in events and rules.")
    polygon: list[ConfigPoint] = Field(
        min_length=3, max_length=MAX_POLYGON_POINTS, description="Polygon vertices as [x, y] frame pixels."
    )
    hysteresis_px: float = Field(
        8.0, ge=0, le=500, description="Distance past the edge needed to enter or leave, so membership cannot flicker."
    )

    @model_validator(mode="after")
    def _usable_polygon(self) -> ZoneConfig:
        problem = polygon_problem(self.polygon)
        if problem:
            raise ValueError(f"zone '{self.name}': {problem}")
        return self


Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
NAME = r"^[A-Za-z0-9_-]{1,32}$"
HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
PIN = r"^[A-Za-z0-9:_]{1,20}$"
ModeName = Literal["disarmed", "home", "away"]
ARMED_MODES: tuple[ModeName, ...] = ("home", "away")


class TimeWindow(Section):
    """A daily time window; `end` before `start` crosses midnight, `start` == `end` is the whole day."""

    days: list[Day] = Field(
        default_factory=lambda: list(DAYS), min_length=1, max_length=7, description="Days the window starts."
    )
    start: str = Field(pattern=HHMM, description="Start time HH:MM, local time.")
    end: str = Field(pattern=HHMM, description="End time HH:MM (exclusive), local time; may be on the next day.")


class PatternConfig(Section):
    """How an output is driven: steady on, blink on/off, or pulse (fade; PWM LEDs only), for a duration."""

    style: Literal["steady", "blink", "pulse"] = Field("steady", description="Output pattern.")
    on_s: float = Field(0.5, gt=0, le=60, description="Blink: seconds on per cycle.")
    off_s: float = Field(0.5, gt=0, le=60, description="Blink: seconds off per cycle.")
    fade_in_s: float = Field(1.0, gt=0, le=60, description="Pulse: seconds fading up per cycle.")
    fade_out_s: float = Field(1.0, gt=0, le=60, description="Pulse: seconds fading down per cycle.")
    duration_s: float = Field(10.0, gt=0, le=3600, description="How long the pattern runs before the output is off.")


class OutputConfig(Section):
    """A GPIO output: buzzer, LED, PWM LED or relay, with its default pattern."""

    name: str = Field(pattern=NAME, description="Output name rules refer to.")
    kind: Literal["buzzer", "led", "pwm_led", "relay"] = Field(description="Kind of device on the pin.")
    pin: int | str = Field(
        description="BCM GPIO number (or a gpiozero pin name such as GPIO17 / BOARD11); BOARD number on Jetson."
    )
    active_high: bool = Field(True, description="false: the device is on when the pin is low (many relay boards).")
    pattern: PatternConfig = Field(default_factory=PatternConfig, description="Pattern used unless a rule overrides.")

    @field_validator("pin")
    @classmethod
    def _pin_ok(cls, v: int | str) -> int | str:
        return _check_pin(v)

    @model_validator(mode="after")
    def _pulse_needs_pwm(self) -> OutputConfig:
        if self.pattern.style == "pulse" and self.kind != "pwm_led":
            raise ValueError(f"output '{self.name}': pattern style 'pulse' needs kind pwm_led, not {self.kind}")
        return self


class InputConfig(Section):
    """A GPIO input: arm/disarm button, PIR motion sensor, or door contact."""

    name: str = Field(pattern=NAME, description="Input name, shown in logs.")
    kind: Literal["arm_button", "pir", "door"] = Field(description="Kind of device on the pin.")
    pin: int | str = Field(description="BCM GPIO number or gpiozero pin name.")
    pull_up: bool = Field(
        True, description="Internal pull-up (switch to ground) or pull-down (switch to 3V3). PIR sensors ignore it."
    )
    bounce_s: float = Field(0.05, ge=0, le=5, description="Debounce time for buttons and door contacts.")
    arm_mode: Literal["home", "away"] = Field("away", description="arm_button: mode a short press arms to.")
    hold_s: float = Field(3.0, gt=0, le=60, description="arm_button: holding this long disarms.")
    open_level: Literal["high", "low"] = Field(
        "high", description="door: pin level when the door is open (high for a closed-when-shut reed to ground)."
    )
    label: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_ -]{1,32}$", description="pir/door: label rules match (default: the kind)."
    )

    @field_validator("pin")
    @classmethod
    def _pin_ok(cls, v: int | str) -> int | str:
        return _check_pin(v)

    @property
    def trigger_label(self) -> str:
        """Label a pir/door trigger carries into the rules."""
        return self.label or self.kind


def _check_pin(v: int | str) -> int | str:
    if isinstance(v, int) and not 0 <= v <= 63:
        raise ValueError(f"pin number must be 0..63, got {v}")
    if isinstance(v, str) and not re.match(PIN, v):
        raise ValueError(f"pin name must look like GPIO17 or BOARD11, got {v!r}")
    return v


class OutputAction(Section):
    """One output a rule drives; a plain string in YAML names the output and uses its own pattern."""

    output: str = Field(pattern=NAME, description="Name of a gpio.outputs entry.")
    pattern: PatternConfig | None = Field(None, description="Pattern for this rule instead of the output's.")


class RuleActions(Section):
    """What a firing rule does."""

    outputs: list[OutputAction] = Field(default_factory=list, max_length=16, description="Outputs to drive.")
    mqtt_alert: bool = Field(False, description="Publish an alert (rule, event, label, zones, time) over MQTT.")
    snapshot: bool = Field(False, description="Ask the store to save a snapshot of the frame.")
    clip: bool = Field(
        False, description="Keep the recording around the event (pre- to post-roll) even in events-only mode."
    )

    @field_validator("outputs", mode="before")
    @classmethod
    def _names_to_actions(cls, v: object) -> object:
        if isinstance(v, list):
            return [{"output": x} if isinstance(x, str) else x for x in v]
        return v


class RuleConfig(Section):
    """When (labels, zones, score, loitering, arming mode, schedule) an alarm fires and what it does."""

    name: str = Field(pattern=NAME, description="Rule name, used in alerts and logs.")
    enabled: bool = Field(True, description="false keeps the rule in the file but never fires it.")
    labels: list[str] = Field(
        min_length=1, max_length=32, description="Object labels (person, car) or input labels (pir, door) that match."
    )
    zones: list[str] = Field(default_factory=list, max_length=32, description="Zones that match; empty: anywhere.")
    min_score: float = Field(0.5, ge=0, le=1, description="Lowest event top score that matches.")
    min_zone_seconds: float = Field(
        0.0, ge=0, le=86400, description="Loitering: seconds the object must have been in the zone (needs zones)."
    )
    modes: list[ModeName] = Field(
        default_factory=lambda: list(ARMED_MODES), min_length=1, max_length=3,
        description="Arming modes in which the rule applies."
    )
    schedule: list[TimeWindow] = Field(
        default_factory=list, max_length=32, description="Time windows it applies in; empty: always."
    )
    actions: RuleActions = Field(default_factory=RuleActions, description="What happens when it fires.")
    cooldown_s: float = Field(60.0, ge=0, le=86400, description="Seconds after firing before the rule fires again.")

    @model_validator(mode="after")
    def _loitering_needs_zones(self) -> RuleConfig:
        if self.min_zone_seconds > 0 and not self.zones:
            raise ValueError(f"rule '{self.name}': min_zone_seconds needs at least one zone")
        return self


class RulesConfig(Section):
    """Alarm rules and the arming mode at start."""

    arming: Literal["disarmed", "home", "away"] = Field("disarmed", description="Arming mode at start.")
    rules: Annotated[list[RuleConfig], at_most(MAX_RULES)] = Field(
        default_factory=list, max_length=MAX_RULES, description="Alarm rules."
    )

    @model_validator(mode="after")
    def _unique_names(self) -> RulesConfig:
        _no_duplicates("rules.rules", [r.name for r in self.rules])
        return self


# Builders (camapp.alarm.factory.Backend) build the alarm outputs and inputs for `gpio.pin_factory`.
# The built-in keys are listed here once, so the config knows them without importing the hardware side.
# A backend: the gpio section, the controller, the trigger callback and an injected hardware library (None: its
# own) -> the outputs and inputs, or GPIOError when the hardware is missing.
GpioBackend = Callable[["GpioConfig", "Commander", "Trigger", object], "AlarmHardware"]
GPIO_BACKENDS: Registry[GpioBackend] = Registry("GPIO backend", "pin_factory")
# gpiozero's own preference order for `auto` (lgpio works on every Pi incl. Pi 5 / Bookworm).
GPIOZERO_AUTO_ORDER = ("lgpio", "rpigpio", "pigpio", "native")
GPIOZERO_KEYS = ("auto", *GPIOZERO_AUTO_ORDER, "mock")  # keys built through gpiozero
JETSON_KEY = "jetson"
for _key in (*GPIOZERO_KEYS, JETSON_KEY):
    GPIO_BACKENDS.add_key(_key)


class GpioConfig(Section):
    """GPIO outputs and inputs; disabled by default."""

    enabled: bool = Field(False, description="Drive GPIO; when true and no GPIO is present, warn and carry on.")
    pin_factory: str = Field(  # a Literal of the GPIO_BACKENDS keys, see _rebuild_pin_factory
        "auto",
        description="gpiozero pin factory; auto uses GPIOZERO_PIN_FACTORY or gpiozero's own order (lgpio first). "
        "jetson drives outputs with Jetson.GPIO.",
    )
    outputs: list[OutputConfig] = Field(default_factory=list, max_length=32, description="Buzzers, LEDs, relays.")
    inputs: list[InputConfig] = Field(default_factory=list, max_length=32, description="Buttons, PIR, door contacts.")

    @model_validator(mode="after")
    def _unique(self) -> GpioConfig:
        devices: list[OutputConfig | InputConfig] = [*self.outputs, *self.inputs]
        _no_duplicates("gpio outputs/inputs name", [d.name for d in devices])
        _no_duplicates("gpio outputs/inputs pin", [str(d.pin) for d in devices])
        return self


def _rebuild_pin_factory() -> None:
    """Make gpio.pin_factory accept exactly the registered GPIO backends (a new backend module adds one)."""
    old = GpioConfig.__pydantic_fields__["pin_factory"]
    keys: Any = Literal.__getitem__(GPIO_BACKENDS.bare_keys())
    field = Field(old.default, description=old.description)
    GpioConfig.__pydantic_fields__["pin_factory"] = FieldInfo.from_annotated_attribute(keys, field)
    GpioConfig.model_rebuild(force=True)


GPIO_BACKENDS.on_change(_rebuild_pin_factory)
_rebuild_pin_factory()


def _no_duplicates(what: str, names: list[str]) -> None:
    dup = sorted(n for n, count in Counter(names).items() if count > 1)
    if dup:
        raise ValueError(f"{what} must be unique; repeated: {', '.join(dup)}")


def check_references(rules: RulesConfig, gpio: GpioConfig, zone_names: Iterable[str]) -> None:
    """Raise ValueError naming every rule that refers to an unknown zone or output; call from AppConfig."""
    zones, outputs = set(zone_names), {o.name for o in gpio.outputs}
    problems: list[str] = []
    for i, rule in enumerate(rules.rules):
        where = f"rules.rules.{i} ('{rule.name}')"
        for z in rule.zones:
            if z not in zones:
                problems.append(f"{where}.zones: unknown zone '{z}' (known: {', '.join(sorted(zones)) or 'none'})")
        for a in rule.actions.outputs:
            if a.output not in outputs:
                known = ", ".join(sorted(outputs)) or "none"
                problems.append(f"{where}.actions.outputs: unknown output '{a.output}' (known: {known})")
            elif a.pattern and a.pattern.style == "pulse":
                kind = next(o.kind for o in gpio.outputs if o.name == a.output)
                if kind != "pwm_led":
                    problems.append(f"{where}.actions.outputs: pulse needs a pwm_led, '{a.output}' is a {kind}")
    if problems:
        raise ValueError("; ".join(problems))
