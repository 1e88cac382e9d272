"""The wiring: the only module that knows the concrete classes and connects stages, sinks and the web UI."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from camapp.assets import ROOT, demo_video
from camapp.atomic import write_atomic
from camapp.capture import FrameSource
from camapp.config import AppConfig, parse_config
from camapp.detect import Detector, Invocation, trust
from camapp.detect.trust import ModelTrust
from camapp.errors import ConfigError, ModelError, StorageError
from camapp.health import PipelineStats
from camapp.healthcheck import HealthMonitor
from camapp.logbuffer import LogBuffer
from camapp.pipeline import Box, Pipeline, Stages
from camapp.redact import install_log_redaction, use_config_secrets
from camapp.runner import PipelineHolder, Runner, replay
from camapp.sinks import ResultSink
from camapp.state import ApplianceState
from camapp.stream import FrameHub
from camapp.systemd import Notifier
from camapp.types import FrameResult, IntArray

if TYPE_CHECKING:
    from camapp.alarm.sink import AlarmSink
    from camapp.detect.manifest import ModelManifest
    from camapp.mqtt.sink import MqttSink
    from camapp.store import EventStore
    from camapp.web import WebContext
from camapp.webserver import ServerLimits, WebServer

log = logging.getLogger(__name__)

# Sections whose change needs a restart (they own devices, sockets or files); the others apply live.
RESTART_SECTIONS = ("device_id", "camera", "web", "mqtt", "storage", "gpio", "log_level")  # + rules.rules
LIVE_PIPELINE_SECTIONS = ("motion", "detect", "objects", "tracker", "events", "zones")


def resolve(path: Path) -> Path:
    """A relative path from the config: against the working directory first, then the project root."""
    if path.is_absolute() or path.exists():
        return path
    alt = ROOT / path
    return alt if alt.exists() else path


def build_detector(cfg: AppConfig) -> Detector:
    """The configured detector, after installing the config's model-signature policy (kept only if it loads)."""
    from camapp.detect.tflite import TFLiteDetector

    previous = trust.install(ModelTrust.from_config(cfg.web))
    try:
        return TFLiteDetector.from_config(cfg.model.model_copy(update={"manifest": resolve(cfg.model.manifest)}))
    except BaseException:
        trust.install(previous)
        raise


def parts(detector: Detector) -> list[Detector]:
    """The models a detector runs: both of a FallbackDetector (new and previous), else itself."""
    from camapp.detect.fallback import FallbackDetector

    if isinstance(detector, FallbackDetector):
        return [*parts(detector.primary), *parts(detector.previous)]
    return [detector]


def pipeline_factory(
    cfg: AppConfig, detector: Detector, enabled: Callable[[], bool] = lambda: True
) -> Callable[[int, int], Pipeline]:
    """A function building a fresh pipeline (sharing the one detector) for a frame size; `enabled` is the
    detection switch (ApplianceState.detection_enabled)."""
    from camapp.events import EventTracker
    from camapp.filters import filter_detections
    from camapp.motion.improved import ImprovedMotionDetector
    from camapp.motion.planner import Budget, plan_invocations
    from camapp.track import IouTracker
    from camapp.zones import ZoneMap

    size = getattr(detector, "input_size", (300, 300))
    model_size = int(max(size)) if isinstance(size, tuple) else int(size)

    budget = Budget(model_size, cfg.detect.max_invokes, cfg.detect.mosaic, cfg.detect.min_object_px,
                    cfg.model.crop_min_px, cfg.model.region_size)

    def planner(motion: IntArray, objects: Sequence[Box], width: int, height: int) -> list[Invocation]:
        return plan_invocations(motion, objects, width, height, budget)

    def build(width: int, height: int) -> Pipeline:
        motion = ImprovedMotionDetector(cfg.motion, width, height) if cfg.motion.enabled else None
        stages = Stages(
            motion=motion,
            detector=detector,
            tracker=IouTracker(cfg.tracker, width, height),
            zones=ZoneMap(cfg.zones, (width, height)),
            events=EventTracker(cfg.objects, cfg.events, cfg.camera.id),
            plan_regions=planner,
            filter=lambda d: filter_detections(d, cfg.objects),
        )
        return Pipeline(stages, recheck_s=cfg.motion.recheck_s, enabled=enabled, detect_fps=cfg.detect.fps)

    return build


class HubSink(ResultSink):
    """Feeds the live stream."""

    def __init__(self, hub: FrameHub) -> None:
        self._hub = hub

    def handle(self, result: FrameResult) -> None:
        self._hub.publish(result)

    def close(self) -> None:
        self._hub.close()


class EventLogSink(ResultSink):
    """Logs every event message to the console."""

    def handle(self, result: FrameResult) -> None:
        for ev in result.events:
            log.info("event %-6s %s #%d %s score=%.2f zones=%s", ev.type, ev.label, ev.track_id, ev.id,
                     ev.top_score, ",".join(ev.current_zones) or "-")

    def close(self) -> None:
        pass


def frame_rate(cfg: AppConfig) -> float:
    """Frames per second the sinks will see: a video file's own rate, else the configured camera rate."""
    if cfg.camera.source == "file" and cfg.camera.path is not None:
        import cv2

        cap = cv2.VideoCapture(str(cfg.camera.path))
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        cap.release()
        if 0 < fps <= 240:
            return fps
    return cfg.camera.fps


def data_dir(cfg: AppConfig) -> Path:
    """Where users, secrets and the MQTT outbox live: the storage path, else $CAMAPP_DATA, else ./data."""
    if cfg.storage.path is not None:
        return cfg.storage.path
    return Path(os.environ.get("CAMAPP_DATA", str(ROOT / "data")))


class DataDirLock:
    """An exclusive lock on the data directory: a second camapp (or a replay) on the same store would close the
    first one's open events and interleave writes."""

    def __init__(self, path: Path) -> None:
        import fcntl

        path.mkdir(parents=True, exist_ok=True)
        self._file = (path / "camapp.lock").open("a+")
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._file.seek(0)
            owner = self._file.read().strip() or "another process"
            self._file.close()
            raise StorageError(f"{path} is in use by another camapp ({owner}); stop it or use another "
                               "storage.path") from None
        self._file.truncate(0)
        self._file.write(f"pid {os.getpid()}")
        self._file.flush()

    def close(self) -> None:
        """Release the lock; idempotent."""
        if not self._file.closed:
            self._file.close()


def demo_config(port: int | None = None, data_dir: Path | None = None) -> AppConfig:
    """The built-in demo: the recorded street clip from Debian's opencv-doc, looped in real time."""
    video = demo_video()
    if not video.is_file():
        raise ConfigError(f"demo video {video} is missing; run `make demo-data`")
    data: dict[str, object] = {
        "device_id": "camapp-demo",
        "camera": {"id": "demo", "source": "file", "path": str(video), "loop": True, "realtime": True},
        "objects": {"track": ["person", "car", "bicycle"]},
        "storage": {"path": str(data_dir or ROOT / "data" / "demo")},
    }
    if port is not None:
        data["web"] = {"port": port}
    return parse_config(data, source="built-in demo config")


class Sinks:
    """Builds the optional sinks (store, alarms, MQTT) that the config enables; closes them in reverse."""

    def __init__(self, cfg: AppConfig, state: ApplianceState, stats: PipelineStats, hub: FrameHub) -> None:
        self.cfg, self.state, self.stats, self.hub = cfg, state, stats, hub
        self.all: list[ResultSink] = [HubSink(hub), EventLogSink()]
        self.store: EventStore | None = None
        self.mqtt: MqttSink | None = None
        self.alarm: AlarmSink | None = None
        self._closed = False

    def build(self, model_name: Callable[[], str], labels: list[str],
              time_in_zone: Callable[[int, str], float]) -> None:
        """Create the sinks the config enables (store, MQTT) and the alarm sink (disabled without GPIO)."""
        cfg = self.cfg
        if cfg.storage.path is not None:
            from camapp.store import EventStore

            replaying = cfg.camera.source == "file" and not cfg.camera.realtime  # record every frame, drop none
            self.store = EventStore(cfg.storage, camera_id=cfg.camera.id, fps=frame_rate(cfg), state=self.state,
                                    lossless=replaying)
            self.all.append(self.store)
        if cfg.mqtt.host:
            from camapp.mqtt.sink import MqttSink

            self.mqtt = MqttSink(cfg.mqtt, device_id=cfg.device_id, camera_id=cfg.camera.id, model_name=model_name,
                                 state=self.state, stats=self._stats_dict, data_dir=data_dir(cfg),
                                 labels=cfg.objects.track)
            self.mqtt.start()
            self.all.append(self.mqtt)
        from camapp.alarm.sink import AlarmSink

        on_alert = self.mqtt.publish_alert if self.mqtt is not None else None
        on_clip = self.store.keep_clip if self.store is not None else None
        self.alarm = AlarmSink(cfg.rules, cfg.gpio, state=self.state, time_in_zone=time_in_zone, on_alert=on_alert,
                               on_clip=on_clip)
        self.all.append(self.alarm)

    def _stats_dict(self) -> dict[str, object]:
        from camapp.health import system_health

        recording = self.store.recording_status() if self.store is not None else None
        return {**self.stats.as_dict(), **system_health(self.cfg.storage.path), "recording": recording}

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for sink in reversed(self.all):
            try:
                sink.close()
            except Exception:
                log.exception("closing %s failed", type(sink).__name__)


class Appliance:
    """Everything `camapp run` runs; a context manager that closes every part, outputs safe, on exit."""

    def __init__(self, cfg: AppConfig, config_path: Path | None = None) -> None:
        self.cfg, self.config_path = cfg, config_path
        self._closed = False
        # First: nothing may touch the data dir of a running instance. Only parts that write there need it, so
        # two replays that store and publish nothing can run side by side (comparing configs on a clip).
        writes = cfg.storage.path is not None or cfg.mqtt.host is not None
        self._lock = DataDirLock(data_dir(cfg)) if writes else None
        try:
            self._build(cfg)
        except BaseException:
            self._abort()
            raise

    def _build(self, cfg: AppConfig) -> None:
        install_log_redaction()  # before anything can log a URL or an error quoting a secret
        use_config_secrets(cfg.model_dump(mode="json"))
        self.state = ApplianceState(cfg.rules.arming)
        self.stats = PipelineStats()
        self.detector: Detector = build_detector(cfg)
        self.pipelines = PipelineHolder(self._factory(cfg, self.detector))
        self.hub = FrameHub(cfg.web.stream_width, cfg.web.jpeg_quality, cfg.web.stream_fps, zones=self._zone_polygons)
        self._retired: list[Detector] = []  # replaced, closed once the pipeline has let go of them (or at exit)
        self._retired_lock = threading.Lock()
        self.logs = LogBuffer()
        logging.getLogger().addHandler(self.logs)
        self.sinks = Sinks(cfg, self.state, self.stats, self.hub)
        self.stop_event = threading.Event()
        self.sinks.build(lambda: self.model_name, list(self.detector.labels), self._time_in_zone)
        self.notifier = Notifier()
        store = self.sinks.store
        self.health = HealthMonitor(self.stats, frame_rate(cfg), data_dir(cfg),
                                    store.write_problem if store is not None else None)

    def _abort(self) -> None:
        """Undo a construction that failed part-way (a bad MQTT TLS file, say): close what exists, then unlock."""
        for part in (getattr(self, "sinks", None), getattr(self, "detector", None)):
            if part is not None:
                part.close()
        if hasattr(self, "logs"):
            logging.getLogger().removeHandler(self.logs)
        if self._lock is not None:
            self._lock.close()

    @property
    def model_name(self) -> str:
        """The model detecting now: the last one switched in, or the previous one if that one failed."""
        return self.detector.name

    def _zone_polygons(self) -> list[tuple[str, list[tuple[float, float]]]]:
        pipeline = self.pipelines.current
        return pipeline.stages.zones.polygons() if pipeline is not None else []

    def _time_in_zone(self, track_id: int, zone: str) -> float:
        pipeline = self.pipelines.current
        return pipeline.stages.zones.time_in_zone(track_id, zone) if pipeline is not None else 0.0

    def _open_source(self) -> FrameSource:
        from camapp.capture.factory import open_source

        return open_source(self.cfg.camera, self.stop_event, self.stats.set_camera)

    def replay(self, extra_sinks: list[ResultSink]) -> None:
        """Every frame of the configured (finite) source through the pipeline and sinks, none dropped."""
        sinks = [s for s in self.sinks.all if not isinstance(s, HubSink)] + extra_sinks
        with self._open_source() as source:
            replay(source, self.pipelines, sinks, self.stats, self.stop_event)
        for sink in extra_sinks:
            sink.close()
        if self.sinks.mqtt is not None and not self.sinks.mqtt.flush(timeout=10.0):
            log.warning("MQTT: not everything was delivered; it stays in the outbox for the next start")

    def run_forever(self) -> int:
        """Run until SIGINT/SIGTERM; returns the exit code."""
        if threading.current_thread() is threading.main_thread():  # signals can only be handled there
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: self.stop_event.set())
        from camapp.alarm import alarm_safety

        stop_web = self._start_web()
        try:
            with alarm_safety(), self._open_source() as source, Runner(
                source, self.pipelines, self.sinks.all, self.stats, heartbeat=self._heartbeat,
                stop_event=self.stop_event,
            ) as runner:
                self.health.watch_pipeline(runner.problem)
                self.notifier.ready()
                scheme = "https" if self.cfg.web.https else "http"
                log.info("camapp running: %s -> %s://%s:%d/", source.description, scheme, self.cfg.web.host,
                         self.web_port)
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
        from camapp.web import close_app, create_app, ssl_context

        tls = ssl_context(data_dir(self.cfg)) if self.cfg.web.https else None
        app = create_app(self.web_context())
        try:
            server = WebServer(app, self.cfg.web.host, self.cfg.web.port, tls, ServerLimits.from_config(self.cfg.web))
        except OSError as err:
            close_app(app)
            raise ConfigError(f"web.port: cannot listen on {self.cfg.web.host}:{self.cfg.web.port}: "
                              f"{err.strerror or err}") from None
        self.web_port = server.port

        def stop() -> None:
            server.shutdown()
            close_app(app)

        return stop

    def web_context(self) -> WebContext:
        from camapp.web import WebContext

        return WebContext(
            get_config=lambda: self.cfg, apply_config=self.apply_config, state=self.state, hub=self.hub,
            stats=self.stats, data_dir=data_dir(self.cfg), config_path=self.config_path, store=self.sinks.store,
            mqtt_status=self.sinks.mqtt.status if self.sinks.mqtt is not None else None,
            switch_model=self.switch_model, log_tail=self.logs.tail, model_name=lambda: self.model_name,
            health=self.health.report,
        )

    def apply_config(self, new: AppConfig) -> list[str]:
        """Apply a validated config live where possible; returns the sections that need a restart."""
        old = self.cfg
        # What can fail (loading a model) happens before anything changes, so a bad config leaves all as it was.
        # A stricter signature policy must hold for the running model too, so it is loaded again under it.
        reload = old.model != new.model or ModelTrust.from_config(old.web) != ModelTrust.from_config(new.web)
        detector = build_detector(new) if reload else None
        self.cfg = new
        use_config_secrets(new.model_dump(mode="json"))
        restart = [name for name in RESTART_SECTIONS if getattr(old, name) != getattr(new, name)]
        if old.rules.rules != new.rules.rules:
            restart.append("rules")
        if detector is not None:
            self._use_detector(detector)
        elif any(getattr(old, n) != getattr(new, n) for n in LIVE_PIPELINE_SECTIONS):
            # Rebuilding restarts tracking (ids start again); events in progress end and new ones begin.
            self.pipelines.replace_factory(self._factory(new, self.detector))
        if old.rules.arming != new.rules.arming:
            self.state.set_mode(new.rules.arming, source="config")
        log.info("config applied%s", f"; restart needed for {', '.join(restart)}" if restart else "")
        return restart

    def switch_model(self, model_path: Path, labels_path: Path) -> None:
        """Validate a model on the live frame, then switch to it; if it later fails, the previous one takes over."""
        from camapp.detect.fallback import FallbackDetector
        from camapp.detect.probe import probe_model
        from camapp.detect.tflite import TFLiteDetector

        manifest = probe_model(model_path, labels_path).to_manifest(model_path.parent.name or "uploaded")
        new = TFLiteDetector(manifest, threads=self.cfg.model.threads, min_score=self.cfg.model.min_score,
                             edgetpu=self.cfg.model.edgetpu, merge_iou=self.cfg.model.merge_iou)
        latest = self.hub.latest()
        try:
            if latest is not None:
                new.detect(latest.frame.image)
        except Exception as err:
            new.close()
            raise ModelError(f"{model_path.name}: failed on a live frame, not switched: {err}") from None
        previous = self.detector.active if isinstance(self.detector, FallbackDetector) else self.detector
        self._use_detector(FallbackDetector(new, previous))
        self._remember_model(manifest, model_path, labels_path)
        log.info("switched model to %s (%s)", model_path, manifest.name)

    def _remember_model(self, manifest: ModelManifest, model_path: Path, labels_path: Path) -> None:
        """Write the active model's manifest to the data dir and point the saved config at it, so the model
        survives a restart."""
        from camapp.detect.probe import manifest_yaml
        from camapp.web.configio import save

        path = data_dir(self.cfg) / "models" / "active.yaml"
        absolute = manifest.model_copy(update={"file": str(model_path.resolve()), "labels": str(labels_path.resolve())})
        write_atomic(path, manifest_yaml(absolute))
        self.cfg = self.cfg.model_copy(update={"model": self.cfg.model.model_copy(update={"manifest": path})})
        if self.config_path is not None:
            save(self.config_path, self.cfg)

    def _use_detector(self, detector: Detector) -> None:
        """Switch the pipeline to `detector`; the old models it no longer uses close once the pipeline lets go."""
        unused = [d for d in parts(self.detector) if not any(d is p for p in parts(detector))]
        with self._retired_lock:
            self._retired.extend(unused)
        self.detector = detector
        self.pipelines.replace_factory(self._factory(self.cfg, detector), retired=lambda: self._release(unused))

    def _factory(self, cfg: AppConfig, detector: Detector) -> Callable[[int, int], Pipeline]:
        """Pipelines that read the detection switch every frame."""
        return pipeline_factory(cfg, detector, lambda: self.state.detection_enabled)

    def _release(self, detectors: list[Detector]) -> None:
        if not detectors:
            return
        for detector in detectors:
            detector.close()
        with self._retired_lock:
            self._retired = [d for d in self._retired if not any(d is r for r in detectors)]
        log.info("closed %d replaced model(s)", len(detectors))

    def close(self) -> None:
        """Stop everything; every GPIO output goes to its safe state. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.stop_event.set()
        self.sinks.close()
        with self._retired_lock:
            retired = list(self._retired)
        for detector in [*retired, self.detector]:
            detector.close()
        logging.getLogger().removeHandler(self.logs)
        if self._lock is not None:
            self._lock.close()

    def __enter__(self) -> Appliance:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
