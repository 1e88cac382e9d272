"""Event store media on real vtest.avi frames: clip pre/post-roll, best-frame snapshots, manual snapshots, degrading."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from store_helpers import FPS, message, result, served_clip, storage, tracked, video_frames

from camapp.commands import KeepClip, TakeSnapshot
from camapp.control import Controller
from camapp.state import ApplianceState
from camapp.store import EventStore, StoreReader, verify_log
from camapp.store.media import is_temp
from camapp.types import CameraName, Frame

N_FRAMES = 90
NEW_AT, END_AT = 40, 60
BEST_AT = 52


def _small(image: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return cv2.resize(gray, (96, 72), interpolation=cv2.INTER_AREA).astype(np.float32)


_STACKS: dict[int, np.ndarray] = {}


def _small_stack(frames: tuple[Frame, ...]) -> np.ndarray:
    key = id(frames)  # Frames hold arrays, so they cannot be hashed; the tuple lives for the whole session
    if key not in _STACKS:
        _STACKS[key] = np.stack([_small(f.image) for f in frames])
    return _STACKS[key]


def _nearest(image: np.ndarray, frames: tuple[Frame, ...]) -> int:
    """Index of the source frame that `image` (decoded from a lossy file) looks most like."""
    errors = np.mean((_small_stack(frames) - _small(image)) ** 2, axis=(1, 2))
    return int(np.argmin(errors))


def _clip_frames(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        out.append(image)
    cap.release()
    return out


def _play(store: EventStore, frames: tuple[Frame, ...], event_id: str = "walk1", end_at: int | None = END_AT) -> None:
    """Event new at NEW_AT, end at end_at; the tracked person's score peaks at BEST_AT."""
    start = frames[NEW_AT].timestamp
    for frame in frames:
        i = frame.index
        events: tuple[Any, ...] = ()
        if i == NEW_AT:
            events = (message("new", event_id, start),)
        elif i == end_at:
            events = (message("end", event_id, start, end=frame.timestamp, score=0.95, top_score=0.95),)
        live = end_at is None or NEW_AT <= i < end_at
        objects = (tracked(1, 0.95 - abs(i - BEST_AT) * 0.01, (300.0, 150.0, 360.0, 330.0), frame.timestamp),)
        store.handle(result(frame, events, objects if live and i >= NEW_AT else ()))


@pytest.fixture(scope="module")
def frames(demo_video: Path) -> tuple[Frame, ...]:
    return video_frames(demo_video, N_FRAMES)


@pytest.mark.parametrize(("pre_s", "post_s"), [(2.0, 1.0), (0.0, 0.5), (3.0, 0.0)])
def test_clip_has_pre_roll_and_post_roll_frames(tmp_path: Path, frames: tuple[Frame, ...], pre_s: float,
                                                post_s: float) -> None:
    with EventStore(
        storage(tmp_path, pre_roll_s=pre_s, post_roll_s=post_s), camera_id="cam", fps=FPS, lossless=True,
    ) as store:
        _play(store, frames)
        store.flush()
        assert store.media_path("walk1", "clip") is None  # no clip file: the segments are the only copy
        clip = served_clip(store, "walk1")
        assert clip is not None
        decoded = _clip_frames(clip)
    pre, post = round(pre_s * FPS), round(post_s * FPS)
    expected = list(range(NEW_AT - pre, END_AT + post))
    matched = [_nearest(img, frames) for img in decoded]
    assert len(decoded) == len(expected)
    agree = sum(m == e for m, e in zip(matched, expected, strict=True))
    assert agree >= 0.95 * len(expected), (matched, expected)
    assert sum(m < NEW_AT for m in matched) == pre  # the pre-roll really is footage from before the event


def test_clip_is_cut_at_max_length(tmp_path: Path, frames: tuple[Frame, ...]) -> None:
    cfg = storage(tmp_path, pre_roll_s=1.0, post_roll_s=1.0, clip_max_s=2.0)
    with EventStore(cfg, camera_id="cam", fps=FPS, lossless=True) as store:
        _play(store, frames)
        store.flush()
        clip = served_clip(store, "walk1")
        assert clip is not None
        assert len(_clip_frames(clip)) == 20


def test_clip_of_an_event_still_open_at_close_is_flushed(tmp_path: Path, frames: tuple[Frame, ...]) -> None:
    store = EventStore(storage(tmp_path, pre_roll_s=1.0), camera_id="cam", fps=FPS, lossless=True)
    _play(store, frames, end_at=None)
    store.close()
    store.close()  # idempotent
    clip = served_clip(StoreReader(store.data_dir), "walk1")
    assert clip is not None and len(_clip_frames(clip)) == N_FRAMES - NEW_AT + 10


def test_snapshot_is_the_best_scoring_frame(tmp_path: Path, frames: tuple[Frame, ...]) -> None:
    cfg = storage(tmp_path, clips=False, thumbnail_size=120, snapshot_width=384)
    with EventStore(cfg, camera_id="cam", fps=FPS, lossless=True) as store:
        _play(store, frames)
        store.flush()
        event = store.get_event("walk1")
        assert event is not None and event["has_snapshot"] and event["has_thumbnail"] and not event["has_clip"]
        paths = {k: store.media_path("walk1", k) for k in ("snapshot", "snapshot_clean", "thumbnail", "clip")}
    assert paths["clip"] is None
    clean = cv2.imread(str(paths["snapshot_clean"]))
    annotated = cv2.imread(str(paths["snapshot"]))
    thumb = cv2.imread(str(paths["thumbnail"]))
    assert clean.shape == (288, 384, 3) and annotated.shape == clean.shape
    big = cv2.resize(clean, (768, 576))
    assert _nearest(big, frames) == BEST_AT
    assert float(np.mean(cv2.absdiff(annotated, clean))) > 0.5  # boxes were drawn on the annotated one
    assert max(thumb.shape[:2]) == 120


def test_running_events_do_not_hold_their_best_frames(tmp_path: Path, frames: tuple[Frame, ...]) -> None:
    """Eight people in view, each at their best on another frame: the store keeps their snapshots as JPEG, not
    eight frames (only the latest frame, which a manual snapshot needs); each snapshot is still its best frame."""
    cfg = storage(tmp_path, clips=False, recording={"mode": "off"})
    ids = [f"walk{k}" for k in range(8)]
    alive: list[weakref.ref[np.ndarray]] = []
    with EventStore(cfg, camera_id="cam", fps=FPS, lossless=True) as store:
        for frame in frames[:N_FRAMES - 10]:
            own = Frame(frame.image.copy(), frame.timestamp, frame.index)  # only the store may keep it alive
            alive.append(weakref.ref(own.image))
            i = own.index
            events = tuple(message("new", eid, frames[0].timestamp, track_id=k + 1) for k, eid in enumerate(ids)
                           if i == 0)
            objects = tuple(tracked(k + 1, 0.9 - abs(i - 8 * k) * 0.01, (300.0, 150.0, 360.0, 330.0), own.timestamp)
                            for k in range(len(ids)))
            store.handle(result(own, events, objects))
            del own
        store.flush()
        gc.collect()
        held = [i for i, ref in enumerate(alive) if ref() is not None]
        assert held == [N_FRAMES - 11]  # the latest
        for k, eid in enumerate(ids):
            store.handle(result(frames[N_FRAMES - 1], (message("end", eid, frames[0].timestamp, track_id=k + 1,
                                                               end=frames[N_FRAMES - 1].timestamp),)))
        store.flush()
        clean = {eid: store.media_path(eid, "snapshot_clean") for eid in ids}
    for k, eid in enumerate(ids):
        path = clean[eid]
        assert path is not None
        assert _nearest(cv2.imread(str(path)), frames) == 8 * k


def test_custom_annotate_fn_is_used(tmp_path: Path, frames: tuple[Frame, ...]) -> None:
    def paint_white(res: Any) -> np.ndarray:
        return np.full_like(res.frame.image, 255)

    with EventStore(
        storage(tmp_path, clips=False), camera_id="cam", fps=FPS, annotate_fn=paint_white, lossless=True,
    ) as store:
        _play(store, frames)
        store.flush()
        path = store.media_path("walk1", "snapshot")
        assert path is not None
        assert int(cv2.imread(str(path)).min()) >= 250


def test_manual_snapshot_saves_the_latest_frame(tmp_path: Path, frames: tuple[Frame, ...]) -> None:
    control = Controller(ApplianceState())
    with EventStore(storage(tmp_path), camera_id="cam", fps=FPS, bus=control.bus, lossless=True) as store:
        for frame in frames[:25]:
            store.handle(result(frame))
        snap_id = control.execute(TakeSnapshot(source="web"))
        store.flush()
        path = store.snapshot_path(snap_id)
        assert path is not None and path.is_relative_to(store.data_dir)
        assert _nearest(cv2.imread(str(path)), frames) == 24
        assert store.snapshot_path("20990101-000000-deadbeef") is None
        assert store.usage()["media_bytes"] == path.stat().st_size


def test_delete_event_removes_its_media(tmp_path: Path, frames: tuple[Frame, ...]) -> None:
    with EventStore(
        storage(tmp_path, pre_roll_s=1.0, post_roll_s=0.5), camera_id="cam", fps=FPS, lossless=True,
    ) as store:
        _play(store, frames)
        store.flush()
        files = [store.media_path("walk1", k) for k in ("snapshot", "snapshot_clean", "thumbnail")]
        assert all(p is not None and p.is_file() for p in files) and store.clip("walk1") is not None
        assert store.delete_event("walk1")
        assert store.clip("walk1") is None
        assert not any(p is not None and p.exists() for p in files)
        segments = sum(p.stat().st_size for p in (store.data_dir / "media" / "rec").rglob("*.mp4") if not is_temp(p))
        assert store.usage()["media_bytes"] == segments  # what is left is the recording, owned by no event
    assert verify_log(store.db_path).ok


def test_low_disk_stops_recording_but_keeps_metadata(tmp_path: Path, frames: tuple[Frame, ...]) -> None:
    cfg = storage(tmp_path, min_free_mb=10_000_000)  # more than any test machine has free
    with EventStore(cfg, camera_id="cam", fps=FPS, lossless=True) as store:
        _play(store, frames)
        store.flush()
        event = store.get_event("walk1")
        assert event is not None and event["end_time"] is not None
        assert event["has_clip"] is False
        # Snapshots check free space too: the reserve below min_free_mb is kept for metadata.
        assert event["has_snapshot"] is False
        usage = store.usage()
        assert usage["degraded"] is True and usage["refused_writes"] >= 1 and usage["media_bytes"] == 0
        status = usage["recording"]
        assert status["state"].startswith("stopped: low disk") and "storage.min_free_mb" in status["state"]
        assert status["segments"] == 0


@pytest.mark.parametrize("events", [1, 12])
def test_every_overlapping_event_gets_a_clip_from_one_encoding(tmp_path: Path, frames: tuple[Frame, ...],
                                                               events: int) -> None:
    cfg = storage(tmp_path, pre_roll_s=0.5, post_roll_s=0.5)
    with EventStore(cfg, camera_id="cam", fps=FPS, lossless=True) as store:
        start = frames[10].timestamp
        for frame in frames[:60]:
            msgs: tuple[Any, ...] = ()
            if frame.index == 10:
                msgs = tuple(message("new", f"e{n}", start, track_id=n) for n in range(events))
            elif frame.index == 30:
                msgs = tuple(message("end", f"e{n}", start, track_id=n, end=frame.timestamp) for n in range(events))
            store.handle(result(frame, msgs))
        store.flush()
        flags = {e["id"]: e["has_clip"] for e in store.list_events(limit=100)}
        status = store.usage()["recording"]
    assert flags == {f"e{n}": True for n in range(events)}
    assert status["frames_encoded"] == status["frames_offered"] == 60  # once per frame, however many events


def test_clips_off_records_but_cuts_no_clips(tmp_path: Path, frames: tuple[Frame, ...]) -> None:
    with EventStore(storage(tmp_path, clips=False), camera_id="cam", fps=FPS, lossless=True) as store:
        _play(store, frames)
        store.flush()
        event = store.get_event("walk1")
        assert event is not None and not event["has_clip"] and event["clip_codec"] is None
        assert store.usage()["recording"]["segments"] == 2


def test_recording_off_writes_no_video(tmp_path: Path, frames: tuple[Frame, ...]) -> None:
    cfg = storage(tmp_path, recording={"mode": "off"})
    with EventStore(cfg, camera_id="cam", fps=FPS, lossless=True) as store:
        _play(store, frames)
        store.flush()
        event = store.get_event("walk1")
        assert event is not None and not event["has_clip"] and event["has_snapshot"]
        assert store.usage()["recording"] is None and store.usage()["clip_codec"] is None
    assert not list(store.data_dir.rglob("*.mp4"))


def test_no_temp_files_left_behind(tmp_path: Path, frames: tuple[Frame, ...]) -> None:
    with EventStore(
        storage(tmp_path, pre_roll_s=1.0, post_roll_s=0.5), camera_id="cam", fps=FPS, lossless=True,
    ) as store:
        _play(store, frames)
    leftovers = [p for p in store.data_dir.rglob("*") if is_temp(p)]
    assert leftovers == []


def test_the_log_vouches_for_held_footage_and_verify_log_catches_a_swapped_segment(tmp_path: Path,
                                                                                  frames: tuple[Frame, ...]) -> None:
    import hashlib
    import json
    import sqlite3

    with EventStore(storage(tmp_path, pre_roll_s=1.0, post_roll_s=0.5), camera_id="cam", fps=FPS,
                    lossless=True) as store:
        _play(store, frames)
        store.flush()
        event = store.get_event("walk1")
    assert event is not None and event["clip"] == "ready"
    conn = sqlite3.connect(store.db_path)
    rows = [json.loads(r[0]) for r in conn.execute("SELECT payload FROM event_log WHERE type = 'hold'")]
    held = [r[0] for r in conn.execute("SELECT relpath FROM holds WHERE event_id = 'walk1' ORDER BY relpath")]
    conn.close()
    assert len(rows) == 1 and sorted(f["path"] for f in rows[0]["segments"]) == held and held
    for logged in rows[0]["segments"]:
        assert logged["sha256"] == hashlib.sha256((store.data_dir / logged["path"]).read_bytes()).hexdigest()
    assert store.get_event("walk1") == event  # a file row leaves the event as it was
    result = verify_log(store.data_dir)
    assert result.ok and "1 clip/footage row(s) logged" in result.message
    segment = store.data_dir / held[0]
    data = bytearray(segment.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the middle of the video
    segment.write_bytes(bytes(data))
    result = verify_log(store.data_dir)
    assert not result.ok and "walk1" in result.message and "sha256 differs" in result.message


@pytest.mark.parametrize("held", [False, True])
def test_rule_action_clip_keeps_the_recording_around_the_event(tmp_path: Path, frames: tuple[Frame, ...],
                                                               held: bool) -> None:
    """With storage.clips off, events-only mode drops segments once no event needs them, unless a rule's `clip`
    action asked the event to hold them."""
    import dataclasses
    import sqlite3

    control = Controller(ApplianceState())
    cfg = storage(tmp_path, clips=False, pre_roll_s=0.5, post_roll_s=0.5, recording={"segment_s": 1.0})
    t0 = frames[0].timestamp
    with EventStore(cfg, camera_id="cam", fps=FPS, bus=control.bus, lossless=True) as store:
        for i in range(180):  # 18 s: the event at 2-3 s, then long enough for its segments to leave the window
            frame = dataclasses.replace(frames[i % len(frames)], timestamp=t0 + i / FPS, index=i)
            msgs: tuple[Any, ...] = ()
            if i == 20:
                msgs = (message("new", "ev", frame.timestamp),)
            elif i == 30:
                msgs = (message("end", "ev", t0 + 2.0, end=frame.timestamp),)
            store.handle(result(frame, msgs))
            if i == 20 and held:  # the alarm sink, after the store, runs the rule's action
                control.execute(KeepClip("ev", "driveway", source="rule:driveway"))
        store.flush()
        assert store.get_event("ev")["has_clip"] is held  # type: ignore[index]
        around = [s for s in store.list_segments(t0 + 1.5, t0 + 3.5) if s["end"] > t0 + 1.5]
        assert {s["camera"] for s in store.list_segments(t0, t0 + 18)} == {"cam"}  # the camera that recorded it
        assert store.list_segments(t0, t0 + 18, camera=CameraName("cam")) == store.list_segments(t0, t0 + 18)
        assert store.list_segments(t0, t0 + 18, camera=CameraName("garden")) == []
        conn = sqlite3.connect(store.db_path)
        total = conn.execute("SELECT COUNT(*) FROM segments").fetchone()[0]
        conn.close()
    if held:
        assert around and all(s["kept"] for s in around)
    else:
        assert around == [] and total >= 1  # the recording goes on; only what no one needs was dropped


def test_the_snapshot_shows_the_events_own_object_only(tmp_path: Path, frames: tuple[Frame, ...]) -> None:
    """With two people in the frame, event 1's picture has a box on person 1 alone (issue 23: "this" person)."""
    drawn: list[tuple[int, ...]] = []

    def record(res: Any) -> np.ndarray:
        drawn.append(tuple(o.track_id for o in res.objects))
        return res.frame.image

    with EventStore(storage(tmp_path, clips=False), camera_id="cam", fps=FPS, annotate_fn=record,
                    lossless=True) as store:
        t0 = frames[0].timestamp
        for k, frame in enumerate(frames[:6]):
            t = frame.timestamp
            objs = (tracked(1, 0.6 + 0.05 * k, (100.0, 100.0, 200.0, 300.0), t),
                    tracked(2, 0.9, (400.0, 100.0, 480.0, 300.0), t))
            events = (message("new", "one", t0),) if k == 0 else (message("end", "one", t0, end=t),) if k == 5 else ()
            store.handle(result(frame, events, objs if k < 5 else ()))
        store.flush()
    assert drawn and all(ids == (1,) for ids in drawn)
