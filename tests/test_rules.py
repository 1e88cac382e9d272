"""Rule evaluation (labels, zones, score, loitering, arming mode, schedule) and cooldowns; rule config checks."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from camapp.config import parse_config
from camapp.config.alarm import GpioConfig, RuleConfig, RulesConfig, TimeWindow, check_references
from camapp.rules import RuleContext, RuleEngine, Subject, evaluate, in_window

# 2024-01-01 was a Monday.
MON_NOON = datetime(2024, 1, 1, 12, 0)


def rule(**kw: Any) -> RuleConfig:
    base: dict[str, Any] = {"name": "r", "labels": ["person"]}
    base.update(kw)
    return RuleConfig.model_validate(base)


def person(zones: tuple[str, ...] = ("driveway",), score: float = 0.8, track: int = 1) -> Subject:
    return Subject("person", score, zones, track_id=track, event_id=f"ev{track}")


def ctx(*subjects: Subject, mode: str = "away", now: datetime = MON_NOON, tiz: float = 0.0) -> RuleContext:
    return RuleContext(subjects, mode, now, lambda track, zone: tiz)


@pytest.mark.parametrize(
    ("rule_kw", "subject", "mode", "tiz", "fires"),
    [
        ({}, person(), "away", 0, True),
        ({}, person(), "home", 0, True),
        ({}, person(), "disarmed", 0, False),
        ({"modes": ["away"]}, person(), "home", 0, False),
        ({"modes": ["disarmed"]}, person(), "disarmed", 0, True),
        ({"labels": ["car"]}, person(), "away", 0, False),
        ({"labels": ["car", "person"]}, person(), "away", 0, True),
        ({"zones": ["driveway"]}, person(("driveway",)), "away", 0, True),
        ({"zones": ["driveway"]}, person(("porch",)), "away", 0, False),
        ({"zones": ["driveway"]}, person(()), "away", 0, False),
        ({"zones": ["porch", "driveway"]}, person(("driveway",)), "away", 0, True),
        ({"min_score": 0.9}, person(score=0.8), "away", 0, False),
        ({"min_score": 0.8}, person(score=0.8), "away", 0, True),
        ({"zones": ["driveway"], "min_zone_seconds": 5}, person(), "away", 4.9, False),
        ({"zones": ["driveway"], "min_zone_seconds": 5}, person(), "away", 5.0, True),
        ({"enabled": False}, person(), "away", 0, False),
    ],
)
def test_evaluate_table(rule_kw: dict[str, Any], subject: Subject, mode: str, tiz: float, fires: bool) -> None:
    fired = evaluate([rule(**rule_kw)], ctx(subject, mode=mode, tiz=tiz))
    assert bool(fired) is fires
    if fires:
        assert fired[0].subject == subject
        assert fired[0].zone == ("driveway" if "zones" in rule_kw else None)


def test_loitering_uses_time_in_zone_of_the_matching_zone() -> None:
    r = rule(zones=["porch", "driveway"], min_zone_seconds=10)
    times = {(1, "porch"): 2.0, (1, "driveway"): 12.0}
    context = RuleContext((person(("porch", "driveway")),), "away", MON_NOON, lambda t, z: times[(t, z)])
    [f] = evaluate([r], context)
    assert f.zone == "driveway"


def test_trigger_subject_matches_label_only_rules() -> None:
    door = Subject("door", 1.0, source="gpio:front")
    assert evaluate([rule(labels=["door"])], ctx(door))
    assert not evaluate([rule(labels=["door"], zones=["driveway"])], ctx(door))


@pytest.mark.parametrize(
    ("window", "now", "inside"),
    [
        ({"start": "08:00", "end": "18:00"}, datetime(2024, 1, 1, 7, 59), False),
        ({"start": "08:00", "end": "18:00"}, datetime(2024, 1, 1, 8, 0), True),
        ({"start": "08:00", "end": "18:00"}, datetime(2024, 1, 1, 18, 0), False),
        # crossing midnight: 22:00 Monday -> 06:00 Tuesday
        ({"days": ["mon"], "start": "22:00", "end": "06:00"}, datetime(2024, 1, 1, 23, 30), True),
        ({"days": ["mon"], "start": "22:00", "end": "06:00"}, datetime(2024, 1, 2, 5, 59), True),
        ({"days": ["mon"], "start": "22:00", "end": "06:00"}, datetime(2024, 1, 2, 6, 0), False),
        ({"days": ["mon"], "start": "22:00", "end": "06:00"}, datetime(2024, 1, 1, 5, 0), False),  # Sun night
        ({"days": ["mon"], "start": "22:00", "end": "06:00"}, datetime(2024, 1, 2, 23, 0), False),  # Tue night
        ({"days": ["sat", "sun"], "start": "00:00", "end": "00:00"}, datetime(2024, 1, 6, 13, 0), True),
        ({"days": ["sat", "sun"], "start": "00:00", "end": "00:00"}, datetime(2024, 1, 5, 13, 0), False),
    ],
)
def test_time_window(window: dict[str, Any], now: datetime, inside: bool) -> None:
    assert in_window(TimeWindow.model_validate(window), now) is inside


def test_schedule_gates_rule() -> None:
    night = rule(schedule=[{"start": "22:00", "end": "06:00"}])
    assert not evaluate([night], ctx(person(), now=MON_NOON))
    assert evaluate([night], ctx(person(), now=datetime(2024, 1, 1, 3, 0)))


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_cooldown_per_rule_and_once_per_track() -> None:
    clock = Clock()
    engine = RuleEngine([rule(cooldown_s=30)], clock=clock)
    assert len(engine.process(ctx(person(track=1)))) == 1
    clock.t += 1
    assert engine.process(ctx(person(track=1), person(track=2))) == []  # rule cooling down
    clock.t += 30
    [f] = engine.process(ctx(person(track=1), person(track=2)))
    assert f.subject.track_id == 2  # track 1 already fired this rule
    clock.t += 100
    assert engine.process(ctx(person(track=1), person(track=2))) == []
    engine.forget_track(1)  # its event ended; id may be reused
    assert len(engine.process(ctx(person(track=1)))) == 1


def test_walking_about_fires_once_and_reset_rearms() -> None:
    clock = Clock()
    engine = RuleEngine([rule(cooldown_s=0)], clock=clock)
    fired = 0
    for _ in range(50):
        clock.t += 0.1
        fired += len(engine.process(ctx(person(track=7))))
    assert fired == 1
    engine.reset()
    assert len(engine.process(ctx(person(track=7)))) == 1


def test_two_rules_fire_independently() -> None:
    engine = RuleEngine([rule(name="a"), rule(name="b", min_score=0.9)])
    names = [f.rule.name for f in engine.process(ctx(person(score=0.95)))]
    assert names == ["a", "b"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "x", "labels": []}, "labels"),
        ({"name": "x", "labels": ["person"], "min_zone_seconds": 5}, "needs at least one zone"),
        ({"name": "x", "labels": ["person"], "modes": ["armed"]}, "modes"),
        ({"name": "x", "labels": ["person"], "schedule": [{"start": "25:00", "end": "06:00"}]}, "start"),
        ({"name": "x", "labels": ["person"], "schedule": [{"start": "22:00", "end": "6:00"}]}, "end"),
        ({"name": "x", "labels": ["person"], "min_score": 1.5}, "min_score"),
        ({"name": "x y", "labels": ["person"]}, "name"),
        ({"name": "x", "labels": ["person"], "action": {}}, "action"),
    ],
)
def test_rule_config_errors(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RuleConfig.model_validate(data)


def test_rule_names_unique() -> None:
    with pytest.raises(ValidationError, match="repeated: a"):
        RulesConfig.model_validate({"rules": [{"name": "a", "labels": ["p"]}, {"name": "a", "labels": ["q"]}]})


def test_output_actions_accept_names_and_overrides() -> None:
    r = rule(actions={"outputs": ["buzzer", {"output": "led", "pattern": {"style": "blink", "on_s": 0.2}}]})
    assert [a.output for a in r.actions.outputs] == ["buzzer", "led"]
    assert r.actions.outputs[0].pattern is None
    assert r.actions.outputs[1].pattern is not None and r.actions.outputs[1].pattern.on_s == 0.2


GPIO = GpioConfig.model_validate(
    {"outputs": [{"name": "buzzer", "kind": "buzzer", "pin": 17}, {"name": "led", "kind": "led", "pin": 27}]}
)


def test_check_references_accepts_known_names() -> None:
    rules = RulesConfig.model_validate(
        {"rules": [{"name": "a", "labels": ["person"], "zones": ["driveway"], "actions": {"outputs": ["buzzer"]}}]}
    )
    check_references(rules, GPIO, ["driveway"])


def test_check_references_names_each_unknown() -> None:
    rules = RulesConfig.model_validate(
        {"rules": [
            {"name": "ok", "labels": ["person"]},
            {"name": "bad", "labels": ["person"], "zones": ["drivway"], "actions": {"outputs": ["siren"]}},
            {"name": "pulse", "labels": ["person"],
             "actions": {"outputs": [{"output": "buzzer", "pattern": {"style": "pulse"}}]}},
        ]}
    )
    with pytest.raises(ValueError) as err:
        check_references(rules, GPIO, ["driveway"])
    text = str(err.value)
    assert "rules.rules.1 ('bad').zones: unknown zone 'drivway' (known: driveway)" in text
    assert "unknown output 'siren' (known: buzzer, led)" in text
    assert "rules.rules.2 ('pulse')" in text and "pulse needs a pwm_led" in text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"outputs": [{"name": "a", "kind": "buzzer", "pin": 17}, {"name": "a", "kind": "led", "pin": 18}]}, "name"),
        ({"outputs": [{"name": "a", "kind": "buzzer", "pin": 17}, {"name": "b", "kind": "led", "pin": 17}]}, "pin"),
        ({"outputs": [{"name": "a", "kind": "buzzer", "pin": 99}]}, "0..63"),
        ({"outputs": [{"name": "a", "kind": "buzzer", "pin": "GPIO 17"}]}, "pin name"),
        ({"outputs": [{"name": "a", "kind": "led", "pin": 4, "pattern": {"style": "pulse"}}]}, "needs kind pwm_led"),
        ({"outputs": [{"name": "a", "kind": "siren", "pin": 4}]}, "kind"),
        ({"inputs": [{"name": "b", "kind": "arm_button", "pin": 4, "hold_s": 0}]}, "hold_s"),
        ({"pin_factory": "pigpiod"}, "pin_factory"),
    ],
)
def test_gpio_config_errors(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        GpioConfig.model_validate(data)


def test_docs_example_config_is_valid() -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "alarms.md").read_text(encoding="utf-8")
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    cfg = parse_config(yaml.safe_load(example), example, "docs/alarms.md")
    check_references(cfg.rules, cfg.gpio, [z.name for z in cfg.zones])
    assert [r.name for r in cfg.rules.rules] == ["driveway_person", "night_loiter", "door_opened"]
    assert cfg.gpio.outputs[2].active_high is False and cfg.gpio.inputs[0].kind == "arm_button"
