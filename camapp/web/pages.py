"""Server-rendered pages: login/setup, Live, Events, Settings, Zones, System, Model, Account."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from camapp.config import AppConfig
from camapp.config.camera import CAMERA_SOURCES
from camapp.errors import AuthError
from camapp.redact import get_path
from camapp.store.records import EventDetail
from camapp.types import CameraName
from camapp.web import configio, entry, forms
from camapp.web.api import ID_RE, ctx
from camapp.web.api_admin import password_confirmed

bp = Blueprint("pages", __name__)

# What the event page tells the browser about a clip, by the codec the store recorded it with: the MIME type for
# HTMLMediaElement.canPlayType and a name for people. OpenCV without an H.264 encoder writes MPEG-4 Part 2 (mp4v),
# which browsers generally cannot play; the page then offers the download instead of a broken player.
CLIP_TYPES = {
    "avc1": ('video/mp4; codecs="avc1.42E01E"', "H.264"),
    "mp4v": ('video/mp4; codecs="mp4v.20.8"', "MPEG-4 Part 2"),
}


users = entry.users


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    return entry.login("pages.live")


@bp.route("/setup", methods=["GET", "POST"])
def setup() -> Any:
    """First start: create the admin account, with the one-time setup code; gone once any user exists."""
    return entry.setup("pages.live")


@bp.post("/logout")
def logout() -> Any:
    return entry.logout()


GRID_STREAMS = 4  # live streams on the grid; a browser opens at most 6 connections to a host over HTTP/1.1


@bp.get("/")
def live() -> Any:
    """One camera: its live view, as it always was; several: the grid of all of them."""
    names = list(ctx().cameras)
    if len(names) == 1:
        return render_template("live.html", camera=None, several=False)
    return render_template("grid.html", cameras=names, streams=GRID_STREAMS)


@bp.get("/cameras/<name>")
def camera_page(name: str) -> Any:
    """One camera's live view with its own controls and links to its events, recordings, zones and settings."""
    names = list(ctx().cameras)
    if name not in names:
        return _unknown_camera(name)
    return render_template("live.html", camera=name, several=len(names) > 1)


def _day_range(day: str) -> tuple[float | None, float | None]:
    try:
        start = dt.datetime.strptime(day, "%Y-%m-%d")
    except ValueError:
        return None, None
    return start.timestamp(), (start + dt.timedelta(days=1)).timestamp()


def _filters() -> dict[str, str]:
    keep = {k: request.args.get(k, "") for k in ("label", "zone", "date", "camera")}
    return {k: v for k, v in keep.items() if v and (k == "date" or ID_RE.match(v))}


def _unknown_camera(name: str) -> Any:
    names = list(ctx().cameras)
    return render_template("message.html", title="Camera not found",
                           message=f"There is no camera {name[:40]!r} here; the cameras are: {', '.join(names)}.",
                           back=url_for("pages.live"), back_label="All cameras"), 404


@bp.get("/events")
def events() -> Any:
    store, f, names = ctx().store, _filters(), list(ctx().cameras)
    if f.get("camera") and f["camera"] not in names:
        return _unknown_camera(f["camera"])
    shown = {"filters": f, "cameras": names if len(names) > 1 else []}  # one camera: no picker, as before
    if store is None:
        return render_template("events.html", events=[], storage_off=True, more=None, **shown)
    since, until = _day_range(f.get("date", ""))
    try:
        before = float(request.args.get("before", "")) or None
    except ValueError:
        before = None
    camera = f.get("camera")
    items = store.list_events(limit=48, before=before, label=f.get("label"), zone=f.get("zone"),
                              since=since, until=until, camera=CameraName(camera) if camera else None)
    more = items[-1]["start_time"] if len(items) == 48 else None
    return render_template("events.html", events=items, storage_off=False, more=more, **shown)


@bp.get("/events/<event_id>")
def event(event_id: str) -> Any:
    store = ctx().store
    item = store.get_event(event_id) if store is not None and ID_RE.match(event_id) else None
    if item is None:
        return render_template("message.html", title="Event not found",
                               message=f"There is no event {event_id!r}; it may have been deleted."), 404
    codec = item.get("clip_codec") or (store.usage().get("clip_codec") if store is not None else None)
    clip_type, clip_format = CLIP_TYPES.get(str(codec), ("video/mp4", "MP4"))
    storage = ctx().get_config().storage
    return render_template("event.html", event=item, clip_type=clip_type, clip_format=clip_format,
                           pre_roll=storage.pre_roll_s, post_roll=storage.post_roll_s, moves=describe_path(item),
                           several=len(ctx().cameras) > 1 and item["camera"] in ctx().cameras)


def describe_path(event: EventDetail) -> list[tuple[float, str]]:
    """The object's path in words (seconds from its start, where it was in the picture), about eight steps."""
    path, w, h = event["path"] or [], event["frame_width"], event["frame_height"]
    if not path or not w or not h:
        return []
    step = max(len(path) // 8, 1)
    picked = [p for i, p in enumerate(path) if i % step == 0 or i == len(path) - 1]
    out: list[tuple[float, str]] = []
    for t, x, y in picked:
        where = ("top", "middle", "bottom")[min(int(3 * y / h), 2)] + " " + \
            ("left", "centre", "right")[min(int(3 * x / w), 2)]
        where = "centre" if where == "middle centre" else where
        if not out or out[-1][1] != where or (t, x, y) == tuple(path[-1]):
            out.append((t - path[0][0], where))
    return out


@bp.get("/recordings")
def recordings() -> Any:
    """The timeline of recorded segments with event markers; recordings.js loads /api/recordings."""
    store, names = ctx().store, list(ctx().cameras)
    camera = request.args.get("camera") or names[0]  # several cameras: one timeline at a time, the first first
    if camera not in names:
        return _unknown_camera(camera)
    status = store.usage().get("recording") if store is not None else None
    return render_template("recordings.html", storage_off=store is None, status=status, camera=camera,
                           cameras=names if len(names) > 1 else [])


@bp.route("/settings", methods=["GET", "POST"])
def settings() -> Any:
    if g.user["role"] != "admin":  # the config holds credentials; viewers never see it, even masked
        return render_template("message.html", title="Settings",
                               message="Only an admin can see and change the settings."), 403
    current = configio.config_dict(ctx().get_config())
    groups = forms.build_groups(current)
    shown = configio.redact(current)
    errors: dict[str, str] = {}
    loose: list[str] = []
    values = shown
    status = 200
    if request.method == "POST":
        data, parse_errors = forms.parse_form(request.form, shown)
        parse_errors, status = _save(data, current, parse_errors)
        if not parse_errors:
            return redirect(url_for("pages.settings"))
        groups = forms.build_groups(data)  # a camera switched to another source shows that source's fields
        errors, loose = forms.place_errors(parse_errors, groups)
        values = forms.shown_values(data, request.form, parse_errors)
    return render_template("settings.html", groups=groups, values=values, errors=errors, loose=loose,
                           get_path=get_path, signed_models=ctx().get_config().web.require_signed_models,
                           camera_sources=CAMERA_SOURCES.config_keys()), status


def _save(data: dict[str, Any], current: dict[str, Any], errors: dict[str, str]) -> tuple[dict[str, str], int]:
    """Validate and apply a submitted settings form: (errors by field, HTTP status); no errors means saved."""
    try:
        configio.validate(configio.unmask(data, current))
    except configio.ConfigInvalid as err:
        errors = {**err.errors, **errors}
    if errors:
        return errors, 422
    confirm = request.form.get("reauth_password")
    try:
        _, restart = configio.apply(ctx(), data, lambda: password_confirmed(confirm))
    except AuthError as err:
        return {"web.require_signed_models": str(err)}, 403
    flash("Saved and applied." + (f" Restart needed for: {', '.join(restart)}." if restart else ""))
    return {}, 302


@bp.get("/zones")
def zones() -> Any:
    names = list(ctx().cameras)
    camera = request.args.get("camera") or names[0]
    if camera not in names:
        return _unknown_camera(camera)
    return render_template("zones.html", camera=camera, cameras=names if len(names) > 1 else [])


@bp.get("/system")
def system_page() -> Any:
    return render_template("system.html")


@bp.get("/model")
def model() -> Any:
    return render_template("model.html")


@bp.get("/account")
def account() -> Any:
    return render_template("account.html", is_admin=g.user["role"] == "admin")


RESTART = ("Restart camapp to apply it (Settings cannot start or stop a camera while it runs: "
           "sudo systemctl restart camapp, or power the appliance off and on).")


def config_cameras(cfg: AppConfig) -> list[str]:
    """The cameras the config names, in its order."""
    return list(cfg.cameras) or [cfg.camera.id]


def pending_cameras() -> str | None:
    """What a restart would change in the cameras (added, removed), None when the running ones are the config's."""
    running, wanted = list(ctx().cameras), config_cameras(ctx().get_config())
    added, gone = [c for c in wanted if c not in running], [c for c in running if c not in wanted]
    if not added and not gone:
        return None
    parts = ([f"start {', '.join(added)}"] if added else []) + ([f"stop {', '.join(gone)}"] if gone else [])
    return f"The saved config changes the cameras: a restart will {' and '.join(parts)}. {RESTART}"


@bp.app_context_processor
def _globals() -> dict[str, Any]:
    user = g.get("user")
    return {"user": user, "is_admin": bool(user and user["role"] == "admin"),
            "device_id": ctx().get_config().device_id, "cameras_pending": pending_cameras() if user else None}
