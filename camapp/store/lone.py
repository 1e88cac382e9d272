"""A lone camera's store: the shared store and that camera's sink in one (tests, benches, one-camera tools)."""

from __future__ import annotations

from camapp.bus import Bus
from camapp.config.storage import StorageConfig
from camapp.sinks import ResultSink
from camapp.store.recorder import AnnotateFn
from camapp.store.shared import SharedStore
from camapp.types import CameraName, FrameResult


class EventStore(SharedStore, ResultSink):
    """A lone camera's store: the shared store and that camera's sink in one (tests, benches, one-camera tools)."""

    def __init__(
        self,
        cfg: StorageConfig,
        *,
        camera_id: CameraName,
        fps: float,
        bus: Bus | None = None,
        annotate_fn: AnnotateFn | None = None,
        lossless: bool = False,
    ) -> None:
        """`lossless`: a replay of a file, where recording waits for the encoder instead of dropping frames."""
        if not fps > 0:
            raise ValueError(f"EventStore fps must be > 0, got {fps!r}")
        super().__init__(cfg, bus=bus, annotate_fn=annotate_fn)
        self.camera_id, self.fps = camera_id, fps
        try:
            self.sink = self.camera(camera_id, fps=fps, lossless=lossless)
        except BaseException:
            self.close()
            raise

    def handle(self, result: FrameResult) -> None:
        self.sink.handle(result)

    def keep_clip(self, event_id: str, rule: str) -> None:
        self.sink.keep_clip(event_id, rule)

    def clock_floor(self) -> float | None:
        return self.sink.clock_floor()
