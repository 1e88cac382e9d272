"""Latest-frame hub for the MJPEG stream: each frame is annotated and JPEG-encoded at most once per overlay,
however many viewers watch, only when someone watches, and at most `max_fps` times a second in total (viewers
out of step with each other would otherwise force an encode of every frame). Slow viewers skip frames; nobody
blocks the pipeline.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import cv2
import numpy as np

from camapp.annotate import Overlay, annotate
from camapp.sinks import ResultSink
from camapp.types import ONE_CAMERA, CameraName, FrameResult, Image


class FrameHub:
    """Holds the latest FrameResult of one camera; viewers wait on a condition for a newer one (picamera2
    mjpeg_server style)."""

    def __init__(self, width: int = 960, quality: int = 75, max_fps: float = 10.0,
                 camera: CameraName = ONE_CAMERA) -> None:
        self.camera = camera
        self._cond = threading.Condition()
        self._result: FrameResult | None = None
        self._seq = 0
        self._jpegs: dict[Overlay, tuple[int, bytes, float]] = {}  # overlay -> (seq, jpeg, encoded at)
        self._width, self._quality, self._min_dt = width, quality, 1.0 / max_fps
        self._viewers = 0
        self._closed = False
        self.encodes = 0  # how many JPEG encodes happened; the bench and tests read it

    @property
    def viewers(self) -> int:
        with self._cond:
            return self._viewers

    def publish(self, result: FrameResult) -> None:
        """Called by the pipeline for every frame; O(1), never encodes."""
        with self._cond:
            self._result, self._seq = result, self._seq + 1
            self._cond.notify_all()

    def latest(self) -> FrameResult | None:
        with self._cond:
            return self._result

    def _encode(self, img: Image) -> bytes:
        h, w = img.shape[:2]
        if w > self._width:
            size = (self._width, round(h * self._width / w))
            img = cv2.resize(img, size, interpolation=cv2.INTER_AREA).astype(np.uint8, copy=False)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, self._quality])
        if not ok:
            raise RuntimeError("JPEG encode failed")
        self.encodes += 1
        return bytes(buf)

    def jpeg(self, overlay: Overlay = Overlay()) -> tuple[int, bytes] | None:
        """The latest frame as JPEG with its sequence number; a newer frame is encoded only when the last encode
        for this overlay is at least 1/max_fps old, else the last JPEG is returned again."""
        with self._cond:
            result, seq = self._result, self._seq
            if result is None:
                return None
            cached = self._jpegs.get(overlay)
            now = time.monotonic()
            if cached is not None and (cached[0] == seq or now - cached[2] < self._min_dt):
                return cached[0], cached[1]
            # Encoding under the lock makes concurrent viewers share one encode instead of racing.
            data = self._encode(annotate(result, overlay, result.zones.polygons))
            self._jpegs[overlay] = (seq, data, now)
            return seq, data

    def wait_newer(self, seq: int, timeout: float) -> bool:
        """Block until a frame newer than `seq` exists (True) or timeout/close (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._seq > seq or self._closed, timeout) and not self._closed

    def frames(self, overlay: Overlay = Overlay(), timeout: float = 5.0) -> Iterator[bytes]:
        """Generator of JPEGs for one viewer, each frame at most once; ends when the hub closes."""
        with self._cond:
            self._viewers += 1
        try:
            seq = 0
            while not self._closed:
                if not self.wait_newer(seq, timeout):
                    continue
                got = self.jpeg(overlay)
                if got is None or got[0] == seq:  # rate-limited: nothing new yet for this viewer
                    if self._wait_closed(self._min_dt / 4):
                        return
                    continue
                seq = got[0]
                yield got[1]
        finally:
            with self._cond:
                self._viewers -= 1

    def _wait_closed(self, dt: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._closed, dt)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class HubSink(ResultSink):
    """Feeds the live stream."""

    def __init__(self, hub: FrameHub) -> None:
        self._hub = hub

    def handle(self, result: FrameResult) -> None:
        self._hub.publish(result)

    def close(self) -> None:
        self._hub.close()
