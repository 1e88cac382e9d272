"""A video file as a camera: optional looping, paced to the file's fps or as fast as the consumer reads."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np

from camapp.capture import CaptureStoppedError, SourceMaker
from camapp.capture.opencv import CaptureBase, usable_fps
from camapp.config.camera import CAMERA_SOURCES, FileCameraConfig
from camapp.errors import CaptureEndedError, CaptureError, ConfigError
from camapp.imageguard import ImageError, check_file
from camapp.types import Frame

# Used when a file does not declare its frame rate (some MJPEG/AVI muxers); the demo clip declares 10.
DEFAULT_FILE_FPS = 25.0


class FileSource(CaptureBase):
    """Frames of a video file.

    Timestamps are media time anchored at open: `start + index / fps`, with `index` counting on across loops.
    So tracking and event timing on recorded footage match a live camera at the file's rate, whether the file
    is paced (`realtime=True`) or read as fast as possible (tests, benchmarks, replays). Paced, a stall moves the
    anchor on by the time lost, so timestamps stay on the wall clock as a camera's do.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        loop: bool = True,
        realtime: bool = True,
        stop_event: threading.Event | None = None,
    ) -> None:
        super().__init__(f"file {path}")
        self._path = Path(path)
        self._loop = loop
        self._realtime = realtime
        self._stop = stop_event if stop_event is not None else threading.Event()
        self._cap = self._open()
        self._fps = usable_fps(float(self._cap.get(cv2.CAP_PROP_FPS))) or DEFAULT_FILE_FPS
        self._pass_frames = 0
        self._passes = 0
        self._start_wall = time.time()
        self._next_due = time.monotonic()

    @property
    def path(self) -> Path:
        return self._path

    @property
    def generation(self) -> int:
        """Completed passes: each loop jumps from the last frame back to the first."""
        return self._passes

    def _open(self) -> cv2.VideoCapture:
        if not self._path.is_file():
            raise CaptureError(f"video file not found: {self._path}")
        cap = cv2.VideoCapture(str(self._path))
        if not cap.isOpened():
            cap.release()
            raise CaptureError(f"cannot read video file {self._path} (not a video OpenCV can decode)")
        return cap

    def read(self) -> Frame:
        self._pace()
        image = self._next_image()
        return self._next_frame(image, self._start_wall + self._index / self._fps)

    def _pace(self) -> None:
        """Wait until the next frame is due; stop_event interrupts the wait."""
        if self._stop.is_set():
            raise CaptureStoppedError(f"{self.description}: stopped")
        if not self._realtime:
            return
        period = 1.0 / self._fps
        delay = self._next_due - time.monotonic()
        if delay > 0 and self._stop.wait(delay):
            raise CaptureStoppedError(f"{self.description}: stopped")
        # After a stall (slow consumer, paused debugger) restart the schedule instead of bursting to catch up, and
        # move the clock with it: as a camera's, a frame's time stays when it came, not the file's time that lags
        # further behind the wall clock after every stall (event times, and latency measured from them).
        late = time.monotonic() - period - self._next_due
        if late > 0:
            self._start_wall += late
        self._next_due = max(self._next_due, time.monotonic() - period) + period

    def _next_image(self) -> np.ndarray:
        for _ in range(2):
            with self._lock:
                if self._closed:
                    raise CaptureError(f"{self.description} is closed")
                if self._cap is None:
                    self._cap = self._open()
                    self._pass_frames = 0
            image = self._grab()
            if image is not None:
                self._pass_frames += 1
                return image
            self._end_of_pass()
        raise CaptureError(f"video file {self._path} has no readable frames")

    def _end_of_pass(self) -> None:
        """At the end of the file: end, or release it so the next attempt reopens it from the start."""
        if not self._loop:
            raise CaptureEndedError(f"end of video file {self._path}")
        if self._pass_frames == 0:
            raise CaptureError(f"video file {self._path} has no readable frames")
        # Reopening (rather than seeking) also picks up a file replaced in place, e.g. a re-recorded demo.
        with self._lock:
            if self._cap is not None:
                self._cap.release()
            self._cap = None
            self._passes += 1


@CAMERA_SOURCES.register(FileCameraConfig)
def file_source(cfg: FileCameraConfig, stop_event: threading.Event) -> SourceMaker:
    """A video file. A missing one, or a still image claiming a hostile size, is a config error now (exit 2, no
    systemd restart loop) rather than a retry loop."""
    if not cfg.path.is_file():
        raise ConfigError(f"camera.path: video file not found: {cfg.path}")
    try:
        check_file(cfg.path)  # a still image is decoded like a video: check its claimed size first
    except ImageError as err:
        raise ConfigError(f"camera.path: {err}") from None
    return lambda: FileSource(cfg.path, loop=cfg.loop, realtime=cfg.realtime, stop_event=stop_event)
