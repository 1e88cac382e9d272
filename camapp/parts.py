"""The pipeline's stages for a frame size: what a camera's pipelines are built from (the sinks its results go to
are built by camapp/sinkparts.py).

With camapp/app.py, camapp/unit.py, camapp/sinkparts.py and camapp/brokerparts.py, the only code that knows concrete
classes; everything else sees the interfaces.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from camapp.config import AppConfig
from camapp.detect import Detector, Invocation
from camapp.events import EventTracker
from camapp.filters import filter_detections
from camapp.geometry import Box
from camapp.motion.improved import ImprovedMotionDetector
from camapp.motion.planner import Budget, plan_invocations
from camapp.pipeline import Pipeline, Stages
from camapp.track import IouTracker
from camapp.types import IntArray
from camapp.zones import ZoneMap


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


def pipelines_for(enabled: Callable[[str], bool]) -> Callable[[AppConfig, Detector], Callable[[int, int], Pipeline]]:
    """How the live pipeline builds a camera's pipelines; `enabled(camera)` is that camera's detection switch (the
    appliance's and, with several cameras, its own), read every frame."""
    return lambda cfg, detector: pipeline_factory(cfg, detector, lambda: enabled(cfg.camera.id))
