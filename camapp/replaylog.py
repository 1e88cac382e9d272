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


class ConfirmedTracks:
    """A replay's tracks as a tracker reports them (SORT, ByteTrack): only tracks the tracker has confirmed. A track's
    rows from before its confirmation are held back and released with it, so its whole extent is reported; a
    tentative track that is never confirmed (a detector blip, a second box on someone already tracked) never is."""

    def __init__(self) -> None:
        self._pending: dict[int, list[tuple[int, TrackedObject]]] = {}

    def feed(self, result: FrameResult) -> list[tuple[int, TrackedObject]]:
        """(frame number from 1, object) rows now known to belong to confirmed tracks, earlier frames included."""
        n, out = result.frame.index + 1, []
        for obj in sorted(observed(result), key=lambda o: o.track_id):
            if obj.confirmed:
                out += self._pending.pop(obj.track_id, [])
                out.append((n, obj))
            else:
                self._pending.setdefault(obj.track_id, []).append((n, obj))
        live = {obj.track_id for obj in result.objects}
        self._pending = {t: rows for t, rows in self._pending.items() if t in live}
        return out


def mot_row(n: int, obj: TrackedObject) -> str:
    """One MOTChallenge line `frame,id,x,y,w,h,score,-1,-1,-1` (frames counted from 1)."""
    x1, y1, x2, y2 = obj.box
    return f"{n},{obj.track_id},{x1:.1f},{y1:.1f},{x2 - x1:.1f},{y2 - y1:.1f},{obj.score:.3f},-1,-1,-1"


class MotSink(ResultSink):
    """Writes the confirmed tracks' detected boxes to a MOTChallenge text file (replay --mot FILE); a track's rows
    from before its confirmation come when it is confirmed, so lines are not always in frame order."""

    def __init__(self, path: Path) -> None:
        self._tracks = ConfirmedTracks()
        try:
            self._file: IO[str] | None = path.open("w", encoding="utf-8")
        except OSError as err:
            raise CamappError(f"--mot {path}: cannot write ({err.strerror})") from err

    def handle(self, result: FrameResult) -> None:
        if self._file is not None:
            for n, obj in self._tracks.feed(result):
                self._file.write(mot_row(n, obj) + "\n")

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
