"""Build the frame source a camera config asks for (looked up by its `source` key), wrapped so a live camera
survives failures."""

from __future__ import annotations

import threading

from camapp.capture import FrameSource, SourceMaker
from camapp.capture.file import video_fps
from camapp.capture.reconnect import ReconnectingSource, StatusCallback
from camapp.config.camera import CAMERA_SOURCES, CameraConfig, FileCameraConfig


def source_factory(cfg: CameraConfig, stop_event: threading.Event) -> SourceMaker:
    """A function that opens a fresh source as configured; raises ConfigError at once for what no retry can fix
    (a missing file, no GStreamer, no picamera2, a source nothing registered), so `camapp run` exits 2 and systemd
    does not restart it in a loop."""
    maker: SourceMaker = CAMERA_SOURCES.builder(cfg.source)(cfg, stop_event)
    return maker


def open_source(cfg: CameraConfig, stop_event: threading.Event, on_status: StatusCallback | None = None) -> FrameSource:
    """The configured source; live cameras and looping files reopen themselves with backoff after failures.

    A non-looping file is returned bare and opened now, so it ends with CaptureEndedError.
    """
    make = source_factory(cfg, stop_event)
    if not cfg.live:
        source = make()
        if on_status is not None:
            on_status("open", None)
        return source
    return ReconnectingSource(
        make,
        min_backoff_s=cfg.reconnect_min_s,
        max_backoff_s=cfg.reconnect_max_s,
        stop_event=stop_event,
        on_status=on_status,
    )


def frame_rate(cfg: CameraConfig) -> float:
    """Frames per second the sinks will see: a video file's own rate, else the configured camera rate."""
    if isinstance(cfg, FileCameraConfig):
        fps = video_fps(cfg.path)
        if 0 < fps <= 240:
            return fps
    return cfg.fps
