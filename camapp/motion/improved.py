"""Motion gate: downscaled luma against an adaptive background, with masks and light-switch suppression.

Per frame: luma at motion resolution -> contrast stretch (EMA of histogram percentiles, applied by LUT) -> blur ->
difference to the running background -> threshold, dilate, mask -> blobs -> boxes in full-frame pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from camapp.config.core import MotionConfig
from camapp.geometry import Point
from camapp.motion import MotionDetector
from camapp.types import Frame, Image, MotionResult

CALIBRATION_FRAMES = 5  # frames at start that only teach the background (nothing is reported)
RELEARN_FRAMES = 3  # same after a light switch, so auto-exposure can settle
SETTLED_FRACTION = 0.25  # learning goes on past those frames while this much of the frame still differs ...
MAX_LEARN_FRAMES = 50  # ... but never longer than this, so a busy scene is not ignored for ever
CALIBRATION_ALPHA = 0.2  # fast background learning while (re)calibrating
PERSIST_FRAMES = 10  # motion blends into the background only once it has lasted this long (Frigate's rule)
CONTRAST_LOW, CONTRAST_HIGH = 0.04, 0.96  # percentiles mapped to black and white
CONTRAST_ALPHA = 0.02  # EMA weight of the newest percentiles: ~50 frames of memory, so no sudden stretch changes
MIN_CONTRAST_RANGE = 32.0  # never stretch more than 8x, or a dark, flat scene turns sensor noise into motion
BLUR_KSIZE = (3, 3)
BLUR_SIGMA = 1.0
DILATE_KERNEL = np.ones((3, 3), np.uint8)

FloatImage = npt.NDArray[np.float32]


def motion_size(cfg: MotionConfig, frame_width: int, frame_height: int) -> tuple[int, int]:
    """(width, height) of the motion image: cfg.frame_height tall (never upscaled), frame aspect kept."""
    height = min(cfg.frame_height, frame_height)
    return max(1, round(height * frame_width / frame_height)), height


def scaled_mask(polygons: Sequence[Sequence[Point]], size: tuple[int, int], scale: tuple[float, float]) -> Image:
    """255 where motion counts, 0 inside the polygons (given in full-frame pixels), at motion resolution."""
    mask = np.full((size[1], size[0]), 255, np.uint8)
    for polygon in polygons:
        pts = np.asarray(polygon, dtype=np.float64).reshape(-1, 2) / np.asarray(scale)
        cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 0)
    return mask


class ImprovedMotionDetector(MotionDetector):
    """Finds moving blobs against a slowly adapting background; whole-frame changes are suppressed, not reported."""

    def __init__(self, cfg: MotionConfig, frame_width: int, frame_height: int) -> None:
        if frame_width < 1 or frame_height < 1:
            raise ValueError(f"motion detector needs a positive frame size, got {frame_width}x{frame_height}")
        self.cfg = cfg
        self.frame_size = (frame_width, frame_height)
        self.size = motion_size(cfg, frame_width, frame_height)
        self._scale = (frame_width / self.size[0], frame_height / self.size[1])
        mask = scaled_mask(cfg.mask, self.size, self._scale)
        self._active = cv2.countNonZero(mask)
        self._mask: Image | None = mask if self._active < mask.size else None
        self._background: FloatImage | None = None
        self._contrast: tuple[float, float] | None = None
        self._lut_key: tuple[float, float] | None = None
        self._lut = np.arange(256, dtype=np.uint8)
        self._learn_min = CALIBRATION_FRAMES  # > 0 while (re)learning
        self._learned = 0
        self._motion_frames = 0

    @property
    def calibrating(self) -> bool:
        """True while the background is being (re)learnt and no motion is reported."""
        return self._background is None or self._learn_min > 0

    def reset(self, frames: int = CALIBRATION_FRAMES) -> None:
        """Forget the background and contrast, e.g. after the camera moved or reconnected."""
        if frames < 0:
            raise ValueError(f"reset(frames) must be >= 0, got {frames}")
        self._background = None
        self._contrast = None
        self._learn_min = frames
        self._learned = 0
        self._motion_frames = 0

    def detect(self, frame: Frame) -> MotionResult:
        """Return motion boxes for this frame in full-frame pixels (none while calibrating or on a light switch)."""
        if not self.cfg.enabled:
            return MotionResult(np.array([[0, 0, *self.frame_size]], np.int32), 1.0)
        if (frame.width, frame.height) != self.frame_size:
            raise ValueError(
                f"motion detector was built for {self.frame_size[0]}x{self.frame_size[1]} frames, "
                f"got {frame.width}x{frame.height} (frame {frame.index})"
            )
        luma = self._luma(frame)
        if self.calibrating:
            self._contrast = None  # while learning, the stretch follows the scene instead of lagging behind it
        image = self._prepare(luma)
        if self._background is None:
            self._background = image.astype(np.float32)
            self._learned = 1
            return MotionResult(np.zeros((0, 4), np.int32), 0.0)
        changed = self._changed(image, self._background)
        fraction = min(1.0, cv2.countNonZero(changed) / self._active) if self._active else 0.0
        if fraction > self.cfg.lightning_threshold:
            self._relearn(luma)
            return MotionResult(np.zeros((0, 4), np.int32), fraction, suppressed=True)
        if self.calibrating:
            self._learn(image, fraction)
            return MotionResult(np.zeros((0, 4), np.int32), 0.0)
        boxes = self._boxes(changed)
        self._update_background(image, has_motion=len(boxes) > 0)
        return MotionResult(boxes, fraction)

    def _luma(self, frame: Frame) -> Image:
        """Grey image at motion resolution; resizing BGR before converting is ~3x cheaper than the reverse."""
        width, height = self.size
        if frame.lores is not None:
            if frame.lores.shape == (height, width):
                return frame.lores
            return _u8(cv2.resize(frame.lores, self.size, interpolation=cv2.INTER_LINEAR))
        small = cv2.resize(frame.image, self.size, interpolation=cv2.INTER_LINEAR)
        return _u8(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))

    def _prepare(self, luma: Image) -> Image:
        """Contrast-stretch (when enabled) and blur, ready to compare with the background."""
        if self.cfg.improve_contrast:
            low, high = self._percentiles(luma)
            if self._contrast is None:
                self._contrast = (low, high)
            else:
                old_low, old_high = self._contrast
                self._contrast = (
                    old_low + CONTRAST_ALPHA * (low - old_low),
                    old_high + CONTRAST_ALPHA * (high - old_high),
                )
            luma = self._stretch(luma, *self._contrast)
        return _u8(cv2.GaussianBlur(luma, BLUR_KSIZE, BLUR_SIGMA))

    def _percentiles(self, luma: Image) -> tuple[float, float]:
        """Low and high contrast percentiles from one 256-bin histogram of the unmasked pixels."""
        hist = cv2.calcHist([luma], [0], self._mask, [256], [0, 256]).ravel()
        cumulative = np.cumsum(hist)
        total = float(cumulative[-1])
        if total <= 0:
            return 0.0, 255.0
        low, high = np.searchsorted(cumulative, (CONTRAST_LOW * total, CONTRAST_HIGH * total))
        return float(low), float(high)

    def _stretch(self, luma: Image, low: float, high: float) -> Image:
        """Map low..high to 0..255 through a lookup table, rebuilt only when the range moves."""
        key = (round(low * 2) / 2, round(high * 2) / 2)
        if key != self._lut_key:
            self._lut = contrast_lut(*key)
            self._lut_key = key
        return _u8(cv2.LUT(luma, self._lut))

    def _changed(self, image: Image, background: FloatImage) -> Image:
        """Binary image (255 = changed) of pixels that differ from the background, outside the mask."""
        delta = cv2.absdiff(image, cv2.convertScaleAbs(background))
        _, thresh = cv2.threshold(delta, self.cfg.threshold, 255, cv2.THRESH_BINARY)
        dilated = cv2.dilate(thresh, DILATE_KERNEL, iterations=1)
        # Masking after the dilation keeps blobs from growing into the masked area.
        return _u8(dilated if self._mask is None else cv2.bitwise_and(dilated, self._mask))

    def _boxes(self, changed: Image) -> npt.NDArray[np.int32]:
        """Bounding boxes of blobs at least cfg.contour_area big, scaled to full-frame pixels."""
        contours, _ = cv2.findContours(changed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        rects = [cv2.boundingRect(c) for c in contours if cv2.contourArea(c) >= self.cfg.contour_area]
        if not rects:
            return np.zeros((0, 4), np.int32)
        r = np.asarray(rects, dtype=np.float64)
        sx, sy = self._scale
        width, height = self.frame_size
        boxes = np.stack(
            [
                np.floor(r[:, 0] * sx),
                np.floor(r[:, 1] * sy),
                np.minimum(np.ceil((r[:, 0] + r[:, 2]) * sx), width),
                np.minimum(np.ceil((r[:, 1] + r[:, 3]) * sy), height),
            ],
            axis=1,
        )
        return boxes.astype(np.int32)

    def _update_background(self, image: Image, *, has_motion: bool) -> None:
        """Blend the frame in, unless motion is brief (so a passer-by never becomes background)."""
        assert self._background is not None
        self._motion_frames = self._motion_frames + 1 if has_motion else 0
        if not has_motion or self._motion_frames >= PERSIST_FRAMES:
            cv2.accumulateWeighted(image, self._background, self.cfg.frame_alpha)

    def _learn(self, image: Image, fraction: float) -> None:
        """One learning frame; learning ends after its minimum frames once the scene has settled (or at the cap)."""
        assert self._background is not None
        cv2.accumulateWeighted(image, self._background, CALIBRATION_ALPHA)
        self._learned += 1
        settled = fraction < SETTLED_FRACTION or self._learned >= MAX_LEARN_FRAMES
        if self._learned >= self._learn_min and settled:
            self._learn_min = 0

    def _relearn(self, luma: Image) -> None:
        """After a light or IR switch: restart contrast and background from this frame and re-calibrate briefly."""
        self._contrast = None
        self._background = self._prepare(luma).astype(np.float32)
        self._learn_min = RELEARN_FRAMES
        self._learned = 1
        self._motion_frames = 0


def contrast_lut(low: float, high: float) -> Image:
    """256-entry table stretching low..high to 0..255, widened around its centre to at least MIN_CONTRAST_RANGE."""
    if high - low < MIN_CONTRAST_RANGE:
        centre = (low + high) / 2
        low, high = centre - MIN_CONTRAST_RANGE / 2, centre + MIN_CONTRAST_RANGE / 2
    values = (np.arange(256, dtype=np.float32) - low) * (255.0 / (high - low))
    return np.asarray(np.clip(values, 0, 255), dtype=np.uint8)


def _u8(image: object) -> Image:
    """OpenCV's stubs type every result loosely; these calls all return uint8 images."""
    return cast(Image, image)
