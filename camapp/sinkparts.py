"""The result sinks a camera's results go to: what the appliance has once (`Shared`: the store, the broker
connection, the pins) and each camera's way into them plus its own sinks (`Sinks`). A wiring module (see
docs/architecture.md): it names the concrete sinks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TypeVar

from camapp.alarm import AlarmSink
from camapp.brokerparts import mqtt_sink
from camapp.capture.factory import frame_rate
from camapp.config import AppConfig, FileCameraConfig
from camapp.control import Controller
from camapp.datadir import data_dir
from camapp.health import PipelineStats, system_health
from camapp.live import LivePipeline
from camapp.mqtt.sink import MqttSink
from camapp.sinks import ResultSink, SinkContext, build_sink
from camapp.store import CameraStore, SharedStore
from camapp.stream import FrameHub, HubSink
from camapp.types import CameraName

log = logging.getLogger(__name__)
S = TypeVar("S", bound=ResultSink)


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
                self.mqtt = mqtt_sink(cfg, live, control, web_port or (lambda: cfg.web.port), self.several)
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
