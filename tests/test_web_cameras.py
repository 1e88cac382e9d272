"""Several cameras in the API, through Flask's test client: the camera list with each one's health, each camera's
own stream and latest frame (encoded only for it), `?camera=` on the old routes, and a 404 naming an unknown camera.
"""
# ruff: noqa: F811  (pytest fixtures imported from test_web_support are redefined as arguments)

from __future__ import annotations

import time
from typing import Any

import cv2
import numpy as np
import pytest
import yaml
from test_web_support import Cameras, cameras, login, with_users  # noqa: F401 (fixtures)


def _client(two: Cameras) -> Any:
    with_users(two.appl)
    client = two.appl.app.test_client()
    login(client)
    return client


def _frames_arrived(two: Cameras) -> None:
    deadline = time.monotonic() + 5
    while any(c.hub.latest() is None for c in two.appl.ctx.cameras.values()) and time.monotonic() < deadline:
        time.sleep(0.02)


def _jpeg(data: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None, "not a JPEG"
    return img


def test_the_camera_list_names_each_camera_with_its_source_rate_and_health(cameras: Cameras) -> None:
    client = _client(cameras)
    _frames_arrived(cameras)
    time.sleep(0.3)  # a few frames each: a measured rate
    listed = client.get("/api/cameras").json["cameras"]
    assert [c["name"] for c in listed] == ["front", "garden"]  # the config's order
    front, garden = listed
    assert front["source"].startswith("file ") and front["source"].endswith("vtest.avi")
    assert garden["source"].endswith("garden.avi") and garden["configured_fps"] == 8.0
    assert front["status"] == garden["status"] == "ok" and front["reasons"] == []
    assert front["fps"] > 0 and garden["frame"] == {"width": 768, "height": 576}
    assert garden["stream"] == "/api/cameras/garden/stream.mjpeg" and garden["page"] == "/cameras/garden"
    alone = client.get("/api/cameras/garden").json  # the same record, but its rate is measured anew
    assert {k: v for k, v in alone.items() if k != "fps"} == {k: v for k, v in garden.items() if k != "fps"}
    assert alone["fps"] > 0


def test_a_stalled_camera_is_named_while_the_other_is_ok(cameras: Cameras) -> None:
    client = _client(cameras)
    _frames_arrived(cameras)
    cameras.feeders["garden"].close()  # its frames stop arriving
    deadline = time.monotonic() + 10
    while client.get("/api/cameras/garden").json["status"] == "ok" and time.monotonic() < deadline:
        time.sleep(0.2)
    garden = client.get("/api/cameras/garden").json
    assert garden["status"] == "stalled" and garden["reasons"][0].startswith("no frame for ")
    assert client.get("/api/cameras/front").json["status"] == "ok"
    status = client.get("/api/status").json  # what the System page reads
    assert {c["name"]: c["status"] for c in status["cameras"]} == {"front": "ok", "garden": "stalled"}
    assert client.get("/healthz").status_code == 503
    cfg = cameras.appl.ctx.get_config()
    metered = cfg.model_copy(update={"web": cfg.web.model_copy(update={"metrics": True})})
    cameras.appl.ctx.get_config = lambda: metered
    metrics = client.get("/metrics").get_data(as_text=True)  # Prometheus: a series per camera, by name
    assert 'camapp_camera_ok{camera="garden"} 0.0' in metrics and 'camapp_camera_ok{camera="front"} 1.0' in metrics
    assert 'camapp_camera_fps{camera="front"} ' in metrics


def test_each_camera_streams_its_own_pictures_encoded_only_for_it(cameras: Cameras) -> None:
    client = _client(cameras)
    _frames_arrived(cameras)
    hubs = {name: c.hub for name, c in cameras.appl.ctx.cameras.items()}
    assert hubs["front"].encodes == hubs["garden"].encodes == 0  # nobody watched yet: nothing encoded
    resp = client.get("/api/cameras/garden/stream.mjpeg?max_frames=3&boxes=0&zones=0")
    assert resp.mimetype == "multipart/x-mixed-replace"
    assert resp.data.count(b"Content-Type: image/jpeg") == 3
    assert hubs["front"].encodes == 0 and 3 <= hubs["garden"].encodes <= 4  # encoded for its viewer only
    assert hubs["garden"].viewers == 0  # released when the stream ended
    garden = _jpeg(client.get("/api/cameras/garden/snapshot.jpg?boxes=0&zones=0").data)
    front = _jpeg(client.get("/api/cameras/front/snapshot.jpg?boxes=0&zones=0").data)
    assert garden.shape == front.shape == (480, 640, 3)
    # the garden camera shows the mirror image: its picture is the front's flipped, not the front's
    assert np.abs(garden.astype(int) - front.astype(int)).mean() > 10
    same = _jpeg(client.get("/api/snapshot.jpg?camera=garden&boxes=0&zones=0").data)  # the old route, a camera
    assert np.abs(same.astype(int) - garden.astype(int)).mean() < 10
    assert client.get("/api/status?camera=garden").json["camera"] == "garden"
    assert client.get("/api/status").json["camera"] == "front"  # no camera named: the first
    assert "garden-snapshot.jpg" in client.get("/api/cameras/garden/snapshot.jpg?download=1").headers[
        "Content-Disposition"]


@pytest.mark.parametrize("url", [
    "/api/cameras/porch", "/api/cameras/porch/stream.mjpeg", "/api/cameras/porch/snapshot.jpg",
    "/api/snapshot.jpg?camera=porch", "/api/stream.mjpeg?camera=porch", "/api/status?camera=porch",
])
def test_an_unknown_camera_is_a_404_naming_it(cameras: Cameras, url: str) -> None:
    resp = _client(cameras).get(url)
    assert resp.status_code == 404
    assert resp.json["error"] == "no camera 'porch' on this appliance (its cameras: front, garden)"


def test_the_viewer_limit_counts_every_cameras_streams(cameras: Cameras) -> None:
    client = _client(cameras)
    _frames_arrived(cameras)
    web = cameras.appl.ctx.get_config().web
    cfg = cameras.appl.ctx.get_config().model_copy(update={"web": web.model_copy(update={"max_viewers": 1})})
    cameras.appl.ctx.get_config = lambda: cfg
    open_stream = cameras.appl.ctx.cameras["front"].hub.frames()
    next(open_stream)  # one viewer on the front camera holds the one thread
    try:
        resp = client.get("/api/cameras/garden/stream.mjpeg?max_frames=1")
        assert resp.status_code == 503 and "web.max_viewers is 1" in resp.json["error"]
    finally:
        open_stream.close()
    assert client.get("/api/cameras/garden/stream.mjpeg?max_frames=1").status_code == 200


def test_events_and_recordings_filter_by_camera(cameras: Cameras) -> None:
    client = _client(cameras)
    every = client.get("/api/events").json["events"]
    assert {e["id"]: e["camera"] for e in every} == {"ev0": "front", "ev1": "front", "ev2": "garden"}
    assert [e["id"] for e in client.get("/api/events?camera=garden").json["events"]] == ["ev2"]
    assert [e["id"] for e in client.get("/api/events?camera=front&label=person").json["events"]] == ["ev0"]
    now = time.time()
    window = f"since={now - 7200:.0f}&until={now:.0f}"
    rec = client.get(f"/api/recordings?{window}&camera=garden").json
    assert rec["camera"] == "garden" and [e["id"] for e in rec["events"]] == ["ev2"]
    assert rec["segments"] and {s["camera"] for s in rec["segments"]} == {"garden"}
    both = client.get(f"/api/recordings?{window}").json
    assert {s["camera"] for s in both["segments"]} == {"front", "garden"} and len(both["events"]) == 3
    for url in ("/api/events?camera=porch", f"/api/recordings?{window}&camera=porch"):
        resp = client.get(url)
        assert resp.status_code == 404 and "no camera 'porch'" in resp.json["error"], url
    page = client.get("/events?camera=garden").get_data(as_text=True)  # the page: the picker, the camera per event
    assert 'href="/events/ev2"' in page and 'href="/events/ev0"' not in page
    assert '<option value="garden" selected>garden</option>' in page and '<span class="evcam">garden</span>' in page
    assert client.get("/events?camera=porch").status_code == 404


def test_the_zone_editor_edits_one_cameras_zones_and_mask(cameras: Cameras) -> None:
    client = _client(cameras)
    token = login(client)
    headers = {"X-CSRF-Token": token}
    zone = {"name": "lawn", "polygon": [[10, 10], [300, 10], [300, 200]]}
    resp = client.put("/api/zones?camera=garden", json={"zones": [zone], "motion_mask": [[[0, 0], [50, 0], [50, 50]]]},
                      headers=headers)
    assert resp.status_code == 200, resp.json
    saved = yaml.safe_load(cameras.appl.ctx.config_path.read_text())  # type: ignore[union-attr]
    assert saved["cameras"]["garden"]["zones"][0]["name"] == "lawn"
    assert saved["cameras"]["garden"]["motion"] == {"mask": [[[0, 0], [50, 0], [50, 50]]]}  # only the mask
    assert "zones" not in saved["cameras"]["front"] and "motion" not in saved["cameras"]["front"]
    garden = client.get("/api/zones?camera=garden").json
    assert garden["own_zones"] and garden["own_motion_mask"] and garden["zones"][0]["name"] == "lawn"
    front = client.get("/api/zones?camera=front").json
    assert front["zones"] == [] and not front["own_zones"] and front["camera"] == "front"
    assert client.get("/api/zones").json["camera"] == "front"  # none named: the first
    assert client.get("/api/zones?camera=porch").status_code == 404
    page = client.get("/zones?camera=garden").get_data(as_text=True)
    assert 'data-camera="garden"' in page and "/api/cameras/garden/snapshot.jpg" in page


def test_each_camera_has_its_own_detection_switch(cameras: Cameras) -> None:
    client = _client(cameras)
    token = login(client)
    resp = client.post("/api/cameras/garden/detection", json={"enabled": False}, headers={"X-CSRF-Token": token})
    assert resp.status_code == 200 and resp.json["camera_detection"] == {"front": True, "garden": False}
    assert resp.json["detection"] is True  # the appliance's switch stays on: the front camera still detects
    bad = client.post("/api/cameras/garden/detection", json={"enabled": "no"}, headers={"X-CSRF-Token": token})
    assert bad.status_code == 400 and "enabled" in bad.json["error"]
    assert client.post("/api/cameras/porch/detection", json={"enabled": True},
                       headers={"X-CSRF-Token": token}).status_code == 404


def test_a_snapshot_is_asked_of_the_camera_named(cameras: Cameras) -> None:
    from camapp.bus import SnapshotRequested

    client = _client(cameras)
    token = login(client)
    heard: list[SnapshotRequested] = []
    cameras.appl.ctx.control.bus.subscribe(SnapshotRequested, heard.append)  # type: ignore[attr-defined]
    resp = client.post("/api/snapshot?camera=garden", headers={"X-CSRF-Token": token})
    assert resp.status_code == 202 and [e.camera for e in heard] == ["garden"]
    assert heard[0].snapshot_id == resp.json["id"]
    client.post("/api/snapshot", headers={"X-CSRF-Token": token})
    assert heard[-1].camera is None  # none named: the first camera's (the store's default)
    assert client.post("/api/snapshot?camera=porch", headers={"X-CSRF-Token": token}).status_code == 404
