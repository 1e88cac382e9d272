"""Media files: atomic writes (temp file + fsync + rename), JPEG snapshots, thumbnails and MP4 clips."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from camapp.errors import StorageError
from camapp.types import Image

log = logging.getLogger(__name__)

TMP_MARK = ".tmp"


def temp_path(path: Path) -> Path:
    """A hidden sibling that keeps the extension (VideoWriter picks the container from it)."""
    return path.with_name(f".{path.stem}{TMP_MARK}{path.suffix}")


def is_temp(path: Path) -> bool:
    return path.name.startswith(".") and TMP_MARK in path.name


def _fsync_replace(tmp: Path, path: Path) -> None:
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write_atomic(path: Path, data: bytes) -> int:
    """Write `data` so `path` is either absent/old or complete, never half-written; returns its size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        tmp.write_bytes(data)
        _fsync_replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    return len(data)


def _resize(image: Image, size: tuple[int, int]) -> Image:
    return np.ascontiguousarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def encode_jpeg(image: Image, quality: int, width: int = 0) -> bytes:
    """JPEG bytes, optionally resized to `width` (keeping the aspect ratio)."""
    if width and image.shape[1] != width:
        height = max(1, round(image.shape[0] * width / image.shape[1]))
        image = _resize(image, (width, height))
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise StorageError("JPEG encoding failed")
    return bytes(buf.tobytes())


def thumbnail(image: Image, box: tuple[float, float, float, float] | None, size: int) -> Image:
    """A square-ish crop around the object (with a margin), scaled so its longest side is `size`."""
    h, w = image.shape[:2]
    crop = image
    if box is not None:
        x1, y1, x2, y2 = box
        side = max(x2 - x1, y2 - y1) * 1.3 + 16
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        left, top = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
        right, bottom = int(min(w, cx + side / 2)), int(min(h, cy + side / 2))
        if right - left >= 2 and bottom - top >= 2:
            crop = image[top:bottom, left:right]
    scale = size / max(crop.shape[:2])
    out = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    return _resize(crop, out)


@contextlib.contextmanager
def _quiet_opencv() -> Iterator[None]:
    """Silence OpenCV and FFmpeg while probing: a missing H.264 encoder is expected on many machines, and its
    '[ERROR]' lines at every start look like a fault to users. Restored afterwards so real errors still show."""
    from cv2.utils import logging as cvlog

    level, env = cvlog.getLogLevel(), os.environ.get("OPENCV_FFMPEG_LOGLEVEL")
    cvlog.setLogLevel(cvlog.LOG_LEVEL_SILENT)
    os.environ["OPENCV_FFMPEG_LOGLEVEL"] = "-8"  # AV_LOG_QUIET; read when a writer opens
    try:
        yield
    finally:
        cvlog.setLogLevel(level)
        if env is None:
            os.environ.pop("OPENCV_FFMPEG_LOGLEVEL", None)
        else:
            os.environ["OPENCV_FFMPEG_LOGLEVEL"] = env


@functools.cache
def _codec_works(fourcc: str) -> bool:
    """Try encoding two tiny frames once per process (H.264 needs an encoder OpenCV's FFmpeg may lack)."""
    with tempfile.TemporaryDirectory() as tmp, _quiet_opencv():
        path = os.path.join(tmp, "probe.mp4")
        writer = cv2.VideoWriter(path, cv2.VideoWriter.fourcc(*fourcc), 10.0, (64, 64))
        ok = bool(writer.isOpened())
        if ok:
            for _ in range(2):
                writer.write(np.zeros((64, 64, 3), np.uint8))
        writer.release()
        return ok and os.path.getsize(path) > 0


def choose_codec(preference: str) -> str:
    """avc1 (H.264, browser-playable) when asked for or available under 'auto', else mp4v."""
    if preference == "mp4v":
        return "mp4v"
    if _codec_works("avc1"):
        return "avc1"
    if preference == "avc1":
        log.warning("clips: H.264 (avc1) encoder not available in OpenCV; using mp4v")
    return "mp4v"


class ClipWriter:
    """Writes one MP4 to a temp file; `finish` renames it into place only when complete."""

    def __init__(self, path: Path, fps: float, codec: str) -> None:
        self.path = path
        self.fps = fps
        self.codec = codec
        self.frames = 0
        self._tmp = temp_path(path)
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None

    def write(self, image: Image) -> None:
        if self._writer is None:
            self._open(image)
        assert self._writer is not None and self._size is not None
        if (image.shape[1], image.shape[0]) != self._size:  # a camera that reconnected at another resolution
            image = _resize(image, self._size)
        self._writer.write(image)
        self.frames += 1

    def bytes_written(self) -> int:
        """Size of the file so far (the encoder buffers a little; the budget's step absorbs that)."""
        try:
            return self._tmp.stat().st_size
        except OSError:
            return 0

    def _open(self, image: Image) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._size = (int(image.shape[1]), int(image.shape[0]))
        writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter.fourcc(*self.codec), self.fps, self._size)
        if not writer.isOpened():
            raise StorageError(f"cannot open a {self.codec} video writer for {self.path.name}")
        self._writer = writer

    def finish(self) -> int | None:
        """Close and move into place; returns the file size, or None if no frame was written."""
        if self._writer is None:
            return None
        self._writer.release()
        self._writer = None
        try:
            size = self._tmp.stat().st_size
            _fsync_replace(self._tmp, self.path)
        except OSError:
            self._tmp.unlink(missing_ok=True)
            raise
        return size

    def abort(self) -> None:
        """Drop the partial file."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        self._tmp.unlink(missing_ok=True)
