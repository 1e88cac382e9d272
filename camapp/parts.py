"""The parts the wiring connects: the pipeline's stages for a frame size, and the result sinks the config asks for.

With camapp/app.py, the only code that knows concrete classes; everything else sees the interfaces.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TypeVar

from camapp.alarm import AlarmSink
from camapp.capture.factory import frame_rate
from camapp.config import AppConfig, FileCameraConfig
from camapp.control import Controller
from camapp.datadir import data_dir
from camapp.detect import Detector, Invocation
from camapp.events import EventTracker
from camapp.filters import filter_detections
from camapp.fleet.agent import FleetAgent
from camapp.fleet.protocol import FleetTopics
from camapp.geometry import Box
from camapp.health import PipelineStats, system_health
from camapp.live import LivePipeline
from camapp.motion.improved import ImprovedMotionDetector
from camapp.motion.planner import Budget, plan_invocations
from camapp.mqtt.payloads import EventMedia
from camapp.mqtt.sink import MqttSink
from camapp.mqtt.topics import Topics
from camapp.pipeline import Pipeline, Stages
from camapp.sinks import ResultSink, SinkContext, build_sink
from camapp.store import CameraStore, SharedStore
from camapp.stream import FrameHub, HubSink
from camapp.track import IouTracker
from camapp.types import CameraName, IntArray
from camapp.web.addresses import base_url
from camapp.zones import ZoneMap

log = logging.getLogger(__name__)
S = TypeVar("S", bound=ResultSink)


def pipeline_factory(
    cfg: AppConfig, detector: Detector, enabled: Callable[[], bool] = lambda: True
) -> Callable[[int, int], Pipeline]:
    """A function building a fresh pipeline (sharing the one detector) for a frame size; `enabled` is the camera's
    detection switch (ApplianceState.detecting)."""
    model_size = max(detector.input_size)

    budget = Budget(model_size, cfg.detect.max_invokes, cfg.detect.mosaic, cfg.detect.min_object_px,
                    cfg.model.crop_min_px, cfg.model.region_size)

    # A verification look gets one invoke, as sharp as it can be (no plan reaches the model's size per object).
    sharpest = replace(budget, max_invokes=1, min_object_px=model_size)

    def planner(motion: IntArray, objects: Sequence[Box], width: int, height: int) -> list[Invocation]:
        return plan_invocations(motion, objects, width, height, budget)

    def verifier(motion: IntArray, objects: Sequence[Box], width: int, height: int) -> list[Invocation]:
        return plan_invocations(motion, objects, width, height, sharpest)

    def build(width: int, height: int) -> Pipeline:
        stages = Stages(
            motion=ImprovedMotionDetector(cfg.motion, width, height) if cfg.motion.enabled else None,
            detector=detector,
            tracker=IouTracker(cfg.tracker, width, height),
            zones=ZoneMap(cfg.zones, (width, height)),
            events=EventTracker(cfg.objects, cfg.events, cfg.camera.id, (width, height)),
            plan_regions=planner,
            filter=lambda d: filter_detections(d, cfg.objects),
            plan_verify=verifier if cfg.detect.verify else None,
        )
        return Pipeline(stages, recheck_s=cfg.motion.recheck_s, enabled=enabled, detect_fps=cfg.detect.fps)

    return build


def fleet_agent(cfg: AppConfig, control: Controller, live: LivePipeline) -> FleetAgent | None:
    """The fleet agent when the device is in a fleet (mqtt.fleet_public_key), riding on the MQTT connection."""
    key = cfg.mqtt.fleet_public_key
    if key is None:
        return None
    prefix = Topics.build(cfg.mqtt.topic_prefix, cfg.device_id).prefix
    return FleetAgent(key, device_id=cfg.device_id, topics=FleetTopics(prefix), control=control,
                      get_config=lambda: live.cfg, data_dir=data_dir(cfg), arm_mode=cfg.mqtt.arm_mode,
                      model_name=lambda: live.detector.name)


def event_media(cfg: AppConfig, web_port: Callable[[], int]) -> EventMedia:
    """What MQTT event messages say the store keeps, and the UI address their links start with (the port the web
    server got, known only once it listens)."""
    kept = cfg.storage.path is not None
    return EventMedia(snapshots=kept and cfg.storage.snapshots, clips=kept and cfg.storage.clips,
                      base_url=lambda: base_url(cfg.web, web_port()))


def pipelines_for(enabled: Callable[[str], bool]) -> Callable[[AppConfig, Detector], Callable[[int, int], Pipeline]]:
    """How the live pipeline builds a camera's pipelines; `enabled(camera)` is that camera's detection switch (the
    appliance's and, with several cameras, its own), read every frame."""
    return lambda cfg, detector: pipeline_factory(cfg, detector, lambda: enabled(cfg.camera.id))


class Shared:
    """What an appliance has once, whatever its cameras: the event store, the broker connection (the fleet agent
    riding on it) and the alarm's pins. Every camera's Sinks joins them; they are closed after the cameras, the
    pins first (their last `alarm OFF` still reaches the broker), the store last."""

    def __init__(self, cfg: AppConfig, live: LivePipeline, control: Controller,
                 web_port: Callable[[], int] | None = None) -> None:
        state, self.several = control.state, bool(cfg.cameras)  # `cameras:`: per-camera topics, rules, switches
        self.alarm = AlarmSink(cfg.rules, cfg.gpio, state=state, bus=control.bus, control=control)
        self.mqtt: MqttSink | None = None
        self.store: SharedStore | None = None
        try:  # a store or broker config that cannot work (unreadable TLS files) still leaves the pins safe
            if cfg.storage.path is not None:
                self.store = SharedStore(cfg.storage, bus=control.bus)
            if cfg.mqtt.enabled:
                first = CameraName(next(iter(cfg.camera_configs().values())).camera.id)
                self.mqtt = MqttSink(
                    cfg.mqtt, device_id=cfg.device_id, camera_id=first, model_name=lambda: live.detector.name,
                    state=state, bus=control.bus, control=control, data_dir=data_dir(cfg), labels=cfg.objects.track,
                    stats=lambda: {**system_health(cfg.storage.path), "recording": None},
                    fleet=fleet_agent(cfg, control, live),
                    media=event_media(cfg, web_port or (lambda: cfg.web.port)), several=self.several)
        except BaseException:
            self.close()
            raise

    def start(self) -> None:
        """Connect to the broker, once every camera has joined."""
        if self.mqtt is not None:
            self.mqtt.start()

    def mqtt_feed(self, cfg: AppConfig, stats: Callable[[], Mapping[str, object]]) -> ResultSink | None:
        """Camera `cfg.camera.id`'s way onto the broker connection, None without MQTT."""
        if self.mqtt is None:
            return None
        return self.mqtt.feed(CameraName(cfg.camera.id), cfg.objects.track, stats)

    def alarm_for(self, cfg: AppConfig) -> ResultSink:
        """Camera `cfg.camera.id`'s way to the pins: judged by its own rules (cfg.rules: its view's) when it is one
        of `cameras:`, else it is the lone camera of the top-level rules."""
        return self.alarm.camera(CameraName(cfg.camera.id), cfg.rules) if self.several else self.alarm.lone()

    def store_for(self, cfg: AppConfig) -> CameraStore | None:
        """Camera `cfg.camera.id`'s sink into the store (its own storage.recording), None without storage."""
        if self.store is None:
            return None
        replaying = isinstance(cfg.camera, FileCameraConfig) and not cfg.camera.realtime  # drop no frame
        return self.store.camera(CameraName(cfg.camera.id), fps=frame_rate(cfg.camera), cfg=cfg.storage,
                                 lossless=replaying)

    def close(self) -> None:
        """The pins to their safe state, then the connection, then the store; idempotent."""
        for sink in (self.alarm, self.mqtt, self.store):
            if sink is None:
                continue
            try:
                sink.close()
            except Exception:
                log.exception("closing %s failed", type(sink).__name__)


class Sinks:
    """The result sinks the config asks for, in the order they see each frame; closed in reverse."""

    def __init__(self, cfg: AppConfig, hub: FrameHub, control: Controller, stats: PipelineStats,
                 shared: Shared) -> None:
        state, camera = control.state, CameraName(cfg.camera.id)  # cfg: this camera's view
        self.all: list[ResultSink] = [HubSink(hub)]
        self.store: CameraStore | None = None  # this camera's sink into the appliance's store (shared.store)
        self.mqtt, self.alarm = shared.mqtt, shared.alarm  # the appliance's, which this camera feeds
        try:  # each one joins `all` as soon as it exists, so a later failure still closes it
            self.store = shared.store_for(cfg)
            if self.store is not None:
                self._add(self.store)
            feed = shared.mqtt_feed(cfg, lambda: self._stats(cfg, stats))
            if feed is not None:
                self._add(feed)
            self._add(shared.alarm_for(cfg))
            context = SinkContext(cfg.device_id, camera, state, control.bus, control, data_dir(cfg))
            for entry in cfg.sinks:
                self._add(build_sink(entry, context))
        except BaseException:
            self.close()
            raise

    def _stats(self, cfg: AppConfig, stats: PipelineStats) -> dict[str, object]:
        recording = self.store.recording_status() if self.store is not None else None
        return {**stats.as_dict(), **system_health(cfg.storage.path), "recording": recording}

    def _add(self, sink: S) -> S:
        self.all.append(sink)
        return sink

    def close(self) -> None:
        """Close every sink, the last built first; one failing is logged and the others still close."""
        while self.all:
            sink = self.all.pop()
            try:
                sink.close()
            except Exception:
                log.exception("closing %s failed", type(sink).__name__)
