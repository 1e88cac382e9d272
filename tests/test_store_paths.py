"""Event paths: the object's bottom-centre track recorded by the store on real frames, bounded, kept with the event."""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from store_helpers import message, result, storage, tracked, video_frames

from camapp.store import DB_NAME, EventStore, StoreReader, verify_log
from camapp.store.paths import MAX_POINTS, TrackPath
from camapp.types import Frame, TrackedObject

SEEN_AT, NEW_AT, END_AT = 10, 20, 40  # the track appears before its event is confirmed
MISSED_AT = 30  # a frame where the tracker only predicted the box


def box_at(i: int) -> tuple[float, float, float, float]:
    """A person walking right and down: bottom centre (330 + 5i, 330 + 2i)."""
    return (300.0 + 5 * i, 150.0 + 2 * i, 360.0 + 5 * i, 330.0 + 2 * i)


@pytest.mark.parametrize("count", [1, 2, MAX_POINTS - 1, MAX_POINTS, MAX_POINTS + 1, 1000, 10_007])
def test_track_path_is_bounded_spread_and_ends_at_the_latest(count: int) -> None:
    path = TrackPath()
    for i in range(count):
        path.add(float(i), float(i), 0.0)
    points = path.as_list()
    times = [p[0] for p in points]
    assert times[0] == 0 and times[-1] == count - 1 and times == sorted(set(times))
    if count > MAX_POINTS:
        body = times[:-1]  # the latest observation is appended after the evenly strided points
        gaps = [b - a for a, b in itertools.pairwise(body)]
        assert MAX_POINTS // 2 <= len(points) <= MAX_POINTS and max(gaps) == min(gaps)  # thinned, not truncated
    else:
        assert len(points) == count


def _walk(store: EventStore, frames: tuple[Frame, ...], end_at: int | None = END_AT) -> None:
    start = frames[NEW_AT].timestamp
    for frame in frames:
        i = frame.index
        events: tuple[Any, ...] = ()
        if i == NEW_AT:
            events = (message("new", "walk", start),)
        elif i == end_at:
            events = (message("end", "walk", start, end=frame.timestamp),)
        objects: tuple[TrackedObject, ...] = ()
        if SEEN_AT <= i < (end_at or len(frames)):
            obj = tracked(1, 0.8, box_at(i), frame.timestamp)
            obj.misses = int(i == MISSED_AT)
            objects = (obj, tracked(7, 0.6, (10.0, 10.0, 50.0, 90.0), frame.timestamp))  # someone else
        store.handle(result(frame, events, objects))


@pytest.fixture(scope="module")
def frames(demo_video: Path) -> tuple[Frame, ...]:
    return video_frames(demo_video, 50)


def test_event_path_follows_its_object_from_first_sight(tmp_path: Path, frames: tuple[Frame, ...]) -> None:
    with EventStore(
        storage(tmp_path, snapshots=False, post_roll_s=0), camera_id="cam", fps=10.0, lossless=True,
    ) as store:
        _walk(store, frames)
        store.flush()
        event = store.get_event("walk")
        codec = store.usage()["clip_codec"]
    assert event is not None and event["has_clip"]
    seen = [i for i in range(SEEN_AT, END_AT) if i != MISSED_AT]
    expected = [[round(frames[i].timestamp, 3), 330.0 + 5 * i, 330.0 + 2 * i] for i in seen]
    assert event["path"] == expected
    assert (event["frame_width"], event["frame_height"]) == (768, 576)
    assert event["clip_codec"] == codec == "avc1"
    assert "path" not in store.list_events()[0]  # the list stays light; the event page asks for one event
    assert verify_log(store.data_dir).ok


def test_open_event_path_is_saved_at_close_and_survives_restart(tmp_path: Path, frames: tuple[Frame, ...]) -> None:
    cfg = storage(tmp_path, snapshots=False, clips=False)
    with EventStore(cfg, camera_id="cam", fps=10.0) as store:
        _walk(store, frames, end_at=None)
    event = StoreReader(store.data_dir).get_event("walk")
    assert event is not None and event["clip_codec"] is None
    assert len(event["path"]) == len(frames) - SEEN_AT - 1 and event["path"][-1][1] == 330.0 + 5 * (len(frames) - 1)
    with EventStore(cfg, camera_id="cam", fps=10.0) as again:  # the restart ends the event; the path stays
        reopened = again.get_event("walk")
    assert reopened is not None and reopened["end_time"] is not None and reopened["path"] == event["path"]


def test_long_event_path_is_bounded(tmp_path: Path, frames: tuple[Frame, ...]) -> None:
    image, t0, n = frames[0].image, frames[0].timestamp, 5 * MAX_POINTS
    with EventStore(storage(tmp_path, snapshots=False, clips=False), camera_id="cam", fps=10.0) as store:
        for i in range(n):
            frame = Frame(image=image, timestamp=t0 + i / 10, index=i)
            events = (message("new", "long", t0),) if i == 0 else ()
            store.handle(result(frame, events, (tracked(1, 0.8, box_at(i % 80), frame.timestamp),)))
        store.handle(result(Frame(image=image, timestamp=t0 + n / 10, index=n), (message("end", "long", t0, end=t0),)))
        store.flush()
        path = store.get_event("long")["path"]  # type: ignore[index]
    assert MAX_POINTS // 2 <= len(path) <= MAX_POINTS
    assert path[0][0] == pytest.approx(t0) and path[-1][0] == pytest.approx(t0 + (n - 1) / 10)


def test_reattached_event_continues_the_path_on_its_new_track(tmp_path: Path, frames: tuple[Frame, ...]) -> None:
    start, seen = frames[0].timestamp, [330.0 + 5 * i for i in range(40)]
    with EventStore(storage(tmp_path, snapshots=False, clips=False), camera_id="cam", fps=10.0) as store:
        for frame in frames[:41]:
            i, t = frame.index, frame.timestamp
            track = 1 if i < 10 else 2  # the tracker lost the person at frame 10 and re-found them as track 2
            events: tuple[Any, ...] = ()
            if i == 0:
                events = (message("new", "walk", start),)
            elif i == 10:
                events = (message("update", "walk", start, track_id=2),)
            elif i == 40:
                events = (message("end", "walk", start, end=t, track_id=2),)
            store.handle(result(frame, events, (tracked(track, 0.8, box_at(i), t),) if i < 40 else ()))
            if i == 35:  # while it runs, the stored path is at most a second behind
                store.flush()
                running = store.get_event("walk")["path"]  # type: ignore[index]
                assert [p[1] for p in running] == seen[:len(running)] and len(running) >= 26
        store.flush()
        path = store.get_event("walk")["path"]  # type: ignore[index]
    assert [p[1] for p in path] == seen


@pytest.mark.parametrize("while_running", [False, True])
def test_deleting_an_event_removes_its_path(tmp_path: Path, frames: tuple[Frame, ...], while_running: bool) -> None:
    with EventStore(storage(tmp_path, snapshots=False, clips=False), camera_id="cam", fps=10.0) as store:
        if while_running:  # the object is still walking: later frames must not bring the path back
            _walk(store, frames[:NEW_AT + 5])
            store.flush()
            assert store.delete_event("walk")
            _walk(store, frames[NEW_AT + 5:])
        else:
            _walk(store, frames)
            store.flush()
            assert store.delete_event("walk")
        store.flush()
        assert store.get_event("walk") is None
    with sqlite3.connect(store.data_dir / DB_NAME) as conn:
        assert conn.execute("SELECT COUNT(*) FROM event_details").fetchone()[0] == 0
    assert verify_log(store.data_dir).ok


def test_a_version_1_database_is_upgraded_in_place(tmp_path: Path, frames: tuple[Frame, ...]) -> None:
    cfg = storage(tmp_path, snapshots=False, clips=False)
    with EventStore(cfg, camera_id="cam", fps=10.0) as store:
        _walk(store, frames)
    with sqlite3.connect(store.data_dir / DB_NAME) as conn:  # what camapp wrote before paths were kept
        conn.execute("DROP TABLE event_details")
        conn.execute("PRAGMA user_version = 1")
    with EventStore(cfg, camera_id="cam", fps=10.0) as store:
        old = store.get_event("walk")
        assert old is not None and old["path"] == [] and old["frame_width"] is None
        _walk(store, tuple(Frame(f.image, f.timestamp + 100, f.index) for f in frames))
        store.flush()
        assert len(store.get_event("walk")["path"]) == END_AT - SEEN_AT - 1  # type: ignore[index]
    assert verify_log(store.data_dir).ok
