"""A running event's best snapshot, kept as the JPEGs it will be saved as rather than as the frame it came from.

The store used to hold each open event's best FrameResult until the event ended: one whole frame per open event
(ten people in view at 1080p held ten 6 MB frames). Now the media thread renders a better frame to JPEG as soon as
it comes, and the frame is let go; the event holds a few hundred KB until its snapshot is written. Only frames
that beat the last one are rendered (a couple per event), so this costs little CPU.
"""

from __future__ import annotations

import threading

from camapp.geometry import Box
from camapp.types import FrameResult

Rendered = list[tuple[str, bytes]]  # (kind, JPEG): snapshot, snapshot_clean, thumbnail


class SnapshotCandidate:
    """The best frame of one event: waiting to be rendered (pipeline thread offers), then its JPEGs (media
    thread renders). A newer offer replaces a frame not yet rendered, so at most one frame waits per event."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: tuple[FrameResult, Box | None] | None = None
        self._queued = False
        self._rendered: Rendered | None = None

    def offer(self, result: FrameResult, box: Box | None) -> bool:
        """Hold this frame for rendering; True when no render task is queued yet (the caller queues one)."""
        with self._lock:
            self._waiting = (result, box)
            queue, self._queued = not self._queued, True
            return queue

    def take(self) -> tuple[FrameResult, Box | None] | None:
        """The frame waiting to be rendered (now let go of), or None when the last one is rendered already."""
        with self._lock:
            waiting, self._waiting, self._queued = self._waiting, None, False
            return waiting

    @property
    def rendered(self) -> Rendered | None:
        with self._lock:
            return self._rendered

    @rendered.setter
    def rendered(self, value: Rendered) -> None:
        with self._lock:
            self._rendered = value
