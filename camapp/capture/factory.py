"""Build the frame source a CameraConfig asks for, wrapped so a live camera survives failures."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable

from camapp.capture import FrameSource
from camapp.capture.file import FileSource
from camapp.capture.gstreamer import NO_GSTREAMER, GStreamerSource, has_gstreamer, jetson_csi_pipeline
from camapp.capture.opencv import OpenCVSource
from camapp.capture.picam import NO_PICAMERA2, Picamera2Source
from camapp.capture.reconnect import ReconnectingSource, StatusCallback
from camapp.capture.stream import StreamSource
from camapp.config.core import CameraConfig
from camapp.errors import CaptureError, ConfigError
from camapp.imageguard import ImageError, check_file


def _check_usable(cfg: CameraConfig) -> None:
    """Fail at start-up on what no retry can fix (typo'd path, missing library, a hostile still image), instead of
    retrying forever: a ConfigError, so `camapp run` exits 2 and systemd does not restart it in a loop."""
    if cfg.source == "file" and (cfg.path is None or not cfg.path.is_file()):
        raise ConfigError(f"camera.path: video file not found: {cfg.path}")
    if cfg.source == "file" and cfg.path is not None:
        try:
            check_file(cfg.path)  # a still image is decoded like a video: check its claimed size first
        except ImageError as err:
            raise ConfigError(f"camera.path: {err}") from None
    if cfg.source in ("gstreamer", "jetson_csi") and not has_gstreamer():
        raise ConfigError(f"camera.source '{cfg.source}': {NO_GSTREAMER}")
    if cfg.source == "picamera2" and importlib.util.find_spec("picamera2") is None:
        raise ConfigError(f"camera.source 'picamera2': {NO_PICAMERA2}")


def source_factory(cfg: CameraConfig, stop_event: threading.Event) -> Callable[[], FrameSource]:
    """A function that opens a fresh source as configured (called again on every reconnect)."""
    if cfg.source == "file":
        path = cfg.path
        if path is None:  # the config validator already demands it; this keeps the type checker honest
            raise CaptureError("camera.source 'file' needs camera.path")
        return lambda: FileSource(path, loop=cfg.loop, realtime=cfg.realtime, stop_event=stop_event)
    url = cfg.url or ""
    if cfg.source == "rtsp" and url.startswith(("rtsp://", "rtsps://")):
        return lambda: StreamSource(url)  # through PyAV: its H.264 packets are recorded without re-encoding
    if cfg.source in ("v4l2", "rtsp"):
        target = cfg.device if cfg.source == "v4l2" else (cfg.url or "")
        return lambda: OpenCVSource(target, width=cfg.width, height=cfg.height, fps=cfg.fps)
    if cfg.source == "gstreamer":
        pipeline = cfg.pipeline or ""
        return lambda: GStreamerSource(pipeline)
    if cfg.source == "jetson_csi":
        csi = jetson_csi_pipeline(cfg.sensor_id, cfg.width, cfg.height, cfg.fps, cfg.flip_method)
        return lambda: GStreamerSource(csi)
    # The Pi's hardware H.264 encoder runs beside capture: recording stores its packets instead of encoding again.
    return lambda: Picamera2Source(cfg.width, cfg.height, cfg.lores_width, cfg.fps, h264=True)


def open_source(cfg: CameraConfig, stop_event: threading.Event, on_status: StatusCallback | None = None) -> FrameSource:
    """The configured source; live cameras and looping files reopen themselves with backoff after failures.

    A non-looping file is returned bare and opened now, so it ends with CaptureEndedError.
    Raises ConfigError at once for problems a retry cannot fix (missing file, no GStreamer, no picamera2).
    """
    _check_usable(cfg)
    make = source_factory(cfg, stop_event)
    if cfg.source == "file" and not cfg.loop:
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
