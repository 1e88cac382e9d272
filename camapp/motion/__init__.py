"""The motion gate: decides when and where the detector runs."""

from __future__ import annotations

from abc import ABC, abstractmethod

from camapp.types import Frame, MotionResult


class MotionDetector(ABC):
    """Finds moving regions in a frame, in full-frame pixel coordinates."""

    @abstractmethod
    def detect(self, frame: Frame) -> MotionResult:
        """Return motion boxes for this frame (uses `frame.lores` when the camera provides it)."""

    @abstractmethod
    def reset(self) -> None:
        """Forget what was learnt about the scene (the camera reconnected or moved) and learn it again."""
