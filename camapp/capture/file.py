"""A video file as a camera: optional looping, paced to the file's fps or as fast as the consumer reads.

Files are decoded through PyAV, the FFmpeg the recorder already uses, and not through OpenCV's own FFmpeg copy:
the demo then never touches the second set of codec libraries (about 6 MB less resident). The frames are the same
bytes OpenCV's reader gives (the same FFmpeg decoders and BGR conversion), turned upright as it would.
"""

from __future__ import annotations

import stat
import threading
import time
from collections.abc import Generator
from pathlib import Path

import av
import numpy as np

from camapp.capture import CaptureStoppedError, FrameSource, SourceMaker
from camapp.capture.opencv import usable_fps
from camapp.config.camera import CAMERA_SOURCES, FileCameraConfig
from camapp.errors import CaptureEndedError, CaptureError, ConfigError
from camapp.imageguard import ImageError, check_file
from camapp.types import Frame, Image

# Used when a file does not declare its frame rate (some MJPEG/AVI muxers); the demo clip declares 10.
DEFAULT_FILE_FPS = 25.0


class VideoReader:
    """One pass over a video file (or a still image): BGR frames in order, upright, until None at its end."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.is_file():
            raise CaptureError(f"video file not found: {path}")
        try:
            self._container = av.open(str(path), "r")
        except (av.FFmpegError, OSError, UnicodeDecodeError) as err:
            raise CaptureError(f"cannot read video file {path} (not a video camapp can decode: {err})") from None
        if not self._container.streams.video:
            self._container.close()
            raise CaptureError(f"cannot read video file {path} (it has no video stream)")
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"  # frame and slice threads, as OpenCV's reader decodes
        rate = self._stream.average_rate or self._stream.guessed_rate
        self.fps = usable_fps(float(rate)) if rate else 0.0
        self._frames = self._decoded()

    def _decoded(self) -> Generator[av.VideoFrame, None, None]:
        try:
            for packet in self._container.demux(self._stream):
                try:
                    yield from packet.decode()
                except av.FFmpegError:  # a damaged packet: skip it, as OpenCV's reader does
                    continue
        except av.FFmpegError:  # a truncated or damaged container: the pass ends here
            return

    def read(self) -> Image | None:
        """The next frame, or None at the end of the file."""
        frame = next(self._frames, None)
        if frame is None:
            return None
        image = frame.to_ndarray(format="bgr24")
        turns = round(frame.rotation / 90) % 4  # the display matrix: phone videos are stored on their side
        return np.ascontiguousarray(np.rot90(image, turns) if turns else image, dtype=np.uint8)

    def close(self) -> None:
        self._frames.close()
        self._container.close()


def video_fps(path: Path) -> float:
    """A video file's own frame rate, 0 when it declares none or cannot be read."""
    try:
        reader = VideoReader(path)
    except CaptureError:
        return 0.0
    reader.close()
    return reader.fps


class FileSource(FrameSource):
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
        self._description = f"file {path}"
        self._path = Path(path)
        self._loop = loop
        self._realtime = realtime
        self._stop = stop_event if stop_event is not None else threading.Event()
        self._lock = threading.Lock()  # close() from another thread never races a read()
        self._closed = False
        self._reader: VideoReader | None = VideoReader(self._path)
        self._fps = self._reader.fps or DEFAULT_FILE_FPS
        self._index = 0
        self._pass_frames = 0
        self._passes = 0
        self._start_wall = time.time()
        self._next_due = time.monotonic()

    @property
    def path(self) -> Path:
        return self._path

    def start_after(self, when: float) -> None:
        """Before the first frame: stamp frames from `when` on if that is later than now. A replay into a data
        directory that already holds recordings of this camera then continues its timeline instead of overlapping
        it (a replay runs faster than real time, so its clock gets ahead of the wall clock)."""
        if self._index == 0:
            self._start_wall = max(self._start_wall, when)

    @property
    def generation(self) -> int:
        """Completed passes: each loop jumps from the last frame back to the first."""
        return self._passes

    def read(self) -> Frame:
        self._pace()
        image = self._next_image()
        frame = Frame(image, self._start_wall + self._index / self._fps, self._index)
        self._index += 1
        return frame

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

    def _next_image(self) -> Image:
        for _ in range(2):
            with self._lock:
                if self._closed:
                    raise CaptureError(f"{self.description} is closed")
                if self._reader is None:
                    self._reader = VideoReader(self._path)
                    self._pass_frames = 0
                image = self._reader.read()
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
            self._release()
            self._passes += 1

    def _release(self) -> None:
        """Close the pass being read, if any; the caller holds the lock."""
        if self._reader is not None:
            self._reader.close()
        self._reader = None

    def close(self) -> None:
        with self._lock:
            self._release()
            self._closed = True


def check_video_file(path: Path) -> None:
    """ConfigError naming `path` and why, unless it is a file camapp can read a first frame from.

    At start-up a file that is missing, empty, unreadable or not a video will not mend by retrying: that is a
    config error (exit 2, no systemd restart loop). Mid-run the source's own reopening keeps retrying instead, since
    a file being replaced in place is briefly any of these."""
    try:
        info = path.stat()
        if stat.S_ISREG(info.st_mode) and info.st_size:
            with path.open("rb") as fh:
                fh.read(1)
    except FileNotFoundError:
        raise ConfigError(f"camera.path: video file not found: {path}") from None
    except OSError as err:
        raise ConfigError(f"camera.path: cannot read video file {path}: {err.strerror or err}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"camera.path: {path} is not a regular file (a directory, device or pipe), not a video")
    if not info.st_size:
        raise ConfigError(f"camera.path: video file {path} is empty (0 bytes): nothing to read (was it copied "
                          "completely?)")
    try:
        check_file(path)  # a still image is decoded like a video: check its claimed size first
        reader = VideoReader(path)
        try:
            if reader.read() is None:
                raise CaptureError(f"video file {path} has no readable frames")
        finally:
            reader.close()
    except (ImageError, CaptureError) as err:
        raise ConfigError(f"camera.path: {err}") from None


@CAMERA_SOURCES.register(FileCameraConfig)
def file_source(cfg: FileCameraConfig, stop_event: threading.Event) -> SourceMaker:
    """A video file; one that cannot be read now is a config error (check_video_file), not a retry loop."""
    check_video_file(cfg.path)
    return lambda: FileSource(cfg.path, loop=cfg.loop, realtime=cfg.realtime, stop_event=stop_event)
