"""H.264 through PyAV: pick the encoder (the Pi's hardware one when it works), encode BGR frames to packets."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from fractions import Fraction
from typing import Any

import av
import cv2
import numpy as np

from camapp.errors import StorageError
from camapp.types import EncodedPacket, Image

log = logging.getLogger(__name__)

HARDWARE = "h264_v4l2m2m"  # the Raspberry Pi 4's V4L2 memory-to-memory encoder
SOFTWARE = "libx264"
TICKS = 90_000  # packet timestamps: the MPEG 90 kHz clock
TIME_BASE = Fraction(1, TICKS)


class RecordingError(StorageError):
    """No usable H.264 encoder, or a segment or clip could not be written."""


def available_encoders() -> set[str]:
    """The H.264 encoders this PyAV/FFmpeg build knows (knowing one is not the same as the device being there)."""
    return {name for name in (HARDWARE, SOFTWARE) if name in av.codecs_available}


@functools.cache
def encoder_works(name: str) -> bool:
    """Open the encoder and encode two tiny frames, once per process: h264_v4l2m2m is compiled into the wheels
    everywhere but only works where /dev/video11 (the Pi's encoder) exists."""
    try:
        enc = H264Encoder(name, 64, 64, fps=10.0)
        image = np.zeros((64, 64, 3), np.uint8)
        packets = [*enc.encode(image, 0.0), *enc.encode(image, 0.1), *enc.flush()]
        enc.close()
    except Exception as err:  # FFmpeg reports a missing device in many ways; any of them means "not usable"
        log.debug("encoder %s unusable: %s", name, err)
        return False
    return bool(packets)


def choose_encoder(
    preference: str, available: Iterable[str], works: Callable[[str], bool] = encoder_works
) -> str:
    """The encoder to use: the one asked for, or under 'auto' the hardware encoder when it works, else libx264."""
    names = set(available)
    order = [HARDWARE, SOFTWARE] if preference == "auto" else [preference]
    for name in order:
        if name in names and works(name):
            return name
    if preference != "auto" and preference != SOFTWARE and SOFTWARE in names and works(SOFTWARE):
        log.warning("recording: encoder %s is not usable here; using %s", preference, SOFTWARE)
        return SOFTWARE
    raise RecordingError(f"no usable H.264 encoder (asked for {preference!r}; this FFmpeg has {sorted(names)})")


class H264Encoder:
    """One long-lived encoder: BGR frames in, Annex B packets (SPS/PPS repeated at every keyframe) out."""

    def __init__(  # noqa: PLR0913 - encoder settings travel together
        self, name: str, width: int, height: int, *, fps: float, keyframe_s: float = 1.0,
        preset: str = "veryfast", crf: int = 26, bitrate_kbps: int = 2000,
    ) -> None:
        self.name, self.width, self.height = name, width - width % 2, height - height % 2  # 4:2:0 needs even sizes
        ctx = av.VideoCodecContext.create(name, "w")
        assert isinstance(ctx, av.VideoCodecContext)
        ctx.width, ctx.height, ctx.pix_fmt = self.width, self.height, "yuv420p"
        ctx.time_base = TIME_BASE
        ctx.framerate = Fraction(fps).limit_denominator(1001)
        ctx.gop_size = max(1, round(keyframe_s * fps))
        ctx.max_b_frames = 0  # pts == dts: packets can be cut and muxed in arrival order
        if name == SOFTWARE:
            # zerolatency: no lookahead, so each frame's packet comes out at once and memory stays small.
            ctx.options = {"preset": preset, "crf": str(crf), "tune": "zerolatency", "repeat-headers": "1",
                           "forced-idr": "1"}  # a forced keyframe (after a gap) starts a new segment
        else:
            ctx.bit_rate = bitrate_kbps * 1000
        ctx.open()
        self._ctx: av.VideoCodecContext | None = ctx
        self._origin: float | None = None
        self._last = -1
        self.frames = 0

    def encode(self, image: Image, timestamp: float, keyframe: bool = False) -> list[EncodedPacket]:
        """Encode one frame (resized if the camera changed size; a keyframe if asked); returns the packets
        ready so far."""
        if (image.shape[1], image.shape[0]) != (self.width, self.height):
            image = np.ascontiguousarray(cv2.resize(image, (self.width, self.height)), dtype=np.uint8)
        if self._origin is None:
            self._origin = timestamp
        ticks = max(self._last + 1, round((timestamp - self._origin) * TICKS))  # strictly increasing
        self._last = ticks
        yuv = np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420), dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.pts, frame.time_base = ticks, TIME_BASE
        if keyframe:
            frame.pict_type = av.video.frame.PictureType.I
        self.frames += 1
        return self._packets(self._context().encode(frame))

    def flush(self) -> list[EncodedPacket]:
        """Packets still inside the encoder."""
        return self._packets(self._context().encode(None))

    def _context(self) -> av.VideoCodecContext:
        if self._ctx is None:
            raise RecordingError(f"the {self.name} encoder is closed")
        return self._ctx

    def _packets(self, packets: Iterable[av.Packet[Any]]) -> list[EncodedPacket]:
        origin = self._origin or 0.0
        out = []
        for p in packets:
            pts = p.pts if p.pts is not None else self._last
            dts = p.dts if p.dts is not None else pts
            out.append(EncodedPacket(bytes(p), origin + pts / TICKS, bool(p.is_keyframe), origin + dts / TICKS))
        return out

    def close(self) -> None:
        """Release the encoder (FFmpeg frees it with the last reference); idempotent."""
        self._ctx = None
