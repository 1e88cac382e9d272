"""Serving the web UI for the wiring: the app built from its context, behind waitress, stopped in one call."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from camapp.config.web import WebConfig
from camapp.errors import ConfigError
from camapp.web import WebContext, close_app, create_app, ssl_context
from camapp.webserver import ServerLimits, WebServer


def start_web(context: WebContext, web: WebConfig, data_dir: Path) -> tuple[Callable[[], None], int]:
    """Serve the UI; returns the function that stops the server and the app's health sampler thread, and the port
    listened on (web.port 0: a free one)."""
    app = create_app(context)
    try:
        server = WebServer(app, web.host, web.port, ssl_context(data_dir) if web.https else None,
                           ServerLimits.from_config(web))
    except OSError as err:
        close_app(app)
        raise ConfigError(f"web.port: cannot listen on {web.host}:{web.port}: {err.strerror or err}") from None

    def stop() -> None:
        server.shutdown()
        close_app(app)

    return stop, server.port
