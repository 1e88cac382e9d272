"""JSON API, part 2: configuration, zones, model management, users/tokens, logs and diagnostics."""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Blueprint, Response, abort, current_app, g, jsonify, request, session

from camapp.errors import AuthError, CommandError
from camapp.web import configio, system
from camapp.web.api import body, camera_arg, checked_id, ctx, query_number
from camapp.web.auth import UserStore
from camapp.web.guard import api_error, password_ok, password_version, sessions, throttle
from camapp.web.modelmgr import ModelManager
from camapp.web.notices import SecurityNotices
from camapp.web.openapi import spec

log = logging.getLogger(__name__)
bp = Blueprint("admin_api", __name__, url_prefix="/api")


def users() -> UserStore:
    return current_app.extensions["camapp_users"]  # type: ignore[no-any-return]


def notices() -> SecurityNotices:
    return current_app.extensions["camapp_notices"]  # type: ignore[no-any-return]


def models() -> ModelManager:
    return current_app.extensions["camapp_models"]  # type: ignore[no-any-return]


def require_admin() -> None:
    if g.user["role"] != "admin":
        raise AuthError("only an admin may see this")


def _applied(cfg: Any, restart: list[str]) -> Any:
    return jsonify({"config": configio.redact(configio.config_dict(cfg)), "restart_required": restart})


@bp.get("/openapi.json")
def openapi() -> Any:
    return jsonify(spec())


@bp.get("/config")
def get_config() -> Any:
    require_admin()  # even masked, the config names hosts, users and paths a viewer has no need for
    return jsonify(configio.redact(configio.config_dict(ctx().get_config())))


@bp.post("/config/validate")
def validate_config() -> Any:
    old = configio.config_dict(ctx().get_config())
    cfg = configio.validate(configio.unmask(body(), old))
    return jsonify({"valid": True, "config": configio.redact(configio.config_dict(cfg))})


def password_confirmed(password: str | None) -> bool:
    """True when `password` is the signed-in user's own; failures count against the login rate limit (429 once
    it is reached)."""
    return bool(password) and password_ok(g.user["username"], password or "")


@bp.put("/config")
def put_config() -> Any:
    confirm = request.headers.get(configio.REAUTH_HEADER)
    return _applied(*configio.apply(ctx(), body(), lambda: password_confirmed(confirm)))


def _zones_camera() -> str | None:
    """The `cameras:` entry ?camera= edits (default the first), None for a `camera:` config (the top level)."""
    name, cfg = camera_arg(), ctx().get_config()
    if not cfg.cameras:
        return None
    if name not in cfg.cameras:
        abort(404, f"camera {name!r} is no longer in the config (restart to apply the removal)")
    return name


@bp.get("/zones")
def get_zones() -> Any:
    """The zones and motion mask a camera uses: with several, its own (cameras.<name>) or else the top level's."""
    cfg, name = ctx().get_config(), _zones_camera()
    view = cfg if name is None else cfg.camera_configs()[name]
    out: dict[str, Any] = {"zones": configio.config_dict(view)["zones"], "motion_mask": view.motion.mask}
    if name is not None:
        entry = cfg.cameras[name]
        out |= {"camera": name, "own_zones": entry.zones is not None,
                "own_motion_mask": entry.motion is not None and "mask" in entry.motion.model_fields_set}
    return jsonify(out)


@bp.put("/zones")
def put_zones() -> Any:
    """Replace the zones and (optionally) the motion mask polygons, in frame pixels; with several cameras, those of
    the camera ?camera= names (saved under cameras.<name>, the other cameras keep theirs)."""
    data, name = body(), _zones_camera()
    cfg = configio.config_dict(ctx().get_config())
    section = cfg if name is None else cfg["cameras"][name]
    if "zones" in data:
        section["zones"] = data["zones"]
    if "motion_mask" in data:
        section["motion"] = {**(section.get("motion") or {}), "mask": data["motion_mask"]}
    return _applied(*configio.apply(ctx(), cfg))


@bp.get("/model")
def get_model() -> Any:
    cfg = ctx().get_config()
    running = ctx().model_name
    return jsonify({"configured": cfg.model.describe(), "running": running() if running else None,
                    "installed": models().entries(),
                    "signature_required": cfg.web.require_signed_models,
                    "max_upload_mb": cfg.web.max_upload_mb, "can_switch": ctx().control.can_switch_model})


@bp.post("/model")
def post_model() -> Any:
    """multipart upload (model, labels, optional signature) or JSON {model_path, labels_path}."""
    if request.is_json:
        data = body()
        return jsonify(models().install_path(data.get("model_path"), data.get("labels_path"))), 201
    files = request.files
    if "model" not in files or "labels" not in files:
        raise CommandError("upload 'model' (.tflite) and 'labels' (.txt) files, or send JSON with model_path")
    sig = files["signature"].read() if "signature" in files else None
    entry = models().install_upload(ctx().get_config().web, files["model"].read(), files["labels"].read(), sig)
    return jsonify(entry), 201


@bp.post("/model/activate")
def activate_model() -> Any:
    entry_id = body().get("id")
    if not isinstance(entry_id, str):
        raise CommandError("send {\"id\": \"<installed model id>\"}")
    return jsonify(models().activate(checked_id(entry_id, "model id")))


@bp.get("/logs")
def get_logs() -> Any:
    # Admin-only rather than redacted: lines are free text naming hosts, users, paths and client addresses, and no
    # filter can tell which of them a viewer may read; a viewer's System page shows no log panel.
    require_admin()
    lines = int(query_number("lines", 200, 1, 5000) or 200)
    return jsonify({"lines": system.log_lines(ctx(), lines)})


@bp.get("/diagnostics")
def diagnostics() -> Any:
    require_admin()
    data = system.diagnostics_zip(ctx(), current_app.extensions["camapp_history"].points())
    name = f"camapp-diagnostics-{time.strftime('%Y%m%d-%H%M%S')}.zip"
    return Response(data, mimetype="application/zip", headers={"Content-Disposition": f"attachment; filename={name}"})


@bp.get("/users")
def list_users() -> Any:
    require_admin()
    return jsonify({"users": users().users(), "tokens": users().tokens()})


def reconfirm(action: str) -> None:
    """Account changes need the acting admin's password again (rate-limited): a stolen session or token cannot
    give itself a lasting account or lock the owner out."""
    given = request.headers.get(configio.REAUTH_HEADER, "")
    if not given or not password_ok(g.user["username"], given):
        raise AuthError(f"{action} needs your password: send it in the {configio.REAUTH_HEADER} header")


@bp.post("/users")
def add_user() -> Any:
    require_admin()
    reconfirm("adding a user")
    data = body()
    name, password, role = data.get("username"), data.get("password"), data.get("role", "viewer")
    if not isinstance(name, str) or not isinstance(password, str) or role not in ("admin", "viewer"):
        raise CommandError("send {\"username\": str, \"password\": str, \"role\": \"admin\"|\"viewer\"}")
    if users().get(name) is not None:
        return api_error(409, f"user {name!r} exists")
    users().set_password(name, password, role=role)
    return jsonify({"username": name, "role": role}), 201


@bp.delete("/users/<username>")
def delete_user(username: str) -> Any:
    if username == g.user["username"]:
        raise CommandError("you cannot delete your own account")
    require_admin()
    reconfirm("deleting a user")
    if not users().delete(username):
        return api_error(404, f"no user {username!r}")
    sessions().end_user(username)
    return jsonify({"deleted": username})


@bp.post("/password")
def change_password() -> Any:
    """Change your own password; your other sessions end, and your API tokens too unless keep_tokens is true."""
    data = body()
    current, new, keep_tokens = data.get("current"), data.get("new"), data.get("keep_tokens", False)
    if not isinstance(current, str) or not isinstance(new, str) or not isinstance(keep_tokens, bool):
        raise CommandError("send {\"current\": str, \"new\": str, \"keep_tokens\": bool (optional)}")
    name = g.user["username"]
    if not password_ok(name, current):
        raise AuthError("current password is wrong")
    users().set_password(name, new)
    own = session.get("sid") if g.auth == "session" else None
    ended = sessions().end_user(name, keep=own if isinstance(own, str) else None)
    revoked = 0 if keep_tokens else users().revoke_user_tokens(name)
    if g.auth == "session":
        session["pwv"] = password_version(users().get(name) or {"hash": ""})
    return jsonify({"changed": True, "sessions_ended": ended, "tokens_revoked": revoked})


@bp.get("/sessions")
def list_sessions() -> Any:
    """Your logged-in browsers; `current` marks this one."""
    mine = sessions().list(g.user["username"])
    here = g.get("session_ref")
    return jsonify({"sessions": [{**s, "current": s["id"] == here} for s in mine]})


@bp.delete("/sessions/<ref>")
def end_session(ref: str) -> Any:
    """Log one of your sessions out (this one included)."""
    if not sessions().end_ref(g.user["username"], checked_id(ref, "session id")):
        return api_error(404, f"no session {ref!r}")
    if ref == g.get("session_ref"):
        session.clear()
    return jsonify({"ended": ref})


@bp.get("/tokens")
def list_tokens() -> Any:
    return jsonify({"tokens": users().tokens(g.user["username"])})


@bp.post("/tokens")
def create_token() -> Any:
    """A token outlives logout like an account does, so it needs the password again; every admin is told."""
    name = body().get("name", "script")
    if not isinstance(name, str):
        raise CommandError("token name must be a string")
    reconfirm("creating an API token")
    address = request.remote_addr or "?"
    via = f"token {g.user['token_id']}" if g.auth == "token" else f"session {g.get('session_ref', '?')}"
    token = users().create_token(g.user["username"], name, address=address, via=via)
    token_id = token.split("_", 2)[1]
    message = f"API token {token_id} ({name!r}) made for {g.user['username']} from {address} by {via}"
    log.warning("%s", message)
    notices().add("token", message)
    return jsonify({"token": token, "id": token_id, "note": "shown once: store it now"}), 201


@bp.get("/security")
def security() -> Any:
    """Security notices (tokens made, lockouts) and the lockouts in force: what the System page shows admins."""
    require_admin()
    return jsonify({"notices": notices().recent(), "lockouts": throttle().lockouts()})


@bp.delete("/tokens/<token_id>")
def revoke_token(token_id: str) -> Any:
    mine = {t["id"] for t in users().tokens(None if g.user["role"] == "admin" else g.user["username"])}
    if token_id not in mine or not users().revoke_token(token_id):
        return api_error(404, f"no token {token_id!r}")
    return jsonify({"revoked": token_id})
