"""SQLite schema and statements for the event store: the hash-chained log, derived events, media files."""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import sqlite3
from pathlib import Path
from typing import Any, Literal

from camapp.errors import StorageError
from camapp.store.chain import (
    EVENT_FIELDS,
    FILE_TYPES,
    GENESIS,
    canonical,
    event_state,
    row_hash,
    row_to_state,
    state_to_row,
)
from camapp.store.records import EventDetail, EventRecord

log = logging.getLogger(__name__)

SCHEMA_VERSION = 4  # 2: event_details, 3: segments, 4: runs, windows, holds (clips are views of segments)
MEDIA_KINDS = ("snapshot", "snapshot_clean", "thumbnail", "clip", "manual", "segment")
ClipState = Literal["recording", "ready", "none", "pruned"]
SEGMENT_OWNER = "recording"  # media.owner of recorded segments (no event owns them)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS event_log (
    seq INTEGER PRIMARY KEY, ts REAL NOT NULL, event_id TEXT NOT NULL, type TEXT NOT NULL,
    payload TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS event_log_event ON event_log(event_id);
CREATE TABLE IF NOT EXISTS log_state (
    id INTEGER PRIMARY KEY CHECK (id = 1), head_seq INTEGER NOT NULL, head_hash TEXT NOT NULL,
    checkpoint_seq INTEGER NOT NULL, checkpoint_hash TEXT NOT NULL);
INSERT OR IGNORE INTO log_state VALUES (1, 0, '{GENESIS}', 0, '{GENESIS}');
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY, camera TEXT, label TEXT, track_id INTEGER, start_time REAL, end_time REAL,
    score REAL, top_score REAL, box TEXT, current_zones TEXT, entered_zones TEXT, stationary INTEGER,
    last_seq INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS events_start ON events(start_time);
CREATE INDEX IF NOT EXISTS events_label_start ON events(label, start_time);
CREATE TABLE IF NOT EXISTS media (
    relpath TEXT PRIMARY KEY, owner TEXT NOT NULL, kind TEXT NOT NULL, bytes INTEGER NOT NULL, created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS media_owner ON media(owner);
CREATE INDEX IF NOT EXISTS media_created ON media(created);
CREATE TABLE IF NOT EXISTS event_details (
    event_id TEXT PRIMARY KEY, frame_width INTEGER, frame_height INTEGER, path TEXT NOT NULL, clip_codec TEXT);
CREATE TABLE IF NOT EXISTS segments (
    relpath TEXT PRIMARY KEY, start_time REAL NOT NULL, end_time REAL NOT NULL, frames INTEGER NOT NULL,
    keep INTEGER NOT NULL DEFAULT 0, camera TEXT NOT NULL DEFAULT '', run INTEGER NOT NULL DEFAULT 0,
    sha256 TEXT);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, camera TEXT NOT NULL, started REAL NOT NULL);
CREATE TABLE IF NOT EXISTS windows (
    event_id TEXT PRIMARY KEY, camera TEXT NOT NULL, run INTEGER NOT NULL, start_time REAL NOT NULL,
    latest_start REAL NOT NULL, end_time REAL, state TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS holds (
    event_id TEXT NOT NULL, relpath TEXT NOT NULL, camera TEXT NOT NULL, run INTEGER NOT NULL,
    PRIMARY KEY (event_id, relpath)) WITHOUT ROWID;
"""
# Created after the columns a schema-3 database lacks are added (an index on a missing column would fail).
_INDEXES = """
CREATE INDEX IF NOT EXISTS segments_start ON segments(start_time);
CREATE INDEX IF NOT EXISTS holds_relpath ON holds(relpath);
"""
# Schema 3 -> 4: columns segments gained (old segments: run 0, camera filled in by the store that opens them).
_SEGMENT_COLUMNS = (("camera", "TEXT NOT NULL DEFAULT ''"), ("run", "INTEGER NOT NULL DEFAULT 0"),
                    ("sha256", "TEXT"))


WRITER_CACHE_KIB = 512  # the writer connection's page cache
# A commit writes every page it changed, whole, to the WAL (and the checkpoint writes each once more). A new
# event's commit changes a row or two in a dozen b-trees (log, its index, log_state, events and two indexes,
# windows, details, media and two indexes): ~14 pages whatever their size, so 4 KiB pages wrote ~56 KiB to the SD
# card for a few hundred bytes of rows. 1 KiB pages cut that to a quarter; the trees get a level deeper, which
# costs reads nothing that matters at an appliance's row counts. New databases only: in WAL mode the page size of
# an existing file is fixed: an older database is rewritten once at start (shrink_pages), if small enough.
PAGE_SIZE = 1024
SHRINK_MAX_BYTES = 64 * 1024 * 1024  # a bigger older database keeps its pages (rewriting it would take long)
# Checkpoint after this many WAL pages: 4 MiB of WAL, as SQLite's default of 1000 pages is at 4 KiB pages (with
# smaller pages the default would checkpoint four times as often, each copying the same hot pages again).
WAL_CHECKPOINT_PAGES = 4 * 1024 * 1024 // PAGE_SIZE


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open the database; the writer gets WAL + autocommit (explicit BEGIN), readers a read-only handle."""
    try:
        if readonly:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10, check_same_thread=False)
        else:
            conn = sqlite3.connect(path, timeout=10, isolation_level=None)
            conn.execute(f"PRAGMA page_size={PAGE_SIZE}")  # before anything is written: a new file only
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
            # NORMAL in WAL mode: a process crash loses nothing committed; power loss may lose the last commits
            # but never corrupts the file.
            conn.execute("PRAGMA synchronous=NORMAL")
            # The writer only appends and updates recent rows; SQLite's default 2 MB page cache would fill up
            # slowly as the file grows and keep all of it resident (growth a long-running appliance can do without).
            conn.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
    except sqlite3.Error as err:
        raise StorageError(f"cannot open the event database {path}: {err}") from None
    conn.row_factory = sqlite3.Row
    return conn


def shrink_pages(conn: sqlite3.Connection, path: Path) -> bool:
    """Rewrite a database made with bigger pages (an older camapp) with PAGE_SIZE ones, once, at start, while no
    other connection is open: a VACUUM, which writes the file about twice, against the ~100 MB/h of WAL its big
    pages cost a busy camera. Skipped (the database works as it is) when it is larger than SHRINK_MAX_BYTES, busy
    or the disk has no room. VACUUM is one transaction: a crash midway leaves the old file, rolled back at the next
    open. True when the database has PAGE_SIZE pages now."""
    page = int(conn.execute("PRAGMA page_size").fetchone()[0])
    if page == PAGE_SIZE:
        return True
    size = sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    if size > SHRINK_MAX_BYTES or shutil.disk_usage(path.parent).free < 3 * size:  # a copy and a journal
        log.info("event store: %s keeps its %d-byte pages (%.0f MB; rewritten only up to %.0f MB, with room for "
                 "two copies)", path, page, size / 2**20, SHRINK_MAX_BYTES / 2**20)
        return False
    try:
        # The page size can change only outside WAL mode, which another open connection keeps the file in.
        mode = str(conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0]).lower()
        if mode != "delete":
            raise sqlite3.OperationalError(f"another connection keeps it in {mode} mode")
        conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
        conn.execute("VACUUM")
    except sqlite3.Error as err:
        log.warning("event store: cannot rewrite %s with %d-byte pages (%s); it keeps %d-byte ones", path,
                    PAGE_SIZE, err, page)
    finally:
        with contextlib.suppress(sqlite3.Error):  # else the writer's own connection sets WAL again
            conn.execute("PRAGMA journal_mode=WAL")
    now = int(conn.execute("PRAGMA page_size").fetchone()[0])
    if now == PAGE_SIZE:
        log.info("event store: rewrote %s with %d-byte pages (was %d: %.1f MB)", path, PAGE_SIZE, page, size / 2**20)
    return now == PAGE_SIZE


def init_schema(conn: sqlite3.Connection) -> None:
    """Create tables and indexes if missing; refuse a database from a newer camapp."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise StorageError(f"event database schema {version} is newer than this camapp supports ({SCHEMA_VERSION})")
    conn.executescript(_SCHEMA)
    have = {r[1] for r in conn.execute("PRAGMA table_info(segments)")}
    for name, decl in _SEGMENT_COLUMNS:
        if name not in have:
            conn.execute(f"ALTER TABLE segments ADD COLUMN {name} {decl}")
    conn.executescript(_INDEXES)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def append_log(conn: sqlite3.Connection, event_id: str, type_: str, payload: dict[str, Any], ts: float) -> int:
    """Append one chained row to event_log and apply it to `events`; returns its seq. Call inside a transaction."""
    head_seq, head_hash = conn.execute("SELECT head_seq, head_hash FROM log_state WHERE id = 1").fetchone()
    seq, text = int(head_seq) + 1, canonical(payload)
    digest = row_hash(head_hash, seq, ts, event_id, type_, text)
    conn.execute(
        "INSERT INTO event_log (seq, ts, event_id, type, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (seq, ts, event_id, type_, text, head_hash, digest),
    )
    conn.execute("UPDATE log_state SET head_seq = ?, head_hash = ? WHERE id = 1", (seq, digest))
    if type_ in FILE_TYPES:
        return seq
    state = event_state(type_, json.loads(text))
    if state is None:
        conn.execute("DELETE FROM events WHERE id = ?", (event_id,))
        conn.execute("DELETE FROM event_details WHERE event_id = ?", (event_id,))
        # Its footage is no longer held by it; the caller deletes segments nothing else holds.
        conn.execute("DELETE FROM holds WHERE event_id = ?", (event_id,))
        conn.execute("DELETE FROM windows WHERE event_id = ?", (event_id,))
    else:
        cols = ", ".join(EVENT_FIELDS)
        marks = ", ".join("?" * (len(EVENT_FIELDS) + 1))
        conn.execute(f"INSERT OR REPLACE INTO events ({cols}, last_seq) VALUES ({marks})", (*state_to_row(state), seq))
    return seq


def put_details(conn: sqlite3.Connection, event_id: str, details: dict[str, Any]) -> None:
    """Store an event's path, frame size and clip codec, unless the event is gone (deleted meanwhile).

    Not part of the hash chain: derived from frames, rewritten while the event runs, removed with the event.
    """
    conn.execute(
        "INSERT OR REPLACE INTO event_details (event_id, frame_width, frame_height, path, clip_codec) "
        "SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM events WHERE id = ?)",
        (event_id, details["frame_width"], details["frame_height"], canonical(details["path"]),
         details["clip_codec"], event_id),
    )


def drop_orphan_details(conn: sqlite3.Connection) -> int:
    """Details of events no longer stored (e.g. deleted by an older camapp); returns rows removed."""
    return int(conn.execute("DELETE FROM event_details WHERE event_id NOT IN (SELECT id FROM events)").rowcount)


def event_exists(conn: sqlite3.Connection, event_id: str) -> bool:
    return conn.execute("SELECT 1 FROM events WHERE id = ?", (event_id,)).fetchone() is not None


def add_media(conn: sqlite3.Connection, relpath: str, owner: str, kind: str, size: int, created: float) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO media (relpath, owner, kind, bytes, created) VALUES (?, ?, ?, ?, ?)",
        (relpath, owner, kind, size, created),
    )


def take_media(conn: sqlite3.Connection, owner: str) -> list[str]:
    """Delete an owner's media rows and return their relative paths (the caller unlinks after commit)."""
    paths = [r[0] for r in conn.execute("SELECT relpath FROM media WHERE owner = ?", (owner,))]
    conn.execute("DELETE FROM media WHERE owner = ?", (owner,))
    return paths


def media_bytes(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COALESCE(SUM(bytes), 0) FROM media").fetchone()[0])


def camera_media_bytes(conn: sqlite3.Connection, camera: str) -> int:
    """Bytes of one camera's media: its events' files and its recording segments (each counted once)."""
    row = conn.execute(
        "SELECT COALESCE(SUM(m.bytes), 0) FROM media m WHERE m.owner IN (SELECT id FROM events WHERE camera = ?) "
        "OR m.relpath IN (SELECT relpath FROM segments WHERE camera = ?)", (camera, camera)).fetchone()
    return int(row[0])


def media_relpath(conn: sqlite3.Connection, owner: str, kind: str) -> str | None:
    row = conn.execute("SELECT relpath FROM media WHERE owner = ? AND kind = ?", (owner, kind)).fetchone()
    return None if row is None else str(row[0])


def _event_dict(conn: sqlite3.Connection, row: sqlite3.Row) -> EventRecord:
    e = row_to_state(dict(row))
    kinds = {r[0] for r in conn.execute("SELECT kind FROM media WHERE owner = ?", (e["id"],))}
    clip = clip_state(conn, e["id"], "clip" in kinds)
    return EventRecord(
        id=e["id"], camera=e["camera"], label=e["label"], track_id=e["track_id"], start_time=e["start_time"],
        end_time=e["end_time"], score=e["score"], top_score=e["top_score"], box=e["box"],
        current_zones=e["current_zones"], entered_zones=e["entered_zones"], stationary=e["stationary"],
        zones=e["current_zones"], ongoing=e["end_time"] is None, has_snapshot="snapshot" in kinds,
        has_snapshot_clean="snapshot_clean" in kinds, has_thumbnail="thumbnail" in kinds,
        has_clip=clip == "ready", clip=clip,
    )


def clip_state(conn: sqlite3.Connection, event_id: str, has_clip_file: bool) -> ClipState:
    """What the API says of an event's clip: `ready` (it plays), `recording` (its window is not all on disk yet),
    `pruned` (its footage was deleted, the event kept) or `none` (nothing was recorded for it)."""
    if has_clip_file:  # a clip file of schema 3
        return "ready"
    row = conn.execute("SELECT state, EXISTS (SELECT 1 FROM holds WHERE event_id = ?) FROM windows "
                       "WHERE event_id = ?", (event_id, event_id)).fetchone()
    if row is not None:
        state: ClipState = row[0]
        return "pruned" if state == "ready" and not row[1] else state
    # A schema-3 event whose clip file the quota removed still has its `clip` log row.
    logged = conn.execute("SELECT 1 FROM event_log WHERE event_id = ? AND type = 'clip' LIMIT 1", (event_id,))
    return "pruned" if logged.fetchone() else "none"


def query_events(conn: sqlite3.Connection, where: list[str], args: list[Any], limit: int) -> list[EventRecord]:
    """Newest-first events matching every clause in `where`."""
    sql = "SELECT * FROM events"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY start_time DESC, id DESC LIMIT ?"
    rows = conn.execute(sql, (*args, limit)).fetchall()
    return [_event_dict(conn, r) for r in rows]


def fetch_event(conn: sqlite3.Connection, event_id: str) -> EventDetail | None:
    """One event with its details: path [[t, x, y], ...] (bottom-centre, frame pixels), frame size, clip codec."""
    row = conn.execute("SELECT * FROM events WHERE id = ?", (event_id,)).fetchone()
    if row is None:
        return None
    event = _event_dict(conn, row)
    extra = conn.execute(
        "SELECT frame_width, frame_height, path, clip_codec FROM event_details WHERE event_id = ?", (event_id,)
    ).fetchone()
    if extra is None:
        return EventDetail(**event, path=[], frame_width=None, frame_height=None, clip_codec=None)
    return EventDetail(**event, path=json.loads(extra["path"]), frame_width=extra["frame_width"],
                       frame_height=extra["frame_height"], clip_codec=extra["clip_codec"])
