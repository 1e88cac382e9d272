"""Several cameras in one process: a unit per camera, one model shared first come first served, health per camera."""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import av
import cv2
import numpy as np
import pytest
from clips import cut
from polling import wait_for

from camapp.app import Appliance
from camapp.bus import AlertRaised
from camapp.capture.file import VideoReader
from camapp.config import parse_config
from camapp.detect.factory import build_detector
from camapp.detect.shared import DetectorScheduler, ScheduledDetector
from camapp.store import StoreReader
from camapp.types import CameraName


def test_requests_are_served_in_the_order_they_came() -> None:
    """A ticket queue: whoever asked first is served first, whichever thread releases the model."""
    scheduler = DetectorScheduler()
    gate, order = threading.Event(), []

    def ask(camera: str, work: Callable[[], None]) -> threading.Thread:
        thread = threading.Thread(target=scheduler.serve, args=(camera, 1.0, work))
        thread.start()
        return thread

    first = ask("busy", lambda: (gate.wait(5), order.append("busy-1")))
    time.sleep(0.05)
    waiting = []
    for name in ("idle", "busy", "other"):  # queued behind the first, in this order
        waiting.append(ask(name, lambda n=name: order.append(n)))  # type: ignore[misc]
        time.sleep(0.05)
    gate.set()
    for thread in (first, *waiting):
        thread.join(5)
    assert order == ["busy-1", "idle", "busy", "other"]
    stats = scheduler.stats()
    assert stats["idle"]["requests"] == 1 and stats["busy"]["requests"] == 2
    assert stats["idle"]["ahead_max"] == 1 and stats["other"]["ahead_max"] == 3


def test_a_busy_camera_cannot_push_an_idle_one_back_more_than_one_request(model_manifest: Path,
                                                                          demo_video: Path) -> None:
    """Two cameras hammering the real model (two invokes a call) and a third asking now and then: the third never
    has more than one request of each other camera ahead of it, and every camera's requests are counted."""
    cfg = parse_config({})
    reader = VideoReader(demo_video)
    image = reader.read()
    reader.close()
    assert image is not None
    scheduler = DetectorScheduler()
    stop = threading.Event()
    with build_detector(cfg.model) as model:
        views = {n: ScheduledDetector(model, scheduler, n, late_after_s=0.1) for n in ("busy1", "busy2", "idle")}

        def hammer(detector: ScheduledDetector) -> None:
            while not stop.is_set():
                detector.detect(image, [(0, 0, 300, 300), (300, 200, 600, 500)])

        threads = [threading.Thread(target=hammer, args=(views[n],)) for n in ("busy1", "busy2")]
        for t in threads:
            t.start()
        try:
            for _ in range(8):
                found = views["idle"].detect(image)
                assert any(label == "person" for label in found.labels)  # the shared model really ran for it
                assert views["idle"].last_timings_ms["total"] > 0
                time.sleep(0.02)
        finally:
            stop.set()
            for t in threads:
                t.join(10)
    stats = scheduler.stats()
    assert stats["idle"]["requests"] == 8 and stats["idle"]["ahead_max"] <= 2
    assert stats["busy1"]["requests"] > 0 and stats["busy2"]["requests"] > 0
    assert {"late_slots", "wait_ms_mean", "wait_ms_max"} <= set(stats["idle"])


def healthz(port: int) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
            body: dict[str, Any] = json.load(resp)
    except urllib.error.HTTPError as err:  # 503 carries the report too
        body = json.load(err)
    return body



def test_two_file_cameras_run_on_one_model_and_a_vanished_file_is_named(
    tmp_path: Path, demo_video: Path, model_manifest: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("CAMAPP_DATA", str(tmp_path / "data"))
    front = cut(demo_video, tmp_path / "front.mp4", 30)
    garden = shutil.copy(front, tmp_path / "garden.mp4")
    camera = {"source": "file", "reconnect_min_s": 0.2, "reconnect_max_s": 0.5}
    cfg = parse_config({"web": {"host": "127.0.0.1", "https": False}, "cameras": {
        "front": {**camera, "path": str(front)}, "garden": {**camera, "path": str(garden), "detect": {"fps": 3}}},
        "storage": {"path": str(tmp_path / "store"), "min_free_mb": 0}})
    cfg = cfg.model_copy(update={"web": cfg.web.model_copy(update={"port": 0})})
    caplog.set_level(logging.INFO, "camapp.sinks")
    app = Appliance(cfg)
    outcome: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: outcome.update(code=app.run_forever()))
    thread.start()
    try:
        port = wait_for("the web server", lambda: app.web_port, 20)
        assert [u.name for u in app.units] == ["front", "garden"]
        # one model: both cameras' pipelines reach the same loaded detector, each through its own scheduled view
        detectors = [u.pipelines.for_frame(u.hub.latest().frame).stages.detector  # type: ignore[union-attr]
                     for u in wait_for("frames of both", lambda: all(u.hub.latest() for u in app.units) and app.units,
                                       30)]
        assert all(isinstance(d, ScheduledDetector) and d.model is app.live.detector for d in detectors)
        assert app.units[1].cfg.detect.fps == 3 and app.units[0].cfg.detect.fps == 5  # its own override

        def events_of(camera: str) -> int:
            return sum(1 for r in caplog.records if "event new" in r.getMessage() and f"camera={camera}" in
                       r.getMessage())

        wait_for("person events from both cameras", lambda: events_of("front") and events_of("garden"), 60)
        store = app.store
        assert store is not None  # one store, both cameras' pipeline threads writing into it at once
        stored = wait_for("both cameras' events in the store", lambda: all(
            store.list_events(camera=CameraName(c)) for c in ("front", "garden")) and store.list_events(), 30)
        assert {e["camera"] for e in stored} == {"front", "garden"}
        report = wait_for("health of both", lambda: (h := healthz(port)) and h["ok"] and h, 20)
        assert set(report["cameras"]) == {"front", "garden"}
        assert all(c["detector"]["requests"] > 0 for c in report["cameras"].values())
        garden.unlink()  # the garden's file disappears: at the end of its pass it cannot be reopened
        bad = wait_for("/healthz naming the garden", lambda: (h := healthz(port)) and not h["ok"] and h, 30)
        assert any(r.startswith("camera garden: no frame") for r in bad["reasons"]), bad["reasons"]
        assert not any("front" in r for r in bad["reasons"]), bad["reasons"]
        frames = app.units[0].stats.frames
        wait_for("the front camera to keep going", lambda: app.units[0].stats.frames > frames + 20, 20)
        assert thread.is_alive()  # one camera failing does not stop the appliance
    finally:
        app.stop_event.set()
        thread.join(30)
        app.close()
    assert outcome == {"code": 0}


def _first_picture(path: Path) -> Any:
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        return next(container.decode(video=0)).to_ndarray(format="bgr24").astype(float)


def test_two_cameras_replay_into_one_store_each_with_its_own_clips(tmp_path: Path, demo_video: Path,
                                                                     model_manifest: Path) -> None:
    """Two file cameras (vtest.avi's first 6 s, and a mirrored later 6 s of it) through the real model into one data
    directory: both cameras' events are stored under their camera, each clip is H.264 cut from its own camera's
    segments (its picture, not the other's), the garden's rule snapshot is the garden's frame, the log is one chain
    that verify-log passes, and `camapp replay --camera garden` adds to the garden's timeline in the same store."""
    front = cut(demo_video, tmp_path / "front.mp4", 60)
    garden = cut(demo_video, tmp_path / "garden.mp4", 60, start=300, mirror=True)
    data = tmp_path / "data"
    snap = {"name": "garden-snap", "labels": ["person"], "actions": {"snapshot": True, "clip": True}}
    config = {"cameras": {"front": {"source": "file", "path": str(front), "loop": False, "realtime": False},
                          "garden": {"source": "file", "path": str(garden), "loop": False, "realtime": False,
                                     "rules": {"rules": [snap]}}},
              "rules": {"arming": "away"},
              "storage": {"path": str(data), "pre_roll_s": 1.0, "post_roll_s": 1.0, "min_free_mb": 0}}
    with Appliance(parse_config(config)) as app:
        assert app.store is not None and all(u.sinks.store is not None for u in app.units)
        assert [u.sinks.store.camera for u in app.units if u.sinks.store] == ["front", "garden"]
        app.unit("front").replay([])
        app.unit("garden").replay([])
    reader = StoreReader(data)
    events = reader.list_events(limit=1000)
    by_camera = {c: [e for e in events if e["camera"] == c] for c in ("front", "garden")}
    assert by_camera["front"] and by_camera["garden"] and len(events) == sum(map(len, by_camera.values()))
    assert reader.list_events(limit=1000, camera=CameraName("garden")) == by_camera["garden"]
    conn = sqlite3.connect(data / "events.db")
    mixed = conn.execute("SELECT COUNT(*) FROM holds h JOIN events e ON e.id = h.event_id JOIN segments s "
                         "ON s.relpath = h.relpath WHERE h.camera != e.camera OR s.camera != e.camera").fetchone()
    cameras = {r[0] for r in conn.execute("SELECT camera FROM segments")}
    manual = [data / r[0] for r in conn.execute("SELECT relpath FROM media WHERE kind = 'manual'")]
    conn.close()
    assert mixed == (0,) and cameras == {"front", "garden"}
    straight = cv2.resize(_frame(front, 0), (64, 48)).astype(float)
    mirrored = cv2.resize(_frame(garden, 0), (64, 48)).astype(float)
    for camera, own, other in (("front", straight, mirrored), ("garden", mirrored, straight)):
        ready = [e for e in by_camera[camera] if e["clip"] == "ready"]
        assert ready, f"no {camera} event has a clip"
        for event in ready:
            clip = reader.clip(event["id"])
            assert clip is not None and clip.data is not None
            path = tmp_path / f"{event['id']}.mp4"
            path.write_bytes(clip.data)
            picture = cv2.resize(_first_picture(path), (64, 48))
            assert np.abs(picture - own).mean() < np.abs(picture - other).mean(), (camera, event["id"])
    assert manual  # the garden's rule snapshot is the garden's picture (the front's replay had ended long before)
    for path in manual:
        picture = cv2.resize(cv2.imread(str(path)), (64, 48)).astype(float)
        assert np.abs(picture - mirrored).mean() < np.abs(picture - straight).mean()
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(json.dumps(config))
    verify = subprocess.run([sys.executable, "-m", "camapp.cli", "verify-log", "-c", str(cfg_file)],
                            capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    last_garden = max(e["start_time"] for e in by_camera["garden"])
    proc = replay(str(garden), "-c", str(cfg_file), "--camera", "garden")
    assert proc.returncode == 0, proc.stderr
    again = reader.list_events(limit=1000, camera=CameraName("garden"))
    assert len(again) > len(by_camera["garden"]) and max(e["start_time"] for e in again) > last_garden
    assert reader.list_events(limit=1000, camera=CameraName("front")) == by_camera["front"]
    verify = subprocess.run([sys.executable, "-m", "camapp.cli", "verify-log", "-c", str(cfg_file)],
                            capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def _frame(video: Path, index: int) -> Any:
    with av.open(str(video)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                return frame.to_ndarray(format="bgr24")
    raise AssertionError(f"{video} has no frame {index}")


def replay(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "camapp.cli", "replay", *args], capture_output=True, text=True,
                          timeout=300)


def test_replay_plays_a_file_as_one_named_camera(tmp_path: Path, demo_video: Path, model_manifest: Path) -> None:
    clip = cut(demo_video, tmp_path / "clip.mp4", 60)
    whole = [[0, 0], [768, 0], [768, 576], [0, 576]]
    config = tmp_path / "c.yaml"
    config.write_text(json.dumps({"cameras": {
        "front": {"source": "file", "path": str(clip)},
        "garden": {"source": "file", "path": str(clip), "zones": [{"name": "lawn", "polygon": whole}]}}}))
    proc = replay(str(clip), "-c", str(config), "--camera", "garden", "--json")
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()][:-1]
    new = [e for e in events if e["type"] == "new" and e["label"] == "person"]
    assert new and all(e["camera"] == "garden" for e in events)
    assert all("lawn" in e["zones"] for e in new)  # the garden's own zones, not the top level's (none)
    unnamed = replay(str(clip), "-c", str(config))
    assert unnamed.returncode == 2 and "--camera NAME: this config has 2 cameras (front, garden)" in unnamed.stderr
    unknown = replay(str(clip), "-c", str(config), "--camera", "drive")
    assert unknown.returncode == 2 and "--camera drive: no such camera" in unknown.stderr



def test_a_person_on_one_camera_sounds_the_shared_buzzer_by_that_cameras_rules(
    fakes: ModuleType, factory: Any, caplog: pytest.LogCaptureFixture,
) -> None:
    """Two cameras see a person; the front's rule wants a car, the garden's a person: the appliance's one buzzer
    (gpiozero MockFactory) sounds for the garden, and its alert names the garden."""
    def camera(rule: dict[str, Any]) -> dict[str, Any]:
        return {"source": "countdown", "frames": 20, "width": 320, "rules": {"rules": [rule]}}

    sound = {"outputs": ["buzzer"], "mqtt_alert": True}
    cfg = parse_config({
        "model": {"type": "centre", "score": 0.95}, "motion": {"enabled": False}, "detect": {"fps": 0},
        "objects": {"track": ["person", "car"]}, "rules": {"arming": "away"},
        "gpio": {"enabled": True, "pin_factory": "mock",
                 "outputs": [{"name": "buzzer", "kind": "buzzer", "pin": 17, "pattern": {"duration_s": 60}}]},
        "cameras": {"front": camera({"name": "front-car", "labels": ["car"], "actions": sound}),
                    "garden": camera({"name": "garden-person", "labels": ["person"], "actions": sound})}})
    with Appliance(cfg) as app:
        alerts: list[AlertRaised] = []
        app.bus.subscribe(AlertRaised, alerts.append)
        pins = app.shared.alarm.hardware.pin_factory
        assert app.units[0].sinks.alarm is app.units[1].sinks.alarm  # one set of pins
        app.unit("front").replay([])
        assert alerts == [] and float(pins.pin(17).state) == 0 and not app.state.alarm_active
        app.unit("garden").replay([])
        assert float(pins.pin(17).state) == 1 and app.state.alarm_active
        assert [(a.alert.rule, a.alert.camera) for a in alerts] == [("garden-person", "garden")]
    assert float(pins.pin(17).state) == 0  # closed: the buzzer off
    assert any("rule garden-person fired" in r.getMessage() and "camera garden" in r.getMessage()
               for r in caplog.records)
