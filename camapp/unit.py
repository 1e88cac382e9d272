"""One camera of the appliance: its capture, its pipelines (the live pipeline's holder for it) and its sinks, run by
its own capture and pipeline threads (camapp/runner.py). The wiring (camapp/app.py) builds one unit per camera;
they share the one detector (camapp/live.py), the state and the controller.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from camapp.capture import FrameSource
from camapp.capture.factory import frame_rate, open_source
from camapp.capture.file import FileSource
from camapp.closing import Closing
from camapp.config import AppConfig
from camapp.control import Controller
from camapp.health import PipelineStats
from camapp.live import LivePipeline
from camapp.parts import pipelines_for
from camapp.redact import redact_text
from camapp.runner import PipelineHolder, Runner, replay
from camapp.sinkparts import Shared, Sinks
from camapp.sinks import ResultSink
from camapp.stream import FrameHub, HubSink
from camapp.types import CameraName

# Shared: what the units share (the store, the broker connection and the pins), built by the wiring beside them.
__all__ = ["CameraUnit", "Shared", "build_units", "live_pipeline"]
log = logging.getLogger(__name__)


def live_pipeline(cfg: AppConfig, enabled: Callable[[str], bool], data_dir: Path,
                  config_path: Path | None) -> LivePipeline:
    """The one detector and every camera's pipelines, which read their camera's detection switch `enabled(name)`
    every frame."""
    return LivePipeline(cfg, pipelines_for(enabled), data_dir, config_path)


class CameraUnit(Closing):
    """One camera: capture -> its pipelines -> its sinks (the live stream's hub first)."""

    def __init__(self, cfg: AppConfig, pipelines: PipelineHolder, control: Controller, shared: Shared,
                 stop_event: threading.Event | None = None) -> None:
        """`cfg` is this camera's config (AppConfig.camera_configs()); `shared` the appliance's broker connection
        and pins it feeds; `stop_event` stops this camera alone unless it is the appliance's (a lone camera: its
        file ending ends the appliance, as it always has)."""
        self.name, self.cfg, self.pipelines = CameraName(cfg.camera.id), cfg, pipelines
        self.stop_event = stop_event or threading.Event()
        self.stats = PipelineStats()
        self.hub = FrameHub(cfg.web.stream_width, cfg.web.jpeg_quality, cfg.web.stream_fps, camera=self.name)
        self.sinks = Sinks(cfg, self.hub, control, self.stats, shared)
        self.fps = frame_rate(cfg.camera)
        self._source: FrameSource | None = None
        self._runner: Runner | None = None

    def open_source(self) -> FrameSource:
        source = open_source(self.cfg.camera, self.stop_event, self.stats.set_camera)
        store = self.sinks.store
        floor = store.clock_floor() if store is not None else None
        if floor is not None and isinstance(source, FileSource):  # a file, not a live camera: never overlap
            source.start_after(floor)
        return source

    def start(self, heartbeat: Callable[[], None]) -> FrameSource:
        """Open the camera and start its threads; returns the source (for its description)."""
        self._source = self.open_source()
        self._runner = Runner(self._source, self.pipelines, self.sinks.all, self.stats, heartbeat=heartbeat,
                              stop_event=self.stop_event)
        self._runner.start()
        return self._source

    def problem(self) -> str | None:
        """Why this camera's pipeline is not working (see Runner.problem), None when it is."""
        return "not running" if self._runner is None else self._runner.problem()

    @property
    def description(self) -> str:
        """Where its pictures come from, in the source's words once open (an RTSP URL's password masked)."""
        return redact_text(self._source.description if self._source is not None else f"{self.cfg.camera.source} "
                           "camera (not open yet)")

    @property
    def error(self) -> BaseException | None:
        return None if self._runner is None else self._runner.error

    @property
    def stopped(self) -> bool:
        return self.stop_event.is_set()

    def replay(self, extra_sinks: list[ResultSink]) -> None:
        """Every frame of this (finite) camera through its pipelines and sinks but the live stream, none dropped."""
        sinks = [s for s in self.sinks.all if not isinstance(s, HubSink)] + extra_sinks
        with self.open_source() as source:
            replay(source, self.pipelines, sinks, self.stats, self.stop_event)

    def stop(self) -> None:
        """Stop the threads and close the camera; idempotent."""
        self.stop_event.set()
        if self._runner is not None:
            self._runner.stop()
        if self._source is not None:
            self._source.close()

    def close(self) -> None:
        """Stop, then close the sinks (the last built first)."""
        self.stop()
        self.sinks.close()


def build_units(views: Mapping[str, AppConfig], holders: Mapping[CameraName, PipelineHolder], control: Controller,
                shared: Shared, stop_event: threading.Event) -> list[CameraUnit]:
    """One unit per camera (`views`: AppConfig.camera_configs()), each on its holder of the live pipeline. A lone
    camera shares the appliance's `stop_event` (its file ending stops the appliance, as it always has); with
    several, each has its own, so one ending leaves the others running. On a failure the units built are closed."""
    units: list[CameraUnit] = []
    try:
        for name, view in views.items():
            own_stop = stop_event if len(views) == 1 else None
            units.append(CameraUnit(view, holders[CameraName(name)], control, shared, own_stop))
    except BaseException:
        for unit in reversed(units):
            unit.close()
        raise
    return units
