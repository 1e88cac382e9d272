"""Config for the camera: one model per kind of frame source, a union keyed by `source`.

Each model holds only the settings its source reads, so a key that does not belong to the configured source is an
error naming the field and its line. The capture modules register their sources against these models.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, TypeAdapter, ValidationInfo, field_validator

from camapp.config.base import Section
from camapp.registry import Registry

if TYPE_CHECKING:
    from camapp.capture import SourceMaker

# A source's builder: its config and the stop event -> a function opening the source (again on each reconnect).
CameraBuilder = Callable[["CameraConfig", threading.Event], "SourceMaker"]
CAMERA_SOURCES: Registry[CameraBuilder] = Registry("camera source", "source", default_key="file")


class CameraConfig(Section):
    """Where frames come from; `source` picks the kind, and with it the other keys this section takes."""

    id: str = Field("camera", pattern=r"^[A-Za-z0-9_-]{1,32}$", description="Camera id used in events and topics.")
    source: str = Field(description="Kind of frame source.")
    fps: float = Field(10.0, gt=0, le=120, description="Requested capture frame rate (a file: used when the file "
                       "does not say).")
    reconnect_min_s: float = Field(0.5, gt=0, le=60, description="First delay before reopening a failed source.")
    reconnect_max_s: float = Field(30.0, gt=0, le=3600, validate_default=True,
                                   description="Longest delay between reopen attempts.")

    # A field validator, not a model one: it runs (and is reported) even when another camera field is wrong, and
    # its error is the field's own, with the field's own line.
    @field_validator("reconnect_max_s")
    @classmethod
    def _backoff_order(cls, value: float, info: ValidationInfo) -> float:
        low = info.data.get("reconnect_min_s")
        if low is not None and value < low:
            raise ValueError(f"must be >= camera.reconnect_min_s ({low:g}), got {value:g}")
        return value

    @property
    def live(self) -> bool:
        """A camera that keeps delivering (reopened with backoff on failure), not a file that can end."""
        return True


class SizedCameraConfig(CameraConfig):
    """A source whose capture size can be requested."""

    width: int = Field(1280, ge=64, le=7680, description="Requested capture width in pixels.")
    height: int = Field(720, ge=64, le=4320, description="Requested capture height in pixels.")


@CAMERA_SOURCES.add_config
class FileCameraConfig(CameraConfig):
    """A video file (the demo, replays, tests)."""

    source: Literal["file"] = Field("file", description="Read a video file.")
    path: Path = Field(description="Video file to read.")
    loop: bool = Field(True, description="Restart the file at its end instead of ending.")
    realtime: bool = Field(True, description="Pace the file to its own fps; false runs as fast as possible.")

    @property
    def live(self) -> bool:
        return self.loop


@CAMERA_SOURCES.add_config
class V4l2CameraConfig(SizedCameraConfig):
    """A USB camera through V4L2."""

    source: Literal["v4l2"] = Field("v4l2", description="A USB (V4L2) camera.")
    device: int | str = Field(0, description="V4L2 device index or path such as /dev/video0.")


@CAMERA_SOURCES.add_config
class RtspCameraConfig(SizedCameraConfig):
    """An IP camera's stream."""

    source: Literal["rtsp"] = Field("rtsp", description="An RTSP or HTTP(S) stream.")
    url: str = Field(pattern=r"^(rtsps?|https?)://\S+$", description="rtsp:// or http(s):// stream URL.")


@CAMERA_SOURCES.add_config
class GStreamerCameraConfig(CameraConfig):
    """Any GStreamer pipeline (an OpenCV built with GStreamer)."""

    source: Literal["gstreamer"] = Field("gstreamer", description="A GStreamer pipeline.")
    pipeline: str = Field(description="GStreamer pipeline ending in appsink.")


@CAMERA_SOURCES.add_config
class JetsonCsiCameraConfig(SizedCameraConfig):
    """A Jetson CSI camera (builds the nvarguscamerasrc pipeline for you)."""

    source: Literal["jetson_csi"] = Field("jetson_csi", description="A Jetson CSI camera.")
    sensor_id: int = Field(0, ge=0, le=7, description="CSI camera number, nvarguscamerasrc sensor-id.")
    flip_method: int = Field(0, ge=0, le=7, description="nvvidconv flip-method: 0 none, 2 rotate 180, 4/6 mirror.")


@CAMERA_SOURCES.add_config
class Picamera2CameraConfig(SizedCameraConfig):
    """A Raspberry Pi camera through picamera2/libcamera."""

    source: Literal["picamera2"] = Field("picamera2", description="A Raspberry Pi camera (picamera2).")
    lores_width: int = Field(320, ge=64, le=1280, description="Width of the low-resolution motion stream.")


def camera_config(**fields: Any) -> CameraConfig:
    """Build the camera config its `source` calls for (as the config file would), validated."""
    adapter: TypeAdapter[CameraConfig] = TypeAdapter(CAMERA_SOURCES.union())
    return adapter.validate_python(fields)
