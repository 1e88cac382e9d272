"""The cameras in the API: which camera a request means (`/api/cameras/<name>/...` or `?camera=`), the camera list
with each one's health, each camera's live stream and latest frame, and the status of one camera.

A request that names no camera means the first (with `camera:`, the only) one, so every single-camera route and
script keeps working. A name this appliance does not run is a 404 naming it and the cameras there are.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

from flask import Response, jsonify, request

from camapp.commands import SetCameraDetection, SetDetection
from camapp.errors import CommandError
from camapp.web import system
from camapp.web.api import BOUNDARY, body, bp, camera_arg, camera_name, ctx, overlay_from_args, query_number
from camapp.web.context import CameraFeed
from camapp.web.guard import api_error


def feed(name: str) -> CameraFeed:
    return ctx().cameras[camera_name(name)]


def mjpeg(name: str) -> Any:
    """multipart/x-mixed-replace MJPEG of one camera; each viewer gets its latest frame and skips what it cannot keep
    up with. web.max_viewers counts the streams of every camera: each holds one of the server's threads."""
    limit = int(query_number("max_frames", 0, 0, 1_000_000) or 0)
    most = ctx().get_config().web.max_viewers
    if sum(f.hub.viewers for f in ctx().cameras.values()) >= most:  # the rest of the threads are the API's
        return api_error(503, f"too many live viewers (web.max_viewers is {most}); close another stream")
    frames = feed(name).hub.frames(overlay_from_args())

    def generate() -> Iterator[bytes]:
        try:
            for n, jpg in enumerate(frames, start=1):
                head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpg)}\r\n\r\n"
                yield head.encode() + jpg + b"\r\n"
                if limit and n >= limit:
                    return
        finally:
            if isinstance(frames, Generator):
                frames.close()  # the hub's viewer count drops as soon as the client goes

    return Response(generate(), mimetype=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                    headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def latest_jpeg(name: str) -> Any:
    """One camera's latest annotated frame (encoded once for it and every viewer with the same overlay)."""
    got = feed(name).hub.jpeg(overlay_from_args())
    if got is None:
        return api_error(503, f"no frame yet: camera {name!r} has not delivered a frame")
    resp = Response(got[1], mimetype="image/jpeg", headers={"Cache-Control": "no-store"})
    if request.args.get("download"):
        file = "snapshot.jpg" if len(ctx().cameras) == 1 else f"{name}-snapshot.jpg"
        resp.headers["Content-Disposition"] = f"attachment; filename={file}"
    return resp


@bp.get("/status")
def get_status() -> Any:
    return jsonify(system.status(ctx(), camera_arg()))


@bp.get("/stream.mjpeg")
def stream() -> Any:
    return mjpeg(camera_arg())


@bp.get("/snapshot.jpg")
def snapshot_jpg() -> Any:
    return latest_jpeg(camera_arg())


@bp.get("/cameras")
def list_cameras() -> Any:
    """Every camera: name, source, fps, ok or stalled (and why), viewers, the URLs of its page and stream."""
    return jsonify({"cameras": system.cameras(ctx())})


@bp.get("/cameras/<name>")
def get_camera(name: str) -> Any:
    return jsonify(system.cameras(ctx(), camera_name(name))[0])


@bp.get("/cameras/<name>/stream.mjpeg")
def camera_stream(name: str) -> Any:
    return mjpeg(camera_name(name))


@bp.get("/cameras/<name>/snapshot.jpg")
def camera_snapshot(name: str) -> Any:
    return latest_jpeg(camera_name(name))


@bp.post("/cameras/<name>/detection")
def camera_detection(name: str) -> Any:
    """Object detection on or off for this camera alone (a lone camera: the appliance's switch, which is its)."""
    enabled = body().get("enabled")
    if not isinstance(enabled, bool):
        raise CommandError("send {\"enabled\": true} or {\"enabled\": false}")
    name = camera_name(name)
    state = ctx().state.as_dict()
    own = state.get("camera_detection")
    if isinstance(own, dict) and name in own:
        ctx().control.execute(SetCameraDetection(name, enabled, source="web"))
    else:
        ctx().control.execute(SetDetection(enabled, source="web"))
    return jsonify(ctx().state.as_dict())
