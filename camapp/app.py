"""The wiring: builds the parts, connects them, starts them. Only the wiring (see docs/architecture.md) names
concrete classes.

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
from camapp.closing import Closing
from camapp.config import AppConfig
from camapp.control import Controller
from camapp.datadir import DataDirLock, data_dir
from camapp.healthcheck import for_cameras
from camapp.logbuffer import LogBuffer
from camapp.redact import install_log_redaction, use_config_secrets
from camapp.sinks import ResultSink
from camapp.state import ApplianceState
from camapp.systemd import Notifier
from camapp.unit import CameraUnit, Shared, build_units, live_pipeline
from camapp.web import CameraFeed, WebContext
from camapp.web.addresses import ui_urls
from camapp.webstart import start_web

log = logging.getLogger(__name__)


def _feed(unit: CameraUnit) -> CameraFeed:
    """One camera as the web UI shows it."""
    return CameraFeed(unit.hub, unit.stats, lambda: unit.description, unit.fps)


class Appliance(Closing):
    """Everything `camapp run` runs; a context manager that closes every part, outputs safe, on exit."""

    def __init__(self, cfg: AppConfig, config_path: Path | None = None) -> None:
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
        self.state = ApplianceState(cfg.rules.arming, cameras=cfg.cameras)  # `cameras:`: a switch each
        self.logs = LogBuffer()
        logging.getLogger().addHandler(self.logs)
        self._closing.append(lambda: logging.getLogger().removeHandler(self.logs))
        self.live = live_pipeline(cfg, self.state.detecting, data_dir(cfg), self.config_path)
        self._closing.append(self.live.close)
        self.control = Controller(self.state, apply_config=self.live.apply_config, switch_model=self._switch_model,
                                  config_path=self.config_path)
        self.bus = self.control.bus  # the controller's: what it publishes, every part subscribes to
        self.shared = Shared(cfg, self.live, self.control, web_port=lambda: self.web_port)
        self._closing.append(self.shared.close)  # after every camera
        self.units = build_units(cfg.camera_configs(), self.live.holders, self.control, self.shared, self.stop_event)
        self._closing.extend(unit.close for unit in self.units)
        first = self.units[0]
        self.hub, self.stats, self.sinks = first.hub, first.stats, first.sinks  # the (first) camera's
        self.store = self.shared.store  # the appliance's one store (every camera's events), or None
        self.shared.start()
        self.notifier = Notifier()
        store_problem = self.store.write_problem if self.store is not None else None
        self.health = for_cameras(self.units, data_dir(cfg), store_problem, self.live.scheduler.camera_stats)

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

    def unit(self, camera: str | None = None) -> CameraUnit:
        """The unit of `camera` (None: the first)."""
        return next(u for u in self.units if camera in (None, u.name))

    def replay(self, extra_sinks: list[ResultSink]) -> None:
        """Every frame of the configured (finite) source through the pipeline and sinks, none dropped; returns once
        the store has written them."""
        self.unit().replay(extra_sinks)
        for sink in extra_sinks:
            sink.close()
        if self.store is not None:  # a replay is over when its events are in the store, not just queued
            self.store.flush()
        if self.sinks.mqtt is not None and not self.sinks.mqtt.flush(timeout=10.0):
            log.warning("MQTT: not everything was delivered; it stays in the outbox for the next start")

    def run_forever(self) -> int:
        """Run until SIGINT/SIGTERM (or, with one camera, until its file ends); returns the exit code."""
        if threading.current_thread() is threading.main_thread():  # signals can only be handled there
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: self.stop_event.set())
        stop_web, self.web_port = start_web(self.web_context(), self.cfg.web, data_dir(self.cfg))
        try:
            with alarm_safety():
                try:
                    for unit in self.units:
                        source = unit.start(self._heartbeat)
                        self.health.watch_pipeline(unit.problem, unit.name if len(self.units) > 1 else None)
                        log.info("camera %s: %s", unit.name, source.description)
                    self.notifier.ready()
                    log.info("camapp running %d camera(s); open the web UI at\n%s", len(self.units),
                             "\n".join(f"    {u}" for u in self.ui_urls()))
                    # Several cameras: one ending (a file, a dead pipeline) leaves the others running; health says.
                    while not self.stop_event.wait(0.5) and not all(u.stopped for u in self.units):
                        pass
                    self.notifier.stopping()
                finally:
                    for unit in self.units:
                        unit.stop()
        finally:
            stop_web()
        return 1 if any(u.error is not None for u in self.units) else 0

    def _heartbeat(self) -> None:
        """systemd's watchdog is fed only while the health checks that a restart can fix pass."""
        if self.notifier.enabled and self.health.watchdog_ok():
            self.notifier.heartbeat()

    def web_context(self) -> WebContext:
        return WebContext(
            get_config=lambda: self.cfg, control=self.control, state=self.state, hub=self.hub, stats=self.stats,
            data_dir=data_dir(self.cfg), config_path=self.config_path, store=self.store,
            mqtt_status=self.sinks.mqtt.status if self.sinks.mqtt is not None else None,
            log_tail=self.logs.tail, model_name=lambda: self.model_name, health=self.health.report,
            urls=self.ui_urls, cameras={u.name: _feed(u) for u in self.units},
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

