"""Shared parts for the web tests: a real FrameHub fed real vtest.avi frames, real state/stats, and an
in-memory event store implementing EventStoreLike (until the tests switch to camapp.store's EventStore).
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient

from camapp.config import AppConfig, load_config
from camapp.health import PipelineStats
from camapp.state import ApplianceState
from camapp.stream import FrameHub
from camapp.types import Detections, Frame, FrameResult, MotionResult, TrackedObject
from camapp.web import WebContext, close_app, create_app
from camapp.web.auth import UserStore

ADMIN, ADMIN_PW = "admin", "correct horse battery"
VIEWER, VIEWER_PW = "viewer", "viewer password 1"


def read_frames(video: Path, count: int = 40) -> list[np.ndarray]:
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
    return frames


def motion_result(prev: np.ndarray, img: np.ndarray) -> MotionResult:
    """Real frame differencing, so the stream shows real motion boxes."""
    diff = cv2.absdiff(cv2.cvtColor(prev, cv2.COLOR_BGR2GRAY), cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))
    mask = cv2.dilate((diff > 25).astype(np.uint8) * 255, None, iterations=2)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    boxes = [(x, y, x + w, y + h) for x, y, w, h in map(cv2.boundingRect, contours) if w * h > 300]
    return MotionResult(np.array(boxes, dtype=np.int32), float(np.count_nonzero(mask)) / mask.size)


def build_results(frames: list[np.ndarray]) -> list[FrameResult]:
    out = []
    for i, img in enumerate(frames):
        motion = motion_result(frames[i - 1], img)
        objs = tuple(
            TrackedObject(n + 1, "moving", tuple(float(v) for v in box), 0.9, 0.0, 0.0)  # type: ignore[arg-type]
            for n, box in enumerate(sorted(motion.boxes.tolist(), key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))[:2])
        )
        out.append(FrameResult(Frame(img, time.time(), i), motion, Detections.empty(), objs, ()))
    return out


class Feeder:
    """Publishes the results round and round at `fps`, like the pipeline would; stoppable."""

    def __init__(self, hub: FrameHub, stats: PipelineStats, results: list[FrameResult], fps: float = 20) -> None:
        self.hub, self.stats, self.results, self.dt = hub, stats, results, 1.0 / fps
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            r = self.results[i % len(self.results)]
            self.hub.publish(r)
            self.stats.record_frame(r.motion.has_motion, False, {"motion": 1.0})
            i += 1
            self.stop.wait(self.dt)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


@dataclass
class FakeStore:
    """EventStoreLike in memory with real JPEG/MP4 files on disk (stand-in until camapp.store is wired)."""

    root: Path
    events: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, event_id: str, img: np.ndarray, label: str, start: float, zones: list[str],
            clip: list[np.ndarray] | None = None) -> dict[str, Any]:
        d = self.root / event_id
        d.mkdir(parents=True)
        cv2.imwrite(str(d / "snapshot.jpg"), img)
        cv2.imwrite(str(d / "snapshot_clean.jpg"), img)
        cv2.imwrite(str(d / "thumbnail.jpg"), cv2.resize(img, (160, 120)))
        if clip:
            h, w = clip[0].shape[:2]
            writer = cv2.VideoWriter(str(d / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (w, h))
            for f in clip:
                writer.write(f)
            writer.release()
        ev = {"id": event_id, "camera": "camera", "label": label, "track_id": len(self.events) + 1,
              "start_time": start, "end_time": start + 4.0, "score": 0.8, "top_score": 0.91,
              "box": [100.0, 100.0, 200.0, 300.0], "current_zones": zones, "entered_zones": zones,
              "has_snapshot": True, "has_clip": bool(clip),
              "path": [[start + t, 150.0 + 40 * t, 300.0 - 10 * t] for t in range(5)]}
        self.events[event_id] = ev
        return ev

    def list_events(self, *, limit: int = 50, before: float | None = None, label: str | None = None,
                    zone: str | None = None, since: float | None = None,
                    until: float | None = None) -> list[dict[str, Any]]:
        evs = sorted(self.events.values(), key=lambda e: -e["start_time"])
        evs = [e for e in evs if (before is None or e["start_time"] < before) and (label in (None, e["label"]))
               and (zone is None or zone in e["entered_zones"]) and (since is None or e["start_time"] >= since)
               and (until is None or e["start_time"] < until)]
        return evs[:limit]

    def get_event(self, event_id: str) -> dict[str, Any] | None:
        return self.events.get(event_id)

    def delete_event(self, event_id: str) -> bool:
        if self.events.pop(event_id, None) is None:
            return False
        shutil.rmtree(self.root / event_id, ignore_errors=True)
        return True

    def media_path(self, event_id: str, kind: str) -> Path | None:
        if event_id not in self.events:
            return None
        name = {"clip": "clip.mp4"}.get(kind, f"{kind}.jpg")
        p = self.root / event_id / name
        return p if p.exists() else None

    def snapshot_path(self, snap_id: str) -> Path | None:
        p = self.root / "snapshots" / f"{snap_id}.jpg"
        return p if p.exists() else None

    def usage(self) -> dict[str, Any]:
        return {"events": len(self.events), "media_bytes": sum(f.stat().st_size for f in self.root.rglob("*")
                                                                if f.is_file())}


@dataclass
class Appliance:
    """What a test gets: the context, the app and the live parts around it."""

    ctx: WebContext
    app: Flask
    store: FakeStore
    applied: list[AppConfig]
    switched: list[tuple[Path, Path]]
    results: list[FrameResult]


def make_appliance(tmp: Path, video: Path, config: dict[str, Any] | None = None) -> tuple[Appliance, Feeder]:
    cfg_path = tmp / "camapp.yaml"
    cfg_path.write_text(yaml.safe_dump(config or {"camera": {"source": "file", "path": str(video)}}))
    holder = {"cfg": load_config(cfg_path)}
    applied: list[AppConfig] = []
    switched: list[tuple[Path, Path]] = []
    hub = FrameHub(width=640, max_fps=15, zones=lambda: [(z.name, z.polygon) for z in holder["cfg"].zones])
    stats = PipelineStats()
    results = build_results(read_frames(video))

    def apply_config(cfg: AppConfig) -> list[str]:
        restart = [s for s in ("camera", "web") if getattr(cfg, s) != getattr(holder["cfg"], s)]
        holder["cfg"] = cfg
        applied.append(cfg)
        return restart

    def switch_model(model: Path, labels: Path) -> None:
        switched.append((model, labels))

    store = FakeStore(tmp / "media")
    base = time.time() - 3600
    for i, (label, zones) in enumerate([("person", ["driveway"]), ("car", []), ("person", ["garden"])]):
        img = results[i * 10].frame.image
        store.add(f"ev{i}", img, label, base + i * 600, zones, clip=[r.frame.image for r in results[:10]])
    ctx = WebContext(
        get_config=lambda: holder["cfg"], apply_config=apply_config, state=ApplianceState(), hub=hub, stats=stats,
        data_dir=tmp / "data", config_path=cfg_path, store=store,
        mqtt_status=lambda: {"connected": True, "outbox": 0, "broker": "127.0.0.1:1883"},
        switch_model=switch_model, log_tail=lambda n: [f"log line {i}" for i in range(min(n, 5))],
    )
    feeder = Feeder(hub, stats, results)
    feeder.thread.start()
    app = create_app(ctx, history_period_s=0.5)
    app.config["TESTING"] = True
    return Appliance(ctx, app, store, applied, switched, results), feeder


@pytest.fixture
def appliance(tmp_path: Path, demo_video: Path) -> Iterator[Appliance]:
    appl, feeder = make_appliance(tmp_path, demo_video)
    try:
        yield appl
    finally:
        feeder.close()
        appl.ctx.hub.close()
        close_app(appl.app)


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
