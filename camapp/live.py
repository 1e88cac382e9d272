"""Live changes to the running pipeline: a new config applied where it can be, a model switched in.

Which config section applies how is one table (APPLY); a section missing from it is a test failure, so a new
section cannot silently do nothing until a restart nobody was told about.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from camapp.commands import Applied
from camapp.config import AppConfig
from camapp.config.files import save_config
from camapp.detect import Detector
from camapp.detect.factory import build_detector
from camapp.detect.fallback import FallbackDetector
from camapp.detect.modelfile import model_file_backend
from camapp.detect.shared import DetectorScheduler, ScheduledDetector, late_after_s
from camapp.detect.trust import ModelTrust
from camapp.errors import ModelError
from camapp.redact import use_config_secrets
from camapp.runner import PipelineFactory, PipelineHolder
from camapp.types import CameraName, Frame

log = logging.getLogger(__name__)

Apply = Literal["restart", "pipeline", "detector", "state", "live"]
# How a change in each top-level section takes effect. restart: the section owns devices, sockets or files;
# pipeline: the pipeline is rebuilt (tracking restarts); detector: a new model is loaded first; state: arming
# follows the config; live: read where it is used, on every use (web UI settings).
APPLY: dict[str, Apply] = {
    "device_id": "restart", "log_level": "restart", "camera": "restart", "cameras": "restart", "web": "restart",
    "mqtt": "restart", "storage": "restart", "gpio": "restart", "sinks": "restart",
    "motion": "pipeline", "detect": "pipeline",
    "objects": "pipeline", "tracker": "pipeline", "events": "pipeline", "zones": "pipeline",
    "model": "detector", "rules": "state",
}
BuildPipelines = Callable[[AppConfig, Detector], PipelineFactory]


def parts(detector: Detector) -> list[Detector]:
    """The models a detector runs: both of a FallbackDetector (new and previous), else itself."""
    if isinstance(detector, FallbackDetector):
        return [*parts(detector.primary), *parts(detector.previous)]
    return [detector]


class LivePipeline:
    """The config and the one detector in use, and the pipeline holder of each camera they feed; changes apply from
    the next frame. With several cameras, each camera's pipelines reach the one model through a fair scheduler
    (camapp.detect.shared), so the model is loaded once whatever the number of cameras."""

    def __init__(self, cfg: AppConfig, build: BuildPipelines, data_dir: Path, config_path: Path | None = None) -> None:
        self.cfg, self._build = cfg, build
        self._data_dir, self._config_path = data_dir, config_path
        self.detector: Detector = build_detector(cfg.model, ModelTrust.from_config(cfg.web))
        self.scheduler = DetectorScheduler()
        self.holders = {CameraName(name): PipelineHolder(build(view, self._camera_detector(view, self.detector)),
                                                         CameraName(name))
                        for name, view in cfg.camera_configs().items()}
        self.pipelines = next(iter(self.holders.values()))  # the first (with `camera:`, the only) camera's
        self._retired: list[Detector] = []  # replaced, closed once the pipeline has let go of them (or at exit)
        self._lock = threading.Lock()

    def _camera_detector(self, view: AppConfig, detector: Detector) -> Detector:
        """The detector one camera's pipelines call: the model itself for a lone camera, else its scheduled view."""
        if not self.cfg.cameras or len(self.cfg.cameras) < 2:
            return detector
        late = late_after_s(view.detect.fps, view.camera.fps)
        return ScheduledDetector(detector, self.scheduler, view.camera.id, late)

    def _rebuild(self, detector: Detector, retired: Callable[[], None] | None = None) -> None:
        """Every camera's pipelines from the next frame on built from the config and `detector`; `retired` runs once
        no camera uses the pipelines of before."""
        views = self.cfg.camera_configs()
        waiting = [len(self.holders)]
        lock = threading.Lock()

        def one_let_go() -> None:
            with lock:
                waiting[0] -= 1
                last = waiting[0] == 0
            if last and retired is not None:
                retired()

        for name, holder in self.holders.items():
            view = views.get(name)
            if view is None:  # a camera removed: it keeps its pipelines until the restart the change needs
                one_let_go()
                continue
            holder.replace_factory(self._build(view, self._camera_detector(view, detector)),
                                   retired=one_let_go if retired is not None else None)

    def apply_config(self, new: AppConfig) -> Applied:
        """Apply a validated config live where possible; returns the sections that need a restart and the arming
        mode to follow (the controller sets it)."""
        old = self.cfg
        changed = [name for name in APPLY if getattr(old, name) != getattr(new, name)]
        # What can fail (loading a model) happens before anything changes, so a bad config leaves all as it was.
        # A stricter signature policy must hold for the running model too, so it is loaded again under it.
        policy = ModelTrust.from_config(new.web)
        reload = "model" in changed or policy != ModelTrust.from_config(old.web)
        detector = build_detector(new.model, policy) if reload else None
        self.cfg = new
        use_config_secrets(new.model_dump(mode="json"))
        restart = [name for name in changed if APPLY[name] == "restart"]
        if old.rules.rules != new.rules.rules:
            restart.append("rules")
        if detector is not None:
            self._use_detector(detector)
        elif any(APPLY[name] == "pipeline" for name in changed):
            # Rebuilding restarts tracking (ids start again); events in progress end and new ones begin.
            self._rebuild(self.detector)
        log.info("config applied%s", f"; restart needed for {', '.join(restart)}" if restart else "")
        return Applied(restart, new.rules.arming if old.rules.arming != new.rules.arming else None)

    def switch_model(self, model_path: Path, labels_path: Path, latest: Frame | None) -> None:
        """Validate a model on the live frame, then switch to it; if it later fails, the previous one takes over.
        Any backend that loads model files (camapp.detect.modelfile) can; the DETECTORS registry builds it."""
        section = model_file_backend(self.cfg.model).configure(self.cfg.model, model_path, labels_path,
                                                               self._data_dir / "models")
        new = build_detector(section)
        try:
            if latest is not None:
                new.detect(latest.image)
        except Exception as err:
            new.close()
            raise ModelError(f"{model_path.name}: failed on a live frame, not switched: {err}") from None
        previous = self.detector.active if isinstance(self.detector, FallbackDetector) else self.detector
        self._use_detector(FallbackDetector(new, previous))
        # The saved config names the new model, so it survives a restart.
        self.cfg = self.cfg.model_copy(update={"model": section})
        if self._config_path is not None:
            save_config(self._config_path, self.cfg)
        log.info("switched model to %s (%s)", model_path, new.name)

    def _use_detector(self, detector: Detector) -> None:
        """Switch the pipeline to `detector`; the old models it no longer uses close once the pipeline lets go."""
        unused = [d for d in parts(self.detector) if not any(d is p for p in parts(detector))]
        with self._lock:
            self._retired.extend(unused)
        self.detector = detector
        self._rebuild(detector, retired=lambda: self._release(unused))

    def _release(self, detectors: list[Detector]) -> None:
        if not detectors:
            return
        for detector in detectors:
            detector.close()
        with self._lock:
            self._retired = [d for d in self._retired if not any(d is r for r in detectors)]
        log.info("closed %d replaced model(s)", len(detectors))

    def close(self) -> None:
        """Close every model, the replaced ones included; idempotent (detectors' close() is)."""
        with self._lock:
            retired, self._retired = list(self._retired), []
        for detector in [*retired, self.detector]:
            detector.close()
