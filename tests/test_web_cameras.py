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
    assert client.get("/api/cameras/garden").json == {**garden, "fps": client.get("/api/cameras/garden").json["fps"]}


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
