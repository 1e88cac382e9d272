"""Raspberry Pi cameras through picamera2 (libcamera): a BGR main stream plus a small Y stream for motion.

picamera2 is imported only when a Picamera2Source is built: it exists only on Raspberry Pi OS
(`apt install python3-picamera2`), and `import camapp` must work everywhere.

Formats (Picamera2 manual, "configuration" chapter; picamera2/request.py `make_array`):
- main "RGB888" arrives as HxWx3 with bytes ordered [B, G, R]: already OpenCV's order, so no conversion.
- lores "YUV420" (the only format the lores stream really supports) arrives as an (H*3/2, stride) uint8
  array: the full-size Y plane first, then quarter-size U and V. Rows may be padded to `stride`, so the
  Y plane is `array[:H, :W]` and becomes Frame.lores, a free greyscale picture for the motion gate.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from camapp.capture import FrameSource, SourceMaker
from camapp.capture.packets import PacketBuffer
from camapp.config.camera import CAMERA_SOURCES, Picamera2CameraConfig
from camapp.errors import CaptureError, ConfigError
from camapp.types import EncodedPacket, Frame

NO_PICAMERA2 = (
    "picamera2 is not installed; on Raspberry Pi OS run `sudo apt install python3-picamera2` "
    "(and create the venv with --system-site-packages so it is visible)"
)


def _import_picamera2() -> Callable[[], Any]:
    try:
        from picamera2 import Picamera2
    except ImportError as exc:
        raise CaptureError(NO_PICAMERA2) from exc
    return Picamera2  # type: ignore[no-any-return]


def lores_size(width: int, height: int, lores_width: int) -> tuple[int, int]:
    """The lores stream size: `lores_width` wide, same aspect as main, both even (YUV420 needs that)."""
    w = min(lores_width, width) // 2 * 2
    h = max(2, round(w * height / width) // 2 * 2)
    return w, h


H264_BITRATE = 4_000_000


def _h264_encoder(fps: float) -> Any:
    """picamera2's hardware H.264 encoder: SPS/PPS repeated at every keyframe (one a second), so recording can
    start a segment at any keyframe."""
    from picamera2.encoders import H264Encoder

    return H264Encoder(bitrate=H264_BITRATE, repeat=True, iperiod=max(1, round(fps)))


class _PacketTap:
    """The picamera2 Output the encoder writes to: each access unit goes to the PacketBuffer, stamped on the
    wall clock (the encoder's timestamps are microseconds of the sensor clock)."""

    def __init__(self, buffer: PacketBuffer) -> None:
        self.buffer = buffer
        self._origin: float | None = None

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def outputframe(self, frame: bytes, keyframe: bool = True, timestamp: int | None = None, *_: Any,
                    **__: Any) -> None:
        now = time.time()
        if timestamp is None:
            when = now
        else:
            if self._origin is None:
                self._origin = now - timestamp / 1e6
            when = self._origin + timestamp / 1e6
        self.buffer.put(EncodedPacket(bytes(frame), when, bool(keyframe)))


class Picamera2Source(FrameSource):
    """A CSI camera on a Raspberry Pi; `factory` makes the Picamera2 object (tests pass a fake).

    With `h264` the Pi's hardware encoder also runs on the main stream and its packets ride along with the
    frames (Frame.packets), so recording stores them instead of encoding the frames again on the CPU;
    `encoder_factory` makes that encoder (tests pass a fake).
    """

    def __init__(  # noqa: PLR0913 - sizes, rate and the two library factories
        self,
        width: int,
        height: int,
        lores_width: int = 320,
        fps: float = 10.0,
        factory: Callable[[], Any] | None = None,
        *,
        h264: bool = False,
        encoder_factory: Callable[[], Any] | None = None,
    ) -> None:
        make = factory if factory is not None else _import_picamera2()
        self._lores = lores_size(width, height, lores_width)
        self._fps = fps
        self._index = 0
        self._closed = False
        self.packets = PacketBuffer() if h264 else None
        self._encoding = False
        self._cam: Any = None  # close() after a failed start has nothing to stop
        try:
            self._cam = make()
            config = self._cam.create_video_configuration(
                main={"size": (width, height), "format": "RGB888"},
                lores={"size": self._lores, "format": "YUV420"},
                controls={"FrameRate": float(fps)},
            )
            self._cam.configure(config)
            self._cam.start()
            if self.packets is not None:
                encoder = encoder_factory() if encoder_factory is not None else _h264_encoder(fps)
                self._cam.start_encoder(encoder, _PacketTap(self.packets))
                self._encoding = True
        except CaptureError:
            raise
        except Exception as exc:  # libcamera reports a missing/busy camera as RuntimeError, IndexError, ...
            self.close()
            raise CaptureError(f"cannot start the Pi camera: {exc}") from exc
        self._description = f"picamera2 {width}x{height} (lores {self._lores[0]}x{self._lores[1]})"

    def read(self) -> Frame:
        if self._closed:
            raise CaptureError(f"{self._description} is closed")
        try:
            (main, lores), _metadata = self._cam.capture_arrays(["main", "lores"])
        except Exception as exc:  # a camera that vanished mid-run surfaces as assorted libcamera errors
            raise CaptureError(f"{self._description}: capture failed: {exc}") from exc
        image = np.ascontiguousarray(main[:, :, :3], dtype=np.uint8)
        # Height from the array itself (H*3/2 rows) in case libcamera adjusted the requested lores size.
        y_plane = np.ascontiguousarray(lores[: lores.shape[0] * 2 // 3, : self._lores[0]], dtype=np.uint8)
        frame = Frame(image, time.time(), self._index, lores=y_plane, packets=self.packets)
        self._index += 1
        return frame

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        cam = self._cam
        if cam is None:
            return
        steps = (cam.stop_encoder, cam.stop, cam.close) if self._encoding else (cam.stop, cam.close)
        for step in steps:
            try:
                step()
            except Exception:  # closing must not fail: the camera may already be gone
                continue


@CAMERA_SOURCES.register(Picamera2CameraConfig)
def picamera2_source(cfg: Picamera2CameraConfig, stop_event: threading.Event) -> SourceMaker:
    """A Raspberry Pi camera; without picamera2 installed that is a config error now, not a retry loop."""
    if importlib.util.find_spec("picamera2") is None:
        raise ConfigError(f"camera.source 'picamera2': {NO_PICAMERA2}")
    # The Pi's hardware H.264 encoder runs beside capture: recording stores its packets instead of encoding again.
    return lambda: Picamera2Source(cfg.width, cfg.height, cfg.lores_width, cfg.fps, h264=True)
