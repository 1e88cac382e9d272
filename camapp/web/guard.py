"""Request guard: every route needs a logged-in user or an API token, except a short public list;
state changes need CSRF (for cookie sessions) and the admin role; password checks are throttled
(camapp.web.throttle).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from flask import Flask, Response, abort, current_app, g, jsonify, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from camapp.web.auth import UserRecord, UserStore
from camapp.web.hosts import HostCheck
from camapp.web.sessions import SessionStore
from camapp.web.throttle import Attempt, LoginThrottle

PUBLIC_ENDPOINTS = frozenset({"healthz", "static", "pages.login", "pages.setup"})
PUBLIC_CONFIG = "CAMAPP_PUBLIC_ENDPOINTS"  # an app's own additions (the fleet console's model downloads)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
VIEWER_WRITES = frozenset({
    "pages.logout", "admin_api.change_password", "admin_api.create_token", "admin_api.revoke_token",
    "admin_api.end_session", "totp_api.setup", "totp_api.enable", "totp_api.disable",
})  # state changes a read-only viewer may still make
CSRF_HEADER = "X-CSRF-Token"
BROWSER_COOKIE = "camapp_browser"  # "this browser has logged in as <user>": see camapp.web.throttle
BROWSER_COOKIE_DAYS = 365
TLS_ENVIRON = "camapp.tls"  # set by camapp.webserver when the port also speaks TLS
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")


def load_secret_key(data_dir: Path) -> bytes:
    """The session signing key, made on first start and kept (mode 0600) so logins survive restarts."""
    path = data_dir / "secret_key"
    try:
        key = path.read_bytes()
        if len(key) >= 32:
            os.chmod(path, 0o600)  # made by an older version, or copied in with a loose mode
            return key
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


def throttle() -> LoginThrottle:
    return current_app.extensions["camapp_throttle"]  # type: ignore[no-any-return]


def _browser_signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key or b"", salt="camapp-known-browser")


def login_attempt(username: str | None) -> Attempt:
    """This request's try at `username`'s password; the known-browser cookie counts only when it names them."""
    address, browser = request.remote_addr or "?", None
    cookie = request.cookies.get(BROWSER_COOKIE)
    if cookie and username is not None:
        try:
            data = _browser_signer().loads(cookie)
        except BadSignature:
            data = None
        if isinstance(data, dict) and data.get("user") == username and isinstance(data.get("id"), str):
            browser = data["id"]
    return Attempt(username, address, browser)


def remember_browser(resp: BaseResponse, attempt: Attempt) -> None:
    """After a good password: this browser is known for this user from now on (signed, long-lived, HttpOnly)."""
    value = _browser_signer().dumps({"user": attempt.username, "id": attempt.browser or secrets.token_hex(8)})
    resp.set_cookie(BROWSER_COOKIE, value, max_age=BROWSER_COOKIE_DAYS * 86400, httponly=True, samesite="Strict",
                    secure=request.is_secure)


def password_ok(username: str, password: str) -> bool:
    """Check a password outside the login form; failures count against the same limits as logins (per account,
    network and browser), and while one is locked out this answers 429 without checking."""
    attempt = login_attempt(username)
    wait, what = throttle().wait(attempt)
    if wait:
        abort(429, f"too many wrong passwords ({what}); try again in {math.ceil(wait)} seconds")
    if current_app.extensions["camapp_users"].authenticate(username, password) is None:
        throttle().failed(attempt)
        return False
    throttle().succeeded(attempt)
    return True


def password_version(user: Mapping[str, str | int]) -> str:
    """Changes whenever the password does (a user record's `hash`), so changing it ends the old sessions."""
    return hashlib.sha256(str(user["hash"]).encode()).hexdigest()[:16]


def csrf_token() -> str:
    """This session's CSRF token (made on first use); templates put it in forms and a meta tag."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return str(session["csrf"])


def is_api_request() -> bool:
    return request.path.startswith("/api/") or request.path == "/metrics"


def api_error(code: int, message: str, **extra: object) -> Response:
    """The JSON error shape every API failure uses."""
    resp = jsonify({"error": message, "status": code, **extra})
    resp.status_code = code
    return resp


def _user_from_request(users: UserStore) -> tuple[UserRecord | None, str]:
    """(user, how) with how in token/session/''."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return users.check_token(header[7:].strip(), request.remote_addr or "?"), "token"
    name, sid = session.get("user"), session.get("sid")
    if not isinstance(name, str) or not isinstance(sid, str):
        return None, ""
    live = sessions().lookup(sid)  # the server's record decides: logout and revocation end it at once
    user = users.get(name)
    if live is None or live[0] != name or user is None or session.get("pwv") != password_version(user):
        session.clear()
        return None, ""
    g.session_ref = live[1]
    return {"username": name, **user}, "session"


def sessions() -> SessionStore:
    return current_app.extensions["camapp_sessions"]  # type: ignore[no-any-return]


def start_session(user: Mapping[str, str | int]) -> None:
    """Log `user` (a UserRecord with its `username`) in on this browser: a new server-side session and a fresh
    cookie (no fixation)."""
    name = str(user["username"])
    session.clear()
    session.permanent = True
    session["user"] = name
    session["sid"] = sessions().create(name, request.remote_addr or "?", request.headers.get("User-Agent", ""))
    session["pwv"] = password_version(user)
    csrf_token()


def end_session() -> None:
    sid = session.get("sid")
    if isinstance(sid, str):
        sessions().end(sid)
    session.clear()


def _csrf_ok() -> bool:
    sent = request.headers.get(CSRF_HEADER) or request.form.get("csrf_token", "")
    want = session.get("csrf")
    return bool(want) and isinstance(sent, str) and hmac.compare_digest(sent, str(want))


def _deny(code: int, message: str) -> BaseResponse:
    if is_api_request():
        return api_error(code, message)
    if code == 401:
        target = request.full_path if request.query_string else request.path
        return redirect(url_for("pages.login", next=target))
    return api_error(code, message) if request.accept_mimetypes.best == "application/json" else Response(
        message, status=code, mimetype="text/plain")


def _transport() -> BaseResponse | None:
    """Refuse foreign Host headers (DNS rebinding); send plain HTTP to HTTPS when the server speaks it."""
    cfg = current_app.extensions["camapp"].get_config().web
    hosts: HostCheck = current_app.extensions["camapp_hosts"]
    if not hosts.allowed(request.host, cfg.allowed_hosts):
        return api_error(400, f"Host {request.host[:100]!r} is not a name or address of this device; open it by "
                              "one, or add the name to web.allowed_hosts")
    if request.environ.get(TLS_ENVIRON) and request.scheme == "http" and request.endpoint != "healthz":
        return redirect(request.url.replace("http://", "https://", 1), 308)
    return None


def _check(users: UserStore) -> BaseResponse | None:
    if (refused := _transport()) is not None:
        return refused
    endpoint = request.endpoint or ""
    if endpoint in PUBLIC_ENDPOINTS or endpoint in current_app.config.get(PUBLIC_CONFIG, ()):
        if request.method not in SAFE_METHODS and endpoint != "static" and not _csrf_ok():
            return _deny(400, "the form expired (missing or wrong CSRF token); reload the page and try again")
        return None
    if not users.has_users():
        return api_error(401, "no admin account yet: open /setup") if is_api_request() else redirect(
            url_for("pages.setup"))
    user, how = _user_from_request(users)
    if user is None:
        return _deny(401, "login required (session cookie or 'Authorization: Bearer <token>')")
    g.user, g.auth = user, how
    if request.method in SAFE_METHODS:
        return None
    if how == "session" and not _csrf_ok():
        return _deny(403, f"missing or wrong CSRF token (send the {CSRF_HEADER} header or a csrf_token field)")
    if user["role"] != "admin" and endpoint not in VIEWER_WRITES:
        return _deny(403, "this account is read-only (viewer)")
    return None


class _SessionInterface(SecureCookieSessionInterface):
    """The cookie is Secure whenever it is set over HTTPS (with HTTPS on, plain HTTP only ever gets redirects)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure or bool(app.config["SESSION_COOKIE_SECURE"])


def install(app: Flask, users: UserStore) -> None:
    """Attach the guard and JSON error handling to an app."""
    app.session_interface = _SessionInterface()
    app.before_request(lambda: _check(users))

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException) -> Response | HTTPException:
        if is_api_request():
            return api_error(err.code or 500, err.description or err.name)
        return err

    @app.after_request
    def _headers(resp: Response) -> Response:
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        resp.headers.setdefault("Content-Security-Policy", CSP)
        if request.endpoint != "static":
            resp.headers.setdefault("Cache-Control", "no-store")
        return resp

    app.jinja_env.globals["csrf_token"] = csrf_token
