"""Event clips on request: the segments an event holds, remuxed into one MP4 in memory (no re-encoding).

Nothing is written to disk for a clip (the segments are the only copy of the video), so a crash while a clip is
served leaves nothing behind. A small LRU cache keeps the last clips asked for: a browser asks for the same clip
several times (metadata, then ranges while it plays).
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from camapp.record.codec import RecordingError
from camapp.record.segments import ClipCut, remux_clip
from camapp.store import db, holds

log = logging.getLogger(__name__)

CLIP_CACHE_BYTES = 48 * 1024 * 1024  # clips kept in memory once built (a 30 s clip of 768x576 is about 3.5 MB)


@dataclass(frozen=True)
class Clip:
    """A clip to serve: MP4 bytes built from segments, or (schema 3) a clip file; its download name and ETag."""

    name: str
    etag: str
    data: bytes | None = None
    path: Path | None = None
    start: float = 0.0  # capture time of its first frame
    end: float = 0.0


class ClipCache:
    """The last clips built, up to `max_bytes` in all (a bigger one is served but not kept); thread-safe."""

    def __init__(self, max_bytes: int = CLIP_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, Clip] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> Clip | None:
        with self._lock:
            clip = self._items.get(key)
            if clip is not None:
                self._items.move_to_end(key)
            return clip

    def put(self, key: str, clip: Clip) -> None:
        size = len(clip.data or b"")
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            self._bytes -= len(old.data or b"") if old is not None else 0
            self._items[key] = clip
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped.data or b"")

    @property
    def size(self) -> int:
        with self._lock:
            return self._bytes


def download_name(camera: str | None, label: str | None, start: float) -> str:
    """e.g. cam_2026-12-03_121530_person.mp4 (local time of the event's start)."""
    when = time.strftime("%Y-%m-%d_%H%M%S", time.localtime(start))
    parts = [p for p in (camera, when, label) if p]
    return "_".join("".join(c if c.isalnum() or c in "-." else "-" for c in p) for p in parts) + ".mp4"


def _from_segments(conn: sqlite3.Connection, data_dir: Path, event_id: str, cache: ClipCache,
                   name: str) -> Clip | None:
    win = holds.window(conn, event_id)
    segments = holds.held_segments(conn, event_id)
    if win is None or not segments:
        return None
    start, latest_start, end, _ = win
    key = hashlib.sha1(f"{event_id}|{start}|{end}|{'|'.join(s.relpath for s in segments)}".encode()).hexdigest()
    cached = cache.get(key)
    if cached is not None:
        return cached
    first = segments[0]
    frame_s = (first.end - first.start) / first.frames if first.frames else 0.1
    cut = ClipCut(start=start, latest_start=latest_start, end=end if end is not None else segments[-1].end)
    try:
        built = remux_clip([(data_dir / s.relpath, s.start) for s in segments], cut, frame_s,
                           runs=[s.run for s in segments])
    except RecordingError as err:
        log.warning("clip of event %s: %s", event_id, err)
        return None
    if built is None:
        return None
    data, seg = built
    clip = Clip(name=name, etag=key, data=data, start=seg.start, end=seg.end)
    cache.put(key, clip)
    return clip


def build_clip(conn: sqlite3.Connection, data_dir: Path, event_id: str, cache: ClipCache) -> Clip | None:
    """The event's clip: its schema-3 clip file if it has one, else remuxed from the segments it holds; None when
    there is no footage (see the event's `clip` state for why)."""
    row = conn.execute("SELECT camera, label, start_time FROM events WHERE id = ?", (event_id,)).fetchone()
    if row is None:
        return None
    name = download_name(row[0], row[1], float(row[2]))
    legacy = db.media_relpath(conn, event_id, "clip")
    if legacy is not None:
        path = (data_dir / legacy).resolve()
        if path.is_relative_to(data_dir) and path.is_file():
            return Clip(name=name, etag="", path=path)
        return None
    return _from_segments(conn, data_dir, event_id, cache, name)
