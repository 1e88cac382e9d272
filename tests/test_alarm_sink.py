"""AlarmSink end to end on gpiozero's MockFactory: frames with events -> rules -> pins, alerts, state, safety."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory

from camapp.alarm import AlarmSink
from camapp.bus import AlarmChanged, Alert, AlertRaised, Bus, BusEvent, ClipKept, ModeChanged, SnapshotRequested
from camapp.commands import SetMode, Silence
from camapp.config.alarm import GpioConfig, RulesConfig
from camapp.control import Controller
from camapp.state import ApplianceState
from camapp.types import (
    CameraName,
    Detections,
    EventMessage,
    EventType,
    Frame,
    FrameResult,
    MotionResult,
    TrackedObject,
    ZoneState,
)

IMAGE = np.zeros((8, 8, 3), np.uint8)
BUZZER, LED, RELAY, BUTTON, PIR = 17, 27, 5, 22, 23

GPIO = {
    "enabled": True,
    "outputs": [
        {"name": "buzzer", "kind": "buzzer", "pin": BUZZER, "pattern": {"duration_s": 0.3}},
        {"name": "led", "kind": "led", "pin": LED,
         "pattern": {"style": "blink", "on_s": 0.1, "off_s": 0.1, "duration_s": 0.4}},
        {"name": "relay", "kind": "relay", "pin": RELAY, "active_high": False, "pattern": {"duration_s": 60}},
    ],
    "inputs": [
        {"name": "arm", "kind": "arm_button", "pin": BUTTON, "hold_s": 0.2, "bounce_s": 0},
        {"name": "hall_pir", "kind": "pir", "pin": PIR},
    ],
}
DRIVEWAY = {"name": "driveway", "labels": ["person"], "zones": ["driveway"], "min_score": 0.6,
            "actions": {"outputs": ["buzzer", "led"], "mqtt_alert": True, "snapshot": True}}


def _value(event: BusEvent) -> tuple[str, object]:
    """A short (kind, value) view of an event, for tables of expected changes."""
    if isinstance(event, ModeChanged):
        return "mode", event.mode
    if isinstance(event, AlarmChanged):
        return "alarm", event.active
    if isinstance(event, SnapshotRequested):
        return "snapshot", event.snapshot_id
    if isinstance(event, ClipKept):
        return "clip", (event.event_id, event.rule)
    return type(event).__name__, None


class Recorder:
    """Collects the bus's events (alerts and clip requests among them); lets a test wait for a given change."""

    def __init__(self, bus: Bus) -> None:
        self.alerts: list[Alert] = []
        self.changes: list[BusEvent] = []
        self._cond = threading.Condition()
        bus.subscribe(BusEvent, self._on_change)

    def _on_change(self, event: BusEvent) -> None:
        with self._cond:
            self.changes.append(event)
            if isinstance(event, AlertRaised):
                self.alerts.append(event.alert)
            self._cond.notify_all()

    def kinds(self, kind: str) -> list[Any]:
        return [value for k, value in map(_value, self.changes) if k == kind]

    def wait_for(self, kind: str, value: Any) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: value in self.kinds(kind), timeout=5), self.changes


def sink_for(factory: MockFactory, rules: list[dict[str, Any]], mode: str = "away", **kw: Any) -> tuple[
    AlarmSink, ApplianceState, Recorder
]:
    state = ApplianceState(mode=mode)
    control = Controller(state)
    rec = Recorder(control.bus)
    kw.setdefault("now", lambda: datetime(2024, 1, 1, 12, 0))
    sink = AlarmSink(
        RulesConfig.model_validate({"rules": rules}), GpioConfig.model_validate(GPIO),
        state=state, bus=control.bus, control=control, pin_factory=factory, **kw,
    )
    return sink, state, rec


def event(kind: EventType = "new", track: int = 1, zones: tuple[str, ...] = ("driveway",), score: float = 0.8,
          label: str = "person", t: float = 100.0) -> EventMessage:
    return EventMessage(kind, f"ev{track}", track, label, score, score, (0, 0, 4, 4), 90.0,
                        t if kind == "end" else None, current_zones=zones, entered_zones=zones)


def frame(t: float, events: tuple[EventMessage, ...] = (), tracks: tuple[int, ...] = (),
          in_zone_s: float = 0.0) -> FrameResult:
    """A frame with these events and live tracks, each track `in_zone_s` seconds in the driveway."""
    objects = tuple(TrackedObject(tid, "person", (0, 0, 4, 4), 0.8, 90.0, t) for tid in tracks)
    zones = ZoneState(seconds={tid: {"driveway": in_zone_s} for tid in tracks})
    return FrameResult(Frame(IMAGE, t, int(t)), MotionResult(np.zeros((0, 4), np.int32), 0.0), Detections.empty(),
                       objects, events, zones=zones)


def level(factory: MockFactory, pin: int) -> float:
    return float(factory.pin(pin).state)


def test_person_in_driveway_while_armed_sounds_buzzer_and_flashes_led(factory: MockFactory) -> None:
    sink, state, rec = sink_for(factory, [DRIVEWAY])
    sink.handle(frame(100.0, (event(),), (1,)))
    assert state.alarm_active
    rec.wait_for("alarm", False)  # both outputs ran their patterns to the end
    assert [float(s.state) for s in factory.pin(BUZZER).states] == [0, 1, 0]
    assert [float(s.state) for s in factory.pin(LED).states] == [0, 1, 0, 1, 0]
    [alert] = rec.alerts
    [snap] = [c for c in rec.changes if isinstance(c, SnapshotRequested)]
    assert alert.as_json() == {"rule": "driveway", "event_id": "ev1", "track_id": 1, "label": "person",
                               "score": 0.8, "zones": ["driveway"], "zone": "driveway", "source": "event",
                               "mode": "away", "time": 100.0, "snapshot_id": snap.snapshot_id}
    assert snap.source == "rule:driveway"
    sink.close()


@pytest.mark.parametrize(
    ("mode", "ev"),
    [("disarmed", event()), ("away", event(zones=("porch",))), ("away", event(score=0.5)),
     ("away", event(label="car")), ("away", event(kind="end"))],
)
def test_no_alarm_when_rule_does_not_match(factory: MockFactory, mode: str, ev: EventMessage) -> None:
    sink, state, rec = sink_for(factory, [DRIVEWAY], mode=mode)
    sink.handle(frame(100.0, (ev,), (1,)))
    assert not state.alarm_active and rec.alerts == []
    assert [float(s.state) for s in factory.pin(BUZZER).states] == [0]
    sink.close()


def test_one_person_walking_about_fires_once(factory: MockFactory) -> None:
    sink, _, rec = sink_for(factory, [{**DRIVEWAY, "cooldown_s": 0}])
    sink.handle(frame(100.0, (event(),), (1,)))
    for i in range(1, 50):
        sink.handle(frame(100.0 + i / 10, (event("update"),) if i % 5 == 0 else (), (1,)))
    assert len(rec.alerts) == 1
    sink.handle(frame(106.0, (event("end", t=106.0),)))
    sink.handle(frame(107.0, (event(track=2),), (2,)))  # someone else
    assert [a.track_id for a in rec.alerts] == [1, 2]
    sink.close()


def test_loitering_fires_while_standing_still_without_new_events(factory: MockFactory) -> None:
    rule = {**DRIVEWAY, "name": "loiter", "min_zone_seconds": 5}
    sink, _, rec = sink_for(factory, [rule])
    sink.handle(frame(100.0, (event(),), (1,)))
    for t in range(1, 8):
        sink.handle(frame(100.0 + t, (), (1,), in_zone_s=float(t)))  # no event message: the track just stays
        assert len(rec.alerts) == (1 if t >= 5 else 0)
    sink.close()


def test_silence_stops_outputs_and_clears_alarm(factory: MockFactory) -> None:
    rule = {**DRIVEWAY, "actions": {"outputs": ["relay"]}}
    sink, state, _ = sink_for(factory, [rule])
    sink.handle(frame(100.0, (event(),), (1,)))
    assert state.alarm_active and level(factory, RELAY) == 0  # active-low relay on
    sink.control.execute(Silence(source="api"))
    assert not state.alarm_active and level(factory, RELAY) == 1
    sink.close()


def test_button_arms_and_hold_disarms_which_silences(factory: MockFactory) -> None:
    rule = {**DRIVEWAY, "actions": {"outputs": ["relay"]}}
    sink, state, rec = sink_for(factory, [rule], mode="disarmed")
    button = factory.pin(BUTTON)
    button.drive_low()
    button.drive_high()
    rec.wait_for("mode", "away")
    sink.handle(frame(100.0, (event(),), (1,)))
    assert state.alarm_active and level(factory, RELAY) == 0
    button.drive_low()
    rec.wait_for("mode", "disarmed")
    rec.wait_for("alarm", False)  # the sink hears the mode change after the recorder does
    button.drive_high()
    assert not state.alarm_active and level(factory, RELAY) == 1
    sink.close()


def test_pir_trigger_fires_label_rule(factory: MockFactory) -> None:
    rule = {"name": "hall", "labels": ["pir"], "actions": {"outputs": ["relay"], "mqtt_alert": True}}
    sink, _, rec = sink_for(factory, [rule])
    pir = sink.hardware.inputs[1]
    assert pir.device.wait_for_inactive(5)
    factory.pin(PIR).drive_high()
    rec.wait_for("alarm", True)
    assert rec.alerts[0].label == "pir" and rec.alerts[0].source == "hall_pir"
    assert sink.last_trigger_time("pir") is not None
    sink.close()


def test_close_and_crash_leave_every_pin_off(factory: MockFactory) -> None:
    rule = {**DRIVEWAY, "actions": {"outputs": ["buzzer", "led", "relay"]}}
    sink, state, _ = sink_for(factory, [rule])
    with pytest.raises(RuntimeError, match="pipeline crashed"), sink:
        sink.handle(frame(100.0, (event(),), (1,)))
        assert [level(factory, p) for p in (BUZZER, LED, RELAY)] == [1, 1, 0]
        raise RuntimeError("pipeline crashed")
    assert [level(factory, p) for p in (BUZZER, LED)] == [0, 0]
    assert factory.pin(RELAY).states[-2].state == 1  # switched off (high) before the pin was released
    assert not state.alarm_active
    sink.close()  # idempotent
    sink.handle(frame(101.0, (event("update"),), (1,)))  # after close: no error, nothing driven


def test_clip_requests_are_announced_as_commands(factory: MockFactory) -> None:
    rule = {**DRIVEWAY, "actions": {"clip": True}}
    sink, _, rec = sink_for(factory, [rule])
    sink.handle(frame(100.0, (event(),), (1,)))
    assert rec.kinds("clip") == [("ev1", "driveway")]
    sink.close()


def rules(*rule: dict[str, Any]) -> RulesConfig:
    return RulesConfig.model_validate({"rules": list(rule)})


def test_each_camera_fires_the_shared_outputs_by_its_own_rules(factory: MockFactory,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    """One set of pins, two cameras: the front's rule wants a car, the garden's a person in its driveway zone. A
    person on the garden sounds the buzzer (its rule, its camera in the alert and the log); the same person on the
    front does nothing; the same track id on both cameras is two people."""
    car_only = {"name": "front-car", "labels": ["car"], "actions": {"outputs": ["led"], "mqtt_alert": True}}
    sink, state, rec = sink_for(factory, [])  # the top-level rules: none
    front = sink.camera(CameraName("front"), rules(car_only))
    garden = sink.camera(CameraName("garden"), rules({**DRIVEWAY, "name": "garden-person",
                                                      "actions": {"outputs": ["buzzer"], "mqtt_alert": True}}))
    front.handle(frame(100.0, (event(),), (1,)))
    assert not state.alarm_active and rec.alerts == [] and level(factory, BUZZER) == 0
    garden.handle(frame(100.0, (event(),), (1,)))
    assert state.alarm_active and level(factory, BUZZER) == 1 and level(factory, LED) == 0
    [alert] = rec.alerts
    assert (alert.rule, alert.camera, alert.as_json()["camera"]) == ("garden-person", "garden", "garden")
    assert any("rule garden-person fired" in r.getMessage() and "camera garden" in r.getMessage()
               for r in caplog.records)
    front.handle(frame(101.0, (event(label="car", track=1),), (1,)))  # the front's track 1: a car, its own rule
    assert [(a.rule, a.camera) for a in rec.alerts] == [("garden-person", "garden"), ("front-car", "front")]
    assert level(factory, LED) == 1
    garden.handle(frame(102.0, (event(kind="update"),), (1,)))  # the garden's person again: once per track
    assert len(rec.alerts) == 2
    front.close()  # a camera's view closes nothing: the pins stay the appliance's
    assert level(factory, BUZZER) == 1
    sink.close()
    assert level(factory, BUZZER) == 0 and level(factory, LED) == 0 and not state.alarm_active


def test_arming_and_silence_stay_appliance_wide(factory: MockFactory) -> None:
    sink, state, _ = sink_for(factory, [])
    garden = sink.camera(CameraName("garden"), rules({**DRIVEWAY, "actions": {"outputs": ["relay"]}}))
    garden.handle(frame(100.0, (event(),), (1,)))
    assert level(factory, RELAY) == 0  # active low: sounding
    sink.control.execute(Silence(source="web"))  # from the web UI, for every camera's outputs
    assert level(factory, RELAY) == 1 and not state.alarm_active
    sink.control.execute(SetMode("disarmed", source="web"))
    garden.handle(frame(101.0, (event(track=2),), (2,)))  # disarmed: the camera's rule does not apply
    assert level(factory, RELAY) == 1
    sink.close()

