"""The console's web UI and JSON API, on the appliance's web security (camapp.web.base.base_app: login, setup code,
CSRF, roles, Host check) and served by the same server. No video passes through it: each device links to its own UI.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import jinja2
from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue

from camapp.errors import CommandError
from camapp.fleet.agent import leaves
from camapp.fleet.config import FleetConfig
from camapp.fleet.problems import sync_of
from camapp.fleet.protocol import as_object
from camapp.fleet.records import Chart, Device, DeviceView, FieldRow, HealthKey, HealthPoint, ModelMeta, ProblemRow
from camapp.redact import get_path
from camapp.types import JsonObject, JsonValue
from camapp.web import entry
from camapp.web.base import WEB_DIR, base_app
from camapp.web.guard import PUBLIC_CONFIG

if TYPE_CHECKING:
    from pathlib import Path

    from camapp.fleet.console import Console

pages = Blueprint("pages", __name__)  # the name base_app's guard knows for login and setup
api = Blueprint("fleet_api", __name__, url_prefix="/api")
SortKey = str | float | tuple[bool, str] | tuple[int, str]
SORTS: dict[str, Callable[[DeviceView], SortKey]] = {
    "id": lambda d: d["id"], "status": lambda d: (d["online"] is not False, d["id"]),
    "since": lambda d: d["since"] or 0.0, "problems": lambda d: (-len(d["problems"]), d["id"]),
    "fps": lambda d: _stat(d, "fps") or 0.0, "disk": lambda d: _stat(d, "disk_free_pct") or 100.0,
    "outbox": lambda d: -(_stat(d, "mqtt_outbox") or 0)}
CHARTS: tuple[tuple[HealthKey, str], ...] = (("fps", "frames/s"), ("cpu_temp", "CPU °C"),
                                             ("disk_free", "disk free %"), ("outbox", "outbox"))


@dataclass
class FleetWebContext:
    """What base_app and the guard read (get_config().web, data_dir), and the console behind the pages."""

    console: Console
    data_dir: Path

    def get_config(self) -> FleetConfig:
        return self.console.cfg


def console() -> Console:
    return current_app.extensions["camapp"].console  # type: ignore[no-any-return]


def _stat(device: Device, key: str) -> float | None:
    """A number the device's stats carry (None when absent or not a number: it sorts as unknown)."""
    value = (device["stats"] or {}).get(key)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def view(device: Device) -> DeviceView:
    """A registry row as the pages and the API show it: with its config sync state and a link to its own UI."""
    url = console().cfg.appliance_url.replace("{device_id}", device["id"])
    return {**device, "sync": sync_of(device), "url": url}


def listing(args: dict[str, str]) -> list[DeviceView]:
    """The fleet, filtered (q: id contains, tag: name=value, status: online/offline/problem) and sorted."""
    devices = [view(d) for d in console().registry.devices()]
    q, tag, status = args.get("q", "").strip(), args.get("tag", "").strip(), args.get("status", "")
    if q:
        devices = [d for d in devices if q.lower() in d["id"].lower()]
    if tag:
        name, _, value = tag.partition("=")
        devices = [d for d in devices if d["tags"].get(name) == value]
    if status in ("online", "offline"):
        devices = [d for d in devices if bool(d["online"]) == (status == "online")]
    elif status == "problem":
        devices = [d for d in devices if d["problems"]]
    return sorted(devices, key=SORTS.get(args.get("sort", ""), SORTS["id"]))


def problem_list(devices: list[DeviceView]) -> list[ProblemRow]:
    rows = [ProblemRow(device=d["id"], kind=k, **p) for d in devices for k, p in d["problems"].items()]
    return sorted(rows, key=lambda r: r["since"])


def desired_vs_reported(device: DeviceView) -> list[FieldRow]:
    """Per field the console asked for: the desired value and the one the device reports it runs."""
    from camapp.config.loader import parse_yaml
    from camapp.errors import ConfigError

    desired = device["desired"]
    try:
        overlay: JsonValue = (parse_yaml(desired["config"])[0] if desired else None) or {}
    except ConfigError:
        overlay = {}
    reported = as_object(as_object(device["reported"]).get("values"))
    applied = device["sync"]["state"] == "applied"
    return [FieldRow(field=p, desired=get_path(overlay, p), reported=reported.get(p) if applied else None,
                     known=applied and p in reported) for p in leaves(overlay)]


def chart(points: list[HealthPoint], key: HealthKey, width: int = 300, height: int = 60) -> Chart:
    """An SVG polyline of one health series (no script, no library: the CSP allows neither inline)."""
    values = [(p["time"], v) for p in points if (v := p[key]) is not None]
    if len(values) < 2:
        return {"points": "", "last": values[-1][1] if values else None, "low": None, "high": None}
    t0, t1 = values[0][0], values[-1][0]
    low, high = min(v for _, v in values), max(v for _, v in values)
    span, vspan = (t1 - t0) or 1.0, (high - low) or 1.0
    pts = " ".join(f"{(t - t0) / span * width:.1f},{height - (v - low) / vspan * (height - 4) - 2:.1f}"
                   for t, v in values)
    return {"points": pts, "last": values[-1][1], "low": low, "high": high}


# ---- pages ----------------------------------------------------------------------------------------------------


@pages.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    page: ResponseReturnValue = entry.login("pages.fleet")  # entry's views are typed Any
    return page


@pages.route("/setup", methods=["GET", "POST"])
def setup() -> ResponseReturnValue:
    page: ResponseReturnValue = entry.setup("pages.fleet")  # entry's views are typed Any
    return page


@pages.post("/logout")
def logout() -> ResponseReturnValue:
    page: ResponseReturnValue = entry.logout()  # entry's views are typed Any
    return page


@pages.get("/")
def fleet() -> ResponseReturnValue:
    args = request.args.to_dict()
    devices = listing(args)
    groups = sorted({f"{k}={v}" for d in console().registry.devices() for k, v in d["tags"].items()})
    return render_template("fleet.html", devices=devices, problems=problem_list(devices), args=args, now=time.time(),
                           sorts=list(SORTS), online=sum(1 for d in devices if d["online"]), groups=groups,
                           models=console().fleet.models.entries(), rollouts=console().fleet.rollouts.all()[::-1][:10])


@pages.get("/devices/<device_id>")
def device(device_id: str) -> ResponseReturnValue:
    row = console().registry.device(device_id)
    if row is None:
        return render_template("fleet_missing.html", device_id=device_id), 404
    d = view(row)
    since = time.time() - console().cfg.history_hours * 3600
    history = console().registry.health(device_id, since)
    charts = [(label, chart(history, key)) for key, label in CHARTS]
    return render_template("device.html", d=d, events=console().registry.events(device_id, 50),
                           fields=desired_vs_reported(d), charts=charts, now=time.time())


def _back() -> ResponseReturnValue:
    target = entry.safe_next(request.form.get("next"), "pages.fleet")
    return redirect(target)


@pages.post("/act")
def act() -> ResponseReturnValue:
    try:
        sent = console().fleet.command(request.form.get("target", ""), request.form.get("command", ""),
                                       request.form.get("value", ""))
        flash(f"Sent {request.form.get('command')} {request.form.get('value')} to {len(sent)} device(s)")
    except CommandError as err:
        flash(f"Not sent: {err}")
    return _back()


@pages.post("/desire")
def desire() -> ResponseReturnValue:
    try:
        sent = console().fleet.desire(request.form.get("target", ""), request.form.get("config", ""))
        flash(f"Desired config version {sent[0]['version']} published to {len(sent)} device(s); each reports "
              "back when it runs it")
    except CommandError as err:
        flash(f"Not published: {err}")
    return _back()


@pages.post("/devices/<device_id>/tags")
def tags(device_id: str) -> ResponseReturnValue:
    text = request.form.get("tags", "")
    pairs = [p.strip() for p in text.split(",") if p.strip()]
    try:
        if any("=" not in p for p in pairs):
            raise CommandError("write tags as name=value, separated by commas")
        console().fleet.set_tags(device_id, dict(p.split("=", 1) for p in pairs))
        flash("Tags saved")
    except CommandError as err:
        flash(f"Not saved: {err}")
    return redirect(url_for("pages.device", device_id=device_id))


# ---- JSON API -------------------------------------------------------------------------------------------------


def _body() -> JsonObject:
    body: JsonValue = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise CommandError("send a JSON object")
    return body


def _text(body: JsonObject, key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise CommandError(f"`{key}` must be a string")
    return value


@api.get("/devices")
def api_devices() -> ResponseReturnValue:
    return jsonify(listing(request.args.to_dict()))


@api.get("/devices/<device_id>")
def api_device(device_id: str) -> ResponseReturnValue:
    row = console().registry.device(device_id)
    if row is None:
        return jsonify({"error": f"no device {device_id[:64]!r}", "status": 404}), 404
    d = view(row)
    return jsonify({**d, "fields": desired_vs_reported(d), "events": console().registry.events(device_id, 50)})


@api.get("/problems")
def api_problems() -> ResponseReturnValue:
    return jsonify(problem_list([view(d) for d in console().registry.devices()]))


@api.get("/status")
def api_status() -> ResponseReturnValue:
    """The console itself: broker connection, messages received, updates written, devices known."""
    con = console()
    return jsonify({"broker": "connected" if con.client.connected.is_set() else "not connected",
                    "messages": con.client.messages, "written": con.writer.written,
                    "devices": len(con.registry.devices())})


@api.post("/commands")
def api_commands() -> ResponseReturnValue:
    b = _body()
    return jsonify(console().fleet.command(_text(b, "target"), _text(b, "command"), _text(b, "value")))


@api.post("/desired")
def api_desired() -> ResponseReturnValue:
    b = _body()
    return jsonify(console().fleet.desire(_text(b, "target"), _text(b, "config")))


@api.get("/models")
def api_models() -> ResponseReturnValue:
    return jsonify(console().fleet.models.entries())


def _upload() -> ModelMeta:
    """multipart: model (.tflite), labels (text, one per line), signature (optional, <model>.sig), name."""
    files = request.files
    if not files.get("model") or not files.get("labels"):
        raise CommandError("send the files `model` and `labels` (and `signature` if the model is signed)")
    sig = files.get("signature")
    signature = (sig.read() or None) if sig is not None else None
    return console().fleet.models.add(files["model"].read(), files["labels"].read(), signature,
                                      request.form.get("name") or files["model"].filename or "")


@api.post("/models")
def api_model_upload() -> ResponseReturnValue:
    return jsonify(_upload()), 201


@pages.post("/models")
def model_upload() -> ResponseReturnValue:
    try:
        flash(f"Model {_upload()['id']} kept on the console; roll it out below")
    except CommandError as err:
        flash(f"Not kept: {err}")
    return redirect(url_for("pages.fleet"))


@pages.post("/rollout")
def rollout() -> ResponseReturnValue:
    try:
        r = console().fleet.rollout(request.form.get("target", ""), request.form.get("model", ""),
                                    float(request.form.get("canary_s") or 60))
        flash(f"Rollout {r['id']}: canary {r['canary']} first")
    except (CommandError, ValueError) as err:
        flash(f"Not started: {err}")
    return redirect(url_for("pages.fleet"))


@api.get("/rollouts")
def api_rollouts() -> ResponseReturnValue:
    return jsonify(console().fleet.rollouts.all())


@api.post("/rollouts")
def api_rollout() -> ResponseReturnValue:
    b = _body()
    canary_s = b.get("canary_s", 60)
    if not isinstance(canary_s, int | float) or isinstance(canary_s, bool):
        raise CommandError("`canary_s` must be a number of seconds")
    return jsonify(console().fleet.rollout(_text(b, "target"), _text(b, "model"), float(canary_s))), 201


@pages.get("/fleet-models/<model_id>/<name>")
def model_file(model_id: str, name: str) -> ResponseReturnValue:
    """The files devices fetch during a rollout (no login: devices have none; they check the sha256 and the
    certificate from the signed command)."""
    path = console().fleet.models.path(model_id, name)
    if path is None:
        abort(404)
    return send_file(path, mimetype="application/octet-stream", max_age=0)


@api.put("/devices/<device_id>/tags")
def api_tags(device_id: str) -> ResponseReturnValue:
    b = _body()
    console().fleet.set_tags(device_id, {str(k): str(v) for k, v in b.items()})
    return jsonify({"ok": True})


def create_fleet_app(con: Console) -> Flask:
    app = base_app("camapp.fleet", FleetWebContext(con, con.data_dir), str(WEB_DIR / "templates"),
                   str(WEB_DIR / "static"))
    # The console's own pages first; login.html and setup.html are the appliance's, extending the console's base.
    app.jinja_loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(WEB_DIR / "fleet")),
                                            jinja2.FileSystemLoader(str(WEB_DIR / "templates"))])
    app.config[PUBLIC_CONFIG] = ("pages.model_file",)
    app.register_blueprint(pages)
    app.register_blueprint(api)

    @app.context_processor
    def _globals() -> dict[str, object]:
        from flask import g

        user = g.get("user")
        return {"user": user, "is_admin": bool(user and user["role"] == "admin"), "device_id": "fleet"}

    @app.get("/healthz")
    def healthz() -> ResponseReturnValue:
        ok = con.client.connected.is_set()
        return jsonify({"ok": ok, "broker": "connected" if ok else "not connected"}), 200 if ok else 503

    return app
