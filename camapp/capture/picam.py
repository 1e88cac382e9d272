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

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from camapp.capture import FrameSource
from camapp.errors import CaptureError
from camapp.types import Frame

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


class Picamera2Source(FrameSource):
    """A CSI camera on a Raspberry Pi; `factory` makes the Picamera2 object (tests pass a fake)."""

    def __init__(
        self,
        width: int,
        height: int,
        lores_width: int = 320,
        fps: float = 10.0,
        factory: Callable[[], Any] | None = None,
    ) -> None:
        make = factory if factory is not None else _import_picamera2()
        self._lores = lores_size(width, height, lores_width)
        self._fps = fps
        self._index = 0
        self._closed = False
        try:
            self._cam = make()
            config = self._cam.create_video_configuration(
                main={"size": (width, height), "format": "RGB888"},
                lores={"size": self._lores, "format": "YUV420"},
                controls={"FrameRate": float(fps)},
            )
            self._cam.configure(config)
            self._cam.start()
        except CaptureError:
            raise
        except Exception as exc:  # libcamera reports a missing/busy camera as RuntimeError, IndexError, ...
            self.close()
            raise CaptureError(f"cannot start the Pi camera: {exc}") from exc
        self._description = f"picamera2 {width}x{height} (lores {self._lores[0]}x{self._lores[1]})"

    @property
    def fps(self) -> float:
        return self._fps

    @property
    def description(self) -> str:
        return self._description

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
        frame = Frame(image, time.time(), self._index, lores=y_plane)
        self._index += 1
        return frame

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        cam = getattr(self, "_cam", None)
        if cam is None:
            return
        for step in (cam.stop, cam.close):
            try:
                step()
            except Exception:  # closing must not fail: the camera may already be gone
                continue
