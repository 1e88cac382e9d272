"""A data directory of schema 3 (each event with a clip file of its own) opens in schema 4 without loss: old clips
keep playing from the same URL, are counted in the quota and deleted with their event, verify-log still checks
them; old segments become run 0 of the store's camera."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest
from conftest import ROOT
from store_helpers import FPS, storage, video_frames

from camapp.config.recording import RecordingConfig
from camapp.record.recorder import Recorder, Room
from camapp.record.segments import ClipCut, Segment, cut_clip
from camapp.store import EventStore, StoreReader, db, verify_log
from camapp.store.chain import GENESIS, canonical, row_hash

# The schema-3 tables as camapp 0.1 wrote them (before runs, windows and holds).
SCHEMA_3 = f"""
CREATE TABLE event_log (seq INTEGER PRIMARY KEY, ts REAL NOT NULL, event_id TEXT NOT NULL, type TEXT NOT NULL,
    payload TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TABLE log_state (id INTEGER PRIMARY KEY CHECK (id = 1), head_seq INTEGER NOT NULL, head_hash TEXT NOT NULL,
    checkpoint_seq INTEGER NOT NULL, checkpoint_hash TEXT NOT NULL);
INSERT INTO log_state VALUES (1, 0, '{GENESIS}', 0, '{GENESIS}');
CREATE TABLE events (id TEXT PRIMARY KEY, camera TEXT, label TEXT, track_id INTEGER, start_time REAL, end_time REAL,
    score REAL, top_score REAL, box TEXT, current_zones TEXT, entered_zones TEXT, stationary INTEGER,
    last_seq INTEGER NOT NULL);
CREATE TABLE media (relpath TEXT PRIMARY KEY, owner TEXT NOT NULL, kind TEXT NOT NULL, bytes INTEGER NOT NULL,
    created REAL NOT NULL);
CREATE TABLE event_details (event_id TEXT PRIMARY KEY, frame_width INTEGER, frame_height INTEGER, path TEXT NOT NULL,
    clip_codec TEXT);
CREATE TABLE segments (relpath TEXT PRIMARY KEY, start_time REAL NOT NULL, end_time REAL NOT NULL,
    frames INTEGER NOT NULL, keep INTEGER NOT NULL DEFAULT 0);
PRAGMA user_version = 3;
"""


def _append(conn: sqlite3.Connection, event_id: str, type_: str, payload: dict[str, object]) -> None:
    seq, prev = conn.execute("SELECT head_seq, head_hash FROM log_state").fetchone()
    seq, ts, text = seq + 1, time.time(), canonical(payload)
    digest = row_hash(prev, seq, ts, event_id, type_, text)
    conn.execute("INSERT INTO event_log VALUES (?, ?, ?, ?, ?, ?, ?)", (seq, ts, event_id, type_, text, prev, digest))
    conn.execute("UPDATE log_state SET head_seq = ?, head_hash = ?", (seq, digest))


def _old_event(conn: sqlite3.Connection, data: Path, event_id: str, start: float, clip: Segment) -> None:
    state = {"id": event_id, "camera": "cam", "label": "person", "track_id": 1, "start_time": start,
             "end_time": start + 2.0, "score": 0.8, "top_score": 0.8, "box": [1.0, 2.0, 3.0, 4.0],
             "current_zones": [], "entered_zones": [], "stationary": False}
    _append(conn, event_id, "end", {**state, "type": "end", "zones": []})
    conn.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (event_id, "cam", "person", 1, start, start + 2.0, 0.8, 0.8, "[1.0,2.0,3.0,4.0]", "[]", "[]", 0,
                  conn.execute("SELECT head_seq FROM log_state").fetchone()[0]))
    rel = clip.path.relative_to(data).as_posix()
    conn.execute("INSERT INTO media VALUES (?, ?, 'clip', ?, ?)", (rel, event_id, clip.size, time.time()))
    _append(conn, event_id, "clip", {"id": event_id, "path": rel, "bytes": clip.size, "codec": "h264",
                                     "sha256": hashlib.sha256(clip.path.read_bytes()).hexdigest()})


@pytest.fixture
def old_dir(tmp_path: Path, demo_video: Path) -> Path:
    """Two events with clip files cut from a real recording, and one leftover segment, in schema 3."""
    data = tmp_path / "data"
    frames = video_frames(demo_video, 60)
    segments: list[Segment] = []

    def done(seg: Segment, room: Room) -> None:
        segments.append(seg)
        room.close()

    rec = Recorder(RecordingConfig(segment_s=2.0), data / "media" / "rec", fps=FPS, on_segment=done, lossless=True)
    for frame in frames:
        rec.offer(frame)
    rec.close()
    conn = sqlite3.connect(data / "events.db", isolation_level=None)
    conn.execute("PRAGMA page_size = 4096")  # as camapp 0.1 made it: SQLite's default pages, WAL
    conn.execute("PRAGMA journal_mode = WAL")
    conn.executescript(SCHEMA_3)
    t0 = frames[0].timestamp
    for n, event_id in enumerate(("old0", "old1")):
        start = t0 + 1.0 + 2.0 * n
        cut = ClipCut(start - 0.5, start, start + 2.0)
        clip = cut_clip([(s.path, s.start) for s in segments], cut, data / "media" / "old" / f"{event_id}-clip.mp4",
                        1 / FPS)
        assert clip is not None
        _old_event(conn, data, event_id, start, clip)
    last = segments[-1]
    conn.execute("INSERT INTO media VALUES (?, 'recording', 'segment', ?, ?)",
                 (last.path.relative_to(data).as_posix(), last.size, time.time()))
    conn.execute("INSERT INTO segments VALUES (?, ?, ?, ?, 1)",
                 (last.path.relative_to(data).as_posix(), last.start, last.end, last.frames))
    for seg in segments[:-1]:
        seg.path.unlink()  # an events-only recording kept no more than that
    conn.close()
    assert verify_log(data).ok
    return data


def test_a_schema_3_data_dir_opens_without_loss_and_its_clips_keep_playing(old_dir: Path) -> None:
    cfg = storage(old_dir.parent, recording={"mode": "continuous"})
    with EventStore(cfg, camera_id="front", fps=FPS, lossless=True) as store:
        events = {e["id"]: e for e in store.list_events()}
        assert sorted(events) == ["old0", "old1"]
        for event_id in events:
            assert events[event_id]["has_clip"] and events[event_id]["clip"] == "ready"
            clip = store.clip(event_id)
            assert clip is not None and clip.path is not None  # served from its own file, not converted
            with av.open(str(clip.path)) as container:
                assert container.streams.video[0].codec_context.name == "h264"
                assert sum(1 for _ in container.decode(video=0)) >= 20
        usage = store.usage()
        on_disk = sum(p.stat().st_size for p in (old_dir / "media").rglob("*.mp4"))
        assert usage["media_bytes"] == on_disk  # old clips are counted in the quota
        assert store.delete_event("old0")
        assert store.clip("old0") is None and not (old_dir / "media" / "old" / "old0-clip.mp4").exists()
    conn = sqlite3.connect(old_dir / "events.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 4
    assert conn.execute("PRAGMA page_size").fetchone()[0] == db.PAGE_SIZE  # rewritten once with small pages
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT camera, run FROM segments").fetchall() == [("front", 0)]
    conn.close()
    result = verify_log(old_dir)
    assert result.ok, result.message


def test_an_old_clip_the_quota_removed_says_pruned(old_dir: Path) -> None:
    (old_dir / "media" / "old" / "old1-clip.mp4").unlink()  # what schema 3's quota did: the file went, the row stayed
    with EventStore(storage(old_dir.parent), camera_id="cam", fps=FPS, lossless=True):
        pass
    event = StoreReader(old_dir).get_event("old1")
    assert event is not None and event["clip"] == "pruned" and not event["has_clip"]
    assert verify_log(old_dir).ok


@pytest.mark.parametrize("why", ["too big", "another connection open"])
def test_an_old_database_that_cannot_be_rewritten_keeps_its_pages_and_works(old_dir: Path, why: str,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    reader = sqlite3.connect(old_dir / "events.db")
    if why == "too big":
        monkeypatch.setattr(db, "SHRINK_MAX_BYTES", 1024)
    else:
        reader.execute("SELECT COUNT(*) FROM events").fetchone()  # a reader holds the file open in WAL mode
    with EventStore(storage(old_dir.parent), camera_id="cam", fps=FPS, lossless=True) as store:
        assert sorted(e["id"] for e in store.list_events()) == ["old0", "old1"]
        assert store.delete_event("old0")
    assert reader.execute("PRAGMA page_size").fetchone()[0] == 4096
    assert reader.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    reader.close()
    result = verify_log(old_dir)
    assert result.ok, result.message


def test_a_kill_9_while_an_old_database_is_rewritten_loses_nothing(old_dir: Path) -> None:
    """The rewrite is one SQLite transaction (VACUUM under a rollback journal): killed midway, the next start finds
    the old file whole, rolls the journal back and rewrites it again."""
    path = old_dir / "events.db"
    conn = sqlite3.connect(path, isolation_level=None)  # enough pages that the rewrite takes a while
    conn.execute("CREATE TABLE ballast (data BLOB)")
    conn.executemany("INSERT INTO ballast VALUES (?)", ((bytes(3000),) for _ in range(8000)))
    conn.close()
    rewrite = "import sys; from pathlib import Path; from camapp.store import db; p = Path(sys.argv[1]); " \
        "db.shrink_pages(db.connect(p), p)"
    child = subprocess.Popen([sys.executable, "-c", rewrite, str(path)], cwd=ROOT)
    journal = Path(f"{path}-journal")
    deadline = time.monotonic() + 60
    while not journal.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL, "the rewrite finished before the kill"
    assert journal.exists()  # killed inside the VACUUM: its rollback journal is left behind
    with EventStore(storage(old_dir.parent), camera_id="cam", fps=FPS, lossless=True) as store:
        assert sorted(e["id"] for e in store.list_events()) == ["old0", "old1"]
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA page_size").fetchone()[0] == db.PAGE_SIZE
    assert conn.execute("SELECT COUNT(*) FROM ballast").fetchone()[0] == 8000
    conn.close()
    assert not journal.exists()
    result = verify_log(old_dir)
    assert result.ok, result.message
