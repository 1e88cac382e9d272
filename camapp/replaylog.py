"""What `camapp replay` writes besides the summary: per-frame tracks in MOTChallenge format, and event messages
placed in the file (frame index and seconds from its start) so a user can find them in their own footage.
"""

from __future__ import annotations

import bisect
import json
import sys
from pathlib import Path
from typing import IO, Any

from camapp.errors import CamappError
from camapp.sinks import ResultSink
from camapp.types import EventMessage, FrameResult, TrackedObject


def observed(result: FrameResult) -> list[TrackedObject]:
    """Objects matched to a detection in this very frame (not carried on by prediction)."""
    if not result.detector_ran:
        return []
    now = result.frame.timestamp
    return [obj for obj in result.objects if obj.misses == 0 and obj.last_seen == now]


def mot_rows(result: FrameResult) -> list[str]:
    """MOTChallenge lines `frame,id,x,y,w,h,score,-1,-1,-1` (frames counted from 1) for one result."""
    rows = []
    for obj in sorted(observed(result), key=lambda o: o.track_id):
        x1, y1, x2, y2 = obj.box
        rows.append(f"{result.frame.index + 1},{obj.track_id},{x1:.1f},{y1:.1f},{x2 - x1:.1f},{y2 - y1:.1f},"
                    f"{obj.score:.3f},-1,-1,-1")
    return rows


class MotSink(ResultSink):
    """Writes every frame's observed tracks to a MOTChallenge text file (replay --mot FILE)."""

    def __init__(self, path: Path) -> None:
        try:
            self._file: IO[str] | None = path.open("w", encoding="utf-8")
        except OSError as err:
            raise CamappError(f"--mot {path}: cannot write ({err.strerror})") from err

    def handle(self, result: FrameResult) -> None:
        if self._file is not None:
            for row in mot_rows(result):
                self._file.write(row + "\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class FilePosition:
    """Maps frame timestamps back to their place in the file: index of the frame and seconds from the first one."""

    def __init__(self) -> None:
        self._times: list[float] = []
        self._indices: list[int] = []
        self._t0: float | None = None

    def see(self, result: FrameResult) -> None:
        frame = result.frame
        if self._t0 is None:
            self._t0 = frame.timestamp
        if not self._times or frame.timestamp > self._times[-1]:
            self._times.append(frame.timestamp)
            self._indices.append(frame.index)

    def locate(self, timestamp: float) -> tuple[int, float]:
        """(frame index, seconds from the start) of the frame shown at `timestamp` (the latest one not after it)."""
        if self._t0 is None:
            return 0, 0.0
        i = max(bisect.bisect_right(self._times, timestamp + 1e-9) - 1, 0)
        return self._indices[i], max(timestamp - self._t0, 0.0)


class JsonEventSink(ResultSink):
    """Prints one JSON object per event message (replay --json), with `frame` and `video_time` of the event's
    first frame, and `message_frame`/`message_video_time` of the frame that produced the message."""

    def __init__(self, model: str, out: IO[str] | None = None) -> None:
        self._model = model
        self._out = out if out is not None else sys.stdout
        self._where = FilePosition()

    def handle(self, result: FrameResult) -> None:
        self._where.see(result)
        for ev in result.events:
            print(json.dumps(self.payload(ev, result)), file=self._out, flush=True)

    def payload(self, event: EventMessage, result: FrameResult) -> dict[str, Any]:
        frame, video_time = self._where.locate(event.start_time)
        now_frame, now_time = self._where.locate(result.frame.timestamp)
        return {**event.to_dict(), "model": self._model, "frame": frame, "video_time": round(video_time, 3),
                "message_frame": now_frame, "message_video_time": round(now_time, 3)}

    def close(self) -> None:
        self._out.flush()
