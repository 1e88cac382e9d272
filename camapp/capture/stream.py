"""Network cameras (RTSP, HTTP) through PyAV: decoded frames for the pipeline, and the camera's own H.264 packets
for recording, so an IP camera's video is stored as it was sent instead of being decoded and encoded again.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

import av
import numpy as np

from camapp.capture import FrameSource, SourceMaker
from camapp.capture.opencv import NETWORK_TIMEOUT_MS, OpenCVSource, redact_url
from camapp.capture.packets import PacketBuffer
from camapp.config.camera import CAMERA_SOURCES, RtspCameraConfig
from camapp.errors import CaptureError
from camapp.types import EncodedPacket, Frame


def open_options(url: str) -> dict[str, str]:
    """FFmpeg options: RTSP over TCP (no smeared frames from lost UDP packets) and a socket timeout, so a camera
    that stalls without closing raises instead of freezing the capture thread."""
    options = {"timeout": str(NETWORK_TIMEOUT_MS * 1000)}  # microseconds
    if url.startswith("rtsp"):
        options["rtsp_transport"] = "tcp"
    return options


class StreamSource(FrameSource):
    """A network stream (or any input FFmpeg can demux). Frames are stamped on the wall clock through the
    stream's own timestamps, and packets (H.264 only) carry the same stamps, so clips line up with events."""

    def __init__(self, url: str, *, options: dict[str, str] | None = None) -> None:
        self._description = f"stream {redact_url(url)}"
        try:
            self._container = av.open(url, "r", options=options if options is not None else open_options(url))
        except (av.FFmpegError, OSError) as err:
            raise CaptureError(f"cannot open {self._description}: {err}") from None
        if not self._container.streams.video:
            self._container.close()
            raise CaptureError(f"{self._description} has no video")
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        self._h264 = self._stream.codec_context.name == "h264"
        self._filter = av.bitstream.BitStreamFilterContext("h264_mp4toannexb", self._stream) if self._h264 else None
        self.packets = PacketBuffer() if self._h264 else None
        self._frames: deque[tuple[np.ndarray[Any, Any], float]] = deque()
        self._packets_iter = self._container.demux(self._stream)
        self._origin: float | None = None
        self._index = 0
        self._closed = False
        rate = self._stream.average_rate
        self._fps = float(rate) if rate else 0.0

    @property
    def fps(self) -> float:
        return self._fps

    @property
    def description(self) -> str:
        return self._description

    def _wall(self, pts: int | None, fallback: float) -> float:
        """A stream timestamp on the wall clock (anchored at the first packet)."""
        if pts is None or self._stream.time_base is None:
            return fallback
        seconds = float(pts * self._stream.time_base)
        if self._origin is None:
            self._origin = time.time() - seconds
        return self._origin + seconds

    def _pump(self) -> None:
        """Demux one packet: keep it for recording, decode it into frames for the pipeline."""
        try:
            packet = next(self._packets_iter)
        except StopIteration:
            raise CaptureError(f"{self._description}: stream ended") from None
        except (av.FFmpegError, OSError) as err:
            raise CaptureError(f"{self._description}: {err}") from None
        now = time.time()
        try:
            decoded = packet.decode()  # first: the bitstream filter below takes the packet's data
        except av.FFmpegError:  # a damaged packet: skip it, the next keyframe repairs the picture
            decoded = []
        for frame in decoded:
            image = frame.to_ndarray(format="bgr24")
            self._frames.append((image, self._wall(frame.pts, now)))
        if packet.size and self.packets is not None and self._filter is not None:
            for out in self._filter.filter(packet):  # Annex B, SPS/PPS before each keyframe
                pts, dts = self._wall(out.pts, now), self._wall(out.dts, now)
                self.packets.put(EncodedPacket(bytes(out), pts, bool(out.is_keyframe), dts))

    def read(self) -> Frame:
        if self._closed:
            raise CaptureError(f"{self._description} is closed")
        while not self._frames:
            self._pump()
        image, timestamp = self._frames.popleft()
        frame = Frame(np.ascontiguousarray(image, dtype=np.uint8), timestamp, self._index, packets=self.packets)
        self._index += 1
        return frame

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._container.close()


@CAMERA_SOURCES.register(RtspCameraConfig)
def rtsp_source(cfg: RtspCameraConfig, stop_event: threading.Event) -> SourceMaker:
    """An RTSP stream through PyAV (its H.264 packets are recorded without re-encoding); HTTP(S) through OpenCV."""
    if cfg.url.startswith(("rtsp://", "rtsps://")):
        return lambda: StreamSource(cfg.url)
    return lambda: OpenCVSource(cfg.url, width=cfg.width, height=cfg.height, fps=cfg.fps)
