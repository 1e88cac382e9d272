"""Builders for the store tests: real vtest.avi frames wrapped in the pipeline's own types."""

from __future__ import annotations

import functools
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import cv2

from camapp.config.storage import StorageConfig
from camapp.types import Detections, EventMessage, EventType, Frame, FrameResult, MotionResult, TrackedObject

T0 = float(int(time.time()) - 3600)  # recent, so retention (days) leaves test events alone
FPS = 10.0


@functools.cache
def video_frames(video: Path, count: int) -> tuple[Frame, ...]:
    """The first `count` frames of a video as Frames stamped T0 + index / FPS."""
    cap = cv2.VideoCapture(str(video))
    frames = []
    try:
        while len(frames) < count:
            ok, image = cap.read()
            assert ok, f"{video} has fewer than {count} frames"
            frames.append(Frame(image=image, timestamp=T0 + len(frames) / FPS, index=len(frames)))
    finally:
        cap.release()
    return tuple(frames)


def tracked(track_id: int, score: float, box: tuple[float, float, float, float], t: float) -> TrackedObject:
    return TrackedObject(track_id=track_id, label="person", box=box, score=score, first_seen=t, last_seen=t)


def message(type_: EventType, event_id: str, start: float, *, end: float | None = None, **kw: Any) -> EventMessage:
    fields: dict[str, Any] = {
        "track_id": 1, "label": "person", "score": 0.7, "top_score": 0.7, "box": (100.0, 100.0, 200.0, 300.0),
    }
    fields.update(kw)
    return EventMessage(type=type_, id=event_id, start_time=start, end_time=end, **fields)


def result(frame: Frame, events: tuple[EventMessage, ...] = (), objects: tuple[TrackedObject, ...] = ()) -> FrameResult:
    return FrameResult(
        frame=frame, motion=MotionResult(boxes=[], fraction=0.0), detections=Detections.empty(),
        objects=objects, events=events,
    )


def storage(tmp_path: Path, **kw: Any) -> StorageConfig:
    """A StorageConfig under tmp_path; retention timer long so tests decide when it runs."""
    base: dict[str, Any] = {"path": tmp_path / "data", "retention_interval_s": 3600, "min_free_mb": 0}
    base.update(kw)
    return StorageConfig(**base)


def count_rows(db: Path, sql: str) -> int:
    """A COUNT(*) query on a store another process is writing (0 while the database does not exist yet)."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return int(conn.execute(sql).fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def kill_when(proc: subprocess.Popen[Any], db: Path, sql: str, count: int, timeout_s: float) -> None:
    """SIGKILL `proc` as soon as `sql` counts `count` rows; fails if it ends on its own or time runs out."""
    try:
        deadline = time.monotonic() + timeout_s
        while count_rows(db, sql) < count:
            assert proc.poll() is None, "the writer ended before it was killed"
            assert time.monotonic() < deadline, f"fewer than {count} rows ({sql}) after {timeout_s:g} s"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL


def served_clip(reader: Any, event_id: str) -> Path | None:
    """The clip the store serves for an event (remuxed from the segments it holds), saved beside the data dir so
    decoders can open it; None when it has none."""
    clip = reader.clip(event_id)
    if clip is None:
        return None
    if clip.path is not None:
        return Path(clip.path)
    out = Path(reader.data_dir).parent / f"served-{event_id}.mp4"
    out.write_bytes(clip.data)
    return out
