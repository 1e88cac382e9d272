"""Local web UI and JSON API: create_app(WebContext) -> Flask."""

from __future__ import annotations

import ssl
from pathlib import Path

from camapp.web.app import create_app
from camapp.web.base import close_app
from camapp.web.context import CameraFeed, EventStoreLike, WebContext

__all__ = ["CameraFeed", "EventStoreLike", "WebContext", "close_app", "create_app", "ssl_context"]


def ssl_context(data_dir: Path) -> ssl.SSLContext:
    """The HTTPS context (self-signed certificate made on first use); see camapp.web.tls."""
    # Lazy: cryptography (13 MB resident) is loaded only when HTTPS is on.
    from camapp.web.tls import ssl_context as make

    return make(data_dir)
