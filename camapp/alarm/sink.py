"""The alarm as a pipeline sink: evaluate the rules on each frame's tracks and GPIO triggers, then act.

One AlarmSink (one set of pins, one alarm, the appliance's arming) per appliance. A lone camera's frames go to it
directly, judged by the top-level rules; with several cameras each camera has its own CameraAlarm view with its
own rules (cameras.<name>.rules, else the top-level ones), tracks and zone times, firing the shared outputs.
GPIO inputs (PIR, door) belong to no camera: their triggers are judged by the top-level rules.

What the rules see per frame: every live track that has an event (so only confirmed objects), with the zones
and top score of its latest event message, kept while the track is in FrameResult.objects or sends events,
and dropped at its `end` event. Re-evaluating live tracks each frame lets loitering rules (min_zone_seconds)
fire while a person stands still and sends no new event message.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from camapp.alarm.factory import AlarmHardware, build_hardware
from camapp.alarm.outputs import AlarmOutput
from camapp.bus import Alert, Bus, ModeChanged, SilenceRequested
from camapp.commands import Commander, KeepClip, SendAlert, SetAlarm, TakeSnapshot
from camapp.config.alarm import GpioConfig, PatternConfig, RulesConfig
from camapp.rules import Fired, RuleContext, RuleEngine, Subject
from camapp.sinks import ResultSink
from camapp.state import ApplianceState, Mode
from camapp.types import CameraName, EventMessage, FrameResult, ZoneState

log = logging.getLogger(__name__)

STALE_S = 60.0  # a track neither seen nor updated for this long (frame time) is forgotten even without `end`


class _Watch:
    """What the rules see of one camera: its live tracks and the zone times of its last frame, with the engine of
    its rules (cooldowns and once-per-track are per camera: two cameras' track 1 are different people)."""

    def __init__(self, rules: RulesConfig, camera: CameraName | None) -> None:
        self.engine = RuleEngine(rules.rules)
        self.camera = camera
        self.zones = ZoneState()  # of the last frame: GPIO triggers between frames see the same times
        self._tracks: dict[int, tuple[EventMessage, float]] = {}

    def update(self, result: FrameResult, t: float) -> tuple[Subject, ...]:
        """This frame's subjects: every live track with an event, kept until its `end` (or STALE_S unseen)."""
        self.zones = result.zones
        current = {o.track_id for o in result.objects}
        for ev in result.events:
            if ev.type == "end":
                self._forget(ev.track_id)
            else:
                self._tracks[ev.track_id] = (ev, t)
                current.add(ev.track_id)
        for tid, (ev, seen) in list(self._tracks.items()):
            if tid in current:
                self._tracks[tid] = (ev, t)
            elif t - seen > STALE_S:
                self._forget(tid)
        return tuple(_subject(self._tracks[tid][0]) for tid in sorted(current) if tid in self._tracks)

    def _forget(self, track_id: int) -> None:
        self._tracks.pop(track_id, None)
        self.engine.forget_track(track_id)


class AlarmSink(ResultSink):
    """Rules -> GPIO outputs, alarm state, and commands (alerts, snapshots, clips); GPIO inputs -> arming and
    triggers. Zone times come from each FrameResult, never from the pipeline. Its own handle() is a lone camera's;
    each camera of several joins through camera()."""

    def __init__(  # noqa: PLR0913 - the wiring contract passes these by keyword
        self,
        rules: RulesConfig,
        gpio: GpioConfig,
        *,
        state: ApplianceState,
        bus: Bus,
        control: Commander,
        pin_factory: object | None = None,
        now: Callable[[], datetime] = datetime.now,
    ) -> None:
        self.state, self.control = state, control
        self._main = _Watch(rules, None)  # a lone camera's frames, and every GPIO trigger
        self._cameras: dict[CameraName, _Watch] = {}
        self._now = now
        self._lock = threading.RLock()
        self._last_trigger: dict[str, float] = {}
        self._closed = False
        self._patterns: dict[str, PatternConfig] = {o.name: o.pattern for o in gpio.outputs}
        self.hardware: AlarmHardware = build_hardware(
            gpio, control=control, on_trigger=self.trigger, pin_factory=pin_factory
        )
        for out in self.hardware.outputs.values():
            out.on_idle = self._output_idle
        self._unsubscribe = [bus.subscribe(SilenceRequested, lambda e: self.silence(source=e.source)),
                             bus.subscribe(ModeChanged, self._on_mode)]

    @property
    def engine(self) -> RuleEngine:
        """The top-level rules' engine (a lone camera's, and the GPIO triggers')."""
        return self._main.engine

    @property
    def outputs(self) -> dict[str, AlarmOutput]:
        return self.hardware.outputs

    def camera(self, name: CameraName, rules: RulesConfig) -> CameraAlarm:
        """The sink through which camera `name` (one of several) fires the shared outputs by its own `rules`."""
        with self._lock:
            watch = self._cameras.setdefault(name, _Watch(rules, name))
        return CameraAlarm(self, watch)

    def lone(self) -> CameraAlarm:
        """The sink of a lone camera: judged by the top-level rules, as GPIO triggers are."""
        return CameraAlarm(self, self._main)

    def handle(self, result: FrameResult) -> None:
        """Update the live tracks from this frame's events and fire whatever rules now match."""
        self.judge(self._main, result)

    def judge(self, watch: _Watch, result: FrameResult) -> None:
        t = result.frame.timestamp
        with self._lock:
            if self._closed:
                return
            subjects = watch.update(result, t)
            if subjects:
                self._process(watch, subjects, t)

    def trigger(self, label: str, source: str = "gpio") -> None:
        """A GPIO input (PIR, door) or other trigger: fire rules that list `label`; safe from any thread."""
        t = time.time()
        with self._lock:
            if self._closed:
                return
            self._last_trigger[label] = t
            self._process(self._main, (Subject(label, 1.0, source=source),), t)

    def last_trigger_time(self, label: str) -> float | None:
        """Wall-clock time of the last trigger with this label (e.g. "pir" as a motion hint), or None."""
        with self._lock:
            return self._last_trigger.get(label)

    def _process(self, watch: _Watch, subjects: tuple[Subject, ...], t: float) -> None:
        context = RuleContext(subjects, self.state.mode, self._now(), watch.zones.time_in_zone)
        for fired in watch.engine.process(context):
            try:
                self._fire(fired, t, watch.camera)
            except Exception:
                log.exception("rule %s: actions failed", fired.rule.name)

    def _fire(self, fired: Fired, t: float, camera: CameraName | None) -> None:
        rule, subject = fired.rule, fired.subject
        actions = rule.actions
        log.warning("rule %s fired: %s (%.2f) in %s [%s]%s", rule.name, subject.label, subject.score,
                    ", ".join(subject.zones) or "-", self.state.mode, f" camera {camera}" if camera else "")
        source = f"rule:{rule.name}"
        # The camera that saw it (None: a GPIO input, or a lone camera): its frame is the snapshot, its recording kept.
        snapshot_id = self.control.execute(TakeSnapshot(source=source, camera=camera)) if actions.snapshot else None
        if actions.clip and subject.event_id:
            self.control.execute(KeepClip(subject.event_id, rule.name, source=source, camera=camera))
        if self._drive_outputs(fired):
            self.control.execute(SetAlarm(True, source=source))
        if actions.mqtt_alert:
            alert = alert_for(fired, self.state.mode, t, snapshot_id, camera)
            self.control.execute(SendAlert(alert, source=source))

    def _drive_outputs(self, fired: Fired) -> bool:
        started = False
        for action in fired.rule.actions.outputs:
            out = self.outputs.get(action.output)
            if out is None:
                log.error("rule %s: no output named %s", fired.rule.name, action.output)
                continue
            out.activate(action.pattern or self._patterns[action.output])
            started = True
        return started

    def _output_idle(self, _out: AlarmOutput) -> None:
        if not any(o.active for o in self.outputs.values()):
            self.control.execute(SetAlarm(False, source="alarm"))

    def silence(self, source: str = "alarm") -> None:
        """Every output off now; the alarm is no longer active."""
        for out in self.outputs.values():
            out.off()
        self.control.execute(SetAlarm(False, source=source))

    def _on_mode(self, event: ModeChanged) -> None:
        with self._lock:
            for watch in (self._main, *self._cameras.values()):
                watch.engine.reset()
        if event.mode == "disarmed":
            self.silence(source=event.source)

    def close(self) -> None:
        """Outputs to their safe state and released, inputs released; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self.hardware.close()
        self.control.execute(SetAlarm(False, source="alarm"))


class CameraAlarm(ResultSink):
    """One camera's frames judged by its own rules, firing the appliance's shared outputs. Closing it is a no-op:
    the pins are released once, by the AlarmSink, after every camera."""

    def __init__(self, alarm: AlarmSink, watch: _Watch) -> None:
        self.alarm, self._watch = alarm, watch

    @property
    def engine(self) -> RuleEngine:
        return self._watch.engine

    def handle(self, result: FrameResult) -> None:
        self.alarm.judge(self._watch, result)

    def close(self) -> None:
        pass


def _subject(ev: EventMessage) -> Subject:
    return Subject(ev.label, ev.top_score, ev.current_zones, ev.track_id, ev.id, source="event")


def alert_for(fired: Fired, mode: Mode, t: float, snapshot_id: str | None, camera: str | None = None) -> Alert:
    """The alert for one firing: rule, event, label, zones, time (epoch seconds), arming mode and camera."""
    s = fired.subject
    return Alert(rule=fired.rule.name, label=s.label, score=round(s.score, 4), mode=mode, time=round(t, 3),
                 event_id=s.event_id, track_id=s.track_id, zones=tuple(s.zones), zone=fired.zone, source=s.source,
                 snapshot_id=snapshot_id, camera=camera)
