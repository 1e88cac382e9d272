"""The wiring: builds the parts, connects them, starts them. Only it and camapp/parts.py know concrete classes.

Appliance builds everything in order (data-dir lock, state, live pipeline, stream hub, controller, sinks), hands
every live change to the controller (camapp/control.py), and runs (threads + web UI) or replays a file.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from camapp.alarm import alarm_safety
from camapp.bus import Bus
from camapp.capture import FrameSource
from camapp.capture.factory import frame_rate, open_source
from camapp.closing import Closing
from camapp.config import AppConfig
from camapp.control import Controller
from camapp.datadir import DataDirLock, data_dir
from camapp.detect import Detector
from camapp.errors import ConfigError
from camapp.health import PipelineStats
from camapp.healthcheck import HealthMonitor
from camapp.live import LivePipeline
from camapp.logbuffer import LogBuffer
from camapp.parts import Sinks, pipeline_factory
from camapp.redact import install_log_redaction, use_config_secrets
from camapp.runner import PipelineFactory, Runner, replay
from camapp.sinks import ResultSink
from camapp.state import ApplianceState
from camapp.stream import FrameHub, HubSink
from camapp.systemd import Notifier
from camapp.web import WebContext, close_app, create_app, ssl_context
from camapp.web.addresses import ui_urls
from camapp.webserver import ServerLimits, WebServer

log = logging.getLogger(__name__)


class Appliance(Closing):
    """Everything `camapp run` runs; a context manager that closes every part, outputs safe, on exit."""

    def __init__(self, cfg: AppConfig, config_path: Path | None = None) -> None:
        if cfg.cameras:  # validated and checked by check-config; running them is the per-camera wiring's job
            raise ConfigError("cameras: this build runs one `camera:` section; `cameras:` is checked by "
                              "`camapp check-config` but not run yet")
        self.config_path = config_path
        self.web_port = cfg.web.port
        self.stop_event = threading.Event()
        # First: nothing may touch the data dir of a running instance. Only parts that write there need it, so
        # two replays that store and publish nothing can run side by side (comparing configs on a clip).
        writes = cfg.storage.path is not None or cfg.mqtt.enabled
        self._lock = DataDirLock(data_dir(cfg)) if writes else None
        self._closing: list[Callable[[], None]] = [self._unlock]
        try:
            self._build(cfg)
        except BaseException:
            self.close()
            raise

    def _build(self, cfg: AppConfig) -> None:
        install_log_redaction()  # before anything can log a URL or an error quoting a secret
        use_config_secrets(cfg.model_dump(mode="json"))
        self.state = ApplianceState(cfg.rules.arming)
        self.stats = PipelineStats()
        self.logs = LogBuffer()
        logging.getLogger().addHandler(self.logs)
        self._closing.append(lambda: logging.getLogger().removeHandler(self.logs))
        self.bus = Bus()
        self.live = LivePipeline(cfg, self._pipeline_factory, data_dir(cfg), self.config_path)
        self._closing.append(self.live.close)
        self.hub = FrameHub(cfg.web.stream_width, cfg.web.jpeg_quality, cfg.web.stream_fps)
        self.control = Controller(self.state, bus=self.bus, apply_config=self.live.apply_config,
                                  switch_model=self._switch_model, config_path=self.config_path)
        self.sinks = Sinks(cfg, self.hub, self.live, self.control, self.stats,
                           web_port=lambda: self.web_port)
        self._closing.append(self.sinks.close)
        if self.sinks.mqtt is not None:
            self.sinks.mqtt.start()
        self.notifier = Notifier()
        store = self.sinks.store
        self.health = HealthMonitor(self.stats, frame_rate(cfg.camera), data_dir(cfg),
                                    store.write_problem if store is not None else None)

    def _pipeline_factory(self, cfg: AppConfig, detector: Detector) -> PipelineFactory:
        """Pipelines that read the detection switch every frame."""
        return pipeline_factory(cfg, detector, lambda: self.state.detection_enabled)

    @property
    def cfg(self) -> AppConfig:
        return self.live.cfg

    @property
    def model_name(self) -> str:
        """The model detecting now: the last one switched in, or the previous one if that one failed."""
        return self.live.detector.name

    def _switch_model(self, model_path: Path, labels_path: Path) -> None:
        latest = self.hub.latest()
        self.live.switch_model(model_path, labels_path, latest.frame if latest is not None else None)

    def _open_source(self) -> FrameSource:
        return open_source(self.cfg.camera, self.stop_event, self.stats.set_camera)

    def replay(self, extra_sinks: list[ResultSink]) -> None:
        """Every frame of the configured (finite) source through the pipeline and sinks, none dropped; returns once
        the store has written them."""
        sinks = [s for s in self.sinks.all if not isinstance(s, HubSink)] + extra_sinks
        with self._open_source() as source:
            replay(source, self.live.pipelines, sinks, self.stats, self.stop_event)
        for sink in extra_sinks:
            sink.close()
        if self.sinks.store is not None:  # a replay is over when its events are in the store, not just queued
            self.sinks.store.flush()
        if self.sinks.mqtt is not None and not self.sinks.mqtt.flush(timeout=10.0):
            log.warning("MQTT: not everything was delivered; it stays in the outbox for the next start")

    def run_forever(self) -> int:
        """Run until SIGINT/SIGTERM; returns the exit code."""
        if threading.current_thread() is threading.main_thread():  # signals can only be handled there
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: self.stop_event.set())
        stop_web = self._start_web()
        try:
            with alarm_safety(), self._open_source() as source, Runner(
                source, self.live.pipelines, self.sinks.all, self.stats, heartbeat=self._heartbeat,
                stop_event=self.stop_event,
            ) as runner:
                self.health.watch_pipeline(runner.problem)
                self.notifier.ready()
                log.info("camapp running: %s; open the web UI at\n%s", source.description,
                         "\n".join(f"    {u}" for u in self.ui_urls()))
                runner.wait()
                self.notifier.stopping()
                runner.stop()
        finally:
            stop_web()
        return 1 if runner.error is not None else 0

    def _heartbeat(self) -> None:
        """systemd's watchdog is fed only while the health checks that a restart can fix pass."""
        if self.notifier.enabled and self.health.watchdog_ok():
            self.notifier.heartbeat()

    def _start_web(self) -> Callable[[], None]:
        """Serve the UI; returns the function that stops the server and the app's health sampler thread."""
        web = self.cfg.web
        app = create_app(self.web_context())
        try:
            server = WebServer(app, web.host, web.port, ssl_context(data_dir(self.cfg)) if web.https else None,
                               ServerLimits.from_config(web))
        except OSError as err:
            close_app(app)
            raise ConfigError(f"web.port: cannot listen on {web.host}:{web.port}: {err.strerror or err}") from None
        self.web_port = server.port

        def stop() -> None:
            server.shutdown()
            close_app(app)

        return stop

    def web_context(self) -> WebContext:
        return WebContext(
            get_config=lambda: self.cfg, control=self.control, state=self.state, hub=self.hub, stats=self.stats,
            data_dir=data_dir(self.cfg), config_path=self.config_path, store=self.sinks.store,
            mqtt_status=self.sinks.mqtt.status if self.sinks.mqtt is not None else None,
            log_tail=self.logs.tail, model_name=lambda: self.model_name, health=self.health.report,
            urls=self.ui_urls,
        )

    def ui_urls(self) -> list[str]:
        """Every address another device opens the UI at (the LAN addresses, the mDNS name; never 0.0.0.0)."""
        return ui_urls(self.cfg.web, self.web_port)

    def _unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()

    def close(self) -> None:
        """Stop everything; every GPIO output goes to its safe state; the data dir is unlocked last. Idempotent."""
        self.stop_event.set()
        while self._closing:
            self._closing.pop()()

