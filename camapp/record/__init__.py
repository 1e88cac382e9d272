"""Recording: continuous H.264 segments encoded once per frame (or stored as the camera sent them), and event
clips cut from them without re-encoding."""

from __future__ import annotations

from camapp.record.codec import RecordingError
from camapp.record.segments import ClipCut, Segment

__all__ = ["ClipCut", "RecordingError", "Segment"]
