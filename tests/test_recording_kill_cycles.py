"""Issue 25, finding 5, second half: over repeated kill -9 and restart cycles of `camapp replay` into one data dir,
every clip the store offers is as long as its event's window (pre-roll to post-roll) within the footage its
recording run kept: a kill loses the segment being written, never the footage around an event it did not cut.
Real subprocesses, SIGKILL at varied points, every clip measured with PyAV."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import av
import pytest
from conftest import ROOT
from store_helpers import count_rows, kill_when, served_clip
from test_recording_replay import POST, PRE, camapp, clip_info, expected_duration, run_bounds, write_config

from camapp.atomic import is_temp
from camapp.store import StoreReader

pytestmark = pytest.mark.slow
CYCLES = 4
# Holds of the running replay's own events (a start also writes the holds of windows the last kill left open).
HOLDS = "SELECT COUNT(*) FROM holds WHERE run > {last_run}"


def short_clip(video: Path, out: Path, frames: int = 20) -> Path:
    """The first frames of the demo as a file of its own: a quick last restart that sweeps what the kill left."""
    with av.open(str(video)) as src, av.open(str(out), "w") as dst:
        stream = dst.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 768, 576, "yuv420p"
        for n, frame in enumerate(src.decode(video=0)):
            if n == frames:
                break
            dst.mux(stream.encode(frame.reformat(format="yuv420p")))
        dst.mux(stream.encode(None))
    return out


@pytest.mark.timeout(900)
def test_clips_keep_their_length_over_kill_and_restart_cycles(tmp_path: Path, demo_video: Path,
                                                              model_manifest: Path) -> None:
    cfg = write_config(tmp_path)
    data = tmp_path / "data"
    db = data / "events.db"
    for cycle in range(CYCLES):
        # Each start sweeps what the last kill left; each kill lands at another point of the clip.
        last_run = count_rows(db, "SELECT COALESCE(MAX(id), 0) FROM runs")
        kill_when(camapp("replay", str(demo_video), "-c", str(cfg)), db, HOLDS.format(last_run=last_run),
                  3 + 2 * cycle, 300)
    final = camapp("replay", str(short_clip(demo_video, tmp_path / "short.mp4")), "-c", str(cfg))
    _, err = final.communicate(timeout=300)
    assert final.returncode == 0, err[-2000:]
    verify = subprocess.run([sys.executable, "-m", "camapp.cli", "verify-log", "-c", str(cfg)], cwd=ROOT,
                            capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert [p for p in data.rglob("*") if is_temp(p)] == []
    with sqlite3.connect(db) as conn:
        runs = conn.execute("SELECT COUNT(DISTINCT run) FROM segments").fetchone()[0]
        mixed = conn.execute("SELECT COUNT(*) FROM holds h JOIN windows w USING (event_id) WHERE h.run != w.run"
                             ).fetchone()[0]
    assert runs == CYCLES + 1 and mixed == 0
    reader = StoreReader(data)
    bounds = run_bounds(data)
    events = reader.list_events(limit=1000)
    measured, short, off = [], [], []
    for event in events:
        if not event["has_clip"]:
            continue
        clip = served_clip(reader, event["id"])
        assert clip is not None, event["id"]
        codec, duration, frames = clip_info(clip)
        assert codec == "h264" and frames > 0, event["id"]
        assert event["end_time"] is not None
        length = event["end_time"] - event["start_time"]
        want = expected_duration(event, bounds[event["id"]])
        measured.append(duration)
        if duration < 0.5 * (length + PRE + POST) and want >= 0.5 * (length + PRE + POST):
            short.append((event["id"], round(duration, 1), round(length, 1)))
        if abs(duration - want) > 1.0:
            off.append((event["id"], round(duration, 1), round(want, 1)))
    print(f"{len(measured)} clips of {len(events)} events over {CYCLES} kills; shorter than half their window: "
          f"{short}; off their window (within the run's footage) by more than 1 s: {off}")
    assert len(measured) >= 0.8 * len(events) and len(measured) >= 30
    assert short == [], short
    assert off == [], off
