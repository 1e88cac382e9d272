"""Done-when of issue 20 through the real `camapp run` process: two file cameras (vtest.avi and a mirrored, shorter
cut of it) on one appliance with the real model, a real Mosquitto, the real SQLite store and headless Chromium.

Both cameras are live in the grid, both store events with clips that play and publish them on their own topics,
Home Assistant discovery shows a device per camera linked to the appliance, and when the second camera's file
disappears /healthz names that camera while the first keeps producing events. Then `camapp replay --camera`
adds to the second camera's timeline in the same store.
"""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import pytest
import yaml
from clips import cut
from conftest import ROOT
from mqtt_broker import Broker, Collector, Received
from test_mqtt_sink import need_mosquitto

from camapp.store import StoreReader
from camapp.types import CameraName
from camapp.web import setupcode

pytestmark = [pytest.mark.slow, pytest.mark.broker, pytest.mark.browser]
DEVICE = "home"
CAMERAS = ("front", "garden")
SETUP = "CAMERAS-E2E-CODE"
PASSWORD = "two cameras pass 1"
PRE_S = POST_S = 1.0


def wait(pred: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := pred():
            return value
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s: {what}")


def write_config(path: Path, front: Path, garden: Path, data: Path, broker: Broker, model: Path) -> None:
    camera = {"source": "file", "loop": True, "realtime": True, "reconnect_min_s": 0.2, "reconnect_max_s": 0.5}
    path.write_text(yaml.safe_dump({
        "device_id": DEVICE, "log_level": "INFO",
        "cameras": {"front": {**camera, "path": str(front)}, "garden": {**camera, "path": str(garden)}},
        "model": {"manifest": str(model), "threads": 1}, "detect": {"fps": 3}, "events": {"end_after_s": 2.0},
        "storage": {"path": str(data), "pre_roll_s": PRE_S, "post_roll_s": POST_S, "min_free_mb": 0},
        "web": {"port": 0, "https": False, "host": "127.0.0.1"},
        "mqtt": broker.mqtt_config(discovery=True, stats_interval_s=1),
    }, sort_keys=False))


ENV = {**os.environ, "CAMAPP_CONFIG": "/nonexistent/camapp.yaml", "PYTHONPATH": str(ROOT)}  # this checkout's camapp


def camapp(*args: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as fh:
        return subprocess.Popen([sys.executable, "-m", "camapp.cli", *args], stdout=fh, stderr=subprocess.STDOUT,
                                cwd=ROOT, env=ENV)


def healthz(base: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(base + "/healthz", timeout=5) as resp:
            body: dict[str, Any] = json.load(resp)
    except urllib.error.HTTPError as err:  # 503 carries the report too
        body = json.load(err)
    return body


def api(page: Any, base: str, path: str) -> Any:
    resp = page.request.get(base + path)
    assert resp.ok, f"{path}: {resp.status} {resp.text()}"
    return resp.json()


def events_of(page: Any, base: str, camera: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api(page, base, f"/api/events?camera={camera}&limit=500")["events"]
    return found


def clip_plays(page: Any, base: str, event: dict[str, Any], db: Path, tmp: Path) -> tuple[float, int]:
    """Fetch the event's clip.mp4 as a browser would; it is H.264 that PyAV decodes, as long as its window (the
    window the store recorded for it: pre-roll before the start, or the camera's first frame, to post-roll after
    the end) within ~1 s (clips
    start at the keyframe before the window, keyframes every 1 s). Returns its duration and picture width."""
    resp = page.request.get(f"{base}/api/events/{event['id']}/clip.mp4")
    assert resp.status == 200, resp.text()
    assert resp.headers["content-type"] == "video/mp4"
    path = tmp / f"{event['id']}.mp4"
    path.write_bytes(resp.body())
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        width = stream.codec_context.width
        times = [float(f.time) for f in container.decode(video=0) if f.time is not None]
    assert len(times) >= 5, f"{event['id']}: {len(times)} frames"
    duration = times[-1] - times[0] + 0.1  # the last frame lasts a frame period (10 fps)
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        start, end = conn.execute("SELECT start_time, end_time FROM windows WHERE event_id = ?",
                                  (event["id"],)).fetchone()
        # An event from the first frame on has less pre-roll than asked for: nothing was recorded before it.
        (footage,) = conn.execute("SELECT MIN(start_time) FROM segments WHERE camera = ?",
                                  (event["camera"],)).fetchone()
        start = max(start, footage)
    finally:
        conn.close()
    assert end is not None and abs(duration - (end - start)) <= 1.1, (event["id"], duration, end - start)
    return duration, width


def plays_in_chromium(tab: Any, base: str, event_id: str) -> float:
    """The event's page in Chromium: its video element decodes a frame of the clip; returns the duration it
    reports."""
    tab.goto(f"{base}/events/{event_id}")
    tab.wait_for_function("document.getElementById('clip').readyState >= 2", timeout=15_000)
    duration = float(tab.evaluate("document.getElementById('clip').duration"))
    tab.close()
    return duration


def with_clip(page: Any, base: str, camera: str) -> dict[str, Any] | None:
    return next((e for e in events_of(page, base, camera) if e["clip"] == "ready" and e["camera"] == camera), None)


def ended(topic: str, messages: list[Received]) -> bool:
    """Has an event ended on `topic` (so its id is a stored event's, with its clip being cut)?"""
    return any(m.topic == topic and json.loads(m.payload)["type"] == "end" for m in messages)


def tile_changes(page: Any, camera: str) -> bool:
    tile = page.locator(f'.camtile[data-camera="{camera}"] img.camimg')
    first = tile.screenshot()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        page.wait_for_timeout(300)
        if tile.screenshot() != first:
            return True
    return False


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    need_mosquitto("the several-cameras drill")
    with Broker(tmp_path / "broker") as b:
        yield b


def test_two_file_cameras_under_camapp_run(tmp_path: Path, demo_video: Path, model_manifest: Path,
                                           broker: Broker, browser: Any) -> None:
    began = time.monotonic()
    garden = cut(demo_video, tmp_path / "garden.mp4", 50, mirror=True, half=True)
    data, cfg, log = tmp_path / "data", tmp_path / "camapp.yaml", tmp_path / "camapp.log"
    write_config(cfg, demo_video, garden, data, broker, model_manifest)
    setupcode.store_code(data, SETUP, chosen=True)  # as camapp.conf's setup_code does on the appliance
    prefix = f"camapp/{DEVICE}"
    col = Collector(broker, [f"{prefix}/#", "homeassistant/#"])
    proc = camapp("run", "-c", str(cfg), log=log)
    try:
        found = wait(lambda: proc.poll() is not None or re.search(rb"open the web UI at\n\s+(http://127\.0\.0\.1:\d+)/",
                                                                  log.read_bytes()), 60, "camapp listening")
        assert proc.poll() is None, log.read_text()
        base = found.group(1).decode()

        # First start: the only way in is creating the admin with the setup code; then / is the grid of both.
        # bypass_csp: wait_for_function compiles its predicate in the page (test_web_browser.CSP_NOTE)
        context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(base + "/")
        assert page.url == base + "/setup"
        page.fill("input[name=setup_code]", SETUP)
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", PASSWORD)
        page.fill("input[name=password2]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(base + "/")
        tiles = page.locator(".camtile")
        assert tiles.evaluate_all("ts => ts.map(t => t.dataset.camera)") == list(CAMERAS)
        page.wait_for_function("[...document.querySelectorAll('.camtile img.camimg')].every(i => i.naturalWidth > 0)",
                               timeout=30_000)
        widths = page.eval_on_selector_all(".camtile img.camimg", "imgs => imgs.map(i => i.naturalWidth)")
        assert len(widths) == 2 and all(w > 0 for w in widths), widths
        for camera in CAMERAS:
            assert tile_changes(page, camera), f"the {camera} tile is not live"
        page.wait_for_selector('.camtile[data-camera="garden"][data-status="ok"]', timeout=20_000)

        # Both cameras: events in the store, each with a clip that plays, and on the broker under their own topic.
        durations, widths = {}, {}
        for camera in CAMERAS:
            event = wait(functools.partial(with_clip, page, base, camera), 60, f"a {camera} event with its clip")
            durations[camera], widths[camera] = clip_plays(page, base, event, data / "events.db", tmp_path)
            played = plays_in_chromium(context.new_page(), base, event["id"])
            assert abs(played - durations[camera]) <= 0.3, (camera, played, durations[camera])
        assert widths == {"front": 768, "garden": 384}  # each clip is cut from its own camera's recording
        for camera in CAMERAS:
            stored = {e["id"] for e in events_of(page, base, camera)}
            topic = f"{prefix}/{camera}/events"
            col.wait_for(functools.partial(ended, topic))
            bodies = [json.loads(m.payload) for m in col.on(topic)]
            assert {b["camera"] for b in bodies} == {camera}, topic
            assert {b["id"] for b in bodies} & stored, f"{topic}: none of the stored {camera} events"
        assert not col.on(f"{prefix}/events")  # several cameras: nothing on the lone camera's topic

        # Home Assistant: the appliance's device and one per camera, linked to it.
        appliance = f"camapp_{DEVICE}"

        def devices() -> dict[str, Any]:
            configs = [json.loads(m.payload) for m in col.messages
                       if m.topic.startswith("homeassistant/") and m.topic.endswith("/config") and m.payload]
            return {c["device"]["identifiers"][0]: c["device"] for c in configs}

        wait(lambda: set(devices()) == {appliance, *(f"{appliance}_{c}" for c in CAMERAS)}, 10, "three HA devices")
        assert "via_device" not in devices()[appliance]
        assert all(devices()[f"{appliance}_{c}"]["via_device"] == appliance for c in CAMERAS)

        # The garden's file disappears: at the end of its pass it cannot be reopened. /healthz names the garden,
        # not the front, the grid says it is stalled, and the front goes on producing events.
        report = healthz(base)
        assert report["ok"], report
        garden.unlink()
        failed_at = time.monotonic()
        bad = wait(lambda: (h := healthz(base)) and not h["ok"] and h, 30, "/healthz naming the garden")
        named_s = time.monotonic() - failed_at
        assert any(r.startswith("camera garden:") for r in bad["reasons"]), bad["reasons"]
        assert not any("front" in r for r in bad["reasons"]), bad["reasons"]
        assert "not found" in json.dumps(bad["cameras"]["garden"]), bad["cameras"]["garden"]
        assert bad["cameras"]["front"]["ok"], bad["cameras"]["front"]
        page.wait_for_selector('.camtile[data-camera="garden"][data-status="stalled"]', timeout=15_000)
        assert page.locator('.camtile[data-camera="front"]').get_attribute("data-status") == "ok"

        def camera_status(camera: str) -> Any:  # what HA's "Camera status" sensor of that camera's device shows
            stats = col.on(f"{prefix}/{camera}/stats")
            return json.loads(stats[-1].payload)["camera_status"] if stats else None

        wait(lambda: camera_status("garden") == "reconnecting", 10, "the garden's HA camera status")
        assert camera_status("front") == "open"
        before = {e["id"] for e in events_of(page, base, "front")}
        new = wait(lambda: {e["id"] for e in events_of(page, base, "front")} - before, 40, "a new front event after")
        topic = f"{prefix}/front/events"
        wait(lambda: new & {json.loads(m.payload)["id"] for m in col.on(topic)}, 10, "the new front event published")
        # The file comes back (copied in again): the garden reopens it and both cameras are healthy again.
        cut(demo_video, tmp_path / "again.mp4", 50, mirror=True, half=True).rename(garden)
        wait(lambda: healthz(base)["ok"], 20, "/healthz ok once the garden's file is back")
        page.wait_for_selector('.camtile[data-camera="garden"][data-status="ok"]', timeout=15_000)
        wait(lambda: camera_status("garden") == "open", 10, "the garden's HA camera status open again")
        assert proc.poll() is None
        assert errors == []
    finally:
        col.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0, log.read_text()[-3000:]

    # `camapp replay --camera garden` on the same config: the garden's clip again, into the same store.
    stored_before = {e["id"] for e in StoreReader(data).list_events(limit=1000, camera=CameraName("garden"))}
    replayed = subprocess.run([sys.executable, "-m", "camapp.cli", "replay", str(garden), "-c", str(cfg),
                               "--camera", "garden", "--json"], capture_output=True, text=True, cwd=ROOT, env=ENV,
                              timeout=120)
    assert replayed.returncode == 0, replayed.stderr
    lines = [json.loads(line) for line in replayed.stdout.splitlines()][:-1]
    assert lines and {e["camera"] for e in lines} == {"garden"}
    after = {e["id"] for e in StoreReader(data).list_events(limit=1000, camera=CameraName("garden"))}
    assert after > stored_before, "the replay added no garden event to the store"
    print(f"\ncameras e2e: clips {durations} s; garden named {named_s:.1f} s after its file went; "
          f"{time.monotonic() - began:.0f} s in all")
