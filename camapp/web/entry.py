"""Getting in: log in, the first-start setup (admin account + one-time setup code) and log out.

Shared by every web app built on camapp.web.base.base_app (the appliance's UI, the fleet console): each registers a
blueprint named `pages` whose login/setup/logout routes call these with the endpoint of its own home page.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flask import current_app, redirect, render_template, request, url_for

from camapp.errors import AuthError
from camapp.web import guard, setupcode, totp
from camapp.web.auth import UserStore
from camapp.web.guard import end_session, start_session


def users() -> UserStore:
    return current_app.extensions["camapp_users"]  # type: ignore[no-any-return]


def safe_next(target: str | None, home: str = "pages.live") -> str:
    """`target` when it is a same-origin path (parsed, not string-matched), else the home page.

    Browsers drop tabs and newlines and read backslashes as slashes, so `/%09/evil.example/` (a tab) would be a
    scheme-relative URL to them: any control character, space or backslash refuses the target outright, and what
    remains must parse to a path without scheme or host.
    """
    fallback = url_for(home)
    if not target or len(target) > 2048 or any(c <= " " or c in "\\\x7f" for c in target):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//") or not parts.path.startswith("/"):
        return fallback
    return urlunsplit(("", "", parts.path, parts.query, ""))


def login(home: str) -> Any:
    if not users().has_users():
        return redirect(url_for("pages.setup"))
    error, status = None, 200
    if request.method == "POST":
        name = request.form.get("username", "")
        attempt = guard.login_attempt(name)
        wait, what = guard.throttle().wait(attempt)
        if wait:
            error, status = (f"Too many failed logins ({what}). Try again in {math.ceil(wait)} seconds. A browser "
                             "that has logged in to this account before is not held up by other people's guesses."), 429
        elif (user := users().authenticate(name, request.form.get("password", ""))) is None:
            guard.throttle().failed(attempt)
            error, status = "Wrong username or password.", 401
        elif user.get("totp") and not totp.code_ok(users(), user, request.form.get("code", "")):
            guard.throttle().failed(attempt)  # codes are guessed like passwords, and limited like them
            error, status = ("This account has two-factor sign-in: enter the current 6-digit code from your "
                             "authenticator app (each code works once)."), 401
        else:
            guard.throttle().succeeded(attempt)
            start_session(user)
            resp = redirect(safe_next(request.args.get("next"), home))
            guard.remember_browser(resp, attempt)
            return resp
    return render_template("login.html", error=error), status


def setup(home: str) -> Any:
    """First start: create the admin account, with the one-time setup code; gone once any user exists."""
    if users().has_users():
        return redirect(url_for("pages.login"))
    error, status = None, 200
    if request.method == "POST":
        error, status = _first_admin()
        if error is None:
            return redirect(url_for(home))
    return render_template("setup.html", error=error), status


def _first_admin() -> tuple[str | None, int]:
    """(error, status) of a setup form: the code is checked (rate-limited) before anything else."""
    attempt = guard.login_attempt(None)
    if wait := guard.throttle().wait(attempt)[0]:
        return f"Too many wrong setup codes. Try again in {math.ceil(wait)} seconds.", 429
    if not setupcode.check(current_app.extensions["camapp"].data_dir, request.form.get("setup_code", "")):
        guard.throttle().failed(attempt)
        return ("Wrong setup code: use the one-time code printed in the log when the camera started, or the "
                "setup_code from camapp.conf.", 403)
    name, pw = request.form.get("username", ""), request.form.get("password", "")
    if pw != request.form.get("password2", ""):
        return "The two passwords differ.", 400
    try:
        users().set_password(name, pw, role="admin")
    except AuthError as err:
        return str(err), 400
    setupcode.retire(current_app.extensions["camapp"].data_dir)
    start_session({"username": name, **(users().get(name) or {})})
    return None, 302


def logout() -> Any:
    end_session()
    return redirect(url_for("pages.login"))
