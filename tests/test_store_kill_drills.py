"""kill -9 while the store serves clips and while the quota prunes (real subprocesses): after a restart no row
points at a missing segment or file, no temp file remains, verify-log passes and every event claiming a clip plays."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import av
import pytest
from store_helpers import FPS, kill_when, served_clip, storage

from camapp.store import EventStore, verify_log
from camapp.store.media import is_temp

ROOT = Path(__file__).resolve().parent.parent

# Runs in a child process: record overlapping events forever; with `serve`, another thread builds the clips of
# ended events again and again (cache emptied each time), as browsers asking for them would.
_WRITER = """
import dataclasses, itertools, sys, threading, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from store_helpers import FPS, message, result, storage, tracked, video_frames
from camapp.store import EventStore

frames = video_frames(Path({video!r}), 30)
cfg = storage(Path({tmp!r}), pre_roll_s=0.5, post_roll_s=0.5, max_media_mb={quota}, recording={{"segment_s": 1.0}})
store = EventStore(cfg, camera_id="cam", fps=FPS, lossless=True)

def serve():
    while True:
        for event in store.list_events(limit=50):
            if event["has_clip"]:
                store.clip_cache = type(store.clip_cache)()
                if store.clip(event["id"]) is not None:
                    print("served", flush=True)

if {serve}:
    threading.Thread(target=serve, daemon=True).start()
print("started", flush=True)
for n in itertools.count():
    t = frames[0].timestamp + n / FPS
    frame = dataclasses.replace(frames[n % len(frames)], timestamp=t, index=n)
    events = []
    if n % 5 == 0:
        events.append(message("new", f"e{{n}}", t, track_id=n))
    if n % 5 == 0 and n >= 15:
        events.append(message("end", f"e{{n - 15}}", t - 1.5, track_id=n - 15, end=t))
    person = tracked(n - n % 5, 0.5 + (n % 5) / 10, (300.0, 150.0, 360.0, 330.0), t)
    store.handle(result(frame, tuple(events), (person,)))
    time.sleep(0.01)
"""

DANGLING = {
    "holds": "SELECT COUNT(*) FROM holds WHERE relpath NOT IN (SELECT relpath FROM segments)",
    "segments": "SELECT COUNT(*) FROM segments WHERE relpath NOT IN (SELECT relpath FROM media)",
}


def _check_after_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with EventStore(storage(tmp_path), camera_id="cam", fps=FPS, lossless=True) as store:
        events = store.list_events(limit=1000)
        assert events
        for event in events:
            if event["has_clip"]:
                clip = served_clip(store, event["id"])
                assert clip is not None, event["id"]
                with av.open(str(clip)) as container:
                    assert sum(1 for _ in container.decode(video=0)) > 0
                clip.unlink()
    conn = sqlite3.connect(data / "events.db")
    for what, sql in DANGLING.items():
        assert conn.execute(sql).fetchone()[0] == 0, what
    media = [r[0] for r in conn.execute("SELECT relpath FROM media")]
    conn.close()
    assert all((data / rel).is_file() for rel in media)
    assert [p for p in data.rglob("*") if is_temp(p)] == []
    result = verify_log(data)
    assert result.ok, result.message


@pytest.mark.parametrize(("what", "quota", "serve", "sql", "count"), [
    ("a clip request", 2048, True, "SELECT COUNT(DISTINCT event_id) FROM holds", 6),
    ("pruning", 1, False, "SELECT COUNT(*) FROM event_log WHERE type = 'pruned'", 4),
])
def test_kill_9_then_restart_leaves_no_dangling_row(tmp_path: Path, demo_video: Path, what: str, quota: int,
                                                    serve: bool, sql: str, count: int) -> None:
    script = _WRITER.format(tests=str(ROOT / "tests"), video=str(demo_video), tmp=str(tmp_path), quota=quota,
                            serve=serve)
    child = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
    assert child.stdout is not None and child.stdout.readline().strip() == b"started"
    if serve:  # the kill comes while clips are being built
        assert child.stdout.readline().strip() == b"served"
    kill_when(child, tmp_path / "data" / "events.db", sql, count, 90)
    _check_after_restart(tmp_path)
