"""Frame sources behind one interface: read the next frame, close."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from camapp.closing import Closing
from camapp.errors import CaptureError
from camapp.types import Frame


class CaptureStoppedError(CaptureError):
    """`read` gave up because the stop event was set; the caller is shutting down, nothing failed."""


class FrameSource(Closing, ABC):
    """A camera or file. `read` blocks for the next frame; raises CaptureError / CaptureEndedError."""

    @abstractmethod
    def read(self) -> Frame:
        """Return the next frame (BGR uint8)."""

    @abstractmethod
    def close(self) -> None:
        """Release the device; idempotent."""

    _fps: float = 0.0  # sources set these two when they know them
    _description: str = ""

    @property
    def fps(self) -> float:
        """Nominal frame rate, 0 when unknown."""
        return self._fps

    @property
    def generation(self) -> int:
        """Counts restarts of the stream (a reconnect, a looping file starting over): frames of different
        generations do not continue each other, so a background learnt on the older ones no longer applies."""
        return 0

    @property
    def description(self) -> str:
        """Human-readable description for status and logs."""
        return self._description or type(self).__name__


SourceMaker = Callable[[], FrameSource]  # opens the source afresh (called again on every reconnect)
