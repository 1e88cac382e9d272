"""Several cameras in one store: the quota is shared fairly, each event holds its own camera's footage only, and
snapshot/clip requests reach the camera they are for. Real vtest.avi frames, real H.264 recording, real SQLite."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from store_helpers import FPS, T0, message, result, served_clip, storage, tracked, video_frames

from camapp.commands import KeepClip, TakeSnapshot
from camapp.control import Controller
from camapp.errors import StorageError
from camapp.state import ApplianceState
from camapp.store import CameraStore, SharedStore, verify_log
from camapp.types import CameraName, EventMessage, Frame

QUIET, BUSY = CameraName("quiet"), CameraName("busy")


@pytest.fixture(scope="module")
def frames(demo_video: Path) -> tuple[Frame, ...]:
    return video_frames(demo_video, 40)


@pytest.fixture(scope="module")
def small(frames: tuple[Frame, ...]) -> tuple[Frame, ...]:
    """The same frames at half size (384x288): a quarter of the encoding, so many events fit in a short test."""
    return tuple(dataclasses.replace(f, image=cv2.resize(f.image, (384, 288), interpolation=cv2.INTER_AREA))
                 for f in frames)


def _tick(sink: CameraStore, frames: tuple[Frame, ...], i: int, event: str | None, offset: int,
          length: int = 10) -> None:
    """Frame `i` of a camera at 10 fps: during event `event` (frames offset..offset+length) the person walks (real
    frames, the object tracked, messages carrying the sink's camera); otherwise the first frame, still."""
    t, j = T0 + i / FPS, i - offset
    moving = event is not None and 0 <= j <= length + 4
    frame = dataclasses.replace(frames[j % len(frames)] if moving else frames[0], timestamp=t, index=i)
    msgs: tuple[EventMessage, ...] = ()
    if event is not None and j == 0:
        msgs = (message("new", event, t, camera=sink.camera),)
    elif event is not None and j == length:
        msgs = (message("end", event, t - length / FPS, end=t, camera=sink.camera),)
    objects = (tracked(1, 0.6, (150.0, 75.0, 180.0, 165.0), t),) if event is not None and 0 <= j <= length else ()
    sink.handle(result(frame, msgs, objects))


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return [tuple(r) for r in conn.execute(sql)]
    finally:
        conn.close()


def _plays(path: Path | None) -> int:
    assert path is not None
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        return sum(1 for _ in container.decode(video=0))


def test_the_quota_takes_from_the_busiest_camera_first(tmp_path: Path, small: tuple[Frame, ...]) -> None:
    """Two cameras record side by side into a small shared quota: the quiet one has one event (the oldest of all),
    the busy one a longer event every 3 s. The busy camera's oldest events lose their media (oldest first); the
    quiet camera's only clip survives, where age alone would have taken it first."""
    cfg = storage(tmp_path, max_media_mb=2, pre_roll_s=0.5, post_roll_s=0.5, recording={"segment_s": 1.0})
    busy_ids = [f"busy{k}" for k in range(10)]
    with SharedStore(cfg) as store:
        quiet, busy = store.camera(QUIET, fps=FPS, lossless=True), store.camera(BUSY, fps=FPS, lossless=True)
        for i in range(40 + 30 * len(busy_ids) + 30):  # the budget makes room as they are written
            _tick(quiet, small, i, "quiet0" if i < 40 else None, 10)
            k = (i - 40) // 30
            _tick(busy, small, i, busy_ids[k] if 0 <= k < len(busy_ids) else None, 40 + 30 * k, length=20)
            if i % 30 == 29:
                store.flush()
        store.flush()
        store.run_retention()
        events = {e["id"]: e for e in store.list_events(limit=100)}
        usage, per_camera = store.usage(), {c: store.usage(c)["media_bytes"] for c in (QUIET, BUSY)}
        quiet_clip = served_clip(store, "quiet0")
    assert min(events.values(), key=lambda e: e["start_time"])["id"] == "quiet0"  # the oldest event of all
    assert events["quiet0"]["clip"] == "ready" and events["quiet0"]["has_snapshot"]
    assert events["quiet0"]["camera"] == "quiet" and _plays(quiet_clip) >= 10
    pruned = [i for i in busy_ids if events[i]["clip"] == "pruned"]
    assert pruned and pruned == busy_ids[:len(pruned)] and len(pruned) < len(busy_ids)
    assert all(events[i]["clip"] == "ready" for i in busy_ids[len(pruned):])
    assert 0 < usage["media_bytes"] <= 2 * 1024 * 1024
    assert per_camera[QUIET] + per_camera[BUSY] == usage["media_bytes"]  # each segment counted once
    assert per_camera[QUIET] < 1024 * 1024  # under its share of the quota: nothing of it had to go
    logged = _rows(store.db_path, "SELECT event_id FROM event_log WHERE type = 'pruned'")
    assert {str(r[0]) for r in logged} == set(pruned)
    assert verify_log(store.db_path).ok


def test_events_hold_only_their_own_cameras_footage(tmp_path: Path, frames: tuple[Frame, ...]) -> None:
    """Two cameras record the same seconds (two replays of one file start on the same clock); an event on one
    holds that camera's segments only, its clip is that camera's picture; the other camera's footage is held by
    nothing (it goes once out of the pre-roll buffer)."""
    cfg = storage(tmp_path, pre_roll_s=0.5, post_roll_s=0.5, recording={"segment_s": 1.0})
    flipped = tuple(dataclasses.replace(f, image=np.ascontiguousarray(f.image[:, ::-1])) for f in frames)
    with SharedStore(cfg) as store:
        front = store.camera(CameraName("front"), fps=FPS, lossless=True)
        garden = store.camera(CameraName("garden"), fps=FPS, lossless=True)
        for i in range(60):
            t = T0 + i / FPS
            msgs: tuple[EventMessage, ...] = ()
            if i == 15:
                msgs = (message("new", "fev", t, camera="front"),)
            elif i == 25:
                msgs = (message("end", "fev", T0 + 1.5, end=t, camera="front"),)
            front.handle(result(dataclasses.replace(frames[i % 40], timestamp=t, index=i), msgs))
            garden.handle(result(dataclasses.replace(flipped[i % 40], timestamp=t, index=i)))
        store.flush()
        garden.close()
        front.close()
        store.flush()
        clip = served_clip(store, "fev")
        segments = {str(r[0]): str(r[1]) for r in _rows(store.db_path, "SELECT relpath, camera FROM segments")}
        held = _rows(store.db_path, "SELECT h.relpath, h.camera, s.camera FROM holds h "
                     "JOIN segments s ON s.relpath = h.relpath WHERE h.event_id = 'fev'")
        garden_segments = store.list_segments(T0 - 10, T0 + 10, camera=CameraName("garden"))
    assert held and all(h[1] == "front" and h[2] == "front" for h in held)
    assert garden_segments and not any(s["kept"] for s in garden_segments)
    assert {s["camera"] for s in garden_segments} == {"garden"}
    assert all(rel.endswith(f".{camera}.mp4") for rel, camera in segments.items())
    starts = {str(r[0]): int(str(r[1])) for r in _rows(store.db_path, "SELECT camera, COUNT(DISTINCT start_time) "
                                                                      "FROM segments GROUP BY camera")}
    same = _rows(store.db_path, "SELECT COUNT(*) FROM segments a JOIN segments b ON a.start_time = b.start_time "
                 "AND a.camera = 'front' AND b.camera = 'garden'")
    assert starts["front"] >= 3 and same[0][0] >= 2  # the same seconds, in files of their own
    with av.open(str(clip)) as container:
        picture = next(container.decode(video=0)).to_ndarray(format="bgr24")
    straight, mirrored = frames[10].image, flipped[10].image
    assert np.abs(picture.astype(int) - straight).mean() < np.abs(picture.astype(int) - mirrored).mean()
    assert verify_log(store.db_path).ok


def test_requests_reach_the_camera_they_name(tmp_path: Path, frames: tuple[Frame, ...]) -> None:
    """A manual snapshot of a named camera is that camera's latest frame (no camera: the first camera's); a rule's
    `clip` keeps the footage of the camera that saw the event, and a clip asked of another camera keeps nothing."""
    control = Controller(ApplianceState())
    cfg = storage(tmp_path, clips=False, pre_roll_s=0.5, post_roll_s=0.5, recording={"segment_s": 1.0})
    with SharedStore(cfg, bus=control.bus) as store:
        front = store.camera(CameraName("front"), fps=FPS, lossless=True)
        garden = store.camera(CameraName("garden"), fps=FPS, lossless=True)
        for i in range(80):
            t = T0 + i / FPS
            fmsgs: tuple[EventMessage, ...] = ()
            gmsgs: tuple[EventMessage, ...] = ()
            if i == 20:
                fmsgs, gmsgs = (message("new", "fev", t, camera="front"),), (message("new", "gev", t, camera="garden"),)
            elif i == 30:
                fmsgs = (message("end", "fev", T0 + 2, end=t, camera="front"),)
                gmsgs = (message("end", "gev", T0 + 2, end=t, camera="garden"),)
            front.handle(result(dataclasses.replace(frames[5], timestamp=t, index=i), fmsgs))
            garden.handle(result(dataclasses.replace(frames[35], timestamp=t, index=i), gmsgs))
            if i == 22:
                control.execute(KeepClip("fev", "door", source="rule:door"))  # no camera: the one that saw it
                control.execute(KeepClip("gev", "door", source="rule:door", camera=CameraName("front")))
        snaps = {name: control.execute(TakeSnapshot(source="web", camera=name))
                 for name in (CameraName("garden"), CameraName("front"))}
        default = control.execute(TakeSnapshot(source="web"))
        store.flush()
        events = {e["id"]: e for e in store.list_events()}
        windows = _rows(store.db_path, "SELECT event_id, state FROM windows")
        paths = {name: store.snapshot_path(snap) for name, snap in snaps.items()}
        default_path = store.snapshot_path(default)
    assert events["fev"]["has_clip"] and events["fev"]["camera"] == "front", windows
    assert not events["gev"]["has_clip"]  # asked of the front camera, which never saw it

    def nearest(path: Path | None) -> int:
        assert path is not None
        image = cv2.imread(str(path)).astype(float)
        return min((5, 35), key=lambda k: float(np.abs(image - frames[k].image).mean()))

    assert nearest(paths[CameraName("garden")]) == 35 and nearest(paths[CameraName("front")]) == 5
    assert nearest(default_path) == 5  # the first camera


def test_a_camera_joins_a_store_once(tmp_path: Path) -> None:
    with SharedStore(storage(tmp_path)) as store:
        store.camera(QUIET, fps=FPS)
        with pytest.raises(StorageError, match="quiet already writes"):
            store.camera(QUIET, fps=FPS)


def test_each_camera_records_by_its_own_recording_settings(tmp_path: Path, small: tuple[Frame, ...]) -> None:
    """cameras.<name>.storage.recording: the front records, the garden's recording is off; both store events, only
    the front's have clips (the garden's say `none`), and the usage lists each camera's recorder."""
    cfg = storage(tmp_path, pre_roll_s=0.5, post_roll_s=0.5, recording={"segment_s": 1.0})
    off = cfg.model_copy(update={"recording": cfg.recording.model_copy(update={"mode": "off"})})
    with SharedStore(cfg) as store:
        front = store.camera(CameraName("front"), fps=FPS, lossless=True)
        garden = store.camera(CameraName("garden"), fps=FPS, cfg=off, lossless=True)
        for i in range(60):
            _tick(front, small, i, "fev", 10)
            _tick(garden, small, i, "gev", 10)
        front.close()
        garden.close()
        store.flush()
        events = {e["id"]: e for e in store.list_events()}
        recordings = store.usage()["recordings"]
        segments = {s["camera"] for s in store.list_segments(T0 - 10, T0 + 10)}
    assert events["fev"]["clip"] == "ready" and events["gev"]["clip"] == "none" and events["gev"]["has_snapshot"]
    assert segments == {"front"}
    assert recordings["garden"] is None and recordings["front"] is not None and recordings["front"]["segments"]


def test_continuous_footage_expires_by_each_cameras_own_retain_days(tmp_path: Path,
                                                                     small: tuple[Frame, ...]) -> None:
    """Continuous recording of three days ago on two cameras: the front keeps 1 day of it, the garden 5; one
    retention pass deletes the front's segments only."""
    cfg = storage(tmp_path, recording={"mode": "continuous", "segment_s": 1.0, "retain_days": 1})
    five = cfg.model_copy(update={"recording": cfg.recording.model_copy(update={"retain_days": 5})})
    old = T0 - 3 * 86400
    with SharedStore(cfg) as store:
        front = store.camera(CameraName("front"), fps=FPS, lossless=True)
        garden = store.camera(CameraName("garden"), fps=FPS, cfg=five, lossless=True)
        for i in range(40):
            for sink in (front, garden):
                sink.handle(result(dataclasses.replace(small[i], timestamp=old + i / FPS, index=i)))
        front.close()
        garden.close()
        store.flush()
        before = {s["camera"] for s in store.list_segments(old - 10, old + 10)}
        store.run_retention()
        after = store.list_segments(old - 10, old + 10)
        files = {p.name.split(".")[-2] for p in (store.data_dir / "media" / "rec").rglob("*.mp4")}
    assert before == {"front", "garden"}
    assert after and {s["camera"] for s in after} == {"garden"} and files == {"garden"}
