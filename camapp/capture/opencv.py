"""OpenCV-backed live sources: V4L2/USB devices and RTSP/HTTP streams, plus helpers shared with files."""

from __future__ import annotations

import logging
import math
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from camapp.capture import FrameSource, SourceMaker
from camapp.config.camera import CAMERA_SOURCES, V4l2CameraConfig
from camapp.errors import CaptureError
from camapp.redact import redact_text
from camapp.types import Frame, Image

log = logging.getLogger(__name__)

# FFmpeg otherwise waits forever on a stream that stalls without closing, which would freeze the pipeline.
NETWORK_TIMEOUT_MS = 5000


def as_bgr(image: np.ndarray, where: str) -> Image:
    """Return `image` as HxWx3 uint8 BGR, converting grey and BGRA frames that some devices deliver."""
    if image.dtype != np.uint8:
        raise CaptureError(f"{where}: frames are {image.dtype}, expected 8-bit")
    if image.ndim == 2:
        return np.asarray(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
    if image.ndim == 3 and image.shape[2] == 4:
        return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGRA2BGR), dtype=np.uint8)
    if image.ndim == 3 and image.shape[2] == 3:
        return np.asarray(image, dtype=np.uint8)
    raise CaptureError(f"{where}: unexpected frame shape {image.shape}")


def redact_url(url: str) -> str:
    """The URL with its credentials masked, so they never reach logs, the status page or MQTT stats."""
    return redact_text(url, known=False)


def usable_fps(value: float) -> float:
    """The backend's reported fps, or 0 when it reports nothing sensible (many webcams and streams)."""
    return value if math.isfinite(value) and 0.0 < value <= 1000.0 else 0.0


class CaptureBase(FrameSource):
    """A cv2.VideoCapture behind a lock, so `close` from another thread never races a `read`."""

    def __init__(self, description: str) -> None:
        self._description = description
        self._lock = threading.Lock()
        self._cap: cv2.VideoCapture | None = None
        self._closed = False
        self._index = 0
        self._fps = 0.0

    def _read_live(self, lost: str) -> Frame:
        """The next frame stamped with the wall clock; CaptureError saying `lost` when none came."""
        image = self._grab()
        if image is None:
            raise CaptureError(f"{self._description}: {lost}")
        return self._next_frame(image, time.time())

    def _grab(self) -> np.ndarray | None:
        """The next decoded image, or None when the backend has none (ended, unplugged, timed out)."""
        with self._lock:
            if self._closed or self._cap is None:
                raise CaptureError(f"{self._description} is closed")
            ok, image = self._cap.read()
        return image if ok and image is not None else None

    def _next_frame(self, image: np.ndarray, timestamp: float) -> Frame:
        frame = Frame(as_bgr(image, self._description), timestamp, self._index)
        self._index += 1
        return frame

    def close(self) -> None:
        with self._lock:
            if self._cap is not None:
                self._cap.release()
            self._cap = None
            self._closed = True


def _device_target(target: int | str) -> int | str | None:
    """The V4L2 device (index or /dev path) named by `target`, or None when it is a URL."""
    if isinstance(target, int):
        return target
    if target.isdigit():
        return int(target)
    if target.startswith("/dev/"):
        return target
    return None


class OpenCVSource(CaptureBase):
    """A USB/V4L2 camera (index or /dev/videoN) or an rtsp:// / http(s):// stream, read through OpenCV."""

    def __init__(
        self, target: int | str, *, width: int | None = None, height: int | None = None, fps: float | None = None
    ) -> None:
        device = _device_target(target)
        if device is None and "://" not in str(target):
            raise CaptureError(f"camera target {target!r} is neither a V4L2 device (0, /dev/video0) nor a URL")
        label = f"v4l2 {device}" if device is not None else f"stream {redact_url(str(target))}"
        super().__init__(label)
        if device is not None:
            self._cap = self._open_device(device, width, height, fps)
        else:
            self._cap = self._open_url(str(target))
        self._fps = usable_fps(float(self._cap.get(cv2.CAP_PROP_FPS))) or (fps or 0.0)

    def _open_device(
        self, device: int | str, width: int | None, height: int | None, fps: float | None
    ) -> cv2.VideoCapture:
        if isinstance(device, str) and not Path(device).exists():
            raise CaptureError(f"{self._description}: no such device (unplugged?)")
        cap = cv2.VideoCapture(device, cv2.CAP_V4L2)
        if not cap.isOpened():
            cap.release()
            raise CaptureError(f"cannot open {self._description} (unplugged, busy, or no permission: video group?)")
        # MJPG first: most USB webcams only reach HD at useful frame rates compressed; drivers that lack it ignore it.
        cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*"MJPG"))
        if width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        if height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        if fps:
            cap.set(cv2.CAP_PROP_FPS, fps)
        # One buffered frame: the pipeline wants the newest picture, not one queued seconds ago.
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        return cap

    def _open_url(self, url: str) -> cv2.VideoCapture:
        timeout = NETWORK_TIMEOUT_MS
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout]
        cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
        if not cap.isOpened():
            cap.release()
            raise CaptureError(f"cannot open {self._description} (unreachable, wrong URL or credentials)")
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        return cap

    def read(self) -> Frame:
        return self._read_live("no frame (unplugged, stream dropped or timed out)")


@CAMERA_SOURCES.register(V4l2CameraConfig)
def v4l2_source(cfg: V4l2CameraConfig, stop_event: threading.Event) -> SourceMaker:
    """A USB camera by index or device path."""
    return lambda: OpenCVSource(cfg.device, width=cfg.width, height=cfg.height, fps=cfg.fps)

