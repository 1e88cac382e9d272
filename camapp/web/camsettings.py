"""Adding and removing cameras from the Settings page (routes on the pages blueprint).

A camera's capture thread, pipelines and recorder are built at start, so a camera added or removed is saved to the
config and runs (or stops) at the next start: the page says so at once and keeps saying so, on every page, until
the cameras running are the config's (`pending()`). Adding a second camera to a `camera:` config moves the first
under `cameras:` by its id, so it keeps its name, topics and events.
"""

from __future__ import annotations

import re
from typing import Any

from flask import flash, g, redirect, render_template, request, url_for

from camapp.config.camera import CAMERA_SOURCES
from camapp.config.cameras import CAMERA_NAME, NAME_RULE, RESERVED
from camapp.web import configio
from camapp.web.api import ctx
from camapp.web.configio import ConfigInvalid
from camapp.web.pages import RESTART, bp, config_cameras

# The setting that says where a source's pictures come from (a plugin's source: its first own setting).
WHERE = {"file": "path", "v4l2": "device", "rtsp": "url", "gstreamer": "pipeline", "jetson_csi": "sensor_id",
         "picamera2": None}


def _where_field(source: str) -> str | None:
    if source in WHERE:
        return WHERE[source]
    model = CAMERA_SOURCES.config_for(source)
    own = [k for k in (model.model_fields if model else {}) if k not in ("id", "source", "fps", "width", "height")
           and not k.startswith("reconnect")]
    return own[0] if own else None


def _refuse(message: str) -> Any:
    flash(message, "error")
    return redirect(url_for("pages.settings") + "#cameras-add")


def _admin_only() -> Any:
    return render_template("message.html", title="Settings",
                           message="Only an admin can add or remove cameras."), 403


def _save(data: dict[str, Any], done: str, anchor: str) -> Any:
    """Validate and save `data`; flash `done` and the restart prompt, or every problem the config has."""
    try:
        configio.apply(ctx(), data)
    except ConfigInvalid as err:
        return _refuse("Not saved: " + "; ".join(f"{k or 'config'}: {v}" for k, v in err.errors.items()))
    flash(f"{done} {RESTART}")
    return redirect(url_for("pages.settings") + anchor)


@bp.post("/settings/cameras")
def add_camera() -> Any:
    """Add a camera from the form: its name, its source and where its pictures come from."""
    if g.user["role"] != "admin":
        return _admin_only()
    name, source = request.form.get("name", "").strip(), request.form.get("source", "")
    where = request.form.get("where", "").strip()
    cfg = ctx().get_config()
    if not re.match(CAMERA_NAME, name) or name in RESERVED:
        return _refuse(f"Camera name {name[:40]!r}: {NAME_RULE}" + (" and it is reserved" if name in RESERVED else ""))
    if name in config_cameras(cfg):
        return _refuse(f"There is a camera named {name!r} already; choose another name.")
    if source not in CAMERA_SOURCES.config_keys():
        return _refuse(f"Camera source {source[:40]!r} is not one of {', '.join(CAMERA_SOURCES.config_keys())}.")
    data = configio.config_dict(cfg)
    if not data.get("cameras"):  # from `camera:` to `cameras:`: the first camera keeps its name (camera.id)
        first = data.pop("camera")
        data["cameras"] = {first.pop("id"): first}
    entry: dict[str, Any] = {"source": source}
    field = _where_field(source)
    if field is not None and where:
        entry[field] = int(where) if where.isdigit() and field in ("device", "sensor_id") else where
    data["cameras"][name] = entry
    return _save(data, f"Camera {name!r} added to the config.", f"#cameras.{name}")


@bp.post("/settings/cameras/<name>/remove")
def remove_camera(name: str) -> Any:
    """Remove a camera from the config (its events and recordings stay in the store)."""
    if g.user["role"] != "admin":
        return _admin_only()
    cfg = ctx().get_config()
    if name not in cfg.cameras:
        return _refuse(f"There is no camera {name[:40]!r} under cameras in the config.")
    if len(cfg.cameras) == 1:
        return _refuse(f"Camera {name!r} is the only camera; an appliance needs one. Change its source instead.")
    data = configio.config_dict(cfg)
    del data["cameras"][name]
    return _save(data, f"Camera {name!r} removed from the config (its events and recordings are kept).",
                 "#cameras-add")
