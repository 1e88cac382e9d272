"""Crash safety: SIGKILL the store while it writes events, snapshots and clips; the reopened store is consistent."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import av
import cv2
import pytest
from store_helpers import FPS, kill_when, storage

from camapp.store import EventStore, verify_log
from camapp.store.media import is_temp

ROOT = Path(__file__).resolve().parent.parent

# Runs in a child process: record events forever (short clips, snapshots) until killed.
_WRITER = """
import dataclasses, itertools, sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from store_helpers import FPS, message, result, storage, tracked, video_frames
from camapp.store import EventStore

frames = video_frames(Path({video!r}), 30)
cfg = storage(Path({tmp!r}), pre_roll_s=0.5, post_roll_s=0.5, recording={{"segment_s": 1.0}})
store = EventStore(cfg, camera_id="cam", fps=FPS, lossless=True)
print("started", flush=True)
for n in itertools.count():
    t = frames[0].timestamp + n / FPS
    frame = dataclasses.replace(frames[n % len(frames)], timestamp=t, index=n)
    events = []
    if n % 5 == 0:
        events.append(message("new", f"e{{n}}", t, track_id=n))
    if n % 5 == 0 and n >= 15:
        events.append(message("end", f"e{{n - 15}}", t - 15, track_id=n - 15, end=t))
    person = tracked(n - n % 5, 0.5 + (n % 5) / 10, (300.0, 150.0, 360.0, 330.0), t)
    store.handle(result(frame, tuple(events), (person,)))
    time.sleep(0.01)  # a fast camera, not a flood: the media thread must keep up to make progress
"""


def _complete(path: Path) -> bool:
    """A JPEG that decodes to its end, or an H.264 MP4 whose frames all decode."""
    if path.suffix == ".jpg":
        data = path.read_bytes()
        return data.endswith(b"\xff\xd9") and cv2.imread(str(path)) is not None
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        expected = stream.frames
        frames = sum(1 for _ in container.decode(stream))
        return stream.codec_context.name == "h264" and frames > 0 and frames == expected


@pytest.mark.parametrize("kill_after_clips", [1, 6])
def test_sigkill_mid_write_leaves_a_consistent_store(tmp_path: Path, demo_video: Path, kill_after_clips: int) -> None:
    script = _WRITER.format(tests=str(ROOT / "tests"), video=str(demo_video), tmp=str(tmp_path))
    cmd = [sys.executable, "-c", script]
    child = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    db = storage(tmp_path).path / "events.db"  # type: ignore[operator]
    assert child.stdout is not None and child.stdout.readline().strip() == b"started"
    kill_when(child, db, "SELECT COUNT(DISTINCT event_id) FROM holds", kill_after_clips, 60)

    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    media = [(r[0], r[1]) for r in conn.execute("SELECT relpath, owner FROM media")]
    held = [r[0] for r in conn.execute("SELECT relpath FROM holds")]
    events = {r[0] for r in conn.execute("SELECT id FROM events")}
    open_events = conn.execute("SELECT COUNT(*) FROM events WHERE end_time IS NULL").fetchone()[0]
    conn.close()
    assert media and events and open_events > 0  # the kill interrupted live events
    data_dir = db.parent
    assert any(owner == "recording" for _, owner in media)  # recorded segments
    assert held and set(held) <= {rel for rel, _ in media}  # every held segment is a complete, counted file
    for relpath, owner in media:
        assert owner in events or owner == "recording", f"{relpath} belongs to no event"
        assert _complete(data_dir / relpath), f"{relpath} is referenced but incomplete"
    check = verify_log(db)
    assert check.ok, check.message

    # Reopening sweeps what the crash left half-written and closes the events that were open.
    with EventStore(storage(tmp_path), camera_id="cam", fps=FPS, lossless=True) as store:
        events_after = store.list_events(limit=1000)
        assert all(e["end_time"] is not None for e in events_after)
        for event in events_after:  # an event that says it has a clip serves one
            assert not event["has_clip"] or store.clip(event["id"]) is not None, event["id"]
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT COUNT(*) FROM holds WHERE relpath NOT IN (SELECT relpath FROM segments)"
                        ).fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM segments WHERE relpath NOT IN (SELECT relpath FROM media)"
                        ).fetchone()[0] == 0
    conn.close()
    assert not [p for p in data_dir.rglob("*") if is_temp(p)]
    assert verify_log(db).ok
