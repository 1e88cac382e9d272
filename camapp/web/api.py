"""JSON API, part 1: arming, snapshots, events and their media (the cameras, their status and live streams:
camapp/web/cameras.py, on this blueprint)."""

from __future__ import annotations

import datetime as dt
import io
import re
import time
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, request, send_file

from camapp.annotate import Overlay
from camapp.commands import SetDetection, SetMode, Silence, TakeSnapshot
from camapp.errors import CommandError
from camapp.state import parse_mode
from camapp.types import CameraName
from camapp.web.context import MEDIA_KINDS, EventStoreLike, WebContext
from camapp.web.guard import api_error

bp = Blueprint("api", __name__, url_prefix="/api")
ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,80}$")
BOUNDARY = "frame"


def ctx() -> WebContext:
    return current_app.extensions["camapp"]  # type: ignore[no-any-return]


def body() -> dict[str, Any]:
    """The JSON object sent with the request; CommandError (400) otherwise."""
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # json.loads of ~100k nested brackets; `silent` only covers ValueError
        raise CommandError("the JSON body is nested too deeply") from None
    if not isinstance(data, dict):
        raise CommandError("send a JSON object body (Content-Type: application/json)")
    return data


def query_number(name: str, default: float | None, lo: float, hi: float) -> float | None:
    """A bounded numeric query parameter; CommandError names it when invalid."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise CommandError(f"query parameter {name!r} must be a number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise CommandError(f"query parameter {name!r} must be between {lo:g} and {hi:g}")
    return value


def query_text(name: str) -> str | None:
    raw = request.args.get(name) or None
    if raw is not None and not ID_RE.match(raw):
        raise CommandError(f"query parameter {name!r} may only hold letters, digits, '.', '_' or '-'")
    return raw


def checked_id(value: str, what: str = "id") -> str:
    if not ID_RE.match(value):
        raise CommandError(f"{what} may only hold letters, digits, '.', '_' or '-' (1-80 characters)")
    return value


def camera_name(name: str | None) -> str:
    """`name` if this appliance runs that camera, the first camera's name for None; a 404 otherwise."""
    cameras = ctx().cameras
    if name is None:
        return next(iter(cameras))
    if name not in cameras:
        abort(404, f"no camera {name[:40]!r} on this appliance (its cameras: {', '.join(cameras)})")
    return name


def camera_arg() -> str:
    """The camera a `?camera=` query names (404 when unknown), or the first."""
    return camera_name(request.args.get("camera") or None)


def chosen_camera() -> CameraName | None:
    """The camera `?camera=` names (404 when unknown), None when the query names none."""
    raw = request.args.get("camera") or None
    return None if raw is None else CameraName(camera_name(raw))


def overlay_from_args() -> Overlay:
    """The layers asked for; motion boxes only when asked (they clutter the picture), boxes and zones unless not."""
    def flag(name: str, default: str = "1") -> bool:
        return request.args.get(name, default) not in ("0", "false", "no", "off")

    return Overlay(boxes=flag("boxes"), motion=flag("motion", "0"), zones=flag("zones"))


@bp.get("/history")
def get_history() -> Any:
    return jsonify({"points": current_app.extensions["camapp_history"].points()})


@bp.post("/snapshot")
def take_snapshot() -> Any:
    snap_id = ctx().control.execute(TakeSnapshot(source="web", camera=chosen_camera()))
    return jsonify({"id": snap_id, "url": f"/api/snapshots/{snap_id}"}), 202


@bp.get("/snapshots/<snap_id>")
def get_snapshot(snap_id: str) -> Any:
    path = store().snapshot_path(checked_id(snap_id, "snapshot id"))
    if path is None or not path.is_file():
        return api_error(404, f"no snapshot {snap_id!r} (it may still be saving)")
    return send_file(path, mimetype="image/jpeg")


@bp.get("/state")
def get_state() -> Any:
    return jsonify(ctx().state.as_dict())


@bp.post("/arm")
def arm() -> Any:
    data = body()
    ctx().control.execute(SetMode(parse_mode(data.get("mode", "away")), source="web"))
    return jsonify(ctx().state.as_dict())


@bp.post("/detection")
def detection() -> Any:
    ctx().control.execute(SetDetection(body().get("enabled"), source="web"))  # type: ignore[arg-type]
    return jsonify(ctx().state.as_dict())


@bp.post("/silence")
def silence() -> Any:
    ctx().control.execute(Silence(source="web"))
    return jsonify(ctx().state.as_dict())


def store() -> EventStoreLike:
    s = ctx().store
    if s is None:
        abort(404, "event storage is off (set storage.path in the config)")
    return s


@bp.get("/events")
def list_events() -> Any:
    since, until = query_number("since", None, 0, 1e11), query_number("until", None, 0, 1e11)
    events = store().list_events(
        limit=int(query_number("limit", 50, 1, 500) or 50), before=query_number("before", None, 0, 1e11),
        label=query_text("label"), zone=query_text("zone"), since=since, until=until, camera=chosen_camera(),
    )
    return jsonify({"events": events})


@bp.get("/events/<event_id>")
def get_event(event_id: str) -> Any:
    event = store().get_event(checked_id(event_id, "event id"))
    if event is None:
        return api_error(404, f"no event {event_id!r}")
    return jsonify(event)


@bp.delete("/events/<event_id>")
def delete_event(event_id: str) -> Any:
    if not store().delete_event(checked_id(event_id, "event id")):
        return api_error(404, f"no event {event_id!r}")
    return jsonify({"deleted": event_id})


RECORDINGS_SPAN_S = 86400.0  # the longest window /api/recordings answers for at once


@bp.get("/recordings")
def list_recordings() -> Any:
    """Segments of the recording and the events in a window (default: the last hour), for the timeline; of one
    camera with ?camera=, else of every camera (each segment and event names its camera)."""
    until = query_number("until", None, 0, 1e11) or time.time()
    since = query_number("since", None, 0, 1e11)
    since = until - 3600.0 if since is None else since
    if not 0 < until - since <= RECORDINGS_SPAN_S:
        raise CommandError(f"until - since must be more than 0 and at most {RECORDINGS_SPAN_S:g} seconds")
    camera = chosen_camera()
    segments = store().list_segments(since, until, camera=camera)
    events = store().list_events(limit=500, since=since, until=until, camera=camera)
    marks = [{"id": e["id"], "camera": e["camera"], "label": e["label"], "start_time": e["start_time"],
              "end_time": e["end_time"], "start": iso(e["start_time"]), "end": iso(e["end_time"]),
              "has_clip": e["has_clip"], "clip": e["clip"]} for e in events]
    segs = [{**s, "start_iso": iso(s["start"]), "end_iso": iso(s["end"])} for s in segments]
    return jsonify({"since": since, "until": until, "since_iso": iso(since), "until_iso": iso(until),
                    "camera": camera, "segments": segs, "events": marks})


def iso(t: float | None) -> str | None:
    """Unix seconds as ISO 8601 in UTC (what scripts and spreadsheets read), next to the number the UI computes with."""
    if t is None:
        return None
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@bp.get("/recordings/<seg_id>")
def recording_segment(seg_id: str) -> Any:
    """One segment (MP4, H.264); Range requests let the player seek."""
    path = store().segment_path(checked_id(seg_id, "segment id"))
    if path is None or not path.is_file():
        return api_error(404, f"no recorded segment {seg_id!r} (retention may have removed it)")
    return send_file(path, mimetype="video/mp4", conditional=True, max_age=3600)


CLIP_MAX_AGE_S = 300  # a clip's content changes only if its footage is pruned (then its ETag changes too)


@bp.get("/events/<event_id>/clip.mp4")
def event_clip(event_id: str) -> Any:
    """The event's clip, remuxed from the recording on request: Content-Length, Range requests, a download name."""
    checked = checked_id(event_id, "event id")
    clip = store().clip(checked)
    if clip is None:
        event = store().get_event(checked)
        if event is None:
            return api_error(404, f"no event {event_id!r}")
        return api_error(404, f"event {event_id!r} has no clip (clip: {event.get('clip', 'none')})")
    if clip.path is not None:
        return send_file(clip.path, mimetype="video/mp4", conditional=True, max_age=CLIP_MAX_AGE_S,
                         download_name=clip.name)
    return send_file(io.BytesIO(clip.data or b""), mimetype="video/mp4", conditional=True, etag=clip.etag,
                     max_age=CLIP_MAX_AGE_S, download_name=clip.name)


@bp.get("/events/<event_id>/<kind>")
def event_media(event_id: str, kind: str) -> Any:
    if kind == "clip":  # the older URL of the same clip
        return event_clip(event_id)
    if kind not in MEDIA_KINDS:
        return api_error(404, f"unknown media {kind!r}; use one of {', '.join(MEDIA_KINDS)}")
    path = store().media_path(checked_id(event_id, "event id"), kind)
    if path is None or not path.is_file():
        return api_error(404, f"event {event_id!r} has no {kind}")
    return send_file(path, conditional=True, max_age=3600)
