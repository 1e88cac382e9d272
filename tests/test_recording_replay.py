"""Recording done right, end to end: `camapp replay vtest.avi` three times into one data dir with storage on gives
EVERY event an H.264 clip as long as the event plus pre- and post-roll (replays never overlap in time, no clip mixes
two runs), video is on disk once, and each clip plays in headless Chromium; a `camapp replay` killed with
SIGKILL mid-run leaves a store that verifies, with no row pointing at a missing or broken file and no temp file
after the restart."""

from __future__ import annotations

import itertools
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest
import yaml
from conftest import ROOT
from store_helpers import kill_when, served_clip
from test_web_browser import setup_admin
from test_web_support import known_setup_code, make_appliance

from camapp.atomic import is_temp
from camapp.store import StoreReader, verify_log
from camapp.webserver import WebServer

pytestmark = pytest.mark.slow
PRE, POST = 2.0, 1.0


def camapp(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "camapp.cli", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def write_config(tmp: Path) -> Path:
    cfg = tmp / "camapp.yaml"
    cfg.write_text(yaml.safe_dump({
        "storage": {"path": str(tmp / "data"), "min_free_mb": 0, "pre_roll_s": PRE, "post_roll_s": POST},
        "objects": {"track": ["person"]},
    }))
    return cfg


REPLAYS = 3


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory, demo_video: Path, model_manifest: Path) -> Path:
    """vtest.avi replayed three times into one data dir (a user testing zones on a file, again and again)."""
    tmp = tmp_path_factory.mktemp("replay")
    cfg = write_config(tmp)
    for _ in range(REPLAYS):
        proc = camapp("replay", str(demo_video), "-c", str(cfg))
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
    return tmp / "data"


def clip_info(path: Path) -> tuple[str, float, int]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return stream.codec_context.name, float(container.duration or 0) / 1e6, frames


def run_bounds(data: Path) -> dict[str, tuple[float, float]]:
    """Each event's recording run's footage: from its first segment's start to its last one's end."""
    with sqlite3.connect(data / "events.db") as conn:
        spans = {r[0]: (r[1], r[2]) for r in conn.execute(
            "SELECT run, MIN(start_time), MAX(end_time) FROM segments GROUP BY run")}
        return {r[0]: spans[r[1]] for r in conn.execute("SELECT event_id, run FROM windows") if r[1] in spans}


def expected_duration(event: dict[str, Any], video: tuple[float, float]) -> float:
    """Pre-roll to post-roll, within the footage there is (vtest has people from its first frame to its last)."""
    start = max(event["start_time"] - PRE, video[0])
    return min(event["end_time"] + POST, video[1]) - start


def test_replays_into_one_data_dir_never_overlap_in_time(replayed: Path) -> None:
    with sqlite3.connect(replayed / "events.db") as conn:
        runs = conn.execute("SELECT run, MIN(start_time), MAX(end_time) FROM segments GROUP BY run ORDER BY run"
                            ).fetchall()
        mixed = conn.execute("SELECT COUNT(*) FROM holds h JOIN windows w USING (event_id) WHERE h.run != w.run"
                             ).fetchone()[0]
    assert len(runs) == REPLAYS
    for (_, _, end), (_, start, _) in itertools.pairwise(runs):
        assert start >= end, runs  # each replay's clock starts after the footage already kept
    assert mixed == 0


def test_every_event_of_three_replays_has_an_h264_clip_of_the_right_length(replayed: Path) -> None:
    reader = StoreReader(replayed)
    events = reader.list_events(limit=1000)
    assert len(events) >= 10 * REPLAYS
    missing = [e["id"] for e in events if not e["has_clip"]]
    assert missing == [], f"{len(missing)} of {len(events)} events have no clip"
    bounds = run_bounds(replayed)
    for event in events:
        clip = served_clip(reader, event["id"])
        assert clip is not None
        codec, duration, frames = clip_info(clip)
        assert codec == "h264" and frames >= 10 and duration > 0
        assert abs(duration - expected_duration(event, bounds[event["id"]])) <= 1.0, (event["id"], duration)
    result = verify_log(replayed)
    assert result.ok, result.message


def test_video_is_written_once(replayed: Path) -> None:
    """The video files on disk total at most 1.05x the segments covering the union of the events' windows."""
    with sqlite3.connect(replayed / "events.db") as conn:
        windows = conn.execute("SELECT run, start_time, end_time FROM windows").fetchall()
        segments = conn.execute("SELECT s.run, s.start_time, s.end_time, m.bytes FROM segments s "
                                "JOIN media m USING (relpath)").fetchall()
    covering = sum(size for run, start, end, size in segments
                   if any(run == w_run and end > w_start and start < w_end for w_run, w_start, w_end in windows))
    on_disk = sum(p.stat().st_size for p in replayed.rglob("*.mp4"))
    print(f"video on disk {on_disk} bytes, segments covering the events' windows {covering} bytes, "
          f"ratio {on_disk / covering:.3f}")
    assert on_disk <= 1.05 * covering


@pytest.fixture
def server(tmp_path: Path, demo_video: Path, replayed: Path) -> Iterator[tuple[str, Any]]:
    appl, feeder = make_appliance(tmp_path, demo_video, replayed)
    known_setup_code(appl)
    try:
        with WebServer(appl.app, "127.0.0.1", 0) as srv:
            yield f"http://127.0.0.1:{srv.port}", appl
    finally:
        feeder.close()
        appl.close()


def test_every_clip_of_three_replays_plays_in_chromium(browser, server: tuple[str, Any]) -> None:  # type: ignore[no-untyped-def]
    base, appl = server
    page = browser.new_page(bypass_csp=True)  # test_web_browser's CSP_NOTE: wait_for_function needs eval
    setup_admin(page, base)
    events = appl.store.list_events(limit=1000)
    bounds = run_bounds(appl.store.data_dir)
    for event in events:
        page.goto(f"{base}/events/{event['id']}")
        page.wait_for_function("document.getElementById('clip').readyState >= 2")
        duration = page.evaluate("document.getElementById('clip').duration")
        assert abs(duration - expected_duration(event, bounds[event["id"]])) <= 1.0, (event["id"], duration)


def test_kill_9_mid_replay_then_restart(tmp_path: Path, demo_video: Path, model_manifest: Path) -> None:
    cfg = write_config(tmp_path)
    db = tmp_path / "data" / "events.db"
    proc = camapp("replay", str(demo_video), "-c", str(cfg))
    kill_when(proc, db, "SELECT COUNT(*) FROM holds", 4, 300)
    verify = subprocess.run([sys.executable, "-m", "camapp.cli", "verify-log", "-c", str(cfg)], cwd=ROOT,
                            capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    # The restart: a short replay on the same store sweeps what the kill left and cuts the clips it can.
    short = tmp_path / "short.mp4"
    with av.open(str(demo_video)) as src, av.open(str(short), "w") as dst:
        out = dst.add_stream("libx264", rate=10)
        out.width, out.height, out.pix_fmt = 768, 576, "yuv420p"
        for n, frame in enumerate(src.decode(video=0)):
            if n == 20:
                break
            dst.mux(out.encode(frame.reformat(format="yuv420p")))
        dst.mux(out.encode(None))
    again = camapp("replay", str(short), "-c", str(cfg))
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0, err[-2000:]
    data = tmp_path / "data"
    assert verify_log(data).ok
    with sqlite3.connect(db) as conn:
        rows = [r[0] for r in conn.execute("SELECT relpath FROM media WHERE kind = 'segment'")]
    assert rows
    for rel in rows:
        codec, _, frames = clip_info(data / rel)  # present and decodable to the end
        assert codec == "h264" and frames > 0, rel
    assert [p for p in data.rglob("*") if is_temp(p)] == []
    with sqlite3.connect(db) as conn:  # no row points at a segment that is gone
        assert conn.execute("SELECT COUNT(*) FROM holds WHERE relpath NOT IN (SELECT relpath FROM segments)"
                            ).fetchone()[0] == 0
    reader = StoreReader(data)
    bounds = run_bounds(data)
    short_clips = []
    for event in reader.list_events(limit=1000):
        if event["has_clip"]:  # every event that claims a clip plays it
            clip = served_clip(reader, event["id"])
            assert clip is not None, event["id"]
            codec, duration, frames = clip_info(clip)
            assert codec == "h264" and frames > 0 and duration > 0
            # Half its window at least, within the footage its run kept (a kill loses the segment being written).
            if duration < 0.5 * expected_duration(event, bounds[event["id"]]):
                short_clips.append((event["id"], round(duration, 1), round(event["end_time"] - event["start_time"], 1)))
    assert short_clips == [], f"clips shorter than half their window after the kill: {short_clips}"
