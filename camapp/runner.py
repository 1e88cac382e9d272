"""Threads around the pipeline: capture and processing run apart with latest-frame semantics, so a slow
detector drops frames instead of building a backlog, and nothing ever stalls capture.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Self

from camapp.capture import FrameSource
from camapp.closing import Closing
from camapp.errors import CaptureEndedError, CaptureError
from camapp.health import PipelineStats
from camapp.pipeline import Pipeline
from camapp.sinks import ResultSink
from camapp.types import ONE_CAMERA, CameraName, Frame, FrameResult

log = logging.getLogger(__name__)

PipelineFactory = Callable[[int, int], Pipeline]  # built for the first frame's size
STUCK_S = 20.0  # one frame taking longer than this is a hung stage (systemd's watchdog gives 30 s)


class LatestFrame:
    """A one-slot mailbox: put() replaces, get() waits for a frame newer than the last one taken."""

    def __init__(self, on_drop: Callable[[], None] = lambda: None) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._ended = False
        self._on_drop = on_drop  # the stats count every frame replaced before the pipeline took it
        self.dropped = 0
        self._generation = 0  # of the frame in the slot
        self.generation = 0  # of the frame get() returned last (read by the one consumer thread)

    def put(self, frame: Frame, generation: int = 0) -> None:
        """Offer a frame; `generation` is the source's (see FrameSource.generation) when it delivered it."""
        with self._cond:
            if self._frame is not None:
                self.dropped += 1
                self._on_drop()
            self._frame, self._generation = frame, generation
            self._cond.notify_all()

    def end(self) -> None:
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def get(self, timeout: float) -> Frame | None:
        """Next frame, or None on timeout or when the source has ended and the slot is empty."""
        with self._cond:
            self._cond.wait_for(lambda: self._frame is not None or self._ended, timeout)
            frame, self._frame = self._frame, None
            if frame is not None:
                self.generation = self._generation
            return frame

    @property
    def ended(self) -> bool:
        with self._cond:
            return self._ended and self._frame is None


def dispatch(result: FrameResult, sinks: Sequence[ResultSink]) -> None:
    """Hand a result to every sink; one failing sink is logged and never stops the others."""
    for sink in sinks:
        try:
            sink.handle(result)
        except Exception:
            log.exception("sink %s failed on frame %d", type(sink).__name__, result.frame.index)


class PipelineHolder:
    """Builds the pipeline for the frame size it sees, and rebuilds it when the size or the config changes.

    Only the pipeline thread calls for_frame(), and it finishes one frame before asking for the next; so once it
    builds a pipeline from a new factory, no pipeline of an older factory is in use any more. That is when the
    `retired` callbacks given to replace_factory() run (e.g. to close a replaced detector).
    """

    def __init__(self, factory: PipelineFactory, camera: CameraName = ONE_CAMERA) -> None:
        self.camera = camera  # the one camera whose frames it sees
        self._factory = factory
        self._size: tuple[int, int] | None = None
        self._pipeline: Pipeline | None = None
        self._generation = 0
        self._retired: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def for_frame(self, frame: Frame, generation: int = 0) -> Pipeline:
        """The pipeline for this frame; a new source `generation` (a reconnect) makes motion start afresh."""
        with self._lock:
            retired: list[Callable[[], None]] = []
            if self._pipeline is None or self._size != (frame.width, frame.height):
                self._pipeline = self._factory(frame.width, frame.height)
                self._size = (frame.width, frame.height)
                retired, self._retired = self._retired, []
            elif generation != self._generation and self._pipeline.stages.motion is not None:
                log.info("camera %s restarted at frame %d: relearning the motion background", self.camera, frame.index)
                self._pipeline.relearn()
            self._generation = generation
            pipeline = self._pipeline
        for callback in retired:
            _run_retired(callback)
        return pipeline

    def replace_factory(self, factory: PipelineFactory, retired: Callable[[], None] | None = None) -> None:
        """Use a new factory from the next frame on (config applied live); `retired` runs, on the pipeline thread,
        once the pipelines of the older factories are certainly no longer in use."""
        with self._lock:
            self._factory, self._pipeline = factory, None
            if retired is not None:
                self._retired.append(retired)

    @property
    def current(self) -> Pipeline | None:
        with self._lock:
            return self._pipeline


def _run_retired(callback: Callable[[], None]) -> None:
    try:
        callback()
    except Exception:  # releasing an old model must never stop the pipeline
        log.exception("releasing a replaced pipeline failed")


def finish_pipeline(pipelines: PipelineHolder, sinks: Sequence[ResultSink]) -> FrameResult | None:
    """End open events and hand the `end` messages to the sinks."""
    pipeline = pipelines.current
    last = pipeline.finish() if pipeline is not None else None
    if last is not None and last.events:
        log.info("closing %d open event(s)", len(last.events))
        dispatch(last, sinks)
    return last


def replay(
    source: FrameSource,
    pipelines: PipelineHolder,
    sinks: Sequence[ResultSink],
    stats: PipelineStats,
    stop_event: threading.Event | None = None,
) -> None:
    """Process every frame of a finite source in order, dropping none (replay and tests)."""
    stop = stop_event or threading.Event()
    try:
        while not stop.is_set():
            try:
                frame = source.read()
            except CaptureEndedError:
                break
            result = pipelines.for_frame(frame, source.generation).process(frame)
            stats.record_frame(result.motion.has_motion, result.detector_ran, result.timings_ms)
            dispatch(result, sinks)
    finally:
        finish_pipeline(pipelines, sinks)


class Runner(Closing):
    """Runs capture and processing threads until stop() or until a finite source ends."""

    def __init__(
        self,
        source: FrameSource,
        pipelines: PipelineHolder,
        sinks: Sequence[ResultSink],
        stats: PipelineStats,
        heartbeat: Callable[[], None] | None = None,
        stop_event: threading.Event | None = None,
    ) -> None:
        self._source, self._pipelines, self._sinks, self._stats = source, pipelines, list(sinks), stats
        self._heartbeat = heartbeat or (lambda: None)
        self._slot = LatestFrame(on_drop=stats.record_dropped)
        # Shared with the source so that stopping also wakes a capture thread waiting in reconnect backoff.
        self.stop_event = stop_event or threading.Event()
        self._threads: list[threading.Thread] = []
        self.error: BaseException | None = None
        self._loop_time = time.monotonic()  # the pipeline loop's last turn: stuck in one frame when it stops moving

    def start(self) -> None:
        self._loop_time = time.monotonic()
        for name, target in (("capture", self._capture_loop), ("pipeline", self._process_loop)):
            t = threading.Thread(target=target, name=f"camapp-{name}", daemon=True)
            t.start()
            self._threads.append(t)

    def _capture_loop(self) -> None:
        try:
            while not self.stop_event.is_set():
                frame = self._source.read()
                self._stats.record_capture()
                self._slot.put(frame, self._source.generation)
        except CaptureEndedError:
            log.info("source ended: %s", self._source.description)
        except CaptureError as err:
            if not self.stop_event.is_set():
                log.error("capture stopped: %s", err)
                self._stats.set_camera("error", str(err))
        finally:
            self._slot.end()

    def _process_loop(self) -> None:
        try:
            while not self.stop_event.is_set():
                frame = self._slot.get(timeout=0.5)
                self._loop_time = time.monotonic()
                self._heartbeat()
                if frame is None:
                    if self._slot.ended:
                        break
                    continue
                self._process(frame)
        except Exception as err:  # a bug in a stage must not leave a silent, hung appliance
            log.exception("pipeline failed")
            self.error = err
        finally:
            self._finish()
            self.stop_event.set()

    def _process(self, frame: Frame) -> None:
        result = self._pipelines.for_frame(frame, self._slot.generation).process(frame)
        self._stats.record_frame(result.motion.has_motion, result.detector_ran, result.timings_ms)
        dispatch(result, self._sinks)

    def _finish(self) -> None:
        finish_pipeline(self._pipelines, self._sinks)

    def problem(self) -> str | None:
        """Why the pipeline is not working (a thread died, a frame has taken over STUCK_S), None when it is."""
        if not self._threads:
            return "not running"
        dead = [t.name for t in self._threads if not t.is_alive()]
        if dead:
            why = f": {type(self.error).__name__}: {self.error}" if self.error is not None else ""
            return f"thread {', '.join(dead)} stopped{why}"
        stuck = time.monotonic() - self._loop_time
        if stuck > STUCK_S:
            return f"stuck for {stuck:.0f} s on one frame"
        return None

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the runner stops (True) or timeout (False)."""
        return self.stop_event.wait(timeout)

    def stop(self) -> None:
        """Stop both threads and wait for them; idempotent."""
        self.stop_event.set()
        for t in self._threads:
            t.join(timeout=10)
        self._threads = []

    def close(self) -> None:
        """The same as stop()."""
        self.stop()

    def __enter__(self) -> Self:
        self.start()
        return self
