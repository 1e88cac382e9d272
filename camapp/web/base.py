"""The web security every camapp web app is built on (the appliance's UI, camapp/web/app.py; the fleet console,
camapp/fleet/web.py): session key and cookie, users and the first-start setup code, server-side sessions, security
notices, the Host check, login throttling, the request guard and our errors as JSON 4xx or short text pages.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from flask import Flask, Response, request
from markupsafe import Markup

from camapp.assets import ROOT
from camapp.errors import AuthError, CommandError, ConfigError, ModelError, StorageError
from camapp.store import InvalidIdError, QueryError
from camapp.web import guard, setupcode
from camapp.web.auth import UserStore
from camapp.web.configio import ConfigInvalid
from camapp.web.guard import api_error, is_api_request
from camapp.web.hosts import HostCheck
from camapp.web.notices import SecurityNotices
from camapp.web.sessions import SessionStore
from camapp.web.throttle import LoginThrottle

log = logging.getLogger("camapp.web.app")  # the web UI's log, as before the base had its own module
WEB_DIR = ROOT / "web"

_ERROR_CODES: list[tuple[type[Exception], int]] = [
    (ConfigInvalid, 422), (AuthError, 403), (CommandError, 400), (ModelError, 422), (ConfigError, 422),
    (InvalidIdError, 400), (QueryError, 400), (StorageError, 503),  # bad ids/queries are the caller's, not the disk's
]


def _error_response(err: Exception) -> Any:
    """Our own errors become JSON 4xx for the API, or a short text page for browsers."""
    code = next(c for kind, c in _ERROR_CODES if isinstance(err, kind))
    if code >= 500:
        log.error("%s %s failed: %s", request.method, request.path, err)
    extra = {"errors": err.errors} if isinstance(err, ConfigInvalid) else {}
    if is_api_request():
        return api_error(code, str(err), **extra)
    return Response(str(err), status=code, mimetype="text/plain")


def _fmt_time(value: Any) -> Markup:
    """A time for a page: ISO 8601 in UTC in the markup, shown by app.js in the reader's locale and time zone
    (the UTC text stays for a browser without scripts)."""
    if value is None:
        return Markup("—")
    when = dt.datetime.fromtimestamp(float(value), dt.UTC)
    return Markup('<time class="local" datetime="{}">{} UTC</time>').format(
        when.isoformat(timespec="milliseconds").replace("+00:00", "Z"), when.strftime("%Y-%m-%d %H:%M:%S"))


def make_private(path: Path) -> None:
    """The data directory holds the users, sessions, keys and events: owner-only, whatever the umask."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o700)


class AppContext(Protocol):
    """What base_app needs of the app's context: its config (with a `web` section), a data directory and,
    optionally, the addresses it is reached at (for the setup-code reminder)."""

    data_dir: Path

    def get_config(self) -> Any: ...


def base_app(name: str, ctx: AppContext, template_folder: str, static_folder: str) -> Flask:
    """A Flask app with the appliance's web security: session key and cookie, users and the first-start setup
    code (with its reminder), server-side sessions, security notices, Host check, login throttling, the request
    guard (login, CSRF, roles) and JSON errors. Its blueprint named `pages` must route login, setup and logout
    (camapp.web.entry). close_app() stops what it started."""
    app = Flask(name, template_folder=template_folder, static_folder=static_folder)
    cfg = ctx.get_config().web
    make_private(ctx.data_dir)
    app.config.update(
        SECRET_KEY=guard.load_secret_key(ctx.data_dir),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="camapp_session",
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=cfg.session_hours),
        MAX_CONTENT_LENGTH=int(cfg.max_upload_mb * 1024 * 1024) + 1024 * 1024,  # uploads plus form overhead
        JSON_SORT_KEYS=False,
    )
    users = UserStore(ctx.data_dir)
    urls: Callable[[], list[str]] = getattr(ctx, "urls", None) or (lambda: [])
    reminder = None
    if not users.has_users():
        reminder = setupcode.Reminder(setupcode.prepare(ctx.data_dir, urls), users.has_users, urls)
    notices = SecurityNotices(ctx.data_dir)
    app.extensions.update(camapp=ctx, camapp_users=users, camapp_reminder=reminder,
                          camapp_sessions=SessionStore(ctx.data_dir, cfg.session_hours * 3600),
                          camapp_hosts=HostCheck(), camapp_notices=notices,
                          camapp_throttle=LoginThrottle(cfg.login_max_failures, cfg.login_window_s,
                                                        cfg.login_lockout_s, cfg.login_global_max_failures,
                                                        notify=lambda message: notices.add("lockout", message)))
    guard.install(app, users)
    for kind, _ in _ERROR_CODES:
        app.register_error_handler(kind, _error_response)
    app.jinja_env.filters["datetime"] = _fmt_time
    app.jinja_env.filters["bound"] = _fmt_bound
    if reminder is not None:
        reminder.start()
    return app


def _fmt_bound(value: float) -> str:
    """A field's bound as people read it: 10,000,000 and 0.5, not 10000000.0."""
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def close_app(app: Flask) -> None:
    """Stop the app's background sampler (idempotent)."""
    for part in ("camapp_history", "camapp_reminder"):
        if (running := app.extensions.get(part)) is not None:
            running.close()
    for name in ("camapp_sessions", "camapp_notices"):
        if (store := app.extensions.get(name)) is not None:
            store.close()
