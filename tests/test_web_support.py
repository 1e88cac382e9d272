"""Shared parts for the web tests: a real FrameHub fed real vtest.avi frames, real state/stats, and the real
EventStore holding three events it recorded from those frames (snapshots, thumbnails, clips, paths).
"""

from __future__ import annotations

import functools
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient

from camapp.commands import Applied
from camapp.config import AppConfig, load_config
from camapp.config.storage import StorageConfig
from camapp.control import Controller
from camapp.health import PipelineStats
from camapp.healthcheck import HealthMonitor
from camapp.state import ApplianceState
from camapp.store import EventStore
from camapp.stream import FrameHub
from camapp.types import CameraName, Detections, EventMessage, Frame, FrameResult, MotionResult, TrackedObject
from camapp.web import CameraFeed, WebContext, close_app, create_app, setupcode
from camapp.web.auth import UserStore

ADMIN, ADMIN_PW = "admin", "correct horse battery"
SETUP_CODE = "TEST-SETUP-CODE"
VIEWER, VIEWER_PW = "viewer", "viewer password 1"


def read_frames(video: Path, count: int = 40) -> tuple[np.ndarray, ...]:
    cap = cv2.VideoCapture(str(video))
    frames = []
    try:
        while len(frames) < count:
            ok, img = cap.read()
            if not ok:
                break
            frames.append(img)
    finally:
        cap.release()
    assert frames, f"could not read {video}"
    return tuple(frames)


def motion_result(prev: np.ndarray, img: np.ndarray) -> MotionResult:
    """Real frame differencing, so the stream shows real motion boxes."""
    diff = cv2.absdiff(cv2.cvtColor(prev, cv2.COLOR_BGR2GRAY), cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))
    mask = cv2.dilate((diff > 25).astype(np.uint8) * 255, None, iterations=2)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    boxes = [(x, y, x + w, y + h) for x, y, w, h in map(cv2.boundingRect, contours) if w * h > 300]
    return MotionResult(np.array(boxes, dtype=np.int32), float(np.count_nonzero(mask)) / mask.size)


def build_results(frames: tuple[np.ndarray, ...]) -> tuple[FrameResult, ...]:
    out = []
    for i, img in enumerate(frames):
        motion = motion_result(frames[i - 1], img)
        objs = tuple(
            TrackedObject(n + 1, "moving", tuple(float(v) for v in box), 0.9, 0.0, 0.0)  # type: ignore[arg-type]
            for n, box in enumerate(sorted(motion.boxes.tolist(), key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))[:2])
        )
        out.append(FrameResult(Frame(img, time.time(), i), motion, Detections.empty(), objs, ()))
    return tuple(out)


@functools.cache
def demo_results(video: Path) -> tuple[FrameResult, ...]:
    """The first 40 frames with real motion, computed once per session."""
    return build_results(read_frames(video))


class Feeder:
    """Publishes the results round and round at `fps`, like the pipeline would; stoppable."""

    def __init__(self, hub: FrameHub, stats: PipelineStats, results: tuple[FrameResult, ...], fps: float = 20) -> None:
        self.hub, self.stats, self.results, self.dt = hub, stats, results, 1.0 / fps
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            r = self.results[i % len(self.results)]
            self.hub.publish(r)
            self.stats.record_capture()
            self.stats.record_frame(r.motion.has_motion, False, {"motion": 1.0})
            i += 1
            self.stop.wait(self.dt)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


# (id, label, entered zones): recorded 10 minutes apart, an hour ago, each on its own 12 real frames.
EVENTS = [("ev0", "person", ("driveway",)), ("ev1", "car", ()), ("ev2", "person", ("garden",))]
EVENT_FRAMES = 12


def _follow(prev: tuple[float, float, float, float], motion: MotionResult) -> tuple[float, float, float, float]:
    """The motion box whose bottom centre is nearest the previous box's: a crude tracker over real motion."""
    def dist(b: tuple[float, float, float, float]) -> float:
        return float(np.hypot((b[0] + b[2] - prev[0] - prev[2]) / 2, b[3] - prev[3]))

    boxes = [tuple(float(v) for v in b) for b in motion.boxes.tolist()]
    return min(boxes, key=dist) if boxes else prev  # type: ignore[arg-type,return-value]


def _record(store: EventStore, results: tuple[FrameResult, ...], n: int, start: float, camera: str = "camera") -> None:
    """Event n as the pipeline would deliver it: an object following real motion from the biggest blob on."""
    event_id, label, zones = EVENTS[n]
    segment = results[n * EVENT_FRAMES + 1:(n + 1) * EVENT_FRAMES + 1]
    box = segment[0].objects[0].box if segment[0].objects else (300.0, 150.0, 360.0, 330.0)
    for k, r in enumerate(segment):
        t = start + k / 10
        box = _follow(box, r.motion)
        score = 0.6 + 0.02 * k
        obj = TrackedObject(n + 1, label, box, score, start, t, hits=k + 1, confirmed=True)
        common = {"track_id": n + 1, "label": label, "score": score, "top_score": score, "box": box,
                  "start_time": start, "entered_zones": zones, "current_zones": zones, "camera": camera}
        msgs: tuple[EventMessage, ...] = ()
        if k in (1, 5):
            msgs = (EventMessage(type="new" if k == 1 else "update", id=event_id, end_time=None, **common),)
        elif k == EVENT_FRAMES - 1:
            msgs = (EventMessage(type="end", id=event_id, end_time=t, **common),)
        store.handle(FrameResult(Frame(r.frame.image, t, k), r.motion, Detections.empty(),
                                 (obj,) if k < EVENT_FRAMES - 1 else (), msgs))


def seeded_store(factory: pytest.TempPathFactory, video: Path) -> Path:
    """A data directory the real EventStore filled with EVENTS; made once per session, copied by each test."""
    if video not in _SEEDS:
        data = factory.mktemp("seeded-store")
        base = time.time() - 3600
        with EventStore(store_config(data), camera_id="camera", fps=10.0, lossless=True) as store:
            results = demo_results(video)
            for n in range(len(EVENTS)):
                _record(store, results, n, base + n * 600)
        _SEEDS[video] = data
    return _SEEDS[video]


_SEEDS: dict[Path, Path] = {}
CAMERA_OF = {"ev0": "front", "ev1": "front", "ev2": "garden"}  # in the two-camera store


def seeded_two_camera_store(factory: pytest.TempPathFactory, video: Path) -> Path:
    """EVENTS in one data directory from two cameras' stores (one after the other, as the shared store holds
    them): ev0 and ev1 from front, ev2 from garden."""
    key = video.with_suffix(".two")
    if key not in _SEEDS:
        data = factory.mktemp("seeded-two-camera-store")
        base = time.time() - 3600
        results = demo_results(video)
        for camera in ("front", "garden"):
            with EventStore(store_config(data), camera_id=CameraName(camera), fps=10.0, lossless=True) as store:
                for n, (event_id, _, _) in enumerate(EVENTS):
                    if CAMERA_OF[event_id] == camera:
                        _record(store, results, n, base + n * 600, camera)
        _SEEDS[key] = data
    return _SEEDS[key]


def store_config(path: Path) -> StorageConfig:
    return StorageConfig(path=path, pre_roll_s=0.5, post_roll_s=0.3, min_free_mb=0, retention_interval_s=3600)


@dataclass
class Appliance:
    """What a test gets: the context, the app and the live parts around it."""

    ctx: WebContext
    app: Flask
    store: EventStore
    applied: list[AppConfig]
    switched: list[tuple[Path, Path]]
    results: tuple[FrameResult, ...]

    def close(self) -> None:
        close_app(self.app)
        self.ctx.hub.close()
        self.store.close()


def make_appliance(
    tmp: Path, video: Path, seed: Path, config: dict[str, Any] | None = None
) -> tuple[Appliance, Feeder]:
    """The web app around live parts; `seed` (from seeded_store) is copied so each test may change its store."""
    cfg_path = tmp / "camapp.yaml"
    cfg_path.write_text(yaml.safe_dump(config or {"camera": {"source": "file", "path": str(video)}}))
    holder = {"cfg": load_config(cfg_path)}
    applied: list[AppConfig] = []
    switched: list[tuple[Path, Path]] = []
    hub = FrameHub(width=640, max_fps=15)
    stats = PipelineStats()
    results = demo_results(video)

    def apply_config(cfg: AppConfig) -> Applied:
        restart = [s for s in ("camera", "cameras", "web") if getattr(cfg, s) != getattr(holder["cfg"], s)]
        holder["cfg"] = cfg
        applied.append(cfg)
        return Applied(restart)

    def switch_model(model: Path, labels: Path) -> None:
        switched.append((model, labels))

    store = EventStore(store_config(shutil.copytree(seed, tmp / "store")), camera_id="camera", fps=10.0)
    state = ApplianceState(cameras=(config or {}).get("cameras", {}))  # `cameras:`: a detection switch each
    control = Controller(state, apply_config=apply_config, switch_model=switch_model, config_path=cfg_path)
    ctx = WebContext(
        get_config=lambda: holder["cfg"], control=control, state=state, hub=hub, stats=stats,
        data_dir=tmp / "data", config_path=cfg_path, store=store,
        mqtt_status=lambda: {"connected": True, "outbox": 0, "broker": "127.0.0.1:1883"},
        log_tail=lambda n: [f"log line {i}" for i in range(min(n, 5))],
    )
    feeder = Feeder(hub, stats, results)
    feeder.thread.start()
    app = create_app(ctx, history_period_s=0.5)
    app.config["TESTING"] = True
    return Appliance(ctx, app, store, applied, switched, results), feeder


@dataclass
class Cameras:
    """A web UI over several cameras: each its own real FrameHub fed real frames (the second camera's mirrored, so
    the pictures differ), its own stats, and the real HealthMonitor judging each by name."""

    appl: Appliance
    feeders: dict[str, Feeder]

    def close(self) -> None:
        for name, feeder in self.feeders.items():
            feeder.close()
            self.appl.ctx.cameras[name].hub.close()
        self.appl.close()


def two_camera_config(video: Path, copy: Path) -> dict[str, Any]:
    return {"cameras": {"front": {"source": "file", "path": str(video)},
                        "garden": {"source": "file", "path": str(copy), "fps": 8}}}


def make_cameras(tmp: Path, video: Path, seed: Path, config: dict[str, Any] | None = None) -> Cameras:
    """The web app of an appliance with the cameras of `config` (default: front and garden, two file cameras)."""
    copy = tmp / "garden.avi"
    shutil.copyfile(video, copy)
    config = config or two_camera_config(video, copy)
    appl, first = make_appliance(tmp, video, seed, config)
    close_app(appl.app)  # rebuilt below around every camera
    feeders = {}
    health = HealthMonitor(appl.ctx.stats, 10.0)
    cams: dict[str, CameraFeed] = {}
    for i, (name, entry) in enumerate(config["cameras"].items()):
        hub, stats = (appl.ctx.hub, appl.ctx.stats) if i == 0 else (FrameHub(width=640, max_fps=15), PipelineStats())
        if i == 0:
            feeder = first
        else:
            mirrored = tuple(cv2.flip(f, 1) for f in read_frames(video))
            feeder = Feeder(hub, stats, build_results(mirrored))
            feeder.thread.start()
        stats.set_camera("open")
        feeders[name] = feeder
        cams[name] = CameraFeed(hub, stats, lambda e=entry: f"file {e['path']}", float(entry.get("fps", 10)))
        health.add_camera(name, stats, float(entry.get("fps", 10)))
        health.watch_pipeline(lambda: None, name)
    appl.ctx.cameras, appl.ctx.health = cams, health.report
    appl.app = create_app(appl.ctx, history_period_s=0.5)
    appl.app.config["TESTING"] = True
    return Cameras(appl, feeders)


@pytest.fixture
def cameras(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, demo_video: Path) -> Iterator[Cameras]:
    two = make_cameras(tmp_path, demo_video, seeded_two_camera_store(tmp_path_factory, demo_video))
    try:
        yield two
    finally:
        two.close()


@pytest.fixture
def appliance(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, demo_video: Path) -> Iterator[Appliance]:
    appl, feeder = make_appliance(tmp_path, demo_video, seeded_store(tmp_path_factory, demo_video))
    try:
        yield appl
    finally:
        feeder.close()
        appl.close()


def known_setup_code(appl: Appliance) -> str:
    """Replace the start's random setup code with SETUP_CODE, as a camapp.conf setup_code would."""
    setupcode.store_code(appl.ctx.data_dir, SETUP_CODE, chosen=True)
    return SETUP_CODE


def with_users(appl: Appliance) -> UserStore:
    users = UserStore(appl.ctx.data_dir)
    users.set_password(ADMIN, ADMIN_PW, role="admin")
    users.set_password(VIEWER, VIEWER_PW, role="viewer")
    return users


def csrf_of(client: FlaskClient, page: str = "/login") -> str:
    """Open a page to read the session's CSRF token from its meta tag, as a browser would."""
    html = client.get(page).get_data(as_text=True)
    marker = 'name="csrf-token" content="'
    return html.split(marker, 1)[1].split('"', 1)[0]


def login(client: FlaskClient, user: str = ADMIN, password: str = ADMIN_PW) -> str:
    """Log in through the form; returns the CSRF token for later API calls."""
    token = csrf_of(client)
    resp = client.post("/login", data={"username": user, "password": password, "csrf_token": token})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return csrf_of(client, "/")  # a new session gets a new token


@pytest.fixture
def admin(appliance: Appliance) -> tuple[FlaskClient, str]:
    with_users(appliance)
    client = appliance.app.test_client()
    return client, login(client)


class _FormReader(HTMLParser):
    """Collects what a browser would submit from a page's form (inputs, checked boxes, selects, textareas)."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        name = a.get("name")
        if tag == "input" and name and (a.get("type") != "checkbox" or "checked" in a):
            self.fields[name] = a.get("value", "on")
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and ("selected" in a or self._select not in self.fields):
            self.fields[self._select] = a.get("value", "")
            self._pending_option = "selected" in a or self.fields.get(self._select) == ""
        elif tag == "textarea" and name:
            self._textarea, self.fields[name] = name, ""

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.fields[self._textarea] += data
        elif self._select and self.fields.get(self._select) == "":
            self.fields[self._select] = data.strip()

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def form_fields(html: str) -> dict[str, str]:
    reader = _FormReader()
    reader.feed(html)
    return reader.fields
