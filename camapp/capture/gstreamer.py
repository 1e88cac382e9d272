"""GStreamer pipelines through OpenCV: how Jetson CSI cameras (nvarguscamerasrc) are read."""

from __future__ import annotations

import functools
import re
import threading
from fractions import Fraction

import cv2

from camapp.capture import SourceMaker
from camapp.capture.opencv import CaptureBase, usable_fps
from camapp.config.camera import CAMERA_SOURCES, GStreamerCameraConfig, JetsonCsiCameraConfig
from camapp.errors import CaptureError, ConfigError
from camapp.types import Frame

NO_GSTREAMER = (
    "this OpenCV was built without GStreamer support (cv2.getBuildInformation() says 'GStreamer: NO'; "
    "pip's opencv-python wheels never have it). On a Jetson use JetPack's system OpenCV: create the venv "
    "with --system-site-packages and do not pip-install opencv (see image/jetson/README.md)"
)

# nvvidconv flip-method values that rotate by 90 degrees or transpose, so output width and height swap.
_SWAPPING_FLIPS = (1, 3, 5, 7)


@functools.cache
def has_gstreamer() -> bool:
    """True when this cv2 can open GStreamer pipelines."""
    match = re.search(r"^\s*GStreamer:\s*(\S+)", cv2.getBuildInformation(), re.MULTILINE)
    return match is not None and match.group(1).upper() not in ("NO", "OFF")


def jetson_csi_pipeline(
    sensor_id: int = 0, width: int = 1280, height: int = 720, fps: float = 30.0, flip_method: int = 0
) -> str:
    """The standard Jetson CSI camera pipeline: Argus -> NVMM NV12 -> BGRx -> BGR into a one-frame appsink."""
    if not 0 <= flip_method <= 7:
        raise ValueError(f"flip_method must be 0..7 (nvvidconv flip-method), got {flip_method}")
    if sensor_id < 0 or width <= 0 or height <= 0 or fps <= 0:
        raise ValueError(f"bad CSI camera settings: sensor_id={sensor_id} size={width}x{height} fps={fps}")
    rate = Fraction(fps).limit_denominator(1001)
    out_w, out_h = (height, width) if flip_method in _SWAPPING_FLIPS else (width, height)
    return (
        f"nvarguscamerasrc sensor-id={sensor_id} ! "
        f"video/x-raw(memory:NVMM), width=(int){width}, height=(int){height}, "
        f"format=(string)NV12, framerate=(fraction){rate.numerator}/{rate.denominator} ! "
        f"nvvidconv flip-method={flip_method} ! "
        f"video/x-raw, width=(int){out_w}, height=(int){out_h}, format=(string)BGRx ! "
        "videoconvert ! video/x-raw, format=(string)BGR ! "
        "appsink drop=1 max-buffers=1"
    )


class GStreamerSource(CaptureBase):
    """Frames from a GStreamer pipeline string ending in `appsink`."""

    def __init__(self, pipeline: str) -> None:
        head = pipeline.split("!", 1)[0].strip()
        super().__init__(f"gstreamer {head}")
        if not has_gstreamer():
            raise CaptureError(NO_GSTREAMER)
        if "appsink" not in pipeline:
            raise CaptureError("camera.pipeline must end in 'appsink' so OpenCV can pull frames from it")
        self._cap = cv2.VideoCapture(pipeline, cv2.CAP_GSTREAMER)
        if not self._cap.isOpened():
            self._cap.release()
            self._cap = None
            raise CaptureError(f"cannot start {self._description} (camera missing or busy? run it with gst-launch-1.0)")
        self._fps = usable_fps(float(self._cap.get(cv2.CAP_PROP_FPS)))

    def read(self) -> Frame:
        return self._read_live("pipeline delivered no frame (camera stopped or disconnected)")


def _needs_gstreamer(source: str) -> None:
    if not has_gstreamer():
        raise ConfigError(f"camera.source '{source}': {NO_GSTREAMER}")


@CAMERA_SOURCES.register(GStreamerCameraConfig)
def gstreamer_source(cfg: GStreamerCameraConfig, stop_event: threading.Event) -> SourceMaker:
    """Any pipeline ending in appsink."""
    _needs_gstreamer(cfg.source)
    return lambda: GStreamerSource(cfg.pipeline)


@CAMERA_SOURCES.register(JetsonCsiCameraConfig)
def jetson_csi_source(cfg: JetsonCsiCameraConfig, stop_event: threading.Event) -> SourceMaker:
    """A Jetson CSI camera: the nvarguscamerasrc pipeline built from the config."""
    _needs_gstreamer(cfg.source)
    csi = jetson_csi_pipeline(cfg.sensor_id, cfg.width, cfg.height, cfg.fps, cfg.flip_method)
    return lambda: GStreamerSource(csi)
