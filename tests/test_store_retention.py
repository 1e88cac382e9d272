"""Retention: a tiny quota prunes the oldest events' media whole, old events expire, the log prunes to a checkpoint."""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from pathlib import Path

import pytest
from store_helpers import FPS, T0, message, result, served_clip, storage, tracked, video_frames

from camapp.store import EventStore, verify_log
from camapp.store.media import is_temp, temp_path
from camapp.store.retention import oldest_media
from camapp.types import Frame

N_EVENTS = 5


def _record_events(store: EventStore, frames: tuple[Frame, ...], n: int, start: float = T0,
                   prefix: str = "ev") -> list[str]:
    """n back-to-back events of 15 frames each, with snapshots and clips, committed one after another."""
    ids = []
    for k in range(n):
        event_id = f"{prefix}{k}"
        t = start + k * 60
        for j, still in enumerate(frames[:15]):
            frame = dataclasses.replace(still, timestamp=t + j / FPS, index=k * 15 + j)
            events = ()
            if j == 0:
                events = (message("new", event_id, t),)
            elif j == 10:
                events = (message("end", event_id, t, end=t + 1),)
            store.handle(result(frame, events, (tracked(1, 0.6, (300.0, 150.0, 360.0, 330.0), frame.timestamp),)))
        store.flush()
        ids.append(event_id)
    return ids


def _settle(store: EventStore, frames: tuple[Frame, ...], after: float) -> None:
    """Quiet frames past the recording's segment length, so the last events' clips are cut."""
    for j in range(round(store.cfg.recording.segment_s * FPS) + 2):
        store.handle(result(dataclasses.replace(frames[0], timestamp=after + j / FPS, index=10_000 + j)))
    store.flush()


@pytest.fixture(scope="module")
def frames(demo_video: Path) -> tuple[Frame, ...]:
    return video_frames(demo_video, 15)


def test_tiny_quota_prunes_whole_events_media_oldest_first_and_keeps_metadata(tmp_path: Path,
                                                                            frames: tuple[Frame, ...]) -> None:
    cfg = storage(tmp_path, max_media_mb=1, pre_roll_s=0.5, post_roll_s=0.4)
    with EventStore(cfg, camera_id="cam", fps=FPS, lossless=True) as store:
        ids = []
        for k in range(N_EVENTS):  # the budget makes room as media are written, not only at retention passes
            ids += _record_events(store, frames, 1, start=T0 + k * 60, prefix=f"ev{k}-")
            assert store.usage()["media_bytes"] <= 1024 * 1024
        _settle(store, frames, T0 + N_EVENTS * 60)
        report = store.run_retention()
        usage = store.usage()
        events = {e["id"]: e for e in store.list_events()}
        clips = {i: served_clip(store, i) for i in events}
        # The segment being recorded is the one file not counted yet (it is counted once complete).
        files = [p for p in (store.data_dir / "media").rglob("*") if p.is_file() and not is_temp(p)]
        on_disk = sum(p.stat().st_size for p in files)
    assert report.expired_events == 0
    assert 0 < usage["media_bytes"] <= 1024 * 1024
    assert sorted(events) == ids  # metadata of every event survives
    pruned = [i for i in ids if events[i]["clip"] == "pruned"]
    assert pruned and pruned == ids[:len(pruned)] and len(pruned) < len(ids)  # oldest first
    for event_id in ids:  # an event has all of its media or none: never a snapshot without its clip or the reverse
        event = events[event_id]
        if event_id in pruned:
            assert not event["has_clip"] and not event["has_snapshot"] and clips[event_id] is None, event_id
        else:
            assert event["has_clip"] and event["has_snapshot"], event_id
            assert clips[event_id] is not None and av_frames(clips[event_id]) > 0  # it plays
    conn = sqlite3.connect(store.db_path)
    logged = {r[0]: r[1] for r in conn.execute("SELECT event_id, payload FROM event_log WHERE type = 'pruned'")}
    dangling = conn.execute("SELECT COUNT(*) FROM holds WHERE relpath NOT IN (SELECT relpath FROM segments)")
    assert dangling.fetchone()[0] == 0
    conn.close()
    assert sorted(logged) == pruned and all('"reason":"quota"' in r for r in logged.values())
    assert on_disk == usage["media_bytes"]
    assert verify_log(store.db_path).ok


def av_frames(path: Path) -> int:
    import av

    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_old_events_expire_with_their_media_and_the_log_records_it(tmp_path: Path, frames: tuple[Frame, ...]) -> None:
    cfg = storage(tmp_path, retain_days=1, pre_roll_s=0.5, post_roll_s=0.4)
    with EventStore(cfg, camera_id="cam", fps=FPS, lossless=True) as store:
        _record_events(store, frames, 2, start=time.time() - 3 * 86400)  # ended three days ago
        kept = _record_events(store, frames, 1, prefix="new")[0]
        store.flush()
        report = store.run_retention()
        remaining = [e["id"] for e in store.list_events()]
        files = [p.name for p in (store.data_dir / "media").rglob("*") if p.is_file() and "rec" not in p.parts]
        segments = [p for p in (store.data_dir / "media" / "rec").rglob("*") if p.is_file() and not is_temp(p)]
    assert report.expired_events == 2 and remaining == [kept]
    assert segments == []  # the recording of three days ago went with its events
    assert files and all(name.startswith("new0-") for name in files)
    conn = sqlite3.connect(store.db_path)
    reasons = [r[0] for r in conn.execute("SELECT payload FROM event_log WHERE type = 'deleted'")]
    conn.close()
    assert len(reasons) == 2 and all('"reason":"retention"' in r for r in reasons)
    assert verify_log(store.db_path).ok


def test_log_pruned_behind_a_checkpoint_still_verifies(tmp_path: Path, frames: tuple[Frame, ...]) -> None:
    cfg = storage(tmp_path, retain_days=1, clips=False, snapshots=False)
    with EventStore(cfg, camera_id="cam", fps=FPS, lossless=True) as store:
        _record_events(store, frames, 3)
        conn = sqlite3.connect(store.db_path)
        before = conn.execute("SELECT COUNT(*) FROM event_log").fetchone()[0]
        conn.close()
        # Pretend those rows were logged long ago and their events are gone, then let retention prune them.
        for event_id in ("ev0", "ev1"):
            assert store.delete_event(event_id)
    conn = sqlite3.connect(store.db_path)
    with conn:
        conn.execute("UPDATE event_log SET ts = ts - 30 * 86400 WHERE event_id IN ('ev0', 'ev1') AND type != 'deleted'")
    conn.close()
    with EventStore(cfg, camera_id="cam", fps=FPS, lossless=True) as store:
        pass  # retention runs at start
    conn = sqlite3.connect(store.db_path)
    after, first = conn.execute("SELECT COUNT(*), MIN(seq) FROM event_log").fetchone()
    checkpoint = conn.execute("SELECT checkpoint_seq FROM log_state").fetchone()[0]
    conn.close()
    assert after < before and first == checkpoint + 1
    # The edit above changed ts of rows that are now pruned, so the remaining chain is intact from the checkpoint.
    check = verify_log(store.db_path)
    assert check.ok, check.message
    assert check.checked == after


def test_start_sweeps_temp_files_and_orphans(tmp_path: Path, frames: tuple[Frame, ...]) -> None:
    cfg = storage(tmp_path, pre_roll_s=0.5, post_roll_s=0.4)
    with EventStore(cfg, camera_id="cam", fps=FPS, lossless=True) as store:
        _record_events(store, frames, 2)
        _settle(store, frames, T0 + 120)
        snap = store.media_path("ev0", "snapshot")
        assert store.clip("ev0") is not None and store.clip("ev1") is not None
    assert snap is not None
    half = temp_path(snap.with_name("ev9-clip.mp4"))
    half.write_bytes(b"\x00" * 100)  # what a crash mid-write leaves
    orphan = snap.with_name("ev8-snapshot.jpg")
    orphan.write_bytes(b"jpeg")
    snap.unlink()  # and a referenced file that vanished
    conn = sqlite3.connect(store.db_path)
    held = [store.data_dir / r[0] for r in conn.execute("SELECT relpath FROM holds WHERE event_id = 'ev1'")]
    conn.close()
    for path in held:
        path.unlink()  # footage lost (e.g. a card error): no row may keep pointing at it
    with EventStore(cfg, camera_id="cam", fps=FPS, lossless=True) as store:
        event = store.get_event("ev0")
        assert event is not None and event["has_clip"] and not event["has_snapshot"]
        assert store.media_path("ev0", "snapshot") is None
        lost = store.get_event("ev1")
        assert lost is not None and lost["clip"] == "pruned" and not lost["has_clip"] and store.clip("ev1") is None
    assert not half.exists() and not orphan.exists()
    conn = sqlite3.connect(store.db_path)
    assert conn.execute("SELECT COUNT(*) FROM holds WHERE event_id = 'ev1'").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM event_log WHERE type = 'pruned' AND event_id = 'ev1'").fetchone()[0]
    conn.close()
    assert verify_log(store.db_path).ok


@pytest.mark.parametrize(
    ("need", "last", "picked"),
    [
        (150, set(), ["a", "b"]),
        (150, {"a"}, ["b", "c"]),  # a segment a clip still needs goes after newer media
        (350, {"a", "b"}, ["c", "a", "b"]),  # ... but it does go when nothing else is left
        (0, set(), []),
    ],
)
def test_oldest_media_frees_what_clips_need_last(need: int, last: set[str], picked: list[str]) -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE media (relpath TEXT, bytes INTEGER, created REAL)")
    conn.executemany("INSERT INTO media VALUES (?, 100, ?)", [("a", 1.0), ("b", 2.0), ("c", 3.0)])
    assert [p for p, _ in oldest_media(conn, need, last=last)] == picked
