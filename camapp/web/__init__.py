"""Local web UI and JSON API: create_app(WebContext) -> Flask."""

from __future__ import annotations

from camapp.web.app import close_app, create_app
from camapp.web.context import EventStoreLike, WebContext
from camapp.web.tls import ensure_certificate, ssl_context

__all__ = ["EventStoreLike", "WebContext", "close_app", "create_app", "ensure_certificate", "ssl_context"]
