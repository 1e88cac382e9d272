"""SQL for events' footage: recording runs, each event's clip window and the segments it holds (schema 4).

A segment is the only copy of its video; an event *holds* the segments covering its window. See docs/storage.md,
"Footage: one copy, events hold it".
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from camapp.store import db
from camapp.store.db import ClipState


@dataclass(frozen=True)
class HeldSegment:
    """One segment of an event's clip: where it is, when it starts and ends, which camera and run recorded it."""

    relpath: str
    start: float
    end: float
    frames: int
    camera: str
    run: int


def new_run(conn: sqlite3.Connection, camera: str) -> int:
    """A recording run starts (a store opened its recorder); returns its id."""
    cur = conn.execute("INSERT INTO runs (camera, started) VALUES (?, ?)", (camera, time.time()))
    return int(cur.lastrowid or 0)


def adopt_legacy(conn: sqlite3.Connection, camera: str) -> int:
    """Segments written before schema 4 (no camera) belong to the camera of the store that opens them."""
    return int(conn.execute("UPDATE segments SET camera = ? WHERE camera = ''", (camera,)).rowcount)


def recorded_until(conn: sqlite3.Connection, camera: str) -> float | None:
    """End of the last segment kept for this camera, or None."""
    row = conn.execute("SELECT MAX(end_time) FROM segments WHERE camera = ?", (camera,)).fetchone()
    return None if row is None or row[0] is None else float(row[0])


def open_window(conn: sqlite3.Connection, event_id: str, camera: str, run: int,
                start: float, latest_start: float) -> None:
    """An event that is to get a clip started: its window is being recorded (kept unless it exists already)."""
    conn.execute(
        "INSERT OR IGNORE INTO windows (event_id, camera, run, start_time, latest_start, end_time, state) "
        "SELECT ?, ?, ?, ?, ?, NULL, 'recording' WHERE EXISTS (SELECT 1 FROM events WHERE id = ?)",
        (event_id, camera, run, start, latest_start, event_id),
    )


def recording_windows(conn: sqlite3.Connection, camera: str) -> list[tuple[str, int, float, float, float | None]]:
    """Windows a crash left unfinished: event id, run, window start, the event's start, the event's end."""
    rows = conn.execute(
        "SELECT w.event_id, w.run, w.start_time, w.latest_start, e.end_time FROM windows w "
        "JOIN events e ON e.id = w.event_id WHERE w.state = 'recording' AND w.camera = ?", (camera,),
    ).fetchall()
    return [(str(r[0]), int(r[1]), float(r[2]), float(r[3]), None if r[4] is None else float(r[4])) for r in rows]


def segment_hashes(conn: sqlite3.Connection, relpaths: list[str]) -> list[dict[str, Any]]:
    """Path, bytes and sha256 of the stored segments among `relpaths`, in the given order."""
    out = []
    for rel in relpaths:
        row = conn.execute("SELECT s.sha256, m.bytes FROM segments s JOIN media m ON m.relpath = s.relpath "
                           "WHERE s.relpath = ?", (rel,)).fetchone()
        if row is not None:
            out.append({"path": rel, "bytes": int(row[1]), "sha256": row[0]})
    return out


def add_holds(conn: sqlite3.Connection, event_id: str, camera: str, run: int,
              window: tuple[float, float], relpaths: list[str]) -> list[dict[str, Any]]:
    """The event's window is recorded: it holds these segments (those of its camera and run still stored).
    Returns what it holds (path, bytes, sha256) for the `hold` log row; the window is `ready`, or `none`."""
    files = segment_hashes(conn, relpaths)
    ok = [f["path"] for f in files if conn.execute(
        "SELECT 1 FROM segments WHERE relpath = ? AND camera = ? AND run = ?", (f["path"], camera, run)).fetchone()]
    files = [f for f in files if f["path"] in ok]
    conn.executemany("INSERT OR IGNORE INTO holds (event_id, relpath, camera, run) VALUES (?, ?, ?, ?)",
                     [(event_id, rel, camera, run) for rel in ok])
    conn.execute("UPDATE windows SET start_time = ?, end_time = ?, state = ? WHERE event_id = ?",
                 (*window, "ready" if ok else "none", event_id))
    return files


def held_segments(conn: sqlite3.Connection, event_id: str) -> list[HeldSegment]:
    """The segments an event holds, oldest first."""
    rows = conn.execute(
        "SELECT s.relpath, s.start_time, s.end_time, s.frames, h.camera, h.run FROM holds h "
        "JOIN segments s ON s.relpath = h.relpath WHERE h.event_id = ? ORDER BY s.start_time", (event_id,),
    ).fetchall()
    return [HeldSegment(str(r[0]), float(r[1]), float(r[2]), int(r[3]), str(r[4]), int(r[5])) for r in rows]


def window(conn: sqlite3.Connection, event_id: str) -> tuple[float, float, float | None, ClipState] | None:
    """An event's clip window: start, latest start (the event's own), end, state; None if it has none."""
    row = conn.execute("SELECT start_time, latest_start, end_time, state FROM windows WHERE event_id = ?",
                       (event_id,)).fetchone()
    if row is None:
        return None
    return float(row[0]), float(row[1]), None if row[2] is None else float(row[2]), row[3]


def unheld(conn: sqlite3.Connection, relpaths: list[str]) -> list[str]:
    """Those of `relpaths` that no event holds any more."""
    return [rel for rel in relpaths if conn.execute("SELECT 1 FROM holds WHERE relpath = ?", (rel,)).fetchone()
            is None]


def drop_dangling(conn: sqlite3.Connection, now: float) -> int:
    """Holds naming a segment that is gone (a full disk's rescue, a file lost): forgotten; each event that lost
    footage gets a `pruned` log row, and its window says `pruned` once nothing is left. Returns holds dropped."""
    rows = conn.execute("SELECT event_id, relpath FROM holds WHERE relpath NOT IN (SELECT relpath FROM segments)"
                        ).fetchall()
    lost: dict[str, list[str]] = {}
    for event_id, rel in rows:
        lost.setdefault(str(event_id), []).append(str(rel))
    for event_id, rels in lost.items():
        conn.executemany("DELETE FROM holds WHERE event_id = ? AND relpath = ?", [(event_id, r) for r in rels])
        mark_pruned(conn, event_id, rels, "footage lost", now)
    return len(rows)


def mark_pruned(conn: sqlite3.Connection, event_id: str, relpaths: list[str], reason: str, now: float) -> None:
    """Log that footage of a kept event was deleted (`pruned` row; it leaves the event's state as it was)."""
    if db.event_exists(conn, event_id):
        db.append_log(conn, event_id, "pruned", {"id": event_id, "reason": reason, "segments": relpaths}, now)
