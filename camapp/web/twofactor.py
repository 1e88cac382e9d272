"""The API for the optional second factor (camapp.web.totp): set up, turn on, turn off.

Set up in two steps so a typo cannot lock anyone out: /api/totp/setup (with the password) makes a pending secret,
and only a correct code from the app turns it on. Once on, logging in needs the password and a code; each code's
time step is used at most once (no replay), and a wrong code counts against the login limits like a wrong password.
Turning it off needs the password and a current code.
"""

from __future__ import annotations

import logging
from typing import Any

import pyotp
from flask import Blueprint, current_app, g, jsonify

from camapp.errors import AuthError, CommandError
from camapp.web.api import body
from camapp.web.api_admin import notices, reconfirm, users
from camapp.web.guard import login_attempt, throttle
from camapp.web.totp import STEP_S, code_ok, matching_step

log = logging.getLogger(__name__)
bp = Blueprint("totp_api", __name__, url_prefix="/api/totp")


def _code() -> str:
    code = body().get("code")
    if not isinstance(code, str):
        raise CommandError("send {\"code\": \"123456\"} (the 6 digits your authenticator app shows)")
    return code


@bp.get("")
def status() -> Any:
    user = users().get(g.user["username"]) or {}
    return jsonify({"enabled": bool(user.get("totp")), "pending": bool(user.get("totp_pending"))})


@bp.post("/setup")
def setup() -> Any:
    """A new pending secret (shown once) for the authenticator app; not in use until /enable gets a code."""
    reconfirm("setting up two-factor sign-in")
    secret = pyotp.random_base32()
    users().set_totp(g.user["username"], "totp_pending", secret)
    issuer = f"camapp {current_app.extensions['camapp'].get_config().device_id}"
    uri = pyotp.TOTP(secret, interval=STEP_S).provisioning_uri(name=g.user["username"], issuer_name=issuer)
    return jsonify({"secret": secret, "uri": uri,
                    "note": "add it to your authenticator app, then send a code to /api/totp/enable"})


@bp.post("/enable")
def enable() -> Any:
    name = g.user["username"]
    pending = (users().get(name) or {}).get("totp_pending")
    if not pending:
        raise CommandError("no two-factor setup in progress: call /api/totp/setup first")
    step = matching_step(str(pending), _code())
    if step is None:
        raise AuthError("that code does not match the new secret: check the app and the device's clock")
    users().set_totp(name, "totp", str(pending))
    users().set_totp(name, "totp_pending", None)
    users().use_totp_step(name, step)
    message = f"two-factor sign-in turned on for {name}"
    log.warning("%s", message)
    notices().add("totp", message)
    return jsonify({"enabled": True})


@bp.post("/disable")
def disable() -> Any:
    name = g.user["username"]
    reconfirm("turning two-factor sign-in off")
    user = users().get(name) or {}
    if not user.get("totp"):
        raise CommandError("two-factor sign-in is not on")
    if not code_ok(users(), {"username": name, **user}, _code()):
        throttle().failed(login_attempt(name))  # reconfirm refuses (429) once these add up
        raise AuthError("wrong or already used code: turning two-factor sign-in off needs a current code")
    users().set_totp(name, "totp", None)
    message = f"two-factor sign-in turned OFF for {name}"
    log.warning("%s", message)
    notices().add("totp", message)
    return jsonify({"enabled": False})
