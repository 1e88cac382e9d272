"""SQL for recorded segments: each has a `media` row (so quotas and sweeps count it) and a `segments` row (times)."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from camapp.store.db import SEGMENT_OWNER, add_media

SEGMENT_ROOT = "media/rec/"


def segment_id(relpath: str) -> str:
    """media/rec/2026-11-28/051832-094.mp4 -> 2026-11-28_051832-094: an id without path characters."""
    day, _, name = relpath.removeprefix(SEGMENT_ROOT).partition("/")
    return f"{day}_{name.removesuffix('.mp4')}"


def segment_relpath(seg_id: str) -> str:
    day, _, name = seg_id.partition("_")
    return f"{SEGMENT_ROOT}{day}/{name}.mp4"


@dataclass(frozen=True)
class SegmentRow:
    """What the segments table says of one finished segment file."""

    relpath: str
    start: float
    end: float
    frames: int
    size: int
    keep: int
    camera: str
    run: int
    sha256: str


def add_segment(conn: sqlite3.Connection, seg: SegmentRow) -> None:
    """Record a finished segment file: its media row (counted in the quota), its time range, camera and run."""
    # `created` is when it was stored, like every other media file.
    add_media(conn, seg.relpath, SEGMENT_OWNER, "segment", seg.size, time.time())
    conn.execute(
        "INSERT OR REPLACE INTO segments (relpath, start_time, end_time, frames, keep, camera, run, sha256) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (seg.relpath, seg.start, seg.end, seg.frames, seg.keep, seg.camera, seg.run, seg.sha256))


def drop_segments(conn: sqlite3.Connection, relpaths: list[str]) -> None:
    """Forget segments (the caller unlinks the files after commit)."""
    rows = [(p,) for p in relpaths]
    conn.executemany("DELETE FROM media WHERE relpath = ?", rows)
    conn.executemany("DELETE FROM segments WHERE relpath = ?", rows)


def set_keep(conn: sqlite3.Connection, relpaths: list[str], keep: int) -> None:
    conn.executemany("UPDATE segments SET keep = MAX(keep, ?) WHERE relpath = ?", [(keep, p) for p in relpaths])


def drop_orphans(conn: sqlite3.Connection) -> list[str]:
    """Forget segment rows whose media row retention or the quota removed; returns their paths."""
    where = "FROM segments WHERE relpath NOT IN (SELECT relpath FROM media)"
    gone = [r[0] for r in conn.execute(f"SELECT relpath {where}")]
    conn.execute(f"DELETE {where}")
    return gone


def expired(conn: sqlite3.Connection, keep: int, cutoff: float, *, camera: str | None = None,
            not_cameras: tuple[str, ...] = ()) -> list[str]:
    """Segments kept for reason `keep` that ended before `cutoff` and that no event holds (of `camera` only, or of
    cameras other than `not_cameras`)."""
    sql = ("SELECT relpath FROM segments WHERE keep = ? AND end_time < ? "
           "AND relpath NOT IN (SELECT relpath FROM holds)")
    args: list[Any] = [keep, cutoff]
    if camera is not None:
        sql += " AND camera = ?"
        args.append(camera)
    if not_cameras:
        sql += f" AND camera NOT IN ({', '.join('?' * len(not_cameras))})"
        args += not_cameras
    return [r[0] for r in conn.execute(sql, args)]


def list_segments(conn: sqlite3.Connection, since: float, until: float, limit: int,
                  camera: str | None = None) -> list[dict[str, Any]]:
    """Segments overlapping [since, until] (of one camera, or all), oldest first, with their size."""
    only = "" if camera is None else " AND s.camera = ?"
    rows = conn.execute(
        "SELECT s.relpath, s.camera, s.start_time, s.end_time, s.frames, "
        "s.keep OR EXISTS (SELECT 1 FROM holds h WHERE h.relpath = s.relpath) AS keep, m.bytes FROM segments s "
        f"JOIN media m ON m.relpath = s.relpath WHERE s.end_time > ? AND s.start_time < ?{only} "
        "ORDER BY s.start_time LIMIT ?", (since, until, *(() if camera is None else (camera,)), limit),
    ).fetchall()
    return [dict(r) for r in rows]
